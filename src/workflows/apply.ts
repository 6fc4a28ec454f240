/**
 * `steep apply` end to end (docs/commands.md): the plan made again (or a saved one, checked against
 * the nodes), the gates and the confirmation, the steps run in order on sessions holding steep's
 * lock, the inits followed, and what an apply records after its steps (continuity baselines,
 * stream positions, object digests, fingerprints, the gaps an allowed origin switch opened).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { readSubscriptionInfo } from '../catalog/compareScope.js';
import { lockedSessions } from '../db/lockedSession.js';
import { type EventSink, stepFields } from '../executors/events.js';
import { awaitDefaultsAfter } from '../executors/keptDefaults.js';
import { awaitRenameApplied } from '../executors/renameGuard.js';
import { runStep, stepError } from '../executors/runStep.js';
import { runGraph, type ScheduleOutcome } from '../executors/schedule.js';
import { secretFiller } from '../executors/secrets.js';
import { awaitSlotsBefore, awaitSlotsCatchUp } from '../executors/slotCatchUp.js';
import { watchSlotCreation } from '../executors/slotWait.js';
import { pausedSettle } from '../executors/workerStop.js';
import { printAddress, subscriptionNameOf } from '../model/address.js';
import { formatBytes } from '../model/bytes.js';
import type { ClusterState } from '../model/cluster.js';
import { gapsBySubscription } from '../model/continuity.js';
import { SteepError } from '../model/errors.js';
import { allowHazardFlags, type HeldStep, heldSteps, missingHazards } from '../model/hazardGate.js';
import { copiesAtCreate } from '../model/initMethods.js';
import type { InitProgress } from '../model/initState.js';
import type { Hazard, Plan, Step } from '../model/plan.js';
import { ACTION_CLASS, stepClass } from '../model/stepClass.js';
import type { Topology } from '../model/topology.js';
import { count } from '../render/count.js';
import { ApplyLog, closeInterruptedSteps, hasApplyLog } from '../state/applyLog.js';
import { recordAllowedGaps } from './allowedGaps.js';
import { baselinesAtCopy, continuityAroundApply } from './continuity.js';
import { recordDisable } from './disables.js';
import { recordFailoverGaps } from './failoverGaps.js';
import { saveSubscribedFingerprints } from './fingerprints.js';
import { InitRunner, type InterruptedStep } from './init.js';
import { runMergeInit } from './mergeInit.js';
import { connectionsSet, recordSettledObjects } from './objectDigests.js';
import { observe } from './plan.js';
import { asSaved, staleness } from './savedPlan.js';
import { emitSchemaMismatches, syncAppliedEvent } from './schema.js';
import { probeSubscriberConnections } from './subscriberProbe.js';

export interface ApplyOptions {
  allowDestroy: boolean;
  /** the gated hazards its steps may have (default: the plan's `--allow-hazard`) */
  allowHazards?: readonly Hazard[];
  /** `--max-copy SIZE`: refuse a plan whose copies move more (or an unknown amount) */
  maxCopyBytes?: number;
  parallel: number;
  onEvent: EventSink;
  /** called once every node is locked, before the first step: a per-step hook for progress */
  onStepStart?: (step: Step) => void;
  /** follow init steps until synchronized (default); false: return once the subscriptions exist (`--no-wait`) */
  wait?: boolean;
  /** the live figures of an init step being followed */
  onInitProgress?: (step: Step, p: InitProgress) => void;
  /**
   * The plan the same file gives now: asked once every node is locked, so a plan the nodes moved
   * away from while it waited (for a confirmation, or for another steep command that ran
   * meanwhile) is refused instead of run on what is no longer there.
   */
  replan?: () => Promise<Plan>;
  /**
   * What to do when that plan is refused, instead of `run steep apply again` (which plans
   * afresh): for a saved plan, the `steep plan … --out` that makes a new one to review.
   */
  staleAdvice?: string;
  /**
   * Aborted by SIGINT/SIGTERM/SIGHUP: no new step starts, the running ones finish, inits being
   * followed are left to go on in PostgreSQL (their apply_log rows say `interrupted`).
   */
  signal?: AbortSignal;
  /** what the plan was made from (the continuity before the steps is judged on it; else read again) */
  observed?: ClusterState;
}

export type ApplyOutcome = ScheduleOutcome<Step> & {
  runId: string;
  /** init steps whose follow the signal stopped: their copies go on server-side */
  interrupted: InterruptedStep[];
  /** the signal came: `notRun` were not started because of it */
  stopped: boolean;
  /**
   * tables that joined running subscriptions (a refresh with copy_data) that PostgreSQL still
   * copies as the apply ends: not synchronized yet
   */
  stillCopying?: Awaited<ReturnType<typeof joinedTablesCopying>>;
};

/**
 * Another steep command holds the lock on a node (plan's preflight saw it): apply could not take
 * the lock anyway, and the plan's errors may be that command's half-made changes. Refused before
 * anything of the plan is shown: the loser's one line names the holder.
 */
export function refuseLocked(plan: Plan): void {
  const locked = plan.warnings.filter((w) => w.code === 'preflight.locked');
  if (locked.length > 0 && (plan.errors.length > 0 || plan.steps.length > 0)) {
    throw new SteepError('apply.locked', locked.map((w) => w.message).join('; '), { node: locked[0]!.node });
  }
}

/**
 * Refuse a plan that must not run: plan errors, deletions without --allow-destroy, a gated hazard
 * not allowed by name, copies above --max-copy.
 */
export function checkApplicable(
  plan: Plan,
  opts: Pick<ApplyOptions, 'allowDestroy' | 'allowHazards' | 'maxCopyBytes'>,
): void {
  refuseLocked(plan);
  if (plan.errors.length > 0) {
    throw new SteepError(
      'apply.plan_errors',
      `the plan has ${plan.errors.length} error(s); fix them and plan again: ${plan.errors.map((e) => e.message).join('; ')}`,
    );
  }
  const deletions = plan.steps.filter((s) => ACTION_CLASS[s.action].destroys);
  if (deletions.length > 0 && !opts.allowDestroy) {
    throw new SteepError(
      'apply.destroy_refused',
      `the plan drops ${deletions.map((s) => printAddress(s.address)).join(', ')}; nothing was changed — rerun with --allow-destroy to allow it`,
    );
  }
  const held = heldSteps(plan.steps, opts.allowHazards ?? plan.inputs.allowHazards);
  if (held.length > 0) throw hazardRefusal(held, `rerun with ${allowHazardFlags(missingHazards(held))}`);
  if (opts.maxCopyBytes !== undefined) checkMaxCopy(plan, opts.maxCopyBytes);
}

/** Steps whose hazards run only when allowed by name: nothing ran; `advice` says how to allow them. */
export function hazardRefusal(held: HeldStep<Step>[], advice: string): SteepError {
  const steps = held.map(
    (h) => `${h.step.id} ${h.step.action} ${printAddress(h.step.address)} (${h.missing.join(', ')})`,
  );
  return new SteepError(
    'apply.hazard_refused',
    `${held.length === 1 ? 'step' : 'steps'} ${steps.join(', ')} ${held.length === 1 ? 'runs only with its hazards' : 'run only with their hazards'} allowed by name; ` +
      `nothing was changed — ${advice}`,
  );
}

/** `--max-copy`: the plan's copies together move at most this much, and every size is known. */
function checkMaxCopy(plan: Plan, max: number): void {
  const copies = plan.steps.filter((s) => s.copy);
  const unknown = copies.filter((s) => s.copy!.bytes === null || s.copy!.unknownTables > 0);
  if (unknown.length > 0) {
    throw new SteepError(
      'apply.copy_unknown',
      `--max-copy ${formatBytes(max)}: the size of what ${unknown.map((s) => printAddress(s.address)).join(', ')} copies is unknown (tables never analysed on the publisher); ` +
        'nothing was changed — run ANALYZE on those tables, or apply without --max-copy',
    );
  }
  const total = copies.reduce((sum, s) => sum + s.copy!.bytes!, 0);
  if (total > max) {
    throw new SteepError(
      'apply.copy_too_big',
      `the plan copies ${formatBytes(total)} (${copies.map((s) => `${printAddress(s.address)}: ${formatBytes(s.copy!.bytes)}`).join(', ')}), ` +
        `more than --max-copy ${formatBytes(max)}; nothing was changed — raise --max-copy or change the plan`,
    );
  }
}

/** Open a session on every node the plan changes and take steep's advisory lock on each. */
async function lockNodes(topology: Topology, plan: Plan): Promise<Map<string, pg.Client>> {
  // and the subscribers a step's gaps are recorded on (a publication's step names them: allowedGaps.ts)
  const names = [
    ...new Set(
      plan.steps.flatMap((s) => [
        s.node,
        ...[...gapsBySubscription(s).keys()].flatMap((sub) => topology.subscriptions[sub]?.node ?? []),
      ]),
    ),
  ];
  const undeclared = names.find((name) => !topology.nodes[name]);
  if (undeclared !== undefined)
    throw new SteepError(
      'apply.unknown_node',
      `step on node ${undeclared}, which steep.yaml does not declare`,
    );
  const sessions = await lockedSessions(
    topology,
    names.map((node) => ({ node })),
    { applicationName: 'steep apply', connectTimeoutMs: topology.settings.connectTimeout },
  );
  // no node is optional: every session is there
  return new Map([...sessions].map(([name, client]) => [name, client!]));
}

/**
 * While a CREATE SUBSCRIPTION, or a slot-create step on apply's own session (`session`, on the
 * step's node), waits for transactions open on the publisher, say which (apply.step_waiting).
 */
function watchSlotWait(
  topology: Topology,
  step: Step,
  session: pg.Client,
  onEvent: EventSink,
): (() => Promise<void>) | null {
  const own = step.kind === 'slot-create';
  if (!own && step.kind !== 'subscription-create') return null;
  const d = own ? undefined : topology.subscriptions[subscriptionNameOf(step.address) ?? ''];
  const from = own ? step.node : d?.from;
  const publisher = from === undefined ? undefined : topology.nodes[from];
  if (from === undefined || !publisher) return null;
  const waiter = (session as pg.Client & { processID?: number }).processID;
  return watchSlotCreation({
    publisher: { name: from, connection: publisher.connection },
    subscription: d?.name ?? null,
    ...(own && waiter !== undefined ? { waiter } : {}),
    connectTimeoutMs: topology.settings.connectTimeout,
    onWaiting: (message) =>
      onEvent({
        event: 'apply.step_waiting',
        level: 'warn',
        ...stepFields(step),
        message,
      }),
  });
}

/** A plan that is no longer what the nodes need, now that they are locked: nothing runs. */
function refuseStale(plan: Plan, fresh: Plan, advice: string): void {
  const reasons = staleness(asSaved(plan), fresh);
  if (reasons.length === 0) return;
  throw new SteepError(
    'apply.stale_plan',
    `the nodes changed since this plan was made (another steep command or someone else came in between): ${reasons.join('; ')}; ` +
      `nothing was changed — ${advice}`,
  );
}

/** Run the plan's steps in dependency order; stop starting new ones after a failure. */
export async function applyPlan(topology: Topology, plan: Plan, opts: ApplyOptions): Promise<ApplyOutcome> {
  checkApplicable(plan, opts);
  const runId = randomUUID();
  const started = Date.now();
  // a failover that may have skipped changes never continues silently
  await recordFailoverGaps(topology, plan, opts.onEvent);
  if (plan.steps.length === 0)
    return { runId, completed: [], failed: [], notRun: [], interrupted: [], stopped: false };
  // a publication that changes: the gaps before it are recorded, steep's own change adopted after;
  // a subscription enabled: the gaps before it are recorded (on 18 its slot then streams past
  // what it skips, and no later reading sees that gap)
  const publications = plan.steps.some((s) => s.address.kind === 'publication');
  const enables = plan.steps.some((s) => enabledMove(s, true));
  const continuity =
    (publications || enables) &&
    (await continuityAroundApply(topology, async () => opts.observed ?? observe(topology)));
  const clients = await lockNodes(topology, plan);
  try {
    if (opts.replan)
      refuseStale(
        plan,
        await opts.replan(),
        opts.staleAdvice ?? 'run steep apply again to plan from what the nodes hold now',
      );
    await probeSubscriberConnections(topology, plan, clients);
    for (const [name, client] of clients) {
      await closeInterruptedSteps(client, topology.settings.stateSchema, name, runId).catch(() => {});
    }
    const fillSecrets = secretFiller(topology);
    const inits = new InitRunner(topology, {
      wait: opts.wait !== false,
      onEvent: opts.onEvent,
      onProgress: opts.onInitProgress,
      signal: opts.signal,
    });
    opts.onEvent({
      event: 'apply.started',
      level: 'info',
      message: count(plan.steps.length, 'step'),
      run_id: runId,
    });
    emitSchemaMismatches(plan, opts.onEvent);
    const graph = await runGraph(plan.steps, {
      parallel: Math.max(1, opts.parallel),
      stop: opts.signal,
      // a snapshot init's copy by PostgreSQL started with CREATE SUBSCRIPTION: its init step records
      // that it is copying (its follow stops at once); a manual init or steep's own copy changes the node
      afterStop: (
        step,
        c = stepClass(step),
        d = topology.subscriptions[subscriptionNameOf(step.address) ?? ''],
      ) => c.run === 'init' && !c.ownCopy && d !== undefined && copiesAtCreate(d.init.method),
      run: (step) => runPlannedStep(step, clients.get(step.node)!, topology, runId, inits, fillSecrets, opts),
    });
    const outcome = { ...graph, interrupted: [] as InterruptedStep[], stopped: false };
    await inits.finishSteps(outcome, { clients, runId });
    // before the comparison of the tables that joined: one that finds a table equal closes its gap
    await recordAllowedGaps(topology, outcome.completed, clients);
    outcome.stopped = opts.signal?.aborted === true;
    if (outcome.stopped) {
      opts.onEvent({
        event: 'apply.interrupted',
        level: 'warn',
        message: `${outcome.completed.length} completed, ${outcome.interrupted.length} still running in PostgreSQL, ${outcome.notRun.length} not run`,
        duration_ms: Date.now() - started,
      });
      return { ...outcome, runId };
    }
    await inits.settleJoined(outcome, { clients, runId });
    // a subscription disabled: its workers stopped first, so the readings below find it paused
    // and record where it stands (model/continuity.ts)
    await pausedSettle(topology, outcome.completed.filter(disables), clients, opts.onEvent);
    let settled: ClusterState | undefined;
    if (outcome.failed.length === 0) {
      await saveSubscribedFingerprints(topology, opts.onEvent, clients);
      settled = await recordSettledObjects(
        topology,
        opts.onEvent,
        clients,
        connectionsSet(outcome.completed),
      );
    }
    const stillCopying = await joinedTablesCopying(outcome.completed, clients);
    if (continuity && publications)
      await continuityAroundApply(topology, async () => settled ?? observe(topology), clients, continuity);
    // a subscription created or refreshed: the baselines of its copies are taken now (model/continuity.ts)
    if (outcome.completed.some((s) => s.address.kind === 'subscription'))
      await baselinesAtCopy(topology, async () => settled ?? observe(topology), clients);
    opts.onEvent({
      event: 'apply.completed',
      level: outcome.failed.length > 0 ? 'error' : 'info',
      message: `${outcome.completed.length} completed, ${outcome.failed.length} failed, ${outcome.notRun.length} not run`,
      duration_ms: Date.now() - started,
    });
    return { ...outcome, runId, stillCopying };
  } finally {
    await Promise.all([...clients.values()].map((c) => c.end().catch(() => {})));
  }
}

/**
 * One step of the plan on its node's locked session (`client`), recorded in `apply_log`: an init starts
 * (and is followed later), a merge init runs, any other step runs its statements.
 */
async function runPlannedStep(
  step: Step,
  client: pg.Client,
  topology: Topology,
  runId: string,
  inits: InitRunner,
  fillSecrets: (sql: string) => string,
  opts: ApplyOptions,
): Promise<void> {
  const schema = topology.settings.stateSchema;
  const log = new ApplyLog(schema, step.node, runId);
  const t0 = Date.now();
  opts.onStepStart?.(step);
  opts.onEvent({ event: 'apply.step_started', level: 'info', ...stepFields(step) });
  const entry = { ...step, address: printAddress(step.address), sql: step.statements.map((s) => s.sql) };
  let logged = false;
  // everything that touches the node's session is in here: a session lost between two
  // steps (the node restarted) fails the next one with a step_failed like any other error
  try {
    logged = await hasApplyLog(client, schema);
    if (logged) await log.started(client, entry);
    // the step's own timeouts (planner/stepTimeouts.ts): a merge init's write block waits at most its lock_timeout
    const ctx = {
      node: step.node,
      lockTimeoutMs: step.timeouts?.lockMs ?? topology.settings.lockTimeout,
      statementTimeoutMs: step.timeouts?.statementMs ?? topology.settings.statementTimeout,
      fillSecrets,
    };
    const how = stepClass(step);
    if (how.run === 'init') await inits.start(client, step, ctx);
    else if (how.run === 'merge-init') {
      await runMergeInit(topology, step, ctx, opts.onEvent);
      await inits.afterMerge(step);
    } else {
      const stopWatching = watchSlotWait(topology, step, client, opts.onEvent);
      try {
        if (step.renamedAfter) await awaitRenameApplied(topology, step, client, { ...ctx, ...opts });
        if (step.catchUpBefore) await awaitSlotsBefore(topology, step, { ...ctx, ...opts });
        if (step.defaultsAfter) {
          // the columns first, their defaults once the changes from before them are applied
          await runStep(
            client,
            { ...step, statements: step.statements.slice(0, step.defaultsAfter.from) },
            ctx,
          );
          await awaitDefaultsAfter(topology, step, client, { ...ctx, ...opts });
          await runStep(client, { ...step, statements: step.statements.slice(step.defaultsAfter.from) }, ctx);
        } else await runStep(client, step, ctx);
        if (step.disables) await recordDisable(client, schema, step.node, step.disables);
        if (step.catchUpAfter) await awaitSlotsCatchUp(client, step, { ...ctx, ...opts });
      } finally {
        await stopWatching?.();
      }
    }
    await inits.afterStep(client, step);
    // an init step completes (or fails) once followed, after the other steps: see finishSteps
    if (inits.defers(step)) return;
    // the state-schema step creates apply_log: record the step that made it
    if (!logged && (await hasApplyLog(client, schema))) await log.started(client, entry);
    if (logged || how.bookkeeping) await log.finished(client, step.id, null);
  } catch (err) {
    const failure = err instanceof SteepError ? err : stepError(step, err);
    if (logged) await log.finished(client, step.id, failure.message).catch(() => {});
    opts.onEvent({
      event: 'apply.step_failed',
      level: 'error',
      ...stepFields(step),
      message: failure.message,
      duration_ms: Date.now() - t0,
    });
    throw failure;
  }
  opts.onEvent({
    event: 'apply.step_completed',
    level: 'info',
    ...stepFields(step),
    duration_ms: Date.now() - t0,
  });
  if (step.kind === 'table-sync') opts.onEvent(syncAppliedEvent(step, Date.now() - t0));
}

/**
 * The tables a completed refresh with copy_data made PostgreSQL copy into a running
 * subscription that are not ready yet, read on the subscriber's session as the apply ends.
 */
async function joinedTablesCopying(completed: Step[], clients: Map<string, pg.Client>) {
  // tables as `schema.table`, not yet ready
  const out: Array<{ subscription: string; node: string; tables: string[] }> = [];
  for (const step of completed) {
    if (step.kind !== 'subscription-alter' || !step.hazards.includes('copies-data')) continue;
    const client = clients.get(step.node);
    const name = subscriptionNameOf(step.address);
    if (!client || !name) continue;
    const info = await readSubscriptionInfo(client, name).catch(() => null);
    if (!info) continue;
    const tables = [...info.tables]
      .filter(([, state]) => state !== 'r')
      .map(([table]) => table)
      .sort();
    if (tables.length > 0) out.push({ subscription: name, node: step.node, tables });
  }
  return out;
}

/** The step moves its subscription's `enabled` to `to` (from the other). */
function enabledMove(step: Step, to: boolean): boolean {
  return step.changes.some((c) => c.path === 'enabled' && c.before === !to && c.after === to);
}

const disables = (step: Step) => enabledMove(step, false);
