/**
 * A subscription's publication list changed over a table it holds already, and still receives
 * (planner/heldTables.ts): where the new list sends of it what the old did not, or no longer
 * sends what the old did, a gap of the subscription's step, gated `data-gap`, recorded and
 * compared by apply as the others (workflows/allowedGaps.ts). The old list as the publisher holds
 * it; a gained publication as the file declares it (this plan may create it).
 */
import type { ObservedNode, ObservedSubscription } from '../../model/cluster.js';
import { type GatedGaps, gatedGaps, type StepGap, stepGapClosing } from '../../model/continuity.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { listText, type PlanContext } from '../context.js';
import { heldTableChanges } from '../heldTables.js';

/** The gaps the list `d.publications` opens over the tables `o` holds on `node`; warned. */
export function publicationListGaps(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  o: ObservedSubscription,
): GatedGaps {
  const publisher = ctx.observed.nodes[d.from];
  const gained = d.publications.filter((p) => !o.publications.includes(p));
  const dropped = o.publications.filter((p) => !d.publications.includes(p));
  if (!publisher?.reachable || gained.length + dropped.length === 0) return gatedGaps([]);
  const change = [
    ...(gained.length > 0 ? [`gains ${listText(gained)}`] : []),
    ...(dropped.length > 0 ? [`drops ${listText(dropped)}`] : []),
  ].join(' and ');
  const gaps: StepGap[] = heldTableChanges(publisher, o, d.publications, (name) =>
    gained.includes(name) ? ctx.desired.publications[name] : undefined,
  ).map(({ table, words }) => ({
    table,
    subscription: d.name,
    reason: `the publication list of subscription ${d.name} ${change}, which changes what it receives of ${table}; on ${node.name}: ${listText(words)}`,
  }));
  if (gaps.length > 0) {
    const tables = gaps.map((g) => g.table);
    ctx.warn(
      'data-gap',
      `subscription ${d.name}: its publication list ${change}, which changes what ${d.from} sends of ${listText(tables)}, ` +
        `held on ${node.name} already: PostgreSQL copies none of the rows that come in, nor removes those that go out ` +
        `(hazard data-gap); ${stepGapClosing(d.name, tables)}`,
      { address: { kind: 'subscription', name: d.name }, node: node.name },
    );
  }
  return gatedGaps(gaps);
}
