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
import { subscriptionAddress } from '../../model/address.js';
import { adviceText, advise, printable, withheld } from '../../model/advice.js';
import type { ClusterState, ObservedNode, ObservedSubscription } from '../../model/cluster.js';
import { gatedGaps } from '../../model/continuity.js';
import type { DataGap } from '../../model/driftReport.js';
import { copiesJoiningTables, INIT_METHOD } from '../../model/initMethods.js';
import { compareText } from '../../model/order.js';
import type { Change, Hazard, Statement } from '../../model/plan.js';
import { displayTable } from '../../model/sql.js';
import type { SubscriptionSpec, Topology } from '../../model/topology.js';
import { qualifiedName } from '../../model/topology.js';
import { fedUpstream } from '../../model/verify.js';
import { listText, type PlanContext } from '../context.js';
import { adviceSubject, copiedTables, heldTables } from '../init/initCopy.js';
import { truncateTablesSql, tx } from '../sqlBuild.js';

/** What a refresh does about the tables joining the subscription; `changes`: what its step records of that. */
export interface NewTablesDecision {
  /** refresh with copy_data = true */
  copy: boolean;
  /** run before the refresh: the joining tables that hold rows, emptied (`existingData: truncate`) */
  statements: Statement[];
  hazards: Hazard[];
  changes: Change[];
  /** `existingData: keep` over rows (a `snapshot` subscription): the refresh copies nothing */
  keep?: true;
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

/** `schema.name` names as SQL prints them (the subscriber's tables; a name it does not hold as given). */
function shown(node: ObservedNode, tables: string[]): string[] {
  return tables.map((t) => {
    const table = node.tables[t];
    return table ? displayTable(table) : t;
  });
}

/** Undefined when the tables joining are refused (an error says why); `added`: `schema.name` (qualifiedName). */
export function newTablesDecision(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  o: ObservedSubscription,
  /** the tables joining it, as the subscription's relations tell (else: worked out here) */
  added?: string[],
): NewTablesDecision | undefined {
  const none: NewTablesDecision = { copy: false, statements: [], hazards: [], changes: [] };
  const tables = added ?? joiningTables(ctx, d, o);
  if (tables.length === 0) return none;
  if (copiesJoiningTables(d.init.method)) return joiningOverRows(ctx, d, node, tables) ?? undefined;
  if (INIT_METHOD[d.init.method].joiningTables !== 'newTables') return none;
  const address = subscriptionAddress(d.name);
  if (d.init.newTables === undefined) {
    ctx.error(
      'data-gap',
      `subscription ${d.name} on ${node.name} (init method ${d.init.method}) would start receiving ${listText(shown(node, tables))} ` +
        `without copying them (hazard data-gap): the rows they already hold on ${d.from} would never arrive; ` +
        'set init.newTables: copy to copy just those tables, or skip if they already hold the same rows on both sides',
      { address, node: node.name },
    );
    return undefined;
  }
  if (d.init.newTables === 'skip') {
    // vouched for, not shown: a gap once it ran, until a comparison finds it equal or a copy
    const gaps = gatedGaps(
      tables.map((table) => ({
        table,
        reason:
          `${table} joined ${d.name} without a copy (init.newTables: skip, allowed with --allow-hazard data-gap): ` +
          `rows ${d.from} held that ${node.name} lacked never arrive`,
      })),
    );
    return {
      ...none,
      hazards: gaps.hazards,
      changes: [{ path: 'init.newTables', before: null, after: { skip: tables } }, ...gaps.changes],
    };
  }
  const changes: Change[] = [{ path: 'init.newTables', before: null, after: { copy: tables } }];
  const held = tables.filter((t) => node.tables[t]?.hasRows === true);
  if (held.length === 0) return { copy: true, statements: [], hazards: ['copies-data'], changes };
  if (d.init.existingData !== 'truncate') {
    ctx.error(
      'existing-data',
      `subscription ${d.name} on ${node.name} would copy the tables joining it into tables that already hold rows there: ${listText(shown(node, held))}; ` +
        `copying on top of them would fail or duplicate rows: ${truncateFix(ctx, d, node, held, `or init.newTables: skip if they already hold the same rows as on ${d.from}`)}`,
      { address, node: node.name },
    );
    return undefined;
  }
  if (truncateRefused(ctx, d, node, held)) return undefined;
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
 * Tables joining a `snapshot` or `two-phase` subscription (a table back in its publication, a publication back
 * in its list) whose refresh copies them (`copy_data = true`) while they hold rows on the
 * subscriber: the rows they kept when they left. `init.existingData` decides as for a create:
 * `fail` is a plan error naming them; `truncate` empties just them before the refresh
 * (`truncates-data`); `keep` refreshes without a copy, gated `data-gap` with a warning: what the
 * publisher committed to them while they were out never arrives unless the DBA vouches for
 * them. A `keep` refresh that would also bring empty tables is an error (one refresh copies all
 * its new tables or none). Null when refused; `copy` false only for `keep`.
 */
function joiningOverRows(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  tables: string[],
): NewTablesDecision | null {
  const held = tables.filter((t) => node.tables[t]?.hasRows === true);
  const copied: NewTablesDecision = { copy: true, statements: [], hazards: [], changes: [] };
  if (held.length === 0) return copied;
  const address = subscriptionAddress(d.name);
  const where = { address, node: node.name };
  // never advised where the subscriber's rows may be the only copy (model/advice.ts)
  const subject = adviceSubject(ctx, d, node);
  const ways = printable('existingDataTruncate', subject)
    ? `set init.existingData: truncate (apply empties just ${held.length === 1 ? 'this table' : 'these tables'} and the refresh copies ${held.length === 1 ? 'it' : 'them'} from ${d.from})`
    : advise('existingDataTruncate', subject, held);
  if (d.init.existingData === 'fail') {
    ctx.error(
      'existing-data',
      `subscription ${d.name} would copy ${listText(shown(node, held))}, which join it, into tables that already hold rows on ${node.name} ` +
        `(rows they kept while they were not received): copying on top of them would fail on their keys or duplicate their rows; ${ways}`,
      where,
    );
    return null;
  }
  if (d.init.existingData === 'keep') {
    const empty = tables.filter((t) => !held.includes(t));
    if (empty.length > 0) {
      ctx.error(
        'existing-data',
        `subscription ${d.name} would receive ${listText(shown(node, held))}, which hold rows on ${node.name} (init.existingData: keep: not copied), ` +
          `and ${listText(shown(node, empty))}, which must be copied; one REFRESH PUBLICATION copies all of them or none: ${ways}, ` +
          'or bring them in two applies',
        where,
      );
      return null;
    }
    ctx.warn(
      'data-gap',
      `subscription ${d.name}: ${listText(shown(node, held))} join it without a copy (init.existingData: keep) while they hold rows on ${node.name}: ` +
        `what ${d.from} committed to them while they were not received would never arrive (hazard data-gap); apply with ` +
        `--allow-hazard data-gap only if they hold the same rows as on ${d.from}; otherwise ${ways}`,
      where,
    );
    const gaps = gatedGaps(
      held.map((table) => ({
        table,
        reason:
          `${table} joined ${d.name} without a copy (init.existingData: keep, allowed with --allow-hazard data-gap) ` +
          `while it held rows on ${node.name}: what ${d.from} committed to it while it was not received never arrived`,
      })),
    );
    return {
      copy: false,
      keep: true,
      statements: [],
      hazards: gaps.hazards,
      changes: [{ path: 'init.keep', before: null, after: held }, ...gaps.changes],
    };
  }
  // existingData: truncate, where the rows it empties may be the only copy: a refusal, as the advice is withheld
  if (subject.onlyCopy !== null) {
    ctx.error(
      'existing-data',
      `subscription ${d.name} would empty ${listText(shown(node, held))} on ${node.name} (init.existingData: truncate) before copying them from ${d.from}, ` +
        `but ${withheld(subject, held)}; once ${d.from} holds what ${node.name} must keep, empty them yourself and apply again, ` +
        `or set init.existingData: keep if they hold ${d.from}'s rows already`,
      where,
    );
    return null;
  }
  if (truncateRefused(ctx, d, node, held)) return null;
  return {
    copy: true,
    statements: [tx(truncateTablesSql(held.map((t) => node.tables[t]!)))],
    hazards: ['truncates-data'],
    changes: [{ path: 'init.truncate', before: null, after: held }],
  };
}

/**
 * `init.existingData: truncate` over tables joining a subscription whose subscriber's rows may be
 * the only copy (disabled: after a switchover it is the primary; or another publisher's rows
 * arrive there): the TRUNCATE is refused, as its advice is withheld (model/advice.ts), with the
 * read-only comparison and the ways out. True when refused (the error is added).
 */
function truncateRefused(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode, held: string[]): boolean {
  const subject = adviceSubject(ctx, d, node);
  if (subject.onlyCopy === null) return false;
  ctx.error(
    'existing-data',
    `subscription ${d.name} would empty ${listText(shown(node, held))} on ${node.name} (init.existingData: truncate) before copying them from ${d.from}, ` +
      `but ${withheld(subject, held)}; once ${d.from} holds what ${node.name} must keep, empty them yourself and apply again, ` +
      `or set init.existingData: keep if they hold ${d.from}'s rows already`,
    { address: subscriptionAddress(d.name), node: node.name },
  );
  return true;
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
  if (INIT_METHOD[d.init.method].rows !== 'vouched' && !keep) return true;
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
      // origin = none: a table the publisher also receives from another node may rightly hold
      // rows there only, so an empty subscriber table proves no gap
      const elsewhere = fedUpstream(
        { node: d.node, options: o.options },
        Object.values(publisher.subscriptions).map((s) => ({ ...s, tables: s.tables.map(qualifiedName) })),
      );
      const tables = o.tables
        .filter(
          (t) =>
            t.state === 'r' &&
            !filtered.has(qualifiedName(t)) &&
            !elsewhere.has(qualifiedName(t)) &&
            publisher.tables[qualifiedName(t)],
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

/**
 * A disabled subscription whose publication list gains a publication (a publication renamed
 * without `renamedFrom`, one added beside another). Its slot stands where the subscription
 * stopped, and pgoutput looks a publication up as of each change it decodes: once enabled, the
 * changes from there to the new publication's creation are skipped ("skipped loading
 * publication"), and the catch-up wait of the create step (planner/publications/
 * publicationCatchUp.ts) cannot help, the slot does not move. Gated `data-gap`, naming the
 * tables, with the way out: enable it first with its list as it is, then change the list (the
 * create step then waits for its slot).
 */
export function disabledJoinGap(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  o: ObservedSubscription,
): Hazard[] {
  if (o.enabled || o.slotNone) return [];
  // its slot gone or invalidated stands nowhere: all it missed is a gap already, whose way out
  // (status, the failover's verdict) copies every table, these too
  const slots = ctx.node(d.from)?.slots;
  if (slots && (slots[o.slot] === undefined || slots[o.slot]!.walStatus === 'lost')) return [];
  const gained = d.publications.filter((p) => !o.publications.includes(p));
  if (gained.length === 0) return [];
  const tables = copiedTables(ctx.desired, ctx.observed, { ...d, publications: gained })
    .map(qualifiedName)
    .sort(compareText);
  const kept = o.publications.filter((p) => ctx.node(d.from)?.publications[p]);
  const first =
    kept.length > 0
      ? `set enabled: true for ${d.name} with publications: [${o.publications.join(', ')}] as they are now (keeping ` +
        `publication ${listText(kept)} in steep.yaml), apply, and once steep status shows it synchronized, change its publications ` +
        `and apply again (the publication's create step then waits for its slot)`
      : `apply with --allow-hazard data-gap, then copy them again: \`${adviceText('reinitTables', d.name, tables)}\``;
  ctx.warn(
    'data-gap',
    `subscription ${d.name} on ${node.name} is disabled and would start reading ${listText(gained)}: its slot on ${d.from} stands ` +
      `where it stopped, and once it is enabled the changes decoded from there to the publication's creation are skipped, ` +
      `so what ${d.from} commits meanwhile to ${listText(shown(node, tables))} would never arrive (hazard data-gap); ${first}`,
    { address: subscriptionAddress(d.name), node: node.name },
  );
  return ['data-gap'];
}
