import type pg from 'pg';
import {
  readFedUpstream,
  readPublishedScope,
  readTableShapes,
  type SubscriptionInfo,
} from '../catalog/compareScope.js';
import { serverVersionOf } from '../catalog/session.js';
import { subscriptionAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { qualifiedName, tableOfQualified } from '../model/topology.js';
import { type NotVerifiable, type TableComparison, throughAncestors } from '../model/verify.js';
import {
  planComparison,
  throughAncestorNotComparable,
  throughAncestorRefusal,
} from '../planner/compare/verify.js';

/**
 * What `steep verify` and `verify --rolling` compare of a subscription (docs/repair.md): each
 * table it carries, as both nodes show it now, or why it cannot be compared.
 */

/**
 * The comparisons of a subscription's tables (or of `only`), as both nodes show them now; `whole`:
 * they are every table it carries (`only` absent, or naming them all), a verify of the subscription.
 */
export async function planVerify(
  pub: pg.Client,
  sub: pg.Client,
  d: SubscriptionSpec,
  info: SubscriptionInfo,
  only: string[] | undefined,
  topology: Topology,
): Promise<{ plans: Array<TableComparison | NotVerifiable>; whole: boolean }> {
  const version = await serverVersionOf(pub);
  let scope = await readPublishedScope(pub, version, info.publications, topology.settings.stateSchema);
  // partitions replicated as an ancestor's; those the subscription does not list (16+) are compared in it
  const through = throughAncestors(scope);
  const inAncestor = new Set([...through.keys()].filter((t) => !info.tables.has(t)));
  scope = scope.filter((s) => !inAncestor.has(qualifiedName(s.table)));
  const carriedCount = scope.length;
  if (only) {
    const wanted = only.map(tableOfQualified).map(qualifiedName);
    const folded = wanted.find((w) => inAncestor.has(w));
    if (folded !== undefined)
      throw new SteepError('verify.unknown_table', throughAncestorRefusal(folded, through.get(folded)!), {
        address: subscriptionAddress(d.name),
      });
    const carried = new Set(scope.map((s) => qualifiedName(s.table)));
    const unknown = wanted.filter((w) => !carried.has(w));
    if (unknown.length > 0)
      throw new SteepError(
        'verify.unknown_table',
        `subscription ${d.name} does not carry ${unknown.join(', ')} (its publications ${info.publications.join(', ')} on ${d.from} publish ${[...carried].join(', ') || 'no table'})`,
        { address: subscriptionAddress(d.name) },
      );
    scope = scope.filter((s) => wanted.includes(qualifiedName(s.table)));
  }
  const whole = scope.length === carriedCount;
  const tables = scope.map((s) => s.table);
  const [pubShapes, subShapes, elsewhere] = await Promise.all([
    readTableShapes(pub, tables),
    readTableShapes(sub, tables),
    readFedUpstream(pub, topology, d),
  ]);
  const plans: Array<TableComparison | NotVerifiable> = scope.map((s) => {
    const name = qualifiedName(s.table);
    const rel = info.tables.get(name);
    if (rel === undefined)
      return {
        table: s.table,
        reason: `${name} is published but not yet part of the subscription on ${d.node}`,
      };
    if (rel !== 'r')
      return { table: s.table, reason: `${name} is still being copied (pg_subscription_rel state ${rel})` };
    const ancestor = through.get(name);
    if (ancestor) return throughAncestorNotComparable(s.table, ancestor, d.node);
    const others = info.alsoFedBy.get(name);
    if (others) return { table: s.table, reason: alsoFedReason(name, d, others), notComparable: true };
    // origin = none: rows and updates the publisher received from upstream are never sent (allowed)
    const upstream = elsewhere.get(name);
    return planComparison(s, pubShapes.get(name), subShapes.get(name), d.node, {
      keyless: true,
      publisherNode: d.from,
      upstream: upstream ? { from: d.from, subscriptions: upstream } : null,
    });
  });
  return { plans, whole };
}

/**
 * A table other subscriptions on the subscriber apply into too (several publishers, as with
 * `origin: none`, or one moved there at a switchover): it holds the union of their rows, which no
 * comparison with one publisher can tell from rows that should not be there, nor from the
 * application's own on a subscriber that took writes.
 */
function alsoFedReason(name: string, d: SubscriptionSpec, others: string[]): string {
  const subs = `subscription${others.length === 1 ? '' : 's'} ${others.join(', ')}`;
  return `${name} is not comparable with ${d.from} alone: ${subs} on ${d.node} ${others.length === 1 ? 'applies' : 'apply'} into it too, so rows ${d.node} holds that ${d.from} never had may be ${others.length === 1 ? "that subscription's" : 'theirs'}`;
}
