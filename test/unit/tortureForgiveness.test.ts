import { describe, expect, it, vi } from 'vitest';
import { noRepairWhileDisabled } from '../../src/model/advice.js';
import type { SubscriptionSpec } from '../../src/model/topology.js';
import { Found } from '../../torture/checks.js';
import { countedDiffering, rowsCounted } from '../../torture/forgiveness.js';
import { handCopyAsked } from '../../torture/handCopy.js';
import { keptKeys, keysToCopy } from '../../torture/keptWrites.js';
import { type Row, RowLedger, rowHolds } from '../../torture/rows.js';
import { type Family, lsnValue, markOf, WalMarks, type Write } from '../../torture/writes.js';

/**
 * The fault harness's bound on what a lagging failover may lose (torture/forgiveness.ts): where
 * each acknowledged id stood in its node's WAL, without a server.
 */
describe('torture: WAL marks of the application', () => {
  it('compares LSNs by value, not as text', () => {
    expect(lsnValue('0/A') > lsnValue('0/9')).toBe(true);
    expect(lsnValue('1/0') > lsnValue('0/FFFFFFFF')).toBe(true);
    expect(lsnValue('16/B374D848')).toBe((0x16n << 32n) + 0xb374d848n);
  });

  it("bounds an id's commit by the next write of its loop on the same node, and by nothing else", () => {
    const m = new WalMarks();
    const [id, parent] = [(n: number) => markOf('t_ids', n), (n: number) => markOf('t_parent', n)];
    m.mark('ids', 'pa', id(1), '0/100');
    m.mark('column', 'pa', id(2), '0/180');
    m.mark('family', 'pa', parent(1), '0/190');
    m.mark('ids', 'pa', id(3), '0/200');
    // the primary changed: pa_standby's WAL says nothing of pa's commit of 3
    m.mark('ids', 'pa_standby', id(4), '0/90');
    expect(m.committedBefore(id(1))).toBe('0/200');
    expect(m.committedBefore(id(2))).toBeNull();
    expect(m.committedBefore(parent(1))).toBeNull();
    expect(m.committedBefore(id(3))).toBeNull();
    expect(m.committedBefore(id(4))).toBeNull();
    expect(m.committedBefore(id(5))).toBeNull();
  });
});

const row = (over: Partial<Row>): Row => ({
  table: 't_ids',
  key: 1,
  v: 'a',
  gone: false,
  at: 'pa',
  doubt: null,
  valueKnown: true,
  ...over,
});

describe('torture: the rows ledger and the counts verify printed', () => {
  it('a row holds its last value once, or is gone; a write in doubt either way; a moved value by presence', () => {
    expect(rowHolds(row({}), { v: 'a', copies: 1 })).toBe(true);
    expect(rowHolds(row({}), { v: 'b', copies: 1 })).toBe(false);
    expect(rowHolds(row({}), { v: 'a', copies: 2 })).toBe(false);
    expect(rowHolds(row({}), null)).toBe(false);
    expect(rowHolds(row({ gone: true }), null)).toBe(true);
    expect(rowHolds(row({ gone: true }), { v: 'a', copies: 1 })).toBe(false);
    const doubt = row({ doubt: { v: 'a', gone: true } });
    expect([rowHolds(doubt, null), rowHolds(doubt, { v: 'a', copies: 1 })]).toEqual([true, true]);
    expect(rowHolds(row({ valueKnown: false }), { v: 'w', copies: 1 })).toBe(true);
    expect(rowHolds(row({ valueKnown: false }), null)).toBe(false);
  });

  it('a write that finds no row settles a delete in doubt as done, and nothing else', async () => {
    const l = new RowLedger();
    // enough rows that the writer updates or deletes one (never inserts): every row has a delete in
    // doubt but the last, whose update was acknowledged on pa and which pa_standby lost
    for (let key = 1; key <= 21; key++)
      l.rows.push(row({ key, doubt: key < 21 ? { v: 'a', gone: true } : null }));
    const noRow = { query: async () => ({ rows: [] }) } as unknown as Parameters<Write>[0];
    const write = l.writer(['t_ids'], new WalMarks(), new Set());
    const random = vi.spyOn(Math, 'random');
    try {
      // no insert (0.9), the row (its index among the live ones), an update (0.9): the first, then
      // the last of the 20 left
      for (const pick of [0.5 / 21, 19.5 / 20]) {
        random.mockReturnValueOnce(0.9).mockReturnValueOnce(pick).mockReturnValueOnce(0.9);
        await write(noRow, 'pa_standby');
      }
    } finally {
      random.mockRestore();
    }
    expect(l.rows[0]).toMatchObject({ gone: true, at: 'pa_standby', doubt: null });
    expect(rowHolds(l.rows[0]!, null)).toBe(true);
    expect(l.rows[20]).toMatchObject({ v: 'a', gone: false, at: 'pa', doubt: null });
    expect(rowHolds(l.rows[20]!, null)).toBe(false);
  });

  it("a table's values moved (column-swap): each row of it is judged by its presence", () => {
    const l = new RowLedger();
    l.rows.push(row({}), row({ table: 't_keyless', key: 2 }));
    l.valuesMoved('t_ids');
    expect(l.rows.map((r) => r.valueKnown)).toEqual([false, true]);
  });

  it("reads each table's differing rows off its own verify line, changing ones included", () => {
    const printed = [
      'Verify of subscription ts1 (pa → pb): 2 tables differ (1.2 s)',
      '  public.t_ids  diverged  3,120 rows, 4 chunks (2 identical)  missing 1,002, extra 3, different 4, 7 rows changing during the run (not counted)  0.4 s',
      '  public.t_keyless  diverged  560 rows, 1 chunks (0 identical)  missing 2, extra 2, different 0  0.1 s',
      '  public.t_parent  equal  1,000 rows, 1 chunks (1 identical)  0.1 s',
      '  public.t_link  not verifiable: public.t_link is not comparable with pa alone: subscription torture_in on pb applies into it too',
    ].join('\n');
    expect(countedDiffering(printed, 't_ids')).toBe(1_016);
    expect(countedDiffering(printed, 't_keyless')).toBe(4);
    expect(countedDiffering(printed, 't_parent')).toBe(0);
    expect(countedDiffering(printed, 't_link')).toBeNull();
    expect(countedDiffering(printed, 't_child')).toBe(0);
    const keyless = [1, 2, 3, 4, 5].map((key) => row({ table: 't_keyless', key }));
    const counted = (rows: Row[], text = printed) => {
      const found = new Found();
      const uncounted = rowsCounted(found, 'rollback-rows-counted', rows, text, 'lost');
      return { short: found.list.map((f) => `[${f.check}] ${f.text.split('\n')[0]}`), uncounted };
    };
    expect(counted(keyless.slice(0, 4))).toEqual({ short: [], uncounted: [] });
    expect(counted(keyless).short).toEqual([
      '[rollback-rows-counted] 5 row(s) of t_keyless lost, but steep verify counted 4 differing there:',
    ]);
    expect(counted([row({ table: 't_link' })])).toEqual({ short: [], uncounted: ['1 row(s) of t_link'] });
    expect(counted([row({})], 'public.t_parent  equal').short).toHaveLength(1);
  });
});

describe('torture: the copy by hand steep names where it has no repair of a failover', () => {
  const d = { name: 'ts1', node: 'pb', from: 'pa_standby' } as SubscriptionSpec;
  it("reads steep's own sentence, with and without what pb must keep first", () => {
    for (const phantoms of [true, false]) {
      const printed = `ts1  diverged  its slot is gone from pa_standby: ${noRepairWhileDisabled(d, 'l1_pa', phantoms)}`;
      expect(handCopyAsked(printed)?.keepFirst).toBe(phantoms);
    }
    expect(handCopyAsked('ts1  diverged  steep reinit ts1 --full copies its tables again')).toBeNull();
  });
});

describe('torture: the copy of what pb must keep after readiness was lost', () => {
  const family = (parent: number, over: Partial<Family> = {}): Family => ({
    parent,
    child: parent + 100,
    v: 'a',
    childV: 'child',
    gone: false,
    at: 'pa',
    doubt: null,
    ...over,
  });

  it("carries the keys of every lost write still pa's and unforgiven, an UPDATE and a DELETE among them, children first", () => {
    // CI seed 994 on 18: a verify refused (its workers failing) forgave nothing, and the copy of
    // the rows pa lacked carried the lost INSERTs alone: 15 families and 9 rows stayed lost
    const updated = family(1, { v: 'u1' });
    const deleted = family(2, { gone: true });
    const inserted = family(3);
    const since = family(4, { at: 'pa_standby' });
    const forgiven = family(5);
    const rows = [row({ key: 7, v: 'u2' }), row({ table: 't_keyless', key: 8, gone: true }), row({ key: 9 })];
    const kept = keptKeys(
      { ids: [], families: [updated, deleted, inserted, since, forgiven], rows },
      { families: [updated, deleted, inserted, forgiven], rows: rows.slice(0, 2) },
      { families: new Set([5]), rows: new Set() },
    );
    expect(kept).toEqual([
      { table: 't_child', key: 'id', keys: [101, 102, 103] },
      { table: 't_ids', key: 'id', keys: [7] },
      { table: 't_keyless', key: 'n', keys: [8] },
      { table: 't_parent', key: 'id', keys: [1, 2, 3] },
    ]);
  });

  it('copies a key whose rows differ, either side missing them, or a table without a key holding another count', () => {
    const onPb = new Map([
      [1, ['{"id": 1, "v": "u1"}']],
      [2, ['{"id": 2, "v": "a"}']],
      [4, ['{"n": 4, "v": "x"}', '{"n": 4, "v": "y"}']],
      [5, ['{"n": 5, "v": "x"}']],
    ]);
    const onPublisher = new Map([
      [1, ['{"id": 1, "v": "a"}']],
      [2, ['{"id": 2, "v": "a"}']],
      [3, ['{"id": 3, "v": "a"}']],
      [4, ['{"n": 4, "v": "y"}', '{"n": 4, "v": "x"}']],
      [5, ['{"n": 5, "v": "x"}', '{"n": 5, "v": "x"}']],
    ]);
    expect(keysToCopy([1, 2, 3, 4, 5, 6], onPb, onPublisher)).toEqual([1, 3, 5]);
  });
});
