import { linkAddress, subscriptionAddress } from '../../model/address.js';
import type { ObservedNode } from '../../model/cluster.js';
import { withDatabaseTag } from '../../model/databaseTag.js';
import { MERGE_FINAL_ROUNDS, MERGE_UNFINISHED } from '../../model/initLifecycle.js';
import { parseStrategy } from '../../model/mergeStrategy.js';
import type { Statement } from '../../model/plan.js';
import { displayTable, quoteLiteral, quoteTable } from '../../model/sql.js';
import type { SubscriptionSpec, TableName } from '../../model/topology.js';
import { qualifiedName, startsUnderLocks } from '../../model/topology.js';
import { LINK_MIN_VERSION } from '../../model/versions.js';
import { type DraftStep, listText, PHASE, type PlanContext, sortedKeys, stepKey } from '../context.js';
import { digestOf } from '../digest.js';
import { createSlotSql, dropSubscriptionStatements, nonTx, tx } from '../sqlBuild.js';
import { copiedTables } from './initCopy.js';

/**
 * Merge init (docs/steep-yaml.md, issue 16): both nodes already hold rows. One step per *merge unit* — a
 * link (its two subscriptions) or one subscription with `init.method: merge` — that
 * 1. checks the tables' schemas and keys, analyses and reconciles the rows (one-sided rows copied
 *    across, conflicts resolved by the strategy, every decision in merge_log);
 * 2. makes each subscription's slot on its publisher (`pg_create_logical_replication_slot`)
 *    while steep holds nothing, so the slot waits only for the application's transactions;
 * 3. blocks writes to those tables on both nodes (`LOCK … IN EXCLUSIVE MODE`, bounded by
 *    lock_timeout), reads each node's WAL insert position under the lock, and — when every
 *    subscription of the unit is `origin = none` — re-checks and reconciles what was written
 *    since step 1 inside the locked transactions, which carry a steep-named replication origin
 *    (created, set up, and dropped after the commit) so the subscriptions never send those
 *    writes back;
 * 4. creates the subscriptions on the prepared slots (`create_slot = false`, `copy_data = false`,
 *    `enabled = false`), advances each one's origin to its publisher's position read under the
 *    lock, enables it, and commits.
 * Its statements carry the node they run on. The subscriptions' CREATE statements are those a
 * fresh create of them would run, with the slot made by step 2 and the start by step 4, folded
 * into the unit's step, so nothing creates them outside the locked window.
 */

/**
 * hashing rate the final pass's re-check is estimated at (both sides read every row of the
 * merged tables once), when nothing better is known: 50 MB/s
 */
export const DEFAULT_RECHECK_BYTES_PER_SECOND = 50 * 1024 * 1024;

/** A link's subscription on a node older than 16: one error per link and node; false to skip it. */
export function checkLinkVersions(ctx: PlanContext, d: SubscriptionSpec): boolean {
  if (d.link === undefined) return true;
  let ok = true;
  for (const node of [d.node, d.from]) {
    const version = ctx.node(node)?.serverVersion;
    if (version === undefined || version >= LINK_MIN_VERSION) continue;
    ok = false;
    const address = linkAddress(d.link);
    if (ctx.errors.some((e) => e.code === 'link-version' && e.address === address && e.node === node))
      continue;
    const text = ctx.node(node)?.serverVersionText || String(Math.floor(version / 10000));
    ctx.error(
      'link-version',
      `link ${d.link}: node ${node} runs PostgreSQL ${text}; a link replicates both ways with origin = none, which needs ` +
        `PostgreSQL 16 or later on both nodes: upgrade ${node}, or replicate one way with a subscription instead`,
      { address, node },
    );
  }
  return ok;
}

/** A merge init (or a link's proof of `none`) steep started on this subscription and did not finish (it is made again). */
export function mergeUnfinished(node: ObservedNode, d: SubscriptionSpec): boolean {
  const rec = node.initState?.subscriptions[d.name];
  return (
    startsUnderLocks(d.init) && rec?.initMethod === d.init.method && MERGE_UNFINISHED.includes(rec.state)
  );
}

/**
 * The CREATE statements of a merge unit's subscription: as a fresh create, on the slot the merge
 * makes (create_slot = false), disabled and without a copy (the merge starts it).
 */
export type Recreate = (d: SubscriptionSpec) => Statement[];

type Unit = ReturnType<typeof unitOf>;

/** A merge's unit: a link (`nodes`: its two, first and second) or one subscription (`nodes`: [source, target]). */
function unitOf(ctx: PlanContext, d: SubscriptionSpec) {
  const link = d.link !== undefined ? ctx.desired.links?.[d.link] : undefined;
  if (link) {
    return {
      name: link.name,
      kind: 'link' as const,
      address: linkAddress(link.name),
      nodes: link.nodes,
      subscriptions: link.nodes.map((n) => ctx.desired.subscriptions[link.subscriptions[n]!]!),
    };
  }
  return {
    name: d.name,
    kind: 'subscription' as const,
    address: subscriptionAddress(d.name),
    nodes: [d.from, d.node] as [string, string],
    subscriptions: [d],
  };
}

/**
 * Fold the creates of merge subscriptions into one merge step per unit. Takes the subscriptions'
 * own steps (each planned as any other, a merge one's create with copy_data = false) and returns
 * them with each unit's creates taken out and its merge step in: nothing creates them outside
 * the locked window.
 */
export function foldMergeInits(
  ctx: PlanContext,
  steps: readonly DraftStep[],
  recreate: Recreate,
): DraftStep[] {
  const out = [...steps];
  const units = new Map<string, Unit>();
  for (const name of sortedKeys(ctx.desired.subscriptions)) {
    const d = ctx.desired.subscriptions[name]!;
    if (!startsUnderLocks(d.init)) continue;
    const created = out.some(
      (s) => s.key === stepKey('subscription', d.node, d.name) && s.kind === 'subscription-create',
    );
    const node = ctx.node(d.node);
    if (created || (node && mergeUnfinished(node, d))) {
      const unit = unitOf(ctx, d);
      units.set(unit.address, unit);
    }
  }
  for (const unit of units.values()) planUnit(ctx, out, unit, recreate);
  return out;
}

/** The unit's merge step in `steps`, in place of its subscriptions' creates. */
function planUnit(ctx: PlanContext, steps: DraftStep[], unit: Unit, recreate: Recreate): void {
  const [a, b] = unit.nodes;
  const nodeA = ctx.node(a);
  const nodeB = ctx.node(b);
  if (!nodeA || !nodeB) {
    ctx.error(
      'merge-unreachable',
      `${unit.address}: a merge init reads and writes both ${a} and ${b}, and ${!nodeA ? a : b} cannot be reached; apply again once it can`,
      { address: unit.address },
    );
    dropCreates(steps, unit);
    return;
  }
  const first = unit.subscriptions[0]!;
  const tables = copiedTables(ctx.desired, ctx.observed, first);
  checkStrategyColumns(ctx, unit, first, tables);
  const { drops, slots, creates, deps } = subscriptionStatements(ctx, steps, unit, recreate);
  if (creates.length === 0) return;
  dropCreates(steps, unit);
  const locks = [a, b].map((n): Statement => ({ ...tx(lockSql(tables)), node: n }));
  const positions = [a, b].map((n): Statement => ({ ...tx(WAL_POSITION_SQL), node: n }));
  // a link declared `none` is proved equal under the locks, never written there
  const proof = first.init.proveEqual === true;
  // writes under the locks only where no subscription of the unit would send them back
  const inside = !proof && unit.subscriptions.every((d) => d.options.origin === 'none');
  const [origins, originDrops] = [originSetupSql, originDropSql].map((sqlOf) =>
    inside
      ? [a, b].flatMap((n) =>
          sqlOf(mergeOriginName(unit.name, n, ctx.desired.nodes[n]!.connection.database)).map((sql) => ({
            ...nonTx(sql),
            node: n,
          })),
        )
      : [],
  );
  const seconds = recheckSeconds([nodeA, nodeB], tables);
  steps.push({
    key: stepKey('init', a, unit.address),
    phase: PHASE.subscription,
    address: { kind: unit.kind, name: unit.name },
    node: a,
    kind: 'merge-init',
    action: 'init',
    reason: 'not-initialised',
    reasonText: proof
      ? proofReasonText(unit, tables.length, seconds)
      : mergeReasonText(unit, tables.length, seconds, inside),
    changes: [
      { path: 'init.method', before: null, after: proof ? 'none' : 'merge' },
      ...(proof ? [] : [{ path: 'init.strategy', before: null, after: first.init.strategy ?? '' }]),
      ...(first.init.strategies
        ? [{ path: 'init.strategies', before: null, after: first.init.strategies }]
        : []),
      { path: 'init.nodes', before: null, after: [a, b] },
      { path: 'init.tables', before: null, after: tables.map(displayTable) },
      { path: 'init.subscriptions', before: null, after: unit.subscriptions.map((d) => d.name) },
      { path: 'init.blocksWritesSeconds', before: null, after: seconds },
    ],
    statements: [...drops, ...slots, ...origins!, ...locks, ...positions, ...creates, ...originDrops!],
    hazards: [
      'blocks-writes',
      ...(proof ? [] : (['copies-data'] as const)),
      ...(drops.length > 0 ? (['drops-slot'] as const) : []),
    ],
    deps: [...deps, stepKey('state', a), stepKey('state', b)],
    catalogDigest: digestOf({
      subscriptions: unit.subscriptions.map((d) => ({
        name: d.name,
        exists: ctx.node(d.node)?.subscriptions[d.name] !== undefined,
        state: ctx.node(d.node)?.initState?.subscriptions[d.name]?.state ?? null,
      })),
    }),
  });
}

/**
 * What the merge does for each subscription of the unit its create step (or an interrupted
 * merge) stands for: the statements that go first, its slot, its create, and the create's deps.
 */
function subscriptionStatements(
  ctx: PlanContext,
  steps: DraftStep[],
  unit: Unit,
  recreate: Recreate,
): { drops: Statement[]; slots: Statement[]; creates: Statement[]; deps: Set<string> } {
  const drops: Statement[] = [];
  const slots: Statement[] = [];
  const creates: Statement[] = [];
  const deps = new Set<string>();
  for (const d of unit.subscriptions) {
    const node = ctx.node(d.node)!;
    const key = stepKey('subscription', d.node, d.name);
    const create = steps.find((s) => s.key === key && s.kind === 'subscription-create');
    if (create) {
      // a replace's drop stays; its create is the merge's
      for (const s of create.statements)
        if (/^(DROP|ALTER) SUBSCRIPTION /.test(s.sql)) drops.push({ ...s, node: d.node });
      for (const dep of create.deps) deps.add(dep);
    } else if (node.subscriptions[d.name] && mergeUnfinished(node, d)) {
      // an interrupted merge left this one: it goes (with its slot), and is made again
      drops.push(...dropSubscriptionStatements(d.name, 'drop').map((s) => ({ ...s, node: d.node })));
    } else continue;
    slots.push({ ...nonTx(mergeSlotSql(d, ctx.serverVersion(d.from) ?? 0)), node: d.from });
    creates.push(...recreate(d).map((s) => ({ ...s, node: d.node })));
  }
  return { drops, slots, creates, deps };
}

/** The merge step's reason: what it does, in the order it does it. */
function mergeReasonText(unit: Unit, tables: number, seconds: number, inside: boolean): string {
  const [a, b] = unit.nodes;
  const strategy = unit.subscriptions[0]!.init.strategy ?? '';
  const names = unit.subscriptions.map((d) => `${d.name} on ${d.node} from ${d.from}`);
  return (
    `${unit.kind} ${unit.name}: ${a} and ${b} both hold rows of ` +
    `${tables} table${tables === 1 ? '' : 's'}; steep checks their schemas and keys, copies each side's one-sided rows ` +
    `to the other and resolves conflicting rows by ${strategy} (every decision in merge_log), makes each subscription's slot, then blocks ` +
    `writes to those tables on both nodes (LOCK … IN EXCLUSIVE MODE) while it gets the locks (at most lock_timeout), re-checks (about ${seconds} s by their size, more under load), ` +
    (inside
      ? 'merges what was written meanwhile inside the locked transactions (under a steep replication origin, which origin = none never sends back), '
      : `merges what was written meanwhile after releasing them and locks again (at most ${MERGE_FINAL_ROUNDS} rounds: a subscription with origin = any would send those writes back), `) +
    `and creates ${listText(names)} on their slots with copy_data = false, starting at the WAL position read under the locks, before it releases them; apply shows how long writes waited`
  );
}

/** The proof's reason: a link declared `none` is started only over equal tables. */
function proofReasonText(unit: Unit, tables: number, seconds: number): string {
  const [a, b] = unit.nodes;
  return (
    `link ${unit.name}: init.method none says ${a} and ${b} already hold the same rows of ${tables} table${tables === 1 ? '' : 's'}; ` +
    `steep compares them, makes each subscription's slot, then blocks writes to those tables on both nodes (LOCK … IN EXCLUSIVE MODE, ` +
    `at most lock_timeout to get them), compares again (about ${seconds} s by their size, more under load) and creates ` +
    `${listText(unit.subscriptions.map((d) => `${d.name} on ${d.node} from ${d.from}`))} with copy_data = false, starting at the WAL position ` +
    'read under the locks, before it releases them; rows on one node only or different stop it before anything is created (hazard data-gap), ' +
    'naming init.method: merge'
  );
}

/**
 * A last-modified strategy needs its column in every table it decides: a table without it is a
 * plan error naming the table and the fix (a strategy of its own, `init.strategies`), before
 * apply creates anything. Read where the plan read the table's columns (planner/schema/schemaScope.ts
 * columnRequests asks for them); a table whose columns are unknown is left to the merge itself,
 * which refuses it only if it has conflicting rows.
 */
function checkStrategyColumns(ctx: PlanContext, unit: Unit, d: SubscriptionSpec, tables: TableName[]): void {
  for (const t of tables) {
    const qn = qualifiedName(t);
    const parsed = parseStrategy(d.init.strategies?.[qn] ?? d.init.strategy ?? '');
    if (parsed?.kind !== 'last-modified') continue;
    const lacking = unit.nodes.filter((n) => {
      const columns = ctx.node(n)?.tableSchemas?.tables[qn]?.columns;
      return columns != null && !columns.some((c) => c.name === parsed.column);
    });
    if (lacking.length === 0) continue;
    const other = unit.kind === 'link' ? `prefer:${unit.nodes[0]}` : 'prefer-source';
    ctx.error(
      'merge-strategy-column',
      `${unit.address}: strategy last-modified:${parsed.column} decides conflicting rows by column ${parsed.column}, which ${qn} lacks on ${listText(lacking)}; ` +
        `give ${qn} a strategy of its own in steep.yaml (init: { strategies: { ${qn}: "${other}" } }), or add the column`,
      { address: unit.address, node: lacking[0] },
    );
  }
}

/** The unit's subscription-create steps leave the plan (its merge step creates them). */
function dropCreates(steps: DraftStep[], unit: Unit): void {
  for (const d of unit.subscriptions) {
    const key = stepKey('subscription', d.node, d.name);
    const i = steps.findIndex((s) => s.key === key);
    if (i >= 0) steps.splice(i, 1);
  }
}

/**
 * The subscription's slot, made before the locks; one an interrupted merge left (pgoutput, this
 * database, unused: planner/subscriptions/slots.ts refuses an active one) is taken over, which is as good —
 * its consistent point is before the locks too, and the start is the position read under them.
 */
function mergeSlotSql(d: SubscriptionSpec, publisherVersion: number): string {
  const slot = quoteLiteral(d.slot);
  return (
    `${createSlotSql(d.slot, publisherVersion, d.options.failover === true)} WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots ` +
    `WHERE slot_name = ${slot} AND plugin = 'pgoutput' AND database = current_database())`
  );
}

/** Read under the write locks: every write committed to the locked tables is before it. */
const WAL_POSITION_SQL = 'SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS lsn';

/**
 * The replication origin a merge unit's writes under the locks carry on `node`: origins are the
 * server's, so it carries the tag of the node's database (model/databaseTag.ts), and two
 * databases' merges of links with one name never share one.
 */
export function mergeOriginName(unit: string, node: string, database: string): string {
  return withDatabaseTag(`steep_merge_${unit}_${node}`, database);
}

/**
 * Create the origin unless an interrupted run left it, and set it up on the session that then
 * takes the locks (before them: it may have to wait for a killed run's session to let go of it).
 */
export function originSetupSql(name: string): string[] {
  return [
    `SELECT pg_catalog.pg_replication_origin_create(${quoteLiteral(name)}) ` +
      `WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_origin WHERE roname = ${quoteLiteral(name)})`,
    `SELECT pg_catalog.pg_replication_origin_session_setup(${quoteLiteral(name)})`,
  ];
}

/** After the commit: the session lets go of the origin, which is dropped. */
function originDropSql(name: string): string[] {
  return [
    'SELECT pg_catalog.pg_replication_origin_session_reset()',
    `SELECT pg_catalog.pg_replication_origin_drop(${quoteLiteral(name)})`,
  ];
}

export function lockSql(tables: readonly TableName[]): string {
  return `LOCK TABLE ${tables.map(quoteTable).join(', ')} IN EXCLUSIVE MODE`;
}

/** Seconds the re-check under the locks should take: the tables' sizes on both nodes at the default hashing rate. */
function recheckSeconds(nodes: ObservedNode[], tables: readonly TableName[]): number {
  let bytes = 0;
  for (const n of nodes) for (const t of tables) bytes += n.tables[qualifiedName(t)]?.sizeBytes ?? 0;
  return Math.max(1, Math.ceil(bytes / DEFAULT_RECHECK_BYTES_PER_SECOND));
}
