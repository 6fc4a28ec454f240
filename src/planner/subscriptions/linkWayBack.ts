import type { Statement } from '../../model/plan.js';
import { quoteLiteral } from '../../model/sql.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { type PlanContext, stepKey } from '../context.js';
import { tx } from '../sqlBuild.js';

/**
 * A `snapshot` link copies its first node's rows to the second, and its way back (the second
 * node's changes to the first, `copy_data = false`) carries only what the second node commits
 * after the way back's slot is consistent: a row committed there before (by a transaction already
 * open when the slot was made, or between the plan's reading and the slot) would stay on the
 * second node alone. So the way back's slot is made by its own step before the first edge's copy
 * starts, and that step then reads the second node's tables: with `existingData: fail` they held
 * no row when the plan read them, so any row now is one the way back may have missed; the step
 * drops the slot and stops, naming the table and the way out (a merge). Once the first edge
 * exists (an apply stopped in between), its slot, made and checked before it, is taken over.
 */

/** The first edge of `d`'s link when `d` is the way back of a `snapshot` link whose second node must hold no row. */
function firstEdge(ctx: PlanContext, d: SubscriptionSpec): SubscriptionSpec | undefined {
  const link = d.link === undefined ? undefined : ctx.desired.links?.[d.link];
  if (link?.init.method !== 'snapshot' || d.node !== link.nodes[0] || d.init.existingData !== 'fail')
    return undefined;
  return ctx.desired.subscriptions[link.subscriptions[link.nodes[1]]!];
}

/** The statement the way back's slot step runs after making the slot; null for any other slot. */
export function wayBackCheck(ctx: PlanContext, d: SubscriptionSpec): Statement | null {
  const first = firstEdge(ctx, d);
  if (!first) return null;
  const message =
    `%s on ${d.from} holds rows committed before the way back of link ${d.link} (subscription ${d.name} on ${d.node}) could carry them: ` +
    `they would never reach ${d.node} (hazard data-gap); slot ${d.slot} was dropped and no subscription created; ` +
    `declare init: { method: merge, strategy: "prefer:${d.node}" } under links.${d.link} in steep.yaml`;
  return tx(
    [
      'DO $steep$ DECLARE t text; found boolean; BEGIN',
      `FOR t IN SELECT pg_catalog.format('%I.%I', schemaname, tablename) FROM pg_catalog.pg_publication_tables WHERE pubname = ANY (ARRAY[${d.publications.map(quoteLiteral).join(', ')}]::text[]) ORDER BY 1 LOOP`,
      "EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM %s)', t) INTO found;",
      `IF found THEN PERFORM pg_catalog.pg_drop_replication_slot(${quoteLiteral(d.slot)}); RAISE EXCEPTION USING MESSAGE = pg_catalog.format(${quoteLiteral(message)}, t); END IF;`,
      'END LOOP; END $steep$',
    ].join(' '),
  );
}

/** For a `snapshot` link's first edge: the key of its way back's slot step, which its copy waits for. */
export function wayBackSlotKey(ctx: PlanContext, d: SubscriptionSpec): string | null {
  const link = d.link === undefined ? undefined : ctx.desired.links?.[d.link];
  if (!link || d.node !== link.nodes[1]) return null;
  const back = ctx.desired.subscriptions[link.subscriptions[link.nodes[0]]!];
  return back && firstEdge(ctx, back) ? stepKey('slot-create', back.from, back.slot) : null;
}

/** The way back's slot left by an apply stopped after the first edge was created: taken over, not made again. */
export function wayBackTakesOver(ctx: PlanContext, d: SubscriptionSpec): boolean {
  const first = firstEdge(ctx, d);
  return first !== undefined && ctx.node(first.node)?.subscriptions[first.name] !== undefined;
}
