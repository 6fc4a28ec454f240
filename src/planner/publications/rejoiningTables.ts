import { adviceText } from '../../model/advice.js';
import type { ObservedNode } from '../../model/cluster.js';
import { membershipsOf } from '../../model/continuity.js';
import type { PublicationTable } from '../../model/topology.js';
import { qualifiedName } from '../../model/topology.js';
import type { PlanContext } from '../context.js';

/**
 * Tables a publication's step puts back while a subscription still lists them (model/continuity.ts):
 * each left every publication that subscription reads on this node (by hand: steep's own removal
 * refreshes the subscription, which drops it from pg_subscription_rel), yet the subscriber still
 * has it in pg_subscription_rel, so `REFRESH PUBLICATION` will not copy it again and the changes
 * made while it was out never arrive. The step carries hazard `data-gap` and names the way out.
 */
export interface RejoiningTable {
  subscription: string;
  subscriber: string;
  table: string;
}

export function rejoiningTables(
  ctx: PlanContext,
  publication: string,
  node: ObservedNode,
  desired: readonly PublicationTable[],
): RejoiningTable[] {
  const observed = new Set((node.publications[publication]?.tables ?? []).map(qualifiedName));
  const joining = desired.map(qualifiedName).filter((t) => !observed.has(t));
  if (joining.length === 0) return [];
  const out: RejoiningTable[] = [];
  for (const n of Object.values(ctx.observed.nodes)) {
    if (!n.reachable) continue;
    for (const s of Object.values(n.subscriptions)) {
      const d = ctx.desired.subscriptions[s.name];
      const from = d && d.node === n.name ? d.from : s.from;
      if (from !== node.name || !s.publications.includes(publication)) continue;
      const listed = new Set(s.tables.map(qualifiedName));
      const others = s.publications.filter((p) => p !== publication);
      for (const table of joining)
        if (listed.has(table) && membershipsOf(node.publications, others, table).length === 0)
          out.push({ subscription: s.name, subscriber: n.name, table });
    }
  }
  return out;
}

/** What the step's reason says of them: why it is a data gap, and the command that closes it. */
export function rejoiningText(publication: string, tables: readonly RejoiningTable[]): string {
  const bySub = new Map<string, RejoiningTable[]>();
  for (const t of tables) bySub.set(t.subscription, [...(bySub.get(t.subscription) ?? []), t]);
  return [...bySub.values()]
    .map((ts) => {
      const names = ts.map((t) => t.table);
      const s = ts[0]!;
      return (
        `${names.join(', ')} rejoin${names.length === 1 ? 's' : ''} publication ${publication} while subscription ${s.subscription} on ${s.subscriber} still lists ${names.length === 1 ? 'it' : 'them'}: ` +
        `REFRESH will not copy ${names.length === 1 ? 'it' : 'them'} again, so the changes made while ${names.length === 1 ? 'it was' : 'they were'} out never arrive (hazard data-gap); ` +
        `after this apply, copy ${names.length === 1 ? 'it' : 'them'}: \`${adviceText('reinitTables', s.subscription, names)}\``
      );
    })
    .join('; ');
}
