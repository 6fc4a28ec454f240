/**
 * A row filter or column list a publication's step changes on tables a subscription holds
 * already (docs/steep-yaml.md): PostgreSQL copies none of the rows the new filter takes in, nor
 * the values of a column the new list adds, and leaves on the subscriber the rows it now leaves
 * out, kept up no longer (its documentation; `028_row_filter.pl`, `031_column_list.pl`). Each
 * such table of an existing subscription is a gap the step opens, gated `data-gap`: recorded on
 * the subscriber once allowed (workflows/allowedGaps.ts), compared by apply when it waits, closed
 * by a copy or a verify that finds the table equal. A receiver not created yet, or not holding
 * the table yet, copies it under the new filter, and so opens none.
 */
import { type StepGap, stepGapClosing } from '../../model/continuity.js';
import { compareText } from '../../model/order.js';
import { displayTable } from '../../model/sql.js';
import { type PublicationSpec, type PublicationTable, qualifiedName } from '../../model/topology.js';
import { listText, type PlanContext, sortedKeys } from '../context.js';

/** The gaps a change of the filters or column lists of `changed` (as displayTable prints them) opens; warned as it plans them. */
export function filterGaps(
  ctx: PlanContext,
  spec: PublicationSpec,
  tables: readonly PublicationTable[],
  changed: readonly string[],
): StepGap[] {
  const address = { kind: 'publication' as const, name: spec.name };
  const gaps: StepGap[] = [];
  const receivers = sortedKeys(ctx.desired.subscriptions)
    .map((n) => ctx.desired.subscriptions[n]!)
    .filter((s) => s.from === spec.node && s.publications.includes(spec.name));
  const names = tables
    .filter((t) => changed.includes(displayTable(t)))
    .map(qualifiedName)
    .sort(compareText);
  for (const d of receivers) {
    const n = ctx.observed.nodes[d.node];
    const o = n?.reachable ? n.subscriptions[d.name] : undefined;
    // not created yet: its create copies them under the new filter
    if (!o) continue;
    const held = new Set(o.tables.map(qualifiedName));
    const mine = names.filter((t) => held.has(t));
    if (mine.length === 0) continue;
    for (const table of mine)
      gaps.push({
        table,
        subscription: d.name,
        reason:
          `the row filter or column list of ${table} in publication ${spec.name} changed on ${spec.node}: PostgreSQL copies ` +
          `none of the rows the new one takes in, and the rows it leaves out stay on ${d.node}`,
      });
    ctx.warn(
      'data-gap',
      `subscription ${d.name}: the row filter or column list of ${listText(mine)} in publication ${spec.name} changes, ` +
        `and PostgreSQL copies none of the rows ${mine.length === 1 ? 'it' : 'they'} take${mine.length === 1 ? 's' : ''} in ` +
        `(nor the values of a column the list adds), and leaves on ${d.node} the rows ${mine.length === 1 ? 'it leaves' : 'they leave'} out ` +
        `(hazard data-gap); ${stepGapClosing(d.name, mine)}`,
      { address, node: spec.node },
    );
  }
  // no subscription declared: one steep does not manage may hold them
  if (receivers.length === 0)
    ctx.warn(
      'no-recopy',
      `publication ${spec.name} changes the row filter or column list of ${listText(names)}: rows already copied to a subscriber are not re-copied`,
      { address, node: spec.node },
    );
  return gaps;
}
