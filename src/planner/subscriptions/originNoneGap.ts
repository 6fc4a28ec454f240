import { subscriptionAddress } from '../../model/address.js';
import type { ObservedNode, ObservedSubscription } from '../../model/cluster.js';
import { type GatedGaps, gatedGaps } from '../../model/continuity.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { qualifiedName } from '../../model/topology.js';
import { listText, type PlanContext } from '../context.js';
import { effectiveOrigin } from '../defaults.js';
import { copiedTables } from '../init/initCopy.js';
import { fedTables } from './cycles.js';

/**
 * `origin: none` switched on for a subscription whose publisher itself receives some of its
 * tables through a subscription (a cascade east → north → west). pgoutput with `origin = none`
 * sends only changes that have no replication origin, and every change north's apply workers
 * make carries theirs: from the ALTER on, what north receives from east never reaches west, and
 * no error, lag or missing slot shows it. Gated `data-gap`, naming each table and where its
 * publisher gets it. Not for the other way of a two-way link (the subscriber's own changes
 * coming back are what `none` is for: planner/subscriptions/cycles.ts). The step records each
 * table with its reason (`gaps`): once it ran (allowed), apply records them as gaps on the
 * subscriber (workflows/allowedGaps.ts), which status names until a copy or a verify.
 */
export function originNoneGap(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  o: ObservedSubscription,
): GatedGaps {
  const none = gatedGaps([]);
  if (o.options.origin === 'none' || effectiveOrigin(d.options, node.serverVersion) !== 'none') return none;
  const carried = new Set([
    ...o.tables.map(qualifiedName),
    ...copiedTables(ctx.desired, ctx.observed, d).map(qualifiedName),
  ]);
  const fed = fedTables(ctx, d.from, [...carried], d.node);
  if (fed.length === 0) return none;
  ctx.warn(
    'data-gap',
    `subscription ${d.name} on ${node.name} switches to origin: none, but ${d.from} receives ` +
      `${listText(fed.map((f) => `${f.table} through ${f.feeds}`))}: with origin: none, ${d.from} sends ` +
      `${node.name} none of the changes it applies from another node, so from then on they would never reach ` +
      `${node.name} (hazard data-gap); keep origin: any unless ${node.name} receives them another way ` +
      `(its own subscription to their source), or apply with --allow-hazard data-gap if it should not receive them`,
    { address: subscriptionAddress(d.name), node: node.name },
  );
  const gaps = fed.map((f) => ({
    table: f.table,
    reason:
      `${d.from} receives ${f.table} through ${f.feeds}, and ${d.name} was switched to origin: none: ` +
      `what ${d.from} applies from there is not sent to ${node.name} (keep origin: any, or subscribe ${node.name} to its source)`,
    lasting: true as const,
  }));
  return gatedGaps(gaps);
}
