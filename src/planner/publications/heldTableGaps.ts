/**
 * What a publication's step changes of what a subscription receives of a table it holds already
 * (planner/heldTables.ts: a row filter or column list, an action it now publishes, a table it no
 * longer publishes that another publication of the subscription still sends under a filter):
 * where the subscription's stream will never mend what it leaves (PostgreSQL's documentation,
 * `028_row_filter.pl`, `031_column_list.pl`), a gap of the step on that subscription, gated
 * `data-gap`: recorded on the subscriber once allowed (workflows/allowedGaps.ts), compared by
 * apply when it waits, closed by a copy or a verify that finds the table equal. A receiver not
 * created yet, or not holding the table yet, copies it under the new publication.
 */
import type { ObservedNode } from '../../model/cluster.js';
import { type StepGap, stepGapClosing } from '../../model/continuity.js';
import { compareText } from '../../model/order.js';
import type { PublicationSpec } from '../../model/topology.js';
import { listText, type PlanContext, sortedKeys } from '../context.js';
import { heldTableChanges } from '../heldTables.js';

/**
 * The gaps the step of `spec` on `node` opens on held tables; each receiver's warned as it plans
 * them (`filterChanged`: the tables whose filter or list changes, as displayTable prints them).
 */
export function heldTableGaps(
  ctx: PlanContext,
  spec: PublicationSpec,
  node: ObservedNode,
  filterChanged: readonly string[],
): StepGap[] {
  const receivers = sortedKeys(ctx.desired.subscriptions)
    .map((n) => ctx.desired.subscriptions[n]!)
    .filter((s) => s.from === spec.node && s.publications.includes(spec.name));
  const gaps: StepGap[] = [];
  for (const d of receivers) {
    const n = ctx.observed.nodes[d.node];
    // not created yet: its create copies under the new publication
    const o = n?.reachable ? n.subscriptions[d.name] : undefined;
    if (!o?.publications.includes(spec.name)) continue;
    const mine: StepGap[] = heldTableChanges(node, o, o.publications, (name) =>
      name === spec.name ? spec : undefined,
    ).map(({ table, words }) => ({
      table,
      subscription: d.name,
      reason: `publication ${spec.name} on ${spec.node} changes what ${d.name} receives of ${table}; on ${d.node}: ${listText(words)}`,
    }));
    if (mine.length === 0) continue;
    const tables = mine.map((g) => g.table);
    ctx.warn(
      'data-gap',
      `subscription ${d.name}: publication ${spec.name} changes what ${spec.node} sends of ${listText(tables)}, held on ` +
        `${d.node} already: PostgreSQL copies none of the rows that come in, nor removes those that go out (hazard ` +
        `data-gap); ${stepGapClosing(d.name, tables)}`,
      { address: { kind: 'publication', name: spec.name }, node: spec.node },
    );
    gaps.push(...mine);
  }
  // no subscription declared: one steep does not manage may hold them
  if (receivers.length === 0 && filterChanged.length > 0)
    ctx.warn(
      'no-recopy',
      `publication ${spec.name} changes the row filter or column list of ${listText([...filterChanged].sort(compareText))}: rows already copied to a subscriber are not re-copied`,
      { address: { kind: 'publication', name: spec.name }, node: spec.node },
    );
  return gaps;
}
