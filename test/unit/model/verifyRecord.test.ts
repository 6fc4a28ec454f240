import { describe, expect, it } from 'vitest';
import { conflictBaseline, conflictsRose, divergedStill } from '../../../src/model/verifyRecord.js';
import type { TableEvidence } from '../../../src/model/verifyWindow.js';

describe('conflicts since the last verify', () => {
  it('counts what rose since the reading, all of a reset counter, everything when never verified, nothing before 18', () => {
    const at = { update_origin_differs: 2, update_missing: 5, insert_exists: 0 };
    expect(conflictsRose({ update_origin_differs: 2, update_missing: 5, insert_exists: 0 }, at)).toEqual({});
    expect(conflictsRose({ update_origin_differs: 4, update_missing: 5, insert_exists: 1 }, at)).toEqual({
      update_origin_differs: 2,
      insert_exists: 1,
    });
    // pg_stat_reset_subscription_stats: 3 is below the reading, all 3 came after it
    expect(conflictsRose({ update_origin_differs: 0, update_missing: 3, insert_exists: 0 }, at)).toEqual({
      update_missing: 3,
    });
    expect(conflictsRose({ update_missing: 3, insert_exists: 0 }, null)).toEqual({ update_missing: 3 });
    expect(conflictsRose(null, at)).toBeNull();
  });
});

describe('conflictBaseline: the reading conflicts are counted from', () => {
  const verified = {
    startedAt: '2026-01-01T10:00:00.000Z',
    verifiedAt: '2026-01-01T10:05:00.000Z',
    conflicts: { delete_missing: 1 },
  };
  const evidence = (
    segments: Record<string, Array<{ equalAt: string | null; conflicts?: Record<string, number> | null }>>,
  ) =>
    new Map<string, TableEvidence>(
      Object.entries(segments).map(([t, ss]) => [
        t,
        { wholeEqualAt: null, wholeRows: null, segments: ss.map((x) => ({ rows: 10, ...x })) },
      ]),
    );
  const rolled = evidence({
    'public.a': [
      { equalAt: '2026-01-02T10:01:00.000Z', conflicts: { delete_missing: 3 } },
      { equalAt: '2026-01-02T10:00:00.000Z', conflicts: { delete_missing: 2 } },
    ],
    'public.b': [{ equalAt: '2026-01-02T10:02:00.000Z', conflicts: { delete_missing: 3 } }],
  });

  it("the rolling verify's oldest comparison, when every segment of every table has one later than the verify", () => {
    expect(conflictBaseline(verified, ['public.a', 'public.b'], rolled)).toEqual({
      at: '2026-01-02T10:00:00.000Z',
      rolling: true,
      conflicts: { delete_missing: 2 },
    });
    expect(conflictBaseline(undefined, ['public.a', 'public.b'], rolled)?.rolling).toBe(true);
  });

  it('the last verify while a table, a segment or a reading is missing, or the verify is later', () => {
    const whole = { at: verified.verifiedAt, rolling: false, conflicts: verified.conflicts };
    // a table the rolling verify never mapped (added since): its rows were never compared
    expect(conflictBaseline(verified, ['public.a', 'public.b', 'public.c'], rolled)).toEqual(whole);
    expect(conflictBaseline(undefined, ['public.a', 'public.b', 'public.c'], rolled)).toBeUndefined();
    const half = evidence({
      'public.a': [{ equalAt: '2026-01-02T10:00:00.000Z', conflicts: {} }, { equalAt: null }],
    });
    expect(conflictBaseline(verified, ['public.a'], half)).toEqual(whole);
    // compared before migration 23, or before 18: no reading to count from
    const unread = evidence({ 'public.a': [{ equalAt: '2026-01-02T10:00:00.000Z', conflicts: null }] });
    expect(conflictBaseline(verified, ['public.a'], unread)).toEqual(whole);
    const later = {
      ...verified,
      startedAt: '2026-01-03T00:00:00.000Z',
      verifiedAt: '2026-01-03T00:01:00.000Z',
    };
    expect(conflictBaseline(later, ['public.a', 'public.b'], rolled)?.rolling).toBe(false);
    expect(conflictBaseline(verified, [], rolled)).toEqual(whole);
  });
});

describe('divergedStill: the diverged tables a subscription still carries', () => {
  const carries = [
    { schema: 'public', name: 'a' },
    { schema: 'public', name: 'c' },
  ];
  it('keeps those it carries; no reason while one is left', () => {
    expect(divergedStill('s', ['public.a', 'public.b'], carries)).toEqual({
      carried: ['public.a'],
      left: null,
    });
  });
  it('none carried: why it is diverged all the same, and the verify that settles it', () => {
    expect(divergedStill('s', ['public.b'], carries)).toEqual({
      carried: [],
      left: 'the tables a verify found diverged (public.b) left the subscription: `steep verify s` compares the tables it carries and settles it',
    });
  });
});
