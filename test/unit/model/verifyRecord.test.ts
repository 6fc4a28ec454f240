import { describe, expect, it } from 'vitest';
import { conflictsRose, divergedStill } from '../../../src/model/verifyRecord.js';

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
