import { describe, expect, it } from 'vitest';
import type { SequenceState } from '../../../src/model/sequences.js';
import { decideSequence, sequenceLag, sequencePrivilegeErrors } from '../../../src/planner/sequences.js';

const UP: Omit<SequenceState, 'last'> = {
  schema: 'public',
  name: 's',
  increment: '1',
  min: '1',
  max: '9223372036854775807',
};
const DOWN: Omit<SequenceState, 'last'> = { ...UP, increment: '-5', min: '-1000', max: '-1' };
const opts = { headroom: 0n, allowBackwards: false, publisher: 'east', subscriber: 'west' };

describe('decideSequence', () => {
  const cases: Array<{
    what: string;
    source: string | null;
    target: SequenceState | undefined;
    o?: Partial<typeof opts>;
    action: string;
    skip?: string;
    after?: string | null;
  }> = [
    { what: 'behind → set', source: '120', target: { ...UP, last: '7' }, action: 'set', after: '120' },
    { what: 'never used → set', source: '120', target: { ...UP, last: null }, action: 'set', after: '120' },
    { what: 'equal → unchanged', source: '120', target: { ...UP, last: '120' }, action: 'unchanged' },
    {
      what: 'ahead → skipped',
      source: '120',
      target: { ...UP, last: '500' },
      action: 'skipped',
      skip: 'ahead',
    },
    {
      what: 'ahead with allowBackwards → set',
      source: '120',
      target: { ...UP, last: '500' },
      o: { allowBackwards: true },
      action: 'set',
      after: '120',
    },
    {
      what: 'headroom adds upwards',
      source: '120',
      target: { ...UP, last: '500' },
      o: { headroom: 1000n },
      action: 'set',
      after: '1120',
    },
    {
      what: 'headroom subtracts on a descending sequence',
      source: '-20',
      target: { ...DOWN, last: '-5' },
      o: { headroom: 100n },
      action: 'set',
      after: '-120',
    },
    {
      what: 'descending, already further down → skipped',
      source: '-20',
      target: { ...DOWN, last: '-400' },
      action: 'skipped',
      skip: 'ahead',
    },
    {
      what: 'beyond the range → skipped as a problem',
      source: '-990',
      target: { ...DOWN, last: null },
      o: { headroom: 100n },
      action: 'skipped',
      skip: 'out-of-range',
    },
    { what: 'absent on the subscriber', source: '5', target: undefined, action: 'skipped', skip: 'absent' },
    {
      what: 'nothing handed out on the publisher',
      source: null,
      target: { ...UP, last: '3' },
      action: 'skipped',
      skip: 'no-source',
    },
  ];
  for (const c of cases)
    it(c.what, () => {
      const d = decideSequence({ schema: 'public', name: 's', last: c.source }, c.target, {
        ...opts,
        ...c.o,
      });
      expect(d.outcome.action).toBe(c.action);
      expect(d.outcome.skip).toBe(c.skip ?? null);
      if (c.after !== undefined) expect(d.outcome.after).toBe(c.after);
      expect(d.sql !== null).toBe(c.action === 'set');
      if (c.action === 'set')
        expect(d.sql).toBe(`SELECT pg_catalog.setval('"public"."s"'::regclass, ${c.after}, true)`);
      if (c.action === 'skipped') expect(d.outcome.reason).toMatch(/\S/);
    });
});

describe('sequenceLag', () => {
  const where = { subscription: 'sub', node: 'west', from: 'east' };
  it('counts values behind in the sequence direction, over the threshold only', () => {
    expect(sequenceLag({ ...UP, last: '300' }, { ...UP, last: '100' }, 0n, where)?.behind).toBe('200');
    expect(sequenceLag({ ...UP, last: '300' }, { ...UP, last: '100' }, 200n, where)).toBeNull();
    expect(sequenceLag({ ...UP, last: '300' }, { ...UP, last: null }, 0n, where)?.behind).toBe('300');
    expect(sequenceLag({ ...UP, last: '300' }, { ...UP, last: '900' }, 0n, where)).toBeNull();
    expect(sequenceLag({ ...DOWN, last: '-40' }, { ...DOWN, last: '-10' }, 0n, where)?.behind).toBe('30');
    expect(sequenceLag({ ...DOWN, last: '-40' }, { ...DOWN, last: null }, 0n, where)?.behind).toBe('40');
  });
  it('never reports one the publisher never used; always one absent on the subscriber', () => {
    expect(sequenceLag({ ...UP, last: null }, undefined, 0n, where)).toBeNull();
    expect(sequenceLag({ ...UP, last: '1' }, undefined, 1000n, where)).toMatchObject({
      absent: true,
      behind: null,
      sequence: 'public.s',
    });
  });
});

describe('sequencePrivilegeErrors', () => {
  const seqs = [
    { schema: 'mn', name: 'items_id_seq' },
    { schema: 'mn', name: 'z_alone' },
    { schema: 'Odd', name: 'Seq' },
    { schema: 'mn', name: 'west_lacks' },
  ];
  const all = { select: true, update: true };
  const access = (node: string, entries: Array<[string, { select: boolean; update: boolean }]>) => ({
    node,
    role: 'narrow',
    sequences: new Map(entries),
  });
  const what = 'the sequences sync of subscription n_sub';

  it('every privilege held (or the sequence absent on one side): nothing to say', () => {
    const source = access(
      'east',
      seqs.map((s) => [`${s.schema}.${s.name}`, all]),
    );
    const target = access('west', [
      ['mn.items_id_seq', all],
      ['mn.z_alone', all],
      ['Odd.Seq', all],
    ]);
    expect(sequencePrivilegeErrors(seqs, source, target, what)).toEqual([]);
  });

  it('names per node the sequences and the exact GRANT: SELECT to read on the source, SELECT and UPDATE to set on the target', () => {
    const source = access('east', [
      ['mn.items_id_seq', all],
      ['mn.z_alone', { select: false, update: false }],
      ['Odd.Seq', all],
    ]);
    const target = access('west', [
      ['mn.items_id_seq', all],
      ['mn.z_alone', { select: false, update: false }],
      ['Odd.Seq', { select: true, update: false }],
    ]);
    expect(sequencePrivilegeErrors(seqs, source, target, what)).toEqual([
      'east: role narrow may not read sequence mn.z_alone, which the sequences sync of subscription n_sub reads there; ' +
        'run GRANT SELECT ON SEQUENCE "mn"."z_alone" TO "narrow"; on east (as the sequence\'s owner or a superuser); nothing was changed',
      'west: role narrow may not read and set (setval) sequences mn.z_alone, "Odd"."Seq", which the sequences sync of subscription n_sub sets there; ' +
        'run GRANT SELECT, UPDATE ON SEQUENCE "mn"."z_alone" TO "narrow"; GRANT UPDATE ON SEQUENCE "Odd"."Seq" TO "narrow"; on west (as the sequence\'s owner or a superuser); nothing was changed',
    ]);
  });

  it('no source (the values come from a snapshot): only the target is judged, the refusal saying what it left', () => {
    const target = access('west', [['Odd.Seq', { select: true, update: false }]]);
    expect(sequencePrivilegeErrors(seqs, null, target, 'steep snapshot apply', 'nothing was loaded')).toEqual(
      [
        'west: role narrow may not read and set (setval) sequence "Odd"."Seq", which steep snapshot apply sets there; ' +
          'run GRANT UPDATE ON SEQUENCE "Odd"."Seq" TO "narrow"; on west (as the sequence\'s owner or a superuser); nothing was loaded',
      ],
    );
  });
});
