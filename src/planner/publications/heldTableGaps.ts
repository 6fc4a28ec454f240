/**
 * What a publication's step changes on tables a subscription holds already that PostgreSQL's
 * stream never mends (docs/steep-yaml.md; its documentation, `028_row_filter.pl`,
 * `031_column_list.pl`):
 *
 * - a row filter or column list: none of the rows the new filter takes in is copied, nor the
 *   values of a column the new list adds, and the rows it leaves out stay, kept up no longer;
 * - an action it now publishes (`publish` gains insert, update, delete or truncate) that takes
 *   away a kind of difference verify allowed while no publication of the subscription sent it for
 *   the table (model/verifyDirection.ts: rows inserted missing, rows updated with their old values,
 *   rows deleted or truncated kept while either is unsent): what the publisher did that way before
 *   was never sent, and is a divergence from now on.
 *
 * Each such table of an existing subscription is a gap the step opens, gated `data-gap`: recorded
 * on the subscriber once allowed (workflows/allowedGaps.ts), compared by apply when it waits,
 * closed by a copy or a verify that finds the table equal. A receiver not created yet, or not
 * holding the table yet, copies it under the new publication, and so opens none.
 */
import type { ObservedNode, ObservedSubscription } from '../../model/cluster.js';
import { membershipsOf, type StepGap, stepGapClosing } from '../../model/continuity.js';
import { compareText } from '../../model/order.js';
import { displayTable } from '../../model/sql.js';
import {
  PUBLISH_OPERATIONS,
  type PublicationSpec,
  type PublicationTable,
  type PublishOperation,
  qualifiedName,
  type SubscriptionSpec,
} from '../../model/topology.js';
import type { DifferenceKind } from '../../model/verify.js';
import { allowedKinds, DIFFERENCE_KINDS } from '../../model/verifyDirection.js';
import { listText, type PlanContext, sortedKeys } from '../context.js';
import { partitionAncestors } from './publishedRelations.js';

/** What the step changes: the tables whose filter or list changes (as displayTable prints them), the actions it gains. */
export interface PublicationChange {
  tables: readonly PublicationTable[];
  filterChanged: readonly string[];
  gainedActions: readonly PublishOperation[];
}

/** The gaps the step of `spec` on `node` opens on held tables; each receiver's warned as it plans them. */
export function heldTableGaps(
  ctx: PlanContext,
  spec: PublicationSpec,
  node: ObservedNode,
  change: PublicationChange,
): StepGap[] {
  const address = { kind: 'publication' as const, name: spec.name };
  const filtered = change.tables
    .filter((t) => change.filterChanged.includes(displayTable(t)))
    .map(qualifiedName)
    .sort(compareText);
  const receivers = sortedKeys(ctx.desired.subscriptions)
    .map((n) => ctx.desired.subscriptions[n]!)
    .filter((s) => s.from === spec.node && s.publications.includes(spec.name));
  const gaps: StepGap[] = [];
  for (const d of receivers) {
    const n = ctx.observed.nodes[d.node];
    // not created yet: its create copies under the new publication
    const o = n?.reachable ? n.subscriptions[d.name] : undefined;
    if (!o) continue;
    const held = new Set(o.tables.map(qualifiedName));
    const mine = filtered.filter((t) => held.has(t));
    for (const table of mine)
      gaps.push({
        table,
        subscription: d.name,
        reason:
          `the row filter or column list of ${table} in publication ${spec.name} changed on ${spec.node}: PostgreSQL copies ` +
          `none of the rows the new one takes in, and the rows it leaves out stay on ${d.node}`,
      });
    if (mine.length > 0)
      ctx.warn(
        'data-gap',
        `subscription ${d.name}: the row filter or column list of ${listText(mine)} in publication ${spec.name} changes, ` +
          `and PostgreSQL copies none of the rows ${mine.length === 1 ? 'it' : 'they'} take${mine.length === 1 ? 's' : ''} in ` +
          `(nor the values of a column the list adds), and leaves on ${d.node} the rows ${mine.length === 1 ? 'it leaves' : 'they leave'} out ` +
          `(hazard data-gap); ${stepGapClosing(d.name, mine)}`,
        { address, node: spec.node },
      );
    gaps.push(...actionGaps(ctx, spec, node, d, o, change.gainedActions));
  }
  // no subscription declared: one steep does not manage may hold them
  if (receivers.length === 0 && filtered.length > 0)
    ctx.warn(
      'no-recopy',
      `publication ${spec.name} changes the row filter or column list of ${listText(filtered)}: rows already copied to a subscriber are not re-copied`,
      { address, node: spec.node },
    );
  return gaps;
}

/** What each kind of difference verify allows came from (model/verifyDirection.ts). */
const LEFT_BY: Record<DifferenceKind, string> = {
  missing: 'rows inserted are missing',
  different: 'rows updated keep their old values',
  extra: 'rows deleted or truncated stay',
};

/**
 * The tables of `o` the publication publishes where the actions it gains take away a kind of
 * difference verify allowed (nothing of the table's publications sent those actions); warned.
 */
function actionGaps(
  ctx: PlanContext,
  spec: PublicationSpec,
  node: ObservedNode,
  d: SubscriptionSpec,
  o: ObservedSubscription,
  gained: readonly PublishOperation[],
): StepGap[] {
  if (gained.length === 0) return [];
  const gaps: StepGap[] = [];
  for (const table of o.tables.map(qualifiedName).sort(compareText)) {
    const members = membershipsOf(
      node.publications,
      o.publications,
      table,
      partitionAncestors(table, node.tables),
    );
    if (!members.some((m) => m.publication === spec.name)) continue;
    const sent = (gains: readonly string[]) =>
      new Set(
        members.flatMap((m) => [
          ...(node.publications[m.publication]?.publish ?? []),
          ...(m.publication === spec.name ? gains : []),
        ]),
      );
    const unsent = (gains: readonly string[]) => PUBLISH_OPERATIONS.filter((a) => !sent(gains).has(a));
    const after = allowedKinds(unsent(gained));
    const lost = DIFFERENCE_KINDS.filter(
      (k) => allowedKinds(unsent([]))[k] !== undefined && after[k] === undefined,
    );
    if (lost.length === 0) continue;
    gaps.push({
      table,
      subscription: d.name,
      reason:
        `publication ${spec.name} on ${spec.node} now publishes ${listText(gained)} of ${table}: what ${spec.node} did that ` +
        `way before was never sent (${listText(lost.map((k) => LEFT_BY[k]))} on ${d.node}), which verify allowed until now`,
    });
  }
  if (gaps.length > 0) {
    const tables = gaps.map((g) => g.table);
    ctx.warn(
      'data-gap',
      `subscription ${d.name}: publication ${spec.name} now publishes ${listText(gained)}, which no publication of ${d.name} ` +
        `published for ${listText(tables)}: what ${spec.node} did that way before was never sent and stays on ${d.node}, a ` +
        `difference verify allowed until now (hazard data-gap); ${stepGapClosing(d.name, tables)}`,
      { address: { kind: 'publication', name: spec.name }, node: spec.node },
    );
  }
  return gaps;
}
