import { describe, expect, it } from 'vitest';
import { subscriptionDigest } from '../../../src/planner/digest.js';
import { observedSubscription, PG18, publication, subscription, topology } from './fixtures.js';

/**
 * A step's digest of its subscription: what apply checks again before it runs the step (a
 * change between plan and apply refuses it as stale). What its workers change while it is
 * planned must not: a worker retrying every few seconds (a lost slot after a failover) starts
 * and stops, and PostgreSQL rewrites the row to clear a used skip position.
 */
describe('subscriptionDigest', () => {
  const t = topology({
    publications: [publication('orders_pub', 'east')],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
  const o = observedSubscription(t, t.subscriptions.west_orders!, PG18);

  it("is the same whatever the workers changed: a worker running, the row's version, a skip position", () => {
    const before = subscriptionDigest(
      { ...o, rowVersion: '900', workerRunning: true, skipLsn: '0/3000500' },
      null,
    );
    expect(subscriptionDigest({ ...o, rowVersion: '901', workerRunning: false, skipLsn: null }, null)).toBe(
      before,
    );
  });

  it('differs where its definition does', () => {
    expect(subscriptionDigest({ ...o, enabled: !o.enabled }, null)).not.toBe(subscriptionDigest(o, null));
  });
});
