import { subscriptionAddress } from '../../model/address.js';
import type { ObservedSubscription } from '../../model/cluster.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import type { PlanContext } from '../context.js';

/**
 * A refresh that copies (`copy_data = true`, for the tables a subscription's publications gain)
 * into a subscription with two_phase on that stays on after the plan: PostgreSQL refuses it
 * ("ALTER SUBSCRIPTION with refresh and copy_data is not allowed when two_phase is enabled"), so
 * the plan says so instead of proposing it, with the way out: twoPhase off first (18 turns it off
 * in place on the disabled subscription, before that a new subscription replaces it). True when
 * refused (an error says why).
 */
export function refuseTwoPhaseCopy(ctx: PlanContext, d: SubscriptionSpec, o: ObservedSubscription): boolean {
  if (o.options.twoPhase !== true || d.options.twoPhase !== true) return false;
  ctx.error(
    'subscription.two_phase_copy',
    `subscription ${d.name} on ${d.node} has two_phase on, and PostgreSQL refuses the refresh that copies the tables its publications gain ` +
      '(REFRESH PUBLICATION WITH (copy_data = true) is not allowed when two_phase is enabled): ' +
      `set options.twoPhase: false for ${d.name} in steep.yaml (steep apply turns it off in place on PostgreSQL 18, and replaces the subscription before 18), or leave its publications as they are`,
    { address: subscriptionAddress(d.name), node: d.node },
  );
  return true;
}
