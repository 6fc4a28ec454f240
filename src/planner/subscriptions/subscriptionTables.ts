import { subscriptionAddress } from '../../model/address.js';
import type { ObservedSubscription } from '../../model/cluster.js';
import { compareText } from '../../model/order.js';
import { displayTable } from '../../model/sql.js';
import { qualifiedName, type SubscriptionSpec } from '../../model/topology.js';
import { listText, type PlanContext, sameJson } from '../context.js';
import { desiredShape, observedShape } from '../publications/publicationDiff.js';
import { alreadyHeld, receivedFrom } from '../publications/publishedRelations.js';
import { unprovenHeld } from './heldRows.js';

/**
 * The relations of a subscription (pg_subscription_rel) against what its publications publish:
 * now (drift: someone changed a publication and no refresh followed) and once this plan has
 * run (the refresh this plan makes, and whether it copies).
 */
export interface SubscriptionRelations {
  /** pg_subscription_rel; every name as SQL prints it (`public.t`, `"My Schema"."Odd.Table"`) */
  observed: string[];
  /** what the publications publish now */
  now: string[];
  /** what they publish once this plan ran */
  after: string[];
  /** in `after`, not received yet */
  added: string[];
  /** received, not in `after` */
  removed: string[];
  /** of `added`: rows the subscriber already holds through the same partition tree (counted on both sides: heldRows.ts) */
  held: string[];
  /** `held` as `schema.name` (qualifiedName) */
  heldNames: string[];
  /** of `added`: the same partition tree, but steep cannot show the subscriber holds its rows: copied (why, by table) */
  unproven: Array<{ table: string; why: string }>;
  /** `added` less `held` and steep's state schema, as `schema.name` (qualifiedName): what a refresh would copy */
  fresh: string[];
}

/** null when the publisher cannot be read (nothing is assumed). */
export function subscriptionRelations(
  ctx: PlanContext,
  d: SubscriptionSpec,
  o: ObservedSubscription,
): SubscriptionRelations | null {
  const publisher = ctx.node(d.from);
  if (!publisher) return null;
  // now: the publications the subscription names today (a publication list change comes with
  // its own refresh); what they publish is a union, in any order
  const nowShapes = o.publications
    .flatMap((name) => publisher.publications[name] ?? [])
    .map((p) => observedShape(p, publisher.serverVersion));
  const tables = publisher.tables;
  const observedNames = o.tables.map(qualifiedName).sort(compareText);
  const now = receivedFrom(nowShapes, tables, publisher.serverVersion);
  const after = receivedAfterPlan(ctx, d)!;
  const before = new Set(observedNames);
  const added = after.filter((t) => !before.has(t));
  const afterSet = new Set(after);
  const removed = observedNames.filter((t) => !afterSet.has(t));
  // `schema.name` keys as SQL prints the names, for plans and drift
  const shown = new Map<string, string>();
  for (const t of [...o.tables, ...Object.values(tables)]) shown.set(qualifiedName(t), displayTable(t));
  const show = (list: string[]) => list.map((qn) => shown.get(qn) ?? qn);
  // the same tree in another shape: held only where the subscriber's rows are shown to be there
  const subscriber = ctx.node(d.node);
  const unproven: Array<{ table: string; why: string }> = [];
  const held = alreadyHeld(added, before, tables).filter((t) => {
    const why = subscriber
      ? unprovenHeld(t, before, publisher, subscriber, o)
      : 'the subscriber cannot be read';
    if (why) unproven.push({ table: t, why });
    return why === null;
  });
  const state = ctx.desired.settings.stateSchema;
  return {
    observed: show(observedNames),
    now: show(now),
    after: show(after),
    added: show(added),
    removed: show(removed),
    held: show(held),
    heldNames: held,
    unproven: unproven.map((u) => ({ table: shown.get(u.table) ?? u.table, why: u.why })),
    fresh: added.filter((t) => !held.includes(t) && tables[t]?.schema !== state),
  };
}

/**
 * What a subscription to `d.publications` receives from `d.from` once this plan has run (the
 * file's publications as PostgreSQL will store them, others as they are); null when the
 * publisher cannot be read.
 */
export function receivedAfterPlan(ctx: PlanContext, d: SubscriptionSpec): string[] | null {
  const publisher = ctx.node(d.from);
  if (!publisher) return null;
  const shapes = d.publications.flatMap((name) => {
    const spec = ctx.desired.publications[name];
    if (spec?.node === d.from) return [desiredShape(spec, publisher)];
    const observed = publisher.publications[name];
    return observed ? [observedShape(observed, publisher.serverVersion)] : [];
  });
  return receivedFrom(shapes, publisher.tables, publisher.serverVersion);
}

export function relationsDiffer(r: SubscriptionRelations): boolean {
  return r.added.length > 0 || r.removed.length > 0;
}

/**
 * Drift: pg_subscription_rel differs from what the publications publish now, and this plan's
 * publication steps do not bring them back to it (only a refresh does). A publication changed
 * by hand and reverted by this plan is that publication's drift, not the subscription's.
 */
export function relationsDrifted(r: SubscriptionRelations): boolean {
  return !sameJson(r.now, r.observed) && relationsDiffer(r);
}

/**
 * copy_data of the refresh: relations whose rows the subscriber already holds (partitions ↔
 * their root) are never copied again, or every row would arrive twice; the others follow the
 * init method. One refresh copies all its new relations or none, so a change that brings both
 * kinds at once is a plan error (null) asking for two applies.
 */
export function refreshCopy(
  ctx: PlanContext,
  d: SubscriptionSpec,
  r: SubscriptionRelations | null,
  methodCopies: boolean,
): boolean | null {
  if (!r || !methodCopies) return methodCopies;
  const fresh = r.added.filter((t) => !r.held.includes(t));
  if (fresh.length === 0) return false;
  if (r.held.length === 0) return true;
  ctx.error(
    'refresh-mixed',
    `subscription ${d.name} would receive ${listText(fresh)}, whose rows it does not hold yet, and ${listText(r.held)}, ` +
      `whose rows it already holds through the same partition tree; one REFRESH PUBLICATION copies all of them or none: ` +
      'apply the partition change (viaPartitionRoot or the partitioned tables) first, then the new tables',
    { address: subscriptionAddress(d.name), node: d.node },
  );
  return null;
}

/** `: it receives a, stops receiving b; a already holds its rows, so nothing is copied` */
export function refreshText(r: SubscriptionRelations, copy: boolean): string {
  const parts: string[] = [];
  if (r.added.length > 0) parts.push(`it receives ${listText(r.added)}`);
  if (r.removed.length > 0) parts.push(`stops receiving ${listText(r.removed)}`);
  if (parts.length === 0) return '';
  let text = `: ${parts.join(', ')}`;
  if (r.held.length > 0)
    text += `; the subscriber already holds the rows of ${listText(r.held)} (the same partition tree, as many rows on both sides), so nothing is copied`;
  else if (r.unproven.length > 0)
    text += `; steep cannot show the subscriber holds the rows of ${r.unproven.map((u) => `${u.table} (${u.why})`).join(', ')}, so ${copy ? 'they are copied' : 'nothing is copied'}`;
  else if (r.added.length > 0) text += copy ? '; the new tables are copied' : '; nothing is copied';
  return text;
}
