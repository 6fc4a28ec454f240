import type pg from 'pg';
import { startOnSlot } from '../copy/slotStart.js';
import type { EventSink } from '../executors/events.js';
import { stateChangeEvent } from '../executors/initFollow.js';
import {
  dropMergeSlot,
  openNodeSession,
  runStatements,
  statementsOn,
  WriteLocks,
} from '../executors/mergeInit.js';
import type { StepContext } from '../executors/runStep.js';
import { parseAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import { MERGE_FINAL_ROUNDS, mergeFinalPass } from '../model/initLifecycle.js';
import type { InitState } from '../model/initState.js';
import type { MergeAnalysis, MergePair } from '../model/merge.js';
import { type MergeStrategy, parseStrategy, resolveStrategy } from '../model/mergeStrategy.js';
import type { Step } from '../model/plan.js';
import type { Topology } from '../model/topology.js';
import { SubscriptionStateStore } from '../state/subscriptionState.js';
import { analyzePair, mergePairOf } from './mergeAnalyze.js';
import { type ReconcileSessions, reconcilePair } from './mergeReconcile.js';

/**
 * A merge init inside `apply` (SPEC §9 merge, issue 16), for one merge unit (a link, or one
 * subscription): the plan's `merge-init` step. Every statement comes from the plan; this
 * orchestrates:
 * 1. drop what an interrupted merge left (subscriptions recorded `preparing`/`copying`/`failed`,
 *    with their slots; a leftover slot alone is dropped by its own step before this one);
 * 2. preflight and analysis (`preparing`), then reconcile: one-sided rows copied across,
 *    conflicts resolved by the strategy, every decision in merge_log (`copying`);
 * 3. each subscription's slot made on its publisher while steep holds nothing;
 * 4. the final pass: write locks on both nodes, each node's WAL insert position read under them,
 *    the rows written since step 2 re-checked and reconciled inside the locked transactions,
 *    the subscriptions created on their slots, started at the positions, enabled; commit
 *    (`synchronized`).
 *
 * Why nothing is lost or sent twice. Say the slot on A (for B's subscription) was made at its
 * consistent point C, and L is A's insert position read once the lock on A is held. LOCK …
 * IN EXCLUSIVE MODE waits for every transaction that wrote the merged tables, so each of their
 * commit records is before L, and the re-check under the locks sees all of them. The
 * subscription's origin is advanced to L (C ≤ L: the slot was made before the lock), so it
 * starts with the first commit at or after L. Those are (a) the reconcile's own writes under the
 * locks, which carry a steep replication origin that an `origin = none` subscription never sends,
 * and (b) the application's writes after the commit, which all queued behind the lock and so
 * commit after it: streamed, each once. What committed before L is on both nodes at the commit:
 * the re-check compared it and the reconcile wrote the remainder in the same transactions. The
 * slots wait for no transaction of steep's (none is open while they are made), so the locks
 * never sit behind a slot that waits for an application transaction queued behind them — and
 * two databases of one server merge like any pair.
 *
 * A one-way subscription with `origin = any` would send the reconcile's writes on its publisher
 * back: there the locked transactions only re-check; what they find is reconciled after
 * releasing the locks and the pass repeats (at most MERGE_FINAL_ROUNDS). Interrupted anywhere,
 * the next apply plans the merge again and converges: the locked transactions roll back whole
 * (merge_log included), reconciled rows are identical by then, and a slot or subscription made
 * before the interruption is dropped and made again.
 */

export interface MergeRunOptions {
  onEvent: EventSink;
  /** reconcile the pair's differences by the strategy (the merge engine); returns the rows it changed */
  reconcile: Reconcile;
}

export type Reconcile = (
  topology: Topology,
  pair: MergePair,
  strategy: MergeStrategy,
  onEvent: EventSink,
  /** write in these sessions (the locked transactions) instead of its own */
  sessions?: ReconcileSessions,
) => Promise<unknown>;

/** What a merge-init step names, read from its changes (the planner's words). */
export interface MergeUnitOfStep {
  /** the link's or the subscription's name */
  name: string;
  kind: 'link' | 'subscription';
  nodes: [string, string];
  strategy: string;
  subscriptions: Array<{ name: string; node: string; from: string; slot: string }>;
}

export function mergeUnitOf(topology: Topology, step: Step): MergeUnitOfStep {
  const change = (path: string) => step.changes.find((c) => c.path === path)?.after;
  const a = parseAddress(step.address);
  if (a?.kind !== 'link' && a?.kind !== 'subscription')
    throw new Error(`not a merge unit's address: ${step.address}`);
  const { kind, name } = a;
  const names = (change('init.subscriptions') as string[] | undefined) ?? [];
  return {
    name,
    kind,
    nodes: change('init.nodes') as [string, string],
    strategy: String(change('init.strategy') ?? ''),
    subscriptions: names.map((n) => {
      const d = topology.subscriptions[n];
      if (!d)
        throw new SteepError(
          'merge.unknown_subscription',
          `${step.address}: steep.yaml declares no subscription ${n}`,
          {
            address: step.address,
          },
        );
      return { name: n, node: d.node, from: d.from, slot: d.slot };
    }),
  };
}

/**
 * The merge engine's reconcile as a merge init runs it: `manual` writes the conflicts to a file
 * and stops the init there, nothing changed.
 */
export const reconcileForInit: Reconcile = async (topology, pair, strategy, onEvent, sessions) => {
  const r = await reconcilePair(topology, pair, strategy, {
    onEvent,
    parallel: topology.settings.parallel,
    sessions,
  });
  if (r.stopped) {
    throw new SteepError(
      'merge.manual',
      `${pair.kind}.${pair.name}: strategy manual: the ${r.analysis.totals.conflicting} conflicting rows of ${pair.a} and ${pair.b} ` +
        `are written to ${r.conflictsFile}; nothing was changed — make each conflicting row the same on both nodes (or choose another strategy), then run steep apply again`,
      { address: `${pair.kind}.${pair.name}` },
    );
  }
  return r;
};

/** Differences an analysis found: conflicting rows, rows on one side only, tables it could not compare. */
function differences(a: MergeAnalysis): number {
  return a.totals.conflicting + a.totals.onlyA + a.totals.onlyB + a.notComparable;
}

export async function runMergeInit(
  topology: Topology,
  step: Step,
  ctx: StepContext,
  opts: MergeRunOptions,
): Promise<void> {
  const unit = mergeUnitOf(topology, step);
  const pair = mergePairOf(topology, unit.name);
  const parsed = parseStrategy(unit.strategy);
  if (!parsed)
    throw new SteepError(
      'merge.strategy',
      `${step.address}: strategy ${unit.strategy} is not a merge strategy`,
      {
        address: step.address,
      },
    );
  const strategy = resolveStrategy(parsed, { source: pair.a, target: pair.b, first: pair.a });
  const sessions = new Map<string, pg.Client>();
  const session = async (node: string) => {
    let c = sessions.get(node);
    if (!c) {
      c = await openNodeSession(topology, node);
      sessions.set(node, c);
    }
    return c;
  };
  const record = async (to: InitState, error?: string) => {
    for (const s of unit.subscriptions) {
      const store = new SubscriptionStateStore(topology.settings.stateSchema, s.node);
      const changes = await store.transition(await session(s.node), s.name, to, {
        method: 'merge',
        source: s.from,
        error: error ?? null,
      });
      for (const c of changes) opts.onEvent(stateChangeEvent(c));
    }
  };
  const event = (name: 'merge.locking' | 'merge.locked' | 'merge.unlocked', message: string) =>
    opts.onEvent({ event: name, level: 'info', address: step.address, step: step.id, message });
  /** slots this run made (or took over), by the subscription they are for */
  const made: Array<{ node: string; slot: string; subscription: string }> = [];
  const created = new Set<string>();
  try {
    for (const node of unit.nodes) {
      const drops = statementsOn(step, node, 'drop');
      if (drops.length > 0) await runStatements(await session(node), step, drops, ctx);
    }
    await record('preparing');
    let analysis = await analyzePair(topology, pair, { parallel: topology.settings.parallel, examples: 5 });
    notComparable(step, analysis);
    for (let round = 1; ; round++) {
      if (differences(analysis) > 0) {
        await record('copying');
        await opts.reconcile(topology, pair, strategy, opts.onEvent);
      }
      if (round === 1)
        for (const node of unit.nodes) {
          // before any lock: making a slot waits for the transactions open on the server
          const slots = statementsOn(step, node, 'slot');
          if (slots.length === 0) continue;
          await runStatements(await session(node), step, slots, ctx);
          for (const s of unit.subscriptions)
            if (s.from === node) made.push({ node, slot: s.slot, subscription: s.name });
        }
      event(
        'merge.locking',
        `blocking writes to the merged tables on ${unit.nodes.join(' and ')} for about ${(analysis.durationMs / 1000).toFixed(1)} s ` +
          '(the re-check under the locks repeats the analysis, which just took that long)',
      );
      const locks = await takeLocks(topology, step, unit.nodes, ctx, opts.onEvent);
      const lockedAt = Math.min(...locks.map((l) => l.blockingSince));
      const lockOf = (node: string) => locks.find((l) => l.node === node)!;
      try {
        const inside = locks.every((l) => l.writes);
        event(
          'merge.locked',
          inside
            ? `writes to the merged tables wait on ${unit.nodes.join(' and ')}; what was written since the reconcile is merged under the locks`
            : `writes to the merged tables wait on ${unit.nodes.join(' and ')} (round ${round} of at most ${MERGE_FINAL_ROUNDS})`,
        );
        if (inside) {
          // the re-check and the remainder's reconcile, in the locked transactions
          await opts.reconcile(topology, pair, strategy, opts.onEvent, {
            a: lockOf(pair.a).client,
            b: lockOf(pair.b).client,
          });
        } else {
          analysis = await analyzePair(topology, pair, { parallel: topology.settings.parallel, examples: 5 });
          notComparable(step, analysis);
          const verdict = mergeFinalPass(differences(analysis), round);
          if (verdict === 'give-up')
            throw new SteepError(
              'merge.final_pass',
              `${step.address}: after ${MERGE_FINAL_ROUNDS} rounds, the re-check under the write locks still finds ${differences(analysis)} ` +
                `rows different on ${unit.nodes.join(' and ')} (rows written since the reconcile), which a subscription with origin = any ` +
                'cannot take under the locks (it would send them back): apply again when the tables are quieter, or declare origin: none',
              { address: step.address, node: step.node },
            );
          if (verdict === 'reconcile-again') continue;
        }
        for (const node of unit.nodes) {
          const creates = statementsOn(step, node, 'create');
          if (creates.length > 0) await runStatements(await session(node), step, creates, ctx);
          for (const s of unit.subscriptions) if (s.node === node) created.add(s.name);
        }
        for (const s of unit.subscriptions)
          await startOnSlot(await session(s.node), topology.subscriptions[s.name]!, lockOf(s.from).lsn, []);
        for (const l of locks) await l.commit();
        break;
      } finally {
        await Promise.all(locks.map((l) => l.release().catch(() => {})));
        event(
          'merge.unlocked',
          `writes to the merged tables blocked ${((Date.now() - lockedAt) / 1000).toFixed(1)} s on ${unit.nodes.join(' and ')}`,
        );
      }
    }
    await record('synchronized');
    opts.onEvent({ event: 'merge.completed', level: 'info', address: step.address, step: step.id });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await record('failed', message).catch(() => {});
    // slots no subscription was made on: none is left retaining WAL
    for (const m of made)
      if (!created.has(m.subscription))
        await session(m.node)
          .then((c) => dropMergeSlot(c, m.slot))
          .catch(() => {});
    throw err;
  } finally {
    await Promise.all([...sessions.values()].map((c) => c.end().catch(() => {})));
  }
}

/** The write locks on every node, or none: a node that refuses releases the others. */
async function takeLocks(
  topology: Topology,
  step: Step,
  nodes: readonly string[],
  ctx: StepContext,
  onEvent: EventSink,
): Promise<WriteLocks[]> {
  const taken = await Promise.allSettled(
    nodes.map((node) =>
      WriteLocks.take(topology, step, node, ctx, (message) =>
        onEvent({
          event: 'apply.step_waiting',
          level: 'warn',
          node,
          address: step.address,
          step: step.id,
          message,
        }),
      ),
    ),
  );
  const locks = taken.flatMap((t) => (t.status === 'fulfilled' ? [t.value] : []));
  const failed = taken.find((t): t is PromiseRejectedResult => t.status === 'rejected');
  if (!failed) return locks;
  await Promise.all(locks.map((l) => l.release().catch(() => {})));
  throw failed.reason;
}

/** A table the merge cannot compare (no key, other columns, absent on a node) stops it before anything changes. */
function notComparable(step: Step, analysis: MergeAnalysis): void {
  const bad = analysis.tables.filter((t) => t.status === 'not_comparable');
  if (bad.length === 0) return;
  throw new SteepError(
    'merge.preflight',
    `${step.address}: ${bad.map((t) => t.reason ?? t.table).join('; ')}; nothing was changed`,
    { address: step.address, node: step.node },
  );
}
