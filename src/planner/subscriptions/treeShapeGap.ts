import { subscriptionAddress } from '../../model/address.js';
import type { ObservedNode } from '../../model/cluster.js';
import { type GatedGaps, gatedGaps } from '../../model/continuity.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { listText, type PlanContext } from '../context.js';
import type { SubscriptionRelations } from './subscriptionTables.js';

/**
 * A partition tree the subscription receives in another shape (its root instead of its leaves,
 * or the other way: `viaPartitionRoot` switched, docs/steep-yaml.md "Partitioned tables"),
 * refreshed without a copy because the subscriber holds the rows. From the ALTER PUBLICATION on,
 * the publisher sends the tree's changes under the new relations, and until the refresh the
 * subscriber does not receive those: its apply worker drops them, as it does any change of a
 * relation missing from pg_subscription_rel; changes under the old relations that reach it after
 * the refresh are dropped alike. PostgreSQL's ALTER PUBLICATION warns of this loss. Gated
 * `data-gap`: with writes to the tree stopped it is harmless; allowed, each table that joined is
 * recorded as a gap once it ran (workflows/allowedGaps.ts), and apply, when it waits, compares
 * them, closing the gap of each found equal and naming the reinit of any that lost a row
 * (workflows/initEvidence.ts); otherwise a verify or the reinit closes them.
 */
export function treeShapeGap(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  relations: SubscriptionRelations | null,
): GatedGaps {
  if (!relations || relations.held.length === 0) return gatedGaps([]);
  const old = relations.removed.length > 0 ? relations.removed : relations.observed;
  ctx.warn(
    'data-gap',
    `subscription ${d.name} on ${node.name} receives ${listText(relations.held)} instead of ${listText(old)} (the same partition tree): ` +
      `from the ALTER PUBLICATION on, ${d.from} sends the tree's changes under the new relations, and ${node.name} drops those that ` +
      `reach it before the refresh, and those under the old ones that reach it after (PostgreSQL's ALTER PUBLICATION warns of this) ` +
      `(hazard data-gap); stop the writes to the tree on ${d.from} until the apply has run, then apply with --allow-hazard data-gap: ` +
      'apply then compares the tables and names the reinit of any that lost a row',
    { address: subscriptionAddress(d.name), node: node.name },
  );
  return gatedGaps(
    relations.heldNames.map((table) => ({
      table,
      reason:
        `${table} replaced ${listText(old)} in ${d.name} without a copy (the same partition tree, allowed with ` +
        `--allow-hazard data-gap): changes to the tree that reached ${node.name} between the ALTER PUBLICATION and the refresh were dropped`,
    })),
  );
}

/**
 * The tables a copying refresh (`copies`, the subscription left enabled) takes in another shape
 * of their partition tree (the subscriber cannot be shown to hold their rows). A change the
 * publisher sent under the old shape before the ALTER PUBLICATION, applied after the step's
 * TRUNCATE (its apply worker keeps a relation it holds ready as ready, past the REFRESH too),
 * would be copied again and the table sync fail on its key for ever: the step waits first until
 * the slot has passed it (publicationCatchUp.ts catchUpBefore).
 */
export function copiedInAnotherShape(
  diff: { relations: SubscriptionRelations | null; enabled: boolean },
  copies: boolean,
): string[] {
  return copies && diff.enabled ? (diff.relations?.unproven.map((u) => u.table) ?? []) : [];
}
