import { describe, expect, it } from 'vitest';
import { conflictsRose } from '../../../src/model/verifyRecord.js';

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
