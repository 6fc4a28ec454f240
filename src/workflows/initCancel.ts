/**
 * `steep init cancel SUBSCRIPTION` (docs/steep-yaml.md, SC-006): undo an init that has not
 * finished and leave nothing behind — the subscription and its slot (and PostgreSQL's table-sync
 * slots) dropped, the tables its copy filled truncated, a prepared slot dropped, deferred indexes
 * built, the state back to `uninitialized` — within 30 s. Under apply's advisory lock on both
 * nodes (so it never races an apply) it reads what the init left, has the planner decide what goes
 * (planner/init/initCancel.ts), asks before a streaming subscription is dropped, then runs the
 * parts in order through the executors.
 *
 * A signal (SIGINT/SIGTERM/SIGHUP, `stop`) lets the drop and the truncate finish together — a rerun
 * finds no subscription, so it could no longer tell which tables the copy filled — and starts
 * nothing after them: it stops with what is done and what is left, and the next
 * `steep init cancel` does the rest (each later step is idempotent).
 */

import type pg from 'pg';
import { readSubscriptionInfo } from '../catalog/compareScope.js';
import { slotExists } from '../catalog/slotHolder.js';
import {
  readSubscribedTables,
  readSubscriptionSlot,
  readTruncateDenied,
} from '../catalog/subscriptionOnNode.js';
import { loadTopology } from '../config/load.js';
import { buildDeferredIndexes } from '../copy/deferredIndexes.js';
import { lockedSessions } from '../db/lockedSession.js';
import { mask } from '../db/mask.js';
import type { EventSink, Stop } from '../executors/events.js';
import { recordTransition } from '../executors/initFollow.js';
import { dropPreparedSlot, endSteepHolder } from '../executors/preparedSlot.js';
import { runStep, type StepContext } from '../executors/runStep.js';
import { printAddress, subscriptionAddress } from '../model/address.js';
import { adviceText } from '../model/advice.js';
import type { Problem } from '../model/errors.js';
import { SteepError } from '../model/errors.js';
import { unrecordedState } from '../model/initLifecycle.js';
import { copiesAtCreate } from '../model/initMethods.js';
import type { Step } from '../model/plan.js';
import { declaredSubscription, qualifiedName, type SubscriptionSpec } from '../model/topology.js';
import { planInitCancel } from '../planner/init/initCancel.js';
import { count } from '../render/count.js';
import { CopyChunkStore } from '../state/copyChunks.js';
import { DeferredIndexStore } from '../state/deferredIndexes.js';
import { InitProgressStore } from '../state/initProgress.js';
import { InitSlotStore } from '../state/initSlots.js';
import { SnapshotStore } from '../state/snapshots.js';
import { hasInitTables, SubscriptionStateStore, stateSchemaUsable } from '../state/subscriptionState.js';

/** Every statement of a cancel gives up after this long; the whole cancel stays well inside 30 s. */
const STATEMENT_TIMEOUT_MS = 15_000;
const LOCK_TIMEOUT_MS = 5_000;

export interface CancelResult {
  subscription: string;
  node: string;
  from: string;
  previousState: string;
  /** it streamed: dropped with --allow-destroy, its rows kept */
  destroyed: boolean;
  droppedSubscription: boolean;
  droppedSlot: string | null;
  truncated: string[];
  /** a slot that could not be dropped (publisher unreachable), to drop by hand */
  slotLeft: string | null;
  /** the subscription's slot, not on its publisher (dropped by hand, or a failover it never reached): nothing to drop */
  slotMissing: string | null;
  /** two-phase snapshots of the subscription recorded `cancelled`: their slot is gone */
  cancelledSnapshots: string[];
  durationMs: number;
  configWarnings: Problem[];
}

function pgMessage(err: unknown): string {
  const e = err as { message?: string; hint?: string };
  return mask(`${e.message ?? String(err)}${e.hint ? ` (${e.hint})` : ''}`);
}

/**
 * Run one of the cancel's steps; PostgreSQL's refusal becomes `init.cancel_failed` with `failed`'s
 * sentence (its message and hint).
 */
async function run<T>(
  work: () => Promise<T>,
  step: Step,
  failed: (pgText: string) => string,
  address: string,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    const pgErr = err instanceof SteepError ? (err.code.startsWith('apply.') ? err.cause : null) : err;
    if (pgErr === null || pgErr === undefined) throw err;
    throw new SteepError('init.cancel_failed', failed(pgMessage(pgErr)), {
      node: step.node,
      address,
      cause: pgErr,
    });
  }
}

export interface CancelOptions {
  onEvent?: EventSink;
  /** SIGINT/SIGTERM/SIGHUP: armed once the cancel is planned; then `init.cancel_interrupted`, resumable */
  stop?: Stop;
  /** the tables the cancel will empty, before it changes anything */
  onPlanned?: (truncated: string[]) => void;
  /** `--allow-destroy`: a subscription that streams may be dropped (its rows are kept) */
  allowDestroy?: boolean;
  /**
   * Asked before a destroy (a streaming subscription dropped) changes anything; throws to refuse.
   * Without it a destroy is refused.
   */
  confirm?: (question: string) => Promise<void>;
}

/** Stopped by a signal between the cancel's steps: what it did, what is left, and how to finish. */
function interrupted(name: string, done: string[], left: string[]): SteepError {
  return new SteepError(
    'init.cancel_interrupted',
    `init cancel of ${name} stopped; done: ${done.join('; ') || 'nothing'}; not done: ${left.join('; ')}; ` +
      `run \`${adviceText('initCancel', name)}\` again to finish it`,
    { address: subscriptionAddress(name) },
  );
}

export async function cancelInit(
  configPath: string,
  subscription: string,
  opts: CancelOptions = {},
): Promise<CancelResult> {
  const onEvent = opts.onEvent ?? (() => {});
  const t0 = Date.now();
  const { topology, warnings } = await loadTopology(configPath);
  const d = declaredSubscription(topology, subscription, 'init.unknown_subscription');
  const schema = topology.settings.stateSchema;
  // both nodes in apply's order: racing an apply, one of the two always gets through
  const sessions = await lockedSessions(topology, [{ node: d.node }, { node: d.from, optional: true }], {
    applicationName: 'steep init cancel',
    settings: { statementTimeoutMs: STATEMENT_TIMEOUT_MS, lockTimeoutMs: LOCK_TIMEOUT_MS },
  });
  const c = sessions.get(d.node)!;
  const pub = sessions.get(d.from) ?? null;
  try {
    const facts = await readCancelFacts(d, c, pub, schema, opts.allowDestroy === true);
    const { plan } = facts;
    const result: CancelResult = {
      subscription: d.name,
      node: d.node,
      from: d.from,
      previousState: facts.previous,
      destroyed: plan.destroys,
      droppedSubscription: false,
      droppedSlot: null,
      truncated: [],
      slotLeft: plan.slotLeft,
      slotMissing: plan.slotMissing,
      cancelledSnapshots: [],
      durationMs: 0,
      configWarnings: warnings,
    };
    const parts = cancelParts({ d, c, pub, schema, facts, result, onEvent });
    if (plan.destroys) await confirmDestroy(d, facts, opts.confirm);
    opts.onPlanned?.(plan.truncated);
    opts.stop?.arm();
    for (const [i, part] of parts.entries()) {
      if (opts.stop?.signal.aborted)
        throw interrupted(
          d.name,
          parts.slice(0, i).map((x) => x.does),
          parts.slice(i).map((x) => x.does),
        );
      await part.run();
    }
    result.durationMs = Date.now() - t0;
    onEvent({
      event: 'init.cancelled',
      level: 'info',
      node: d.node,
      subscription: d.name,
      phase: 'uninitialized',
      duration_ms: result.durationMs,
      message: cancelledMessage(result, d.from),
    });
    return result;
  } finally {
    await Promise.all([c.end().catch(() => {}), pub?.end().catch(() => {})]);
  }
}

type CancelFacts = Awaited<ReturnType<typeof readCancelFacts>>;

/** What the cancel reads on the subscriber before it changes anything, and its plan. */
async function readCancelFacts(
  d: SubscriptionSpec,
  c: pg.Client,
  pub: pg.Client | null,
  schema: string,
  allowDestroy: boolean,
) {
  const access = await stateSchemaUsable(c, schema);
  if (access && !access.usable)
    throw new SteepError(
      'init.cancel_refused',
      `${d.node}: role ${access.role} may not use steep's state schema ${schema} (its owner is ${access.owner}), where init cancel reads and records the init of ${d.name}; ` +
        `run ${adviceText('initCancel', d.name)} as ${access.owner} or a superuser; nothing was changed`,
      { node: d.node, address: subscriptionAddress(d.name) },
    );
  const stateTables = await hasInitTables(c, schema);
  const recorded = stateTables ? await new SubscriptionStateStore(schema, d.node).get(c, d.name) : null;
  const prepared = stateTables ? await new InitSlotStore(schema, d.node).forSubscription(c, d.name) : null;
  const existing = await readSubscriptionSlot(c, d.name);
  const info = existing ? await readSubscriptionInfo(c, d.name) : null;
  // adopted and never recorded: streaming with every table ready is synchronized
  const previous =
    recorded?.state ??
    (info ? unrecordedState({ enabled: info.enabled, tables: info.tables.values() }) : 'uninitialized');
  const tables = existing && copiesAtCreate(d.init.method) ? await readSubscribedTables(c, d.name) : [];
  const copiedTables = stateTables ? await new CopyChunkStore(schema, d.node).copiedTables(c, d.name) : [];
  const plan = planInitCancel(d, {
    previous,
    allowDestroy,
    existing,
    access: await readTruncateDenied(c, [...tables, ...copiedTables]),
    tables,
    copiedTables,
    preparedSlot: prepared?.slot ?? null,
    publisherReachable: pub !== null,
    ...(pub && existing?.slot ? { slotOnPublisher: await slotExists(pub, existing.slot) } : {}),
  });
  const deferred = stateTables ? await new DeferredIndexStore(schema, d.node).list(c, d.name) : [];
  return { stateTables, previous, existing, plan, deferred };
}

interface CancelRun {
  d: SubscriptionSpec;
  c: pg.Client;
  pub: pg.Client | null;
  schema: string;
  facts: CancelFacts;
  /** filled in as the parts run */
  result: CancelResult;
  onEvent: EventSink;
}

function stepContext(node: string): StepContext {
  return {
    node,
    lockTimeoutMs: LOCK_TIMEOUT_MS,
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    fillSecrets: (sql) => sql,
  };
}

/** One planned step on its own node, failing at its own address. */
function runPlanned(client: pg.Client, step: Step, failed: (pgText: string) => string): Promise<void> {
  return run(() => runStep(client, step, stepContext(step.node)), step, failed, printAddress(step.address));
}

/** The cancel's parts, in order; a signal stops it between two of them. */
function cancelParts(r: CancelRun): Array<{ does: string; run: () => Promise<void> }> {
  const { d, c, pub, schema, result, onEvent } = r;
  const { plan, deferred } = r.facts;
  const { drop, truncate, slotDrop, preparedSlot: slot, reinitCleanup: cleanup } = plan;
  const address = subscriptionAddress(d.name);
  const parts: Array<{ does: string; run: () => Promise<void> }> = [];
  if (drop) {
    parts.push({
      does: `drop subscription ${d.name} on ${d.node}${truncate ? ` and truncate ${plan.truncated.join(', ')}` : ''}`,
      run: () => dropSubscription(r, drop, truncate),
    });
  }
  if (!drop && truncate) {
    // no subscription any more, but steep's copy had filled tables
    parts.push({
      does: `truncate ${plan.truncated.join(', ')}`,
      run: async () => {
        await runPlanned(c, truncate, (why) => `truncating what the copy filled on ${d.node} failed: ${why}`);
        result.truncated = plan.truncated;
      },
    });
  }
  if (slotDrop && slot !== null && pub) {
    parts.push({
      does: `drop slot ${slot} on ${d.from}`,
      run: async () => {
        if (
          await run(
            () => dropPreparedSlot(pub, slotDrop, slot, stepContext(d.from)),
            slotDrop,
            (why) => `cannot drop slot ${slot} on ${d.from}: ${why}`,
            address,
          )
        )
          result.droppedSlot = slot;
      },
    });
  }
  if (cleanup && pub) {
    parts.push({
      does: `drop the temporary publications of an interrupted reinit on ${d.from}, if any`,
      run: () =>
        runPlanned(
          pub,
          cleanup,
          (why) =>
            `cannot drop the temporary publications of an interrupted reinit of ${d.name} on ${d.from}: ${why}`,
        ),
    });
  }
  // steep's copy dropped a big table's indexes to build them after it: build them now
  if (deferred.length > 0) {
    parts.push({
      does: `build the indexes its copy deferred (${deferred.map((x) => `${qualifiedName(x.table)}.${x.index}`).join(', ')})`,
      run: () => buildDeferredIndexes(c, new DeferredIndexStore(schema, d.node), d.name, onEvent),
    });
  }
  if (r.facts.stateTables) {
    parts.push({
      does: 'record the init uninitialized',
      run: () => recordUninitialized(r),
    });
  }
  return parts;
}

/** Drop the subscription (ending steep's snapshot holder first), then truncate what it copied when planned. */
async function dropSubscription(r: CancelRun, drop: Step, truncate: Step | null): Promise<void> {
  const { d, c, pub, result } = r;
  const { plan, existing } = r.facts;
  // steep's own copy: end its snapshot holder, which keeps the snapshot (and slot) in use
  if (pub && existing?.slot) await endSteepHolder(pub, existing.slot);
  await runPlanned(c, drop, (why) => `cannot drop subscription ${d.name} on ${d.node}: ${why}`);
  result.droppedSubscription = true;
  result.droppedSlot = plan.droppedWithSubscription;
  if (!truncate) return;
  await runPlanned(
    c,
    truncate,
    (why) =>
      `subscription ${d.name} was dropped, but truncating what it copied on ${d.node} failed: ${why}; ` +
      `truncate ${plan.truncated.join(', ')} by hand`,
  );
  result.truncated = plan.truncated;
}

/** The init's records on the subscriber: state uninitialized, progress, slots and chunks gone, snapshots cancelled. */
async function recordUninitialized(r: CancelRun): Promise<void> {
  const { d, c, schema, result, onEvent } = r;
  await recordTransition(new SubscriptionStateStore(schema, d.node), c, d, 'uninitialized', onEvent);
  await new InitProgressStore(schema, d.node).clear(c, d.name);
  await new InitSlotStore(schema, d.node).clear(c, d.name);
  await new CopyChunkStore(schema, d.node).clear(c, d.name);
  // the slot a snapshot was taken on is gone (or left to drop by hand): never applicable
  result.cancelledSnapshots = await new SnapshotStore(schema, d.node).cancel(c, d.name);
}

/** A streaming subscription is dropped only when confirmed; throws when it is not. */
async function confirmDestroy(
  d: SubscriptionSpec,
  facts: CancelFacts,
  confirm: CancelOptions['confirm'],
): Promise<void> {
  const question =
    `Drop subscription ${d.name} on ${d.node}, which is ${facts.previous} and streams from ${d.from}` +
    `${facts.plan.droppedWithSubscription ? `, and its slot ${facts.plan.droppedWithSubscription} on ${d.from}` : ''}? ` +
    `Its rows stay; what ${d.from} commits from now on does not reach ${d.node} until a new subscription copies again.`;
  if (!confirm)
    throw new SteepError('init.unconfirmed', `${question} Not confirmed: nothing was changed`, {
      address: subscriptionAddress(d.name),
    });
  await confirm(question);
}

function cancelledMessage(result: CancelResult, from: string): string {
  return (
    `${result.droppedSubscription ? 'subscription dropped' : 'no subscription'}` +
    `${result.droppedSlot ? `, slot ${result.droppedSlot} dropped on ${from}` : ''}` +
    `${result.truncated.length > 0 ? `, ${count(result.truncated.length, 'table')} truncated` : ''}` +
    `${result.cancelledSnapshots.length > 0 ? `, snapshot ${result.cancelledSnapshots.join(', ')} cancelled` : ''}` +
    `${result.slotLeft ? `; slot ${result.slotLeft} left on ${from} (unreachable)` : ''}` +
    `${result.slotMissing ? `; slot ${result.slotMissing} is not on ${from} (nothing to drop)` : ''}`
  );
}
