import { describe, expect, it } from 'vitest';
import {
  allowedKinds,
  allowedText,
  allowsEverything,
  directionVerdict,
} from '../../../src/model/verifyDirection.js';

/** Which differences PostgreSQL rightly leaves, and the verdict that counts them apart (docs/repair.md). */
describe('comparing in the direction PostgreSQL replicates', () => {
  it.each([
    // every action published: no difference is allowed
    [[], {}],
    // insert-only: updates and deletes never arrive; every inserted row does, so missing stays a divergence
    [['update', 'delete'], { different: 'publish has no update', extra: 'publish has no delete' }],
    [['truncate'], { extra: 'publish has no truncate' }],
    [['delete', 'truncate'], { extra: 'publish has no delete, truncate' }],
    [['update'], { different: 'publish has no update' }],
    [['insert'], { missing: 'publish has no insert' }],
  ])('a publication without %j allows %j', (unsent, allowed) => {
    expect(allowedKinds(unsent)).toEqual(allowed);
  });

  it('origin = none from a publisher that applies another subscription allows missing and different, never extra', () => {
    const allowed = allowedKinds([], { from: 'east', subscriptions: ['east_c'] });
    const why = 'origin = none: east sends none of the changes subscription east_c on east applies';
    expect(allowed).toEqual({ missing: why, different: why });
    expect(allowsEverything(allowed)).toBe(false);
    // an extra row on the subscriber came from nowhere PostgreSQL sends from: diverged
    expect(directionVerdict({ missing: 4, extra: 1, different: 2 }, allowed)).toMatchObject({
      status: 'diverged',
      counts: { missing: 0, extra: 1, different: 0 },
      allowed: { missing: 4, extra: 0, different: 2 },
    });
    expect(directionVerdict({ missing: 4, extra: 0, different: 2 }, allowed).status).toBe('equal');
    // with no delete published either, every kind is allowed: nothing left to compare
    expect(allowsEverything(allowedKinds(['delete'], { from: 'east', subscriptions: ['east_c'] }))).toBe(
      true,
    );
  });

  it('an insert-only table is equal with only allowed kinds differing, diverged once a row is missing', () => {
    const allowed = allowedKinds(['update', 'delete', 'truncate']);
    const equal = directionVerdict({ missing: 0, extra: 5, different: 3 }, allowed);
    expect(equal).toEqual({
      status: 'equal',
      counts: { missing: 0, extra: 0, different: 0 },
      allowed: { missing: 0, extra: 5, different: 3, why: allowed },
    });
    expect(allowedText(equal.allowed)).toBe(
      "in PostgreSQL's direction: 5 extra rows the publisher deleted are rightly kept (publish has no delete, truncate), " +
        '3 different rows rightly keep values the publisher changed since (publish has no update)',
    );
    const diverged = directionVerdict({ missing: 1, extra: 5, different: 3 }, allowed);
    expect(diverged.status).toBe('diverged');
    expect(diverged.counts).toEqual({ missing: 1, extra: 0, different: 0 });
  });

  it('without allowed kinds every difference diverges, and no allowed counts are reported', () => {
    expect(directionVerdict({ missing: 0, extra: 1, different: 0 }, undefined)).toEqual({
      status: 'diverged',
      counts: { missing: 0, extra: 1, different: 0 },
    });
    expect(directionVerdict({ missing: 0, extra: 0, different: 0 }, {})).toEqual({
      status: 'equal',
      counts: { missing: 0, extra: 0, different: 0 },
    });
    expect(allowedText(undefined)).toBeNull();
    expect(
      allowedText({ missing: 0, extra: 0, different: 0, why: { extra: 'publish has no delete' } }),
    ).toBeNull();
  });
});
