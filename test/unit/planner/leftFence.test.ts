import { describe, expect, it } from 'vitest';
import { leftFences } from '../../../src/planner/switchover/leftFence.js';
import { at, codes, observe, publication, runPlan, subscription, topology } from './fixtures.js';

/** A switchover's fence left on the publisher without the switchover (planner/switchover/leftFence.ts). */
describe('a fence left by a switchover that did not finish', () => {
  const t = topology({
    publications: [publication('orders_pub', 'east', { tables: ['public.orders'] })],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
  const fenced = () => {
    const state = observe(t);
    at(state, 'east').switchoverFences = [
      { subscription: 'west_orders', tables: [{ schema: 'public', name: 'orders' }], roles: ['app'] },
    ];
    return state;
  };

  it('none without a fence: the plan has no such warning', () => {
    const state = observe(t);
    expect(leftFences(t, state)).toEqual([]);
    expect(codes(runPlan(t, state).warnings)).not.toContain('switchover.fence_left');
  });

  it('the fence on the publisher of an enabled subscription is named with the statements that lift it', () => {
    const [f, ...more] = leftFences(t, fenced());
    expect(more).toEqual([]);
    expect(f!.lift.map((x) => `${x.node}: ${x.sql}`)).toEqual([
      'east: ALTER ROLE "app" LOGIN',
      `east: ALTER ROLE "app" IN DATABASE "${at(fenced(), 'east').database}" RESET default_transaction_read_only`,
      'east: DROP TRIGGER IF EXISTS "steep_fence_west_orders" ON "public"."orders"',
      'east: DROP FUNCTION IF EXISTS "steep"."switchover_fence_west_orders"()',
    ]);
    expect(codes(runPlan(t, fenced()).warnings)).toContain('switchover.fence_left');
  });

  it('not after a release: the subscription disabled, the fence is where the switchover leaves it', () => {
    const state = fenced();
    at(state, 'west').subscriptions.west_orders!.enabled = false;
    expect(leftFences(t, state)).toEqual([]);
  });

  it("not another subscription's fence, nor one on the subscriber (a rollback's)", () => {
    const state = observe(t);
    at(state, 'east').switchoverFences = [
      { subscription: 'other', tables: [{ schema: 'public', name: 'orders' }], roles: [] },
    ];
    at(state, 'west').switchoverFences = [
      { subscription: 'west_orders', tables: [{ schema: 'public', name: 'orders' }], roles: [] },
    ];
    expect(leftFences(t, state)).toEqual([]);
  });
});
