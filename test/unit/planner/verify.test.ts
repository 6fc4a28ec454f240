import { describe, expect, it } from 'vitest';
import type { TableShape } from '../../../src/model/verify.js';
import {
  compareKeys,
  confirmsDifference,
  type KeyColumn,
  mergeRowHashes,
  type RowDifference,
  throughAncestors,
} from '../../../src/model/verify.js';
import {
  chunkCount,
  hashesByValue,
  keySteps,
  MAX_GROUPS,
  planComparison,
  subGroupCount,
  throughAncestorNotComparable,
  throughAncestorRefusal,
  WHOLE_ROW,
} from '../../../src/planner/compare/verify.js';

const int: KeyColumn = { name: 'id', type: 'bigint', collatable: false, integer: true };
const text: KeyColumn = { name: 'b', type: 'text', collatable: true, integer: false };

async function* rows(list: Array<[string[], string]>) {
  for (const [key, hash] of list) yield { key, hash };
}

async function all(g: AsyncGenerator<RowDifference>): Promise<RowDifference[]> {
  const out: RowDifference[] = [];
  for await (const d of g) out.push(d);
  return out;
}

describe('verify, pure parts', () => {
  it('orders keys as both sides stream them: integers numerically, text byte-wise (COLLATE "C")', () => {
    expect(compareKeys(['9'], ['10'], [int])).toBeLessThan(0);
    expect(compareKeys(['-5'], ['3'], [int])).toBeLessThan(0);
    expect(compareKeys(['Z'], ['a'], [text])).toBeLessThan(0);
    expect(compareKeys(['z'], ['ä'], [text])).toBeLessThan(0);
    // U+FF5E sorts before U+1F600 in UTF-8 bytes (and in C), though after it in UTF-16 code units
    expect(compareKeys(['\uff5e'], ['\u{1f600}'], [text])).toBeLessThan(0);
    expect(compareKeys(['1', 'b'], ['1', 'a'], [int, text])).toBeGreaterThan(0);
  });

  it('merge-joins two key-ordered streams into missing, extra and different keys', async () => {
    const diffs = await all(
      mergeRowHashes(
        rows([
          [['1'], 'h1'],
          [['2'], 'h2'],
          [['4'], 'h4'],
          [['10'], 'h10'],
        ]),
        rows([
          [['1'], 'h1'],
          [['3'], 'h3'],
          [['4'], 'x4'],
          [['11'], 'h11'],
        ]),
        [int],
      ),
    );
    expect(diffs.map((d) => `${d.kind}:${d.key.join(',')}`)).toEqual([
      'missing:2',
      'extra:3',
      'different:4',
      'missing:10',
      'extra:11',
    ]);
  });

  it('chunks: about 50,000 rows each, at least one', () => {
    expect(chunkCount(0)).toBe(1);
    expect(chunkCount(1_000_000)).toBe(20);
    expect(chunkCount(10_000, 2_000)).toBe(5);
  });

  it('sub-groups: a power of two per chunk giving about groupRows rows a group, within MAX_GROUPS', () => {
    expect(subGroupCount(1_000_000, 20)).toBe(1);
    // a merge of 1 M rows: 245 chunks of ~4,082 rows, 512 groups of ~8 each
    expect(subGroupCount(1_000_000, 245, 8)).toBe(512);
    expect(subGroupCount(100, 1, 8)).toBe(16);
    expect(subGroupCount(0, 1, 8)).toBe(1);
    // 100 M rows in 2,000 chunks: capped by MAX_GROUPS, not by groupRows
    const subs = subGroupCount(100_000_000, 2_000, 8);
    expect(2_000 * subs).toBeLessThanOrEqual(MAX_GROUPS);
    expect(2_000 * subs * 2).toBeGreaterThan(MAX_GROUPS);
  });

  it('key steps: runs of consecutive key values, as many as the groups asked for, the last reaching the max', () => {
    // a merge of keys 1…1,000,000: 245 × 512 groups asked, runs of 8 values, 125,000 of them
    expect(keySteps({ lo: 1, hi: 1_000_000 }, 245 * 512)).toEqual({ lo: 1, width: 8, count: 125_000 });
    // verify's chunks of a key from −50 to 49,949: 20 runs of 2,500
    expect(keySteps({ lo: -50, hi: 49_949 }, 20)).toEqual({ lo: -50, width: 2_500, count: 20 });
    // more groups than values: one value each
    expect(keySteps({ lo: 10, hi: 12 }, 64)).toEqual({ lo: 10, width: 1, count: 3 });
    const s = keySteps({ lo: 7, hi: 1_000_003 }, 1_000);
    expect(s.lo + s.width * s.count - 1).toBeGreaterThanOrEqual(1_000_003);
    expect(s.lo + s.width * (s.count - 1)).toBeLessThanOrEqual(1_000_003);
  });

  it('hashes by value only types whose equal values print alike', () => {
    for (const t of [
      'bigint',
      'integer',
      'text',
      'character varying(20)',
      'uuid',
      'timestamp(3) with time zone',
      'bytea',
    ])
      expect(hashesByValue(t), t).toBe(true);
    for (const t of [
      'numeric',
      'numeric(10,2)',
      'double precision',
      'real',
      'interval',
      'json',
      'jsonb',
      'citext',
      'point',
    ])
      expect(hashesByValue(t), t).toBe(false);
  });

  it('hashes a column by value only when both sides have its type', () => {
    const a = shape(['id', 'v', 'n'], ['id']);
    const b = shape(['id', 'v', 'n'], ['id']);
    b.columns[2] = { ...b.columns[2]!, type: 'character varying(10)' };
    const c = planComparison({ table: a.table, columns: null, filter: null }, a, b, 'west');
    if (!('publisher' in c)) throw new Error(c.reason);
    expect(c.publisher.byValue).toEqual([
      { name: 'id', collatable: true },
      { name: 'v', collatable: true },
    ]);
    expect(c.subscriber.byValue).toEqual(c.publisher.byValue);
  });

  it('reads an ordinary table without its inheritance children (ONLY), a partitioned one with its partitions', () => {
    const plain = shape(['id'], ['id']);
    const root = shape(['id'], ['id'], { partitioned: true });
    const c = planComparison({ table: plain.table, columns: null, filter: null }, root, plain, 'west');
    if (!('publisher' in c)) throw new Error(c.reason);
    expect([c.publisher.only, c.subscriber.only]).toEqual([false, true]);
  });

  const shape = (cols: string[], key: string[] | null, extra: Partial<TableShape> = {}): TableShape => ({
    table: { schema: 'public', name: 't' },
    columns: cols.map((name) => ({ name, type: 'text', collatable: true, integer: false, generated: false })),
    key: key ? { source: 'primary key', columns: key } : null,
    estimatedRows: 10,
    partitioned: false,
    rowSecurity: null,
    ...extra,
  });

  it('compares the column list against the same subscriber columns, ignoring extra ones', () => {
    const c = planComparison(
      { table: { schema: 'public', name: 't' }, columns: ['id', 'region'], filter: "(region = 'eu')" },
      shape(['id', 'region', 'secret'], ['id']),
      shape(['id', 'region', 'local_note'], ['id']),
      'west',
    );
    expect(c).toMatchObject({
      publisher: { columns: ['id', 'region'], filter: "(region = 'eu')" },
      subscriber: { columns: ['id', 'region'], filter: null },
    });
  });

  it('a generated column is compared only where the publications send it (18: pg_publication_tables.attnames)', () => {
    const generated = (cols: string[]) => {
      const s = shape(cols, ['id']);
      return { ...s, columns: s.columns.map((c) => ({ ...c, generated: c.name === 'g' })) };
    };
    const compared = (columns: string[] | null) => {
      const c = planComparison(
        { table: { schema: 'public', name: 't' }, columns, filter: null },
        generated(['id', 'v', 'g']),
        shape(['id', 'v', 'g'], ['id']),
        'west',
      );
      if (!('publisher' in c)) throw new Error(c.reason);
      return c.publisher.columns;
    };
    // not sent: computed on each side, not compared; sent: the subscriber's plain column holds its values
    expect(compared(null)).toEqual(['id', 'v']);
    expect(compared(['id', 'v'])).toEqual(['id', 'v']);
    expect(compared(['id', 'v', 'g'])).toEqual(['id', 'v', 'g']);
  });

  it.each([
    [shape(['x'], null), shape(['x'], null), /neither a primary key nor a replica identity index/],
    [shape(['id', 'v'], ['id']), shape(['id'], ['id']), /on west has no column v/],
    [shape(['id'], ['id']), undefined, /does not exist on west/],
  ])('reports a table it cannot compare %#', (p, s, reason) => {
    const c = planComparison(
      { table: { schema: 'public', name: 't' }, columns: null, filter: null },
      p,
      s,
      'west',
    );
    expect('reason' in c && c.reason).toMatch(reason);
  });

  it('a table PostgreSQL does not send every change of is compared in its direction; not comparable when every kind is allowed or it has no key', () => {
    const t = { schema: 'public', name: 't' };
    const s = shape(['id', 'v'], ['id']);
    // before: publish without update, delete was "not comparable" for good; now its kinds are allowed
    const c = planComparison(
      { table: t, columns: null, filter: null, notReplicated: ['update', 'delete'] },
      s,
      s,
      'west',
    );
    expect(c).toHaveProperty('publisher');
    expect('allowed' in c && c.allowed).toEqual({
      different: 'publish has no update',
      extra: 'publish has no delete',
    });
    // origin = none with an upstream on the publisher: missing and different
    const o = planComparison({ table: t, columns: null, filter: null }, s, s, 'west', {
      upstream: { from: 'east', subscriptions: ['east_c'] },
    });
    expect('allowed' in o && Object.keys(o.allowed!).sort()).toEqual(['different', 'missing']);
    // every kind allowed: no difference could diverge, so it is no comparison
    expect(
      planComparison(
        { table: t, columns: null, filter: null, notReplicated: ['insert', 'update', 'delete'] },
        s,
        s,
        'west',
      ),
    ).toEqual({
      table: t,
      reason:
        'public.t is not comparable: publish has no insert; publish has no update; publish has no delete, so PostgreSQL may rightly leave rows missing, extra and different on west',
      notComparable: true,
    });
    // no key: the allowed kinds cannot be told from the rest
    const keyless = shape(['id', 'v'], null);
    expect(
      planComparison(
        { table: t, columns: null, filter: null, notReplicated: ['update', 'delete'] },
        keyless,
        keyless,
        'west',
        { keyless: true },
      ),
    ).toMatchObject({ notComparable: true });
    // every action published: compared as ever, nothing allowed
    const full = planComparison({ table: t, columns: null, filter: null, notReplicated: null }, s, s, 'west');
    expect(full).toHaveProperty('publisher');
    expect(full).not.toHaveProperty('allowed');
  });

  it('a partition published beside an ancestor published via root is replicated as the topmost such ancestor (028_row_filter.pl)', () => {
    const scope = (name: string, publications: string[], ancestors: string[] | null) => {
      const [schema, n] = name.split('.') as [string, string];
      return { table: { schema, name: n }, columns: null, filter: null, publications, ancestors };
    };
    const through = throughAncestors([
      // vr.d via root (vr_droot); its leaf d_0 and a middle partition dm (with leaf dm_0) on their own
      scope('vr.d', ['vr_droot'], null),
      scope('vr.d_0', ['vr_dleaf'], ['vr.d']),
      scope('vr.dm', ['vr_mid'], ['vr.d']),
      scope('vr.dm_0', ['vr_dleaf'], ['vr.dm', 'vr.d']),
      // a leaf whose root nothing publishes (publish_via_partition_root = false): its own
      scope('vr.c_0', ['vr_leaf'], ['vr.c']),
    ]);
    expect(Object.fromEntries(through)).toEqual({
      'vr.d_0': { ancestor: 'vr.d', publications: ['vr_droot'] },
      'vr.dm': { ancestor: 'vr.d', publications: ['vr_droot'] },
      'vr.dm_0': { ancestor: 'vr.d', publications: ['vr_droot'] },
    });
    const t = through.get('vr.d_0')!;
    expect(throughAncestorRefusal('vr.d_0', t)).toBe(
      "vr.d_0 is no table of the subscription: publication vr_droot publishes its partition ancestor vr.d with publish_via_partition_root, so PostgreSQL sends its changes as vr.d's, with vr.d's row filter, and leaves vr.d_0 out of the subscription; its rows are compared in vr.d (verify vr.d)",
    );
    // before 16 the subscription lists it too: not comparable, for good
    expect(throughAncestorNotComparable({ schema: 'vr', name: 'd_0' }, t, 'west')).toEqual({
      table: { schema: 'vr', name: 'd_0' },
      reason:
        "vr.d_0 is not comparable on its own: publication vr_droot publishes its partition ancestor vr.d with publish_via_partition_root, so PostgreSQL sends its changes as vr.d's, with vr.d's row filter (compared in vr.d); before PostgreSQL 16 the subscription lists vr.d_0 as well and copied it once on its own, so what west holds in it is that copy, which no change streams into",
      notComparable: true,
    });
  });

  it("compares a keyless table (verify's keyless) as a multiset of whole rows, on every stored column", () => {
    const c = planComparison(
      { table: { schema: 'public', name: 't' }, columns: null, filter: null },
      shape(['x', 'y'], null),
      shape(['x', 'y'], null),
      'west',
      { keyless: true },
    );
    expect(c).toMatchObject({
      keySource: WHOLE_ROW,
      publisher: { keys: [], columns: ['x', 'y'] },
      subscriber: { keys: [], columns: ['x', 'y'] },
    });
  });

  it('confirms a row missing or extra on the subscriber whatever the other image; a different row only by the same images', () => {
    const d = (kind: RowDifference['kind'], p: string | null, s: string | null): RowDifference => ({
      key: ['77'],
      kind,
      publisherHash: p,
      subscriberHash: s,
    });
    // the publisher keeps updating a row the subscriber lacks
    expect(confirmsDifference(d('missing', 'h1', null), d('missing', 'h2', null))).toBe(true);
    expect(confirmsDifference(d('extra', null, 'h1'), d('extra', null, 'h1'))).toBe(true);
    // an update in flight: the images move
    expect(confirmsDifference(d('different', 'h1', 'h0'), d('different', 'h2', 'h1'))).toBe(false);
    expect(confirmsDifference(d('different', 'h1', 'h0'), d('different', 'h1', 'h0'))).toBe(true);
    expect(confirmsDifference(d('missing', 'h1', null), d('different', 'h1', 'h0'))).toBe(false);
  });
});
