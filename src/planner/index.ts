import { parseAddress, subscriptionAddress } from '../model/address.js';
import type { ClusterState, ObservedNode, UnreachableNode } from '../model/cluster.js';
import { compareText } from '../model/order.js';
import { type Hazard, PLAN_FORMAT_VERSION, type Plan } from '../model/plan.js';
import { summarise } from '../model/stepClass.js';
import type { Topology } from '../model/topology.js';
import { PlanContext, sortedKeys } from './context.js';
import { digestOf, stableSubscription } from './digest.js';
import { failoverVerdicts, pastForkSubscriptions, withFailoverSlots } from './failover/failover.js';
import { withStaleUrlsUnread } from './failover/staleNode.js';
import { checkUnusedLsn } from './init/manualInit.js';
import { unfinishedReinits } from './init/reinitLeftovers.js';
import { orderSteps, scopeMessages, selectTargets, withDependencies } from './order.js';
import { checkReachable, preflight } from './preflight/preflight.js';
import { planPublications, publicationRef } from './publications/publications.js';
import { findRenames } from './renames.js';
import { planSchemaSync, tableSchemasDigest } from './schema/schemaSync.js';
import { planStateSchema, type StateMigration } from './stateSchema.js';
import { checkCycles } from './subscriptions/cycles.js';
import { checkDoubleApply } from './subscriptions/doubleApply.js';
import { reportOrphanSlots } from './subscriptions/slots.js';
import { planSubscriptions } from './subscriptions/subscriptions.js';
import { leftFences } from './switchover/leftFence.js';

/**
 * plan = diff(desired Topology, observed ClusterState). Pure: no I/O; the same inputs give the
 * same Plan.
 */

export interface PlanOptions {
  steepVersion: string;
  now: Date;
  /** `--target ADDRESS` (repeatable): only these steps and what they depend on */
  targets?: string[];
  /** SQL of steep's state-schema migrations (from src/state, passed in by the caller) */
  stateMigrations: StateMigration[];
  /** `apply --lsn NAME=LSN`: where a manual init's restored data starts (default: the LSN `init prepare` recorded) */
  initLsn?: Record<string, string>;
  /** `--allow-hazard NAME`: recorded in the plan's inputs, for apply's gate */
  allowHazards?: Hazard[];
}

export function plan(file: Topology, observed: ClusterState, opts: PlanOptions): Plan {
  // a publisher with standbys: its subscriptions use failover slots where both ends have them
  // renames in place: planned against the nodes as the renames leave them
  const renames = findRenames(file, observed);
  const desired = withFailoverSlots(renames.desired, renames.observed);
  // the failover verdicts first: a subscription one left diverged is told that way out alone,
  // and nothing waits for its slot (publications/publicationCatchUp.ts)
  const failover = failoverVerdicts(desired, renames.observed);
  const pastFork = pastForkSubscriptions(desired, renames.observed);
  const failoverDiverged = new Map(
    failover
      .filter((v) => v.verdict === 'diverged')
      .map((v) => [v.subscription, pastFork.has(v.subscription)] as const),
  );
  // a node whose url is an older branch of its system (the old primary started again after a
  // failover) is refused: no step is made on it, no subscription re-pointed to it
  const ctx = new PlanContext(
    desired,
    withStaleUrlsUnread(desired, renames.observed),
    opts.initLsn,
    failoverDiverged,
  );
  // each module adds its steps and messages to ctx; what a later one needs is passed to it. The
  // order below is the order of the plan's errors and warnings
  checkReachable(ctx);
  ctx.errors.push(...renames.errors);
  ctx.warnings.push(...renames.warnings);
  planStateSchema(ctx, opts.stateMigrations);
  // a reinit stopped before it dropped its temporary publications: not steep.yaml's to change
  // (nor "unmanaged": its warning says what they are), but no green plan either
  const reinits = unfinishedReinits(desired, ctx.observed);
  const temporary = new Set(reinits.flatMap((u) => u.publications.map((p) => publicationRef(u.from, p))));
  const membershipChanged = planPublications(ctx, renames.publications, temporary);
  const doubleApply = checkDoubleApply(ctx);
  planSubscriptions(ctx, {
    membershipChanged,
    doubleApply,
    renames: renames.subscriptions,
  });
  for (const v of failover) {
    if (v.verdict === 'ready' || v.verdict === 'resumed') continue;
    const at = `subscription ${v.subscription} on ${v.node}`;
    const text =
      v.verdict === 'not-ready'
        ? `${at} would not survive a failover of ${v.from} without a gap: ${v.reasons.join('; ')}`
        : `${at}: ${v.reasons.join('; ')}`;
    ctx.warn(`failover.${v.verdict}`, text, { address: subscriptionAddress(v.subscription), node: v.node });
  }
  for (const u of reinits)
    ctx.warn('reinit.unfinished', `subscription ${u.subscription} on ${u.node}: ${u.reason}`, {
      address: subscriptionAddress(u.subscription),
      node: u.node,
    });
  for (const f of leftFences(desired, ctx.observed))
    ctx.warn('switchover.fence_left', `subscription ${f.subscription} on ${f.node}: ${f.reason}`, {
      address: subscriptionAddress(f.subscription),
      node: f.from,
    });
  checkUnusedLsn(ctx);
  const schema = planSchemaSync(ctx);
  reportOrphanSlots(ctx);
  checkCycles(ctx);
  preflight(ctx);

  let steps = orderSteps(withDependencies(ctx.steps, schema.waits), desired.settings);
  if (opts.targets && opts.targets.length > 0) {
    // read once here; a target that is no address matches no step
    const targets = opts.targets.flatMap((t) => parseAddress(t) ?? []);
    steps = selectTargets(steps, targets);
    scopeMessages(ctx, steps, targets);
  }

  return {
    formatVersion: PLAN_FORMAT_VERSION,
    steepVersion: opts.steepVersion,
    createdAt: opts.now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    config: { path: desired.source.path, digest: desired.source.digest },
    inputs: {
      targets: [...(opts.targets ?? [])],
      lsn: Object.fromEntries(sortedKeys(opts.initLsn ?? {}).map((k) => [k, opts.initLsn![k]!])),
      allowHazards: [...new Set(opts.allowHazards ?? [])].sort(compareText),
    },
    observed: { digest: observedDigest(observed), nodes: observedVersions(observed) },
    summary: summarise(steps),
    drift: [...ctx.drift].sort((a, b) => compareText(a.address, b.address)),
    steps,
    schema: schema.comparisons,
    unmanaged: [...ctx.unmanaged].sort(
      (a, b) => compareText(a.node, b.node) || compareText(a.kind, b.kind) || compareText(a.name, b.name),
    ),
    orphanSlots: ctx.orphanSlots,
    ...(failover.length > 0 ? { failover } : {}),
    ...(desired.ignore ? { ignored: ctx.ignored } : {}),
    errors: ctx.errors,
    warnings: ctx.warnings,
  };
}

/** `sha256:` of every observed node, connection strings masked. */
export function observedDigest(observed: ClusterState): string {
  const nodes: Record<string, unknown> = {};
  for (const name of sortedKeys(observed.nodes)) {
    const n = observed.nodes[name]!;
    nodes[name] = n.reachable ? maskNode(n) : (n satisfies UnreachableNode);
  }
  return `sha256:${digestOf(nodes)}`;
}

function maskNode(n: ObservedNode): unknown {
  const subscriptions: Record<string, unknown> = {};
  for (const name of sortedKeys(n.subscriptions)) {
    const s = n.subscriptions[name]!;
    subscriptions[name] = { ...(stableSubscription(s) as object), tables: s.tables, originLsn: s.originLsn };
  }
  return { ...n, subscriptions, tableSchemas: tableSchemasDigest(n.tableSchemas) };
}

function observedVersions(observed: ClusterState): Record<string, { serverVersion: number }> {
  const out: Record<string, { serverVersion: number }> = {};
  for (const name of sortedKeys(observed.nodes)) {
    const n = observed.nodes[name]!;
    if (n.reachable) out[name] = { serverVersion: n.serverVersion };
  }
  return out;
}
