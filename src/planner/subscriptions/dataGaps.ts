import { subscriptionAddress } from '../../model/address.js';
import { adviceText, advise, printable } from '../../model/advice.js';
import type { ClusterState, ObservedNode, ObservedSubscription } from '../../model/cluster.js';
import type { DataGap } from '../../model/driftReport.js';
import { compareText } from '../../model/order.js';
import type { Change, Hazard, Statement } from '../../model/plan.js';
import type { SubscriptionSpec, Topology } from '../../model/topology.js';
import { qualifiedName, restoredByUser } from '../../model/topology.js';
import { listText, type PlanContext } from '../context.js';
import { adviceSubject, copiedTables, heldTables } from '../init/initCopy.js';
import { truncateTablesSql, tx } from '../sqlBuild.js';

/**
 * Data gaps (docs/steep-yaml.md): tables that join a subscription whose init copies nothing (`none`, or a
 * `manual` one whose restore is done) are refreshed with `copy_data = false`, so the rows they
 * already hold on the publisher never arrive. The file must say what to do: `init.newTables:
 * copy` copies just those tables (PostgreSQL's refresh copies only tables new to the
 * subscription), `skip` means the DBA vouches they are already there (hazard `data-gap`).
 * Without it the plan refuses. A copy into joining tables that already hold rows on the
 * subscriber would hit their keys (or duplicate rows): as for a new subscription, a plan error
 * unless `init.existingData: truncate` (they are emptied first); `keep` cannot hold for a copy.
 */

/** What a refresh does about the tables joining the subscription; `changes`: what its step records of that. */
export interface NewTablesDecision {
  /** refresh with copy_data = true */
  copy: boolean;
  /** run before the refresh: the joining tables that hold rows, emptied (`existingData: truncate`) */
  statements: Statement[];
  hazards: Hazard[];
  changes: Change[];
}

/**
 * The tables `d` will receive that `o` does not receive yet. A partitioned table is left out:
 * without viaPartitionRoot the subscription lists its partitions, not itself.
 */
export function joiningTables(ctx: PlanContext, d: SubscriptionSpec, o: ObservedSubscription): string[] {
  const has = new Set(o.tables.map(qualifiedName));
  const publisher = ctx.node(d.from);
  return copiedTables(ctx.desired, ctx.observed, d)
    .filter((t) => publisher?.tables[qualifiedName(t)]?.kind !== 'p')
    .map(qualifiedName)
    .filter((t) => !has.has(t));
}

/** Undefined when the tables joining are refused (an error says why). */
export function newTablesDecision(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  o: ObservedSubscription,
  /** the tables joining it, as the subscription's relations tell (else: worked out here) */
  added?: string[],
): NewTablesDecision | undefined {
  const none: NewTablesDecision = { copy: false, statements: [], hazards: [], changes: [] };
  if (d.init.method !== 'none' && !restoredByUser(d.init.method)) return none;
  const tables = added ?? joiningTables(ctx, d, o);
  if (tables.length === 0) return none;
  const address = subscriptionAddress(d.name);
  if (d.init.newTables === undefined) {
    ctx.error(
      'data-gap',
      `subscription ${d.name} on ${node.name} (init method ${d.init.method}) would start receiving ${listText(tables)} ` +
        `without copying them (hazard data-gap): the rows they already hold on ${d.from} would never arrive; ` +
        'set init.newTables: copy to copy just those tables, or skip if they already hold the same rows on both sides',
      { address, node: node.name },
    );
    return undefined;
  }
  if (d.init.newTables === 'skip')
    return {
      ...none,
      hazards: ['data-gap'],
      changes: [{ path: 'init.newTables', before: null, after: { skip: tables } }],
    };
  const changes: Change[] = [{ path: 'init.newTables', before: null, after: { copy: tables } }];
  const held = tables.filter((t) => node.tables[t]?.hasRows === true);
  if (held.length === 0) return { copy: true, statements: [], hazards: ['copies-data'], changes };
  if (d.init.existingData !== 'truncate') {
    ctx.error(
      'existing-data',
      `subscription ${d.name} on ${node.name} would copy the tables joining it into tables that already hold rows there: ${listText(held)}; ` +
        `copying on top of them would fail or duplicate rows: ${truncateFix(ctx, d, node, held, `or init.newTables: skip if they already hold the same rows as on ${d.from}`)}`,
      { address, node: node.name },
    );
    return undefined;
  }
  return {
    copy: true,
    statements: [tx(truncateTablesSql(held.map((t) => node.tables[t]!)))],
    hazards: ['truncates-data', 'copies-data'],
    changes: [...changes, { path: 'init.truncate', before: null, after: held }],
  };
}

/**
 * `set init.existingData: truncate …, <alternative>` (with `lead` before it), or — where the
 * subscriber's rows may be the only copy (model/advice.ts) — what is true instead.
 */
function truncateFix(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  tables: string[],
  alternative: string,
  lead = 'empty them, ',
): string {
  const subject = adviceSubject(ctx, d, node);
  return printable('existingDataTruncate', subject)
    ? `${lead}${adviceText('existingDataTruncate', d.name)}, ${alternative}`
    : advise('existingDataTruncate', subject, tables);
}

/**
 * A subscription created again without a copy over a gap: steep recorded it on its subscriber
 * (it existed; `init cancel --allow-destroy` keeps the record, `uninitialized`), it is gone now,
 * its tables there still hold rows, and the create would start from a new slot with
 * `copy_data = false` (`init.method: none`, or `existingData: keep`). Every change its publisher
 * committed between the old slot's drop and the new slot would never arrive: a plan error
 * (hazard `data-gap`), whose way past is an init that copies — `snapshot` with
 * `existingData: truncate`, or `merge`. Returns whether the create may go ahead.
 */
export function recreateGap(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  keep: boolean,
): boolean {
  if (d.init.method !== 'none' && !keep) return true;
  const recorded = node.initState?.subscriptions[d.name];
  if (!recorded) return true;
  const held = heldTables(ctx, d, node).map(qualifiedName);
  if (held.length === 0) return true;
  ctx.error(
    'data-gap',
    `subscription ${d.name} existed on ${node.name} (steep recorded it ${recorded.state} at ${recorded.updatedAt}) and was dropped, ` +
      `and ${listText(held)} there still hold its rows: creating it again with copy_data = false ` +
      `(${keep ? 'init.existingData: keep' : 'init.method: none'}) starts from a new slot, so every change ${d.from} committed ` +
      `while it had none would never arrive (hazard data-gap); ${truncateFix(ctx, d, node, held, 'or init.method: merge to reconcile both sides', 'copy them again: set init.method: snapshot and ')}`,
    { address: subscriptionAddress(d.name), node: node.name },
  );
  return false;
}

/**
 * A subscription created without a copy (`init.method: none`, `existingData: keep`) over rows
 * while the same plan drops another on its node that carried those tables — a rename of the
 * subscription and its publication together, say: the new slot starts at the create, so what the
 * publisher commits between the drop and the create never arrives. A plan error (hazard
 * `data-gap`) naming `renamedFrom` (a rename keeps the slot) and the copies. Returns whether the
 * create may go ahead.
 */
export function dropGap(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode, copies: boolean): boolean {
  if (copies) return true;
  const tables = new Set(heldTables(ctx, d, node).map(qualifiedName));
  const carried = Object.values(node.subscriptions)
    .filter((o) => ctx.fateOf('subscription', node.name, o.name) === 'delete')
    .map((o) => ({ name: o.name, tables: o.tables.map(qualifiedName).filter((t) => tables.has(t)) }))
    .filter((o) => o.tables.length > 0)
    .sort((a, b) => compareText(a.name, b.name));
  const first = carried[0];
  if (!first) return true;
  ctx.error(
    'data-gap',
    `subscription ${d.name} on ${node.name} is created without a copy (${d.init.method === 'none' ? 'init.method: none' : 'init.existingData: keep'}) ` +
      `while this plan drops ${carried.map((o) => o.name).join(', ')}, which carried ${listText(first.tables)}: the new slot starts at the create, ` +
      `so every change ${d.from} commits between the drop and the create would never arrive (hazard data-gap); declare renamedFrom: ${first.name} ` +
      `on ${d.name} (a rename keeps the slot), or copy: init.method: snapshot with existingData: truncate, or init.method: merge`,
    { address: subscriptionAddress(d.name), node: node.name },
  );
  return false;
}

// ---------------------------------------------------------------------------------------------
// drift: tables a subscription receives that are empty on its subscriber, not on its publisher

/** Each subscription's ready tables to probe on both sides (tables with a row filter are left out: their publisher rows may all be filtered). */
export function dataGapProbes(desired: Topology, observed: ClusterState) {
  return Object.keys(desired.subscriptions)
    .sort()
    .flatMap((name) => {
      const d = desired.subscriptions[name]!;
      const node = observed.nodes[d.node];
      const publisher = observed.nodes[d.from];
      const o = node?.reachable ? node.subscriptions[name] : undefined;
      if (!o || !publisher?.reachable || o.from !== d.from) return [];
      const filtered = new Set(
        d.publications.flatMap((p) =>
          (desired.publications[p]?.tables ?? []).filter((t) => t.where !== null).map(qualifiedName),
        ),
      );
      const tables = o.tables
        .filter(
          (t) => t.state === 'r' && !filtered.has(qualifiedName(t)) && publisher.tables[qualifiedName(t)],
        )
        .map((t) => ({ schema: t.schema, name: t.name }));
      return tables.length > 0 ? [{ subscription: name, node: d.node, from: d.from, tables }] : [];
    });
}

/** `withRows`: node → `schema.table` holding rows, as probed. */
export function dataGaps(
  probes: ReturnType<typeof dataGapProbes>,
  withRows: ReadonlyMap<string, ReadonlySet<string>>,
): DataGap[] {
  return probes.flatMap(({ tables, ...p }) => {
    const here = withRows.get(p.node);
    const there = withRows.get(p.from);
    return tables
      .map(qualifiedName)
      .filter((table) => here && there && !here.has(table) && there.has(table))
      .map((table) => ({ ...p, table }));
  });
}
