import { linkAddress, subscriptionAddress } from '../model/address.js';
import type { ObservedNode } from '../model/cluster.js';
import { MERGE_UNFINISHED } from '../model/initLifecycle.js';
import type { Statement } from '../model/plan.js';
import { displayTable, quoteTable } from '../model/sql.js';
import type { SubscriptionSpec, TableName } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import { type DraftStep, listText, PHASE, type PlanContext, sortedKeys, stepKey } from './context.js';
import { digestOf } from './digest.js';
import { copiedTables } from './initCopy.js';
import { dropSubscriptionStatements, tx } from './sqlBuild.js';

/**
 * Merge init (SPEC §9, issue 16): both nodes already hold rows. One step per *merge unit* — a
 * link (its two subscriptions) or one subscription with `init.method: merge` — that
 * 1. checks the tables' schemas and keys, analyses and reconciles the rows (one-sided rows copied
 *    across, conflicts resolved by the strategy, every decision in merge_log),
 * 2. then, with writes to those tables blocked on both nodes (`LOCK … IN EXCLUSIVE MODE`, bounded
 *    by lock_timeout), re-checks and creates the subscriptions with `copy_data = false`, each on
 *    its own node, and releases the locks.
 * Its statements carry the node they run on. The subscriptions' CREATE statements are the ones
 * `subscriptions.ts` planned for them (copy_data = false: merge never copies by PostgreSQL), folded
 * into the unit's step, so nothing creates them outside the locked window.
 */

/** Both nodes of a link must run 16+: the publisher filters `origin = none`, the subscriber sets it. */
export const LINK_MIN_VERSION = 160000;

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

/** A merge init steep started on this subscription and did not finish (it is made again). */
export function mergeUnfinished(node: ObservedNode, d: SubscriptionSpec): boolean {
  const rec = node.initState?.subscriptions[d.name];
  return (
    d.init.method === 'merge' &&
    rec !== undefined &&
    rec.initMethod === 'merge' &&
    MERGE_UNFINISHED.includes(rec.state)
  );
}

/** The CREATE statements of a subscription made again as a fresh create would (no copy, its own new slot). */
export type Recreate = (d: SubscriptionSpec) => Statement[];

interface Unit {
  name: string;
  kind: 'link' | 'subscription';
  address: string;
  /** [first, second]: a link's nodes; a subscription's [source, target] */
  nodes: [string, string];
  subscriptions: SubscriptionSpec[];
}

function unitOf(ctx: PlanContext, d: SubscriptionSpec): Unit {
  const link = d.link !== undefined ? ctx.desired.links?.[d.link] : undefined;
  if (link) {
    return {
      name: link.name,
      kind: 'link',
      address: linkAddress(link.name),
      nodes: link.nodes,
      subscriptions: link.nodes.map((n) => ctx.desired.subscriptions[link.subscriptions[n]!]!),
    };
  }
  return {
    name: d.name,
    kind: 'subscription',
    address: subscriptionAddress(d.name),
    nodes: [d.from, d.node],
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
    if (d.init.method !== 'merge') continue;
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
  const drops: Statement[] = [];
  const creates: Statement[] = [];
  const deps = new Set<string>();
  for (const d of unit.subscriptions) {
    const node = ctx.node(d.node)!;
    const key = stepKey('subscription', d.node, d.name);
    const create = steps.find((s) => s.key === key && s.kind === 'subscription-create');
    if (create) {
      for (const s of create.statements) creates.push({ ...s, node: d.node });
      for (const dep of create.deps) deps.add(dep);
    } else if (node.subscriptions[d.name] && mergeUnfinished(node, d)) {
      // an interrupted merge left this one: it goes, and is made again inside the locked window
      drops.push(...dropSubscriptionStatements(d.name, 'drop').map((s) => ({ ...s, node: d.node })));
      creates.push(...recreate(d).map((s) => ({ ...s, node: d.node })));
    }
  }
  if (creates.length === 0) return;
  dropCreates(steps, unit);
  const locks = [a, b].map((n): Statement => ({ ...tx(lockSql(tables)), node: n }));
  const seconds = recheckSeconds([nodeA, nodeB], tables);
  const strategy = first.init.strategy ?? '';
  const names = unit.subscriptions.map((d) => `${d.name} on ${d.node} from ${d.from}`);
  const step: DraftStep = {
    key: stepKey('init', a, unit.address),
    phase: PHASE.subscription,
    address: unit.address,
    node: a,
    kind: 'merge-init',
    action: 'init',
    reason: 'not-initialised',
    reasonText:
      `${unit.kind} ${unit.name}: ${a} and ${b} both hold rows of ` +
      `${tables.length} table${tables.length === 1 ? '' : 's'}; steep checks their schemas and keys, copies each side's one-sided rows ` +
      `to the other and resolves conflicting rows by ${strategy} (every decision in merge_log), then blocks writes to those tables on both ` +
      `nodes (LOCK … IN EXCLUSIVE MODE, at most lock_timeout to get it; about ${seconds} s to re-check), and creates ${listText(names)} ` +
      'with copy_data = false before it releases them',
    changes: [
      { path: 'init.method', before: null, after: 'merge' },
      { path: 'init.strategy', before: null, after: strategy },
      { path: 'init.nodes', before: null, after: [a, b] },
      { path: 'init.tables', before: null, after: tables.map(displayTable) },
      { path: 'init.subscriptions', before: null, after: unit.subscriptions.map((d) => d.name) },
      { path: 'init.blocksWritesSeconds', before: null, after: seconds },
    ],
    statements: [...drops, ...locks, ...creates],
    hazards: ['blocks-writes', 'copies-data', ...(drops.length > 0 ? (['drops-slot'] as const) : [])],
    deps: [...deps, stepKey('state', a), stepKey('state', b)],
    catalogDigest: digestOf({
      subscriptions: unit.subscriptions.map((d) => ({
        name: d.name,
        exists: ctx.node(d.node)?.subscriptions[d.name] !== undefined,
        state: ctx.node(d.node)?.initState?.subscriptions[d.name]?.state ?? null,
      })),
    }),
  };
  steps.push(step);
}

/** The unit's subscription-create steps leave the plan (its merge step creates them). */
function dropCreates(steps: DraftStep[], unit: Unit): void {
  for (const d of unit.subscriptions) {
    const key = stepKey('subscription', d.node, d.name);
    const i = steps.findIndex((s) => s.key === key);
    if (i >= 0) steps.splice(i, 1);
  }
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
