import { subscriptionAddress } from '../../model/address.js';
import type { ObservedNode } from '../../model/cluster.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import {
  majorVersion,
  runsVersionText,
  STREAMING_PARALLEL_MIN_VERSION,
  SUBSCRIPTION_OPTION,
  SUBSCRIPTION_OPTIONS,
  supportsOption,
} from '../../model/versions.js';
import type { DraftStep, PlanContext } from '../context.js';
import { sortedKeys } from '../context.js';
import { planInitAfterCreate, planInitOfExisting } from '../init/init.js';
import { checkLinkVersions, foldMergeInits } from '../init/mergeInit.js';
import { planObservedObjects } from '../managedObjects.js';
import { planChange } from './subscriptionAlter.js';
import {
  createStatements,
  desiredConnection,
  planCreate,
  type SubscriptionInputs,
  type SubscriptionRun,
  subscriptionDrop,
} from './subscriptionCreate.js';

/**
 * Subscriptions: create (with the init method's copy_data/create_slot), alter in place
 * (connection, publications, enabled, options; failover/twoPhase as disable → alter → enable),
 * replace only for the publisher, the slot, or twoPhase before 18; delete what this topology
 * manages and the file no longer declares. Here: which of those each subscription gets, and its
 * init step after it. The fate of observed subscriptions and `protect` are the skeleton in
 * `managedObjects.ts`; create, replace and drop are `subscriptionCreate.ts`; what differs about
 * an existing one and its in-place alter, `subscriptionAlter.ts`; merge inits fold their
 * subscriptions' creates into one step (`mergeInit.ts`).
 */

export function planSubscriptions(ctx: PlanContext, inputs: SubscriptionInputs): void {
  const blocked = planObservedObjects(ctx, 'subscription', subscriptionDrop);
  const run: SubscriptionRun = { ...inputs, blocked: new Set([...inputs.doubleApply.blocked, ...blocked]) };
  const steps: DraftStep[] = [];
  for (const name of sortedKeys(ctx.desired.subscriptions)) {
    const step = planDesiredSubscription(ctx, run, ctx.desired.subscriptions[name]!);
    if (step) steps.push(step);
  }
  const folded = foldMergeInits(ctx, steps, (d) => {
    const conn = desiredConnection(ctx, d);
    return conn ? createStatements(ctx, d, conn, { copyData: false, createSlot: false, enabled: false }) : [];
  });
  for (const step of folded) ctx.steps.push(step);
}

// ---------------------------------------------------------------------------------------------

/** Options the subscriber's version lacks: plan errors naming option, node and version. */
function checkOptions(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode): boolean {
  let ok = true;
  const where = { address: subscriptionAddress(d.name), node: node.name };
  for (const name of SUBSCRIPTION_OPTIONS) {
    if (d.options[name] === undefined || supportsOption(name, node.serverVersion)) continue;
    ok = false;
    ctx.error(
      'unsupported-option',
      `subscription ${d.name}: option ${name} needs PostgreSQL ${majorVersion(SUBSCRIPTION_OPTION[name].since)} or later; ${runsVersionText(node)}`,
      where,
    );
  }
  if (d.options.streaming === 'parallel' && node.serverVersion < STREAMING_PARALLEL_MIN_VERSION) {
    ok = false;
    ctx.error(
      'unsupported-option',
      `subscription ${d.name}: option streaming: parallel needs PostgreSQL ${majorVersion(STREAMING_PARALLEL_MIN_VERSION)} or later; ${runsVersionText(node)}`,
      where,
    );
  }
  return ok;
}

/** The subscription's own step (create, alter or replace), its init step added to the plan after it. */
function planDesiredSubscription(
  ctx: PlanContext,
  run: SubscriptionRun,
  d: SubscriptionSpec,
): DraftStep | undefined {
  const node = ctx.node(d.node);
  const address = subscriptionAddress(d.name);
  if (!node || run.blocked.has(address)) return undefined;
  // its publisher's url is a stale server (planner/failover/staleNode.ts: the plan's error names
  // it): nothing is created, altered or re-pointed to it
  const pub = ctx.observed.nodes[d.from];
  if (pub && !pub.reachable && pub.stale) return undefined;
  const conn = desiredConnection(ctx, d);
  if (!conn) {
    ctx.error('unknown-node', `subscription ${d.name}: its publisher ${d.from} is not a node of steep.yaml`, {
      address,
      node: d.node,
    });
    return undefined;
  }
  if (!checkLinkVersions(ctx, d) || !checkOptions(ctx, d, node)) return undefined;
  const o = node.subscriptions[d.name];
  const x = { d, node, conn };
  if (!o) {
    const created = planCreate(ctx, run, x);
    if (!created) return undefined;
    if (!created.keep) planInitAfterCreate(ctx, d, node, created.manual);
    return created.step;
  }
  const step = planChange(ctx, run, x, o);
  // a replace never keeps the rows (a plan error: initCopy.ts existingData), so its init runs
  if (step?.kind === 'subscription-create') planInitAfterCreate(ctx, d, node, null);
  else planInitOfExisting(ctx, d, node, o);
  return step;
}
