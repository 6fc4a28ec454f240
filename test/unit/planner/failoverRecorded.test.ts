import { describe, expect, it } from 'vitest';
import type { ObservedInitState } from '../../../src/model/initState.js';
import { failoverWayOut } from '../../../src/planner/failover/failover.js';
import {
  at,
  failoverServer,
  observe,
  publication,
  runPlan,
  sqlOf,
  subscription,
  topology,
} from './fixtures.js';

/**
 * A failover `apply` recorded diverged, on a publisher whose file lists no standbys (the old
 * primary not following it yet): the subscription disabled — by PostgreSQL at an error whose
 * counters a crash restart of the subscriber then reset, or by hand — keeps its verdict. Without
 * it, plan enabled the subscription (resuming past the fork) and verify, refusing the lost slot,
 * named `steep reinit --full` where status named no steep repair (nightly torture 180049).
 */
describe('a failover recorded diverged, the file listing no standbys of the promoted node', () => {
  const looped = topology({
    publications: [publication('orders_pub', 'east'), publication('back_pub', 'west')],
    subscriptions: [
      subscription('west_orders', 'west', 'east', ['orders_pub']),
      subscription('east_back', 'east', 'west', ['back_pub']),
    ],
  });
  const d = looped.subscriptions.west_orders!;
  const noRepair =
    'west_orders is disabled and its tables come back to east through east_back (origin = none), which steep reinit reconciles only while west_orders streams, and enabling it resumes past the fork, so steep has no repair for it: copy what east wrote past the fork to west by hand (docs/failover.md)';

  /** east promoted (its timeline forked at 0/2800000), west_orders' slot gone from it, west at the fork's near side, disabled with disable_on_error set. */
  const promoted = (recorded: 'diverged' | 'synchronized', errorsCounted: number) => {
    const state = observe(looped);
    delete at(state, 'east').slots.west_orders;
    at(state, 'east').failover = {
      self: failoverServer({
        history: {
          read: true,
          systemIdentifier: '7100',
          timeline: 2,
          forks: [{ timeline: 1, switchLsn: '0/2800000' }],
        },
      }),
      standbys: [],
    };
    const o = at(state, 'west').subscriptions.west_orders!;
    o.enabled = false;
    o.options.disableOnError = true;
    o.errorsCounted = errorsCounted;
    o.originLsn = '0/2000000';
    at(state, 'west').initState = {
      subscriptions: { west_orders: { state: recorded } },
    } as unknown as ObservedInitState;
    return state;
  };

  it('disabled by PostgreSQL at an error, then its counters reset (a crash restart of west): the same verdict, no ENABLE, and the way out verify names is the copy by hand', () => {
    // PostgreSQL disabled it at an error (counted): judged, the copy by hand named
    const atError = promoted('diverged', 1);
    expect(runPlan(looped, atError).failover?.map((v) => [v.verdict, v.reasons.join('; ')])).toEqual([
      ['diverged', expect.stringContaining(noRepair)],
    ]);
    expect(failoverWayOut(looped, atError, d)).toBe(noRepair);
    // a crash restart of west resets its error counters: disabled as if by hand, recorded diverged all the same
    const reset = promoted('diverged', 0);
    const plan = runPlan(looped, reset);
    expect(plan.failover?.map((v) => [v.verdict, v.reasons.join('; ')])).toEqual([
      ['diverged', expect.stringContaining(noRepair)],
    ]);
    expect(sqlOf(plan, 'subscription.west_orders').join('\n')).not.toContain('ENABLE');
    expect(
      plan.warnings.filter((w) => w.code === 'subscription.failover-diverged').map((w) => w.message),
    ).toEqual([expect.stringContaining(noRepair)]);
    // verify and reinit refusing its slot: the verdict's way out, never a bare reinit --full
    expect(failoverWayOut(looped, reset, d)).toBe(noRepair);
  });

  it('disabled by hand with nothing recorded of a failover (recorded synchronized): no failover verdict, its slot gone is the worker verdict alone', () => {
    // a slot dropped by hand while it was disabled names no failover (test/cli/statusVerdicts.test.ts)
    const dropped = promoted('synchronized', 0);
    expect(runPlan(looped, dropped).failover).toBeUndefined();
    expect(failoverWayOut(looped, dropped, d)).toBeUndefined();
  });
});
