/**
 * A merge init inside `apply` (docs/steep-yaml.md merge, issue 16), for one merge unit (a link, or one
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
import type pg from 'pg';
import { startOnSlot } from '../copy/slotStart.js';
import { nodeSession } from '../db/connect.js';
import { type EventSink, stepFields } from '../executors/events.js';
import { stateChangeEvent } from '../executors/initFollow.js';
import {
  dropMergeSlot,
  MERGE_APPLICATION_NAME,
  runStatements,
  statementsOn,
  WriteLocks,
} from '../executors/mergeInit.js';
import type { StepContext } from '../executors/runStep.js';
import { printAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import { MERGE_FINAL_ROUNDS, mergeFinalPass } from '../model/initLifecycle.js';
import type { InitState } from '../model/initState.js';
import type { MergeAnalysis, MergePair } from '../model/merge.js';
import { type MergeStrategy, parseStrategy, resolveStrategy } from '../model/mergeStrategy.js';
import type { Step } from '../model/plan.js';
import type { Topology } from '../model/topology.js';
import { SubscriptionStateStore } from '../state/subscriptionState.js';
import { analyzePair, mergePairOf } from './mergeAnalyze.js';
import { type ReconcileOptions, reconcilePair } from './mergeReconcile.js';

/** What a merge-init step names (its link or subscription), read from its changes (the planner's words). */
export function mergeUnitOf(topology: Topology, step: Step) {
  const change = (path: string) => step.changes.find((c) => c.path === path)?.after;
  const a = step.address;
  if (a.kind !== 'link' && a.kind !== 'subscription')
    throw new Error(`not a merge unit's address: ${printAddress(a)}`);
  const names = (change('init.subscriptions') as string[] | undefined) ?? [];
  return {
    name: a.name,
    kind: a.kind,
    nodes: change('init.nodes') as [string, string],
    /** `none`: a link's claim of equal rows, proved rather than reconciled */
    method: change('init.method') === 'none' ? ('none' as const) : ('merge' as const),
    strategy: String(change('init.strategy') ?? ''),
    subscriptions: names.map((n) => {
      const d = topology.subscriptions[n];
      if (!d)
        throw new SteepError(
          'merge.unknown_subscription',
          `${printAddress(a)}: steep.yaml declares no subscription ${n}`,
          { address: a },
        );
      return { name: n, node: d.node, from: d.from, slot: d.slot };
    }),
  };
}

/**
 * The merge engine's reconcile as a merge init runs it (`sessions`: write in the locked
 * transactions instead of its own): `manual` writes the conflicts to a file and stops the init
 * there, nothing changed.
 */
async function reconcileForInit(
  topology: Topology,
  pair: MergePair,
  strategy: MergeStrategy,
  onEvent: EventSink,
  sessions?: ReconcileOptions['sessions'],
): Promise<void> {
  const r = await reconcilePair(topology, pair, strategy, {
    onEvent,
    parallel: topology.settings.parallel,
    sessions,
  });
  if (r.stopped) {
    throw new SteepError(
      'merge.manual',
      `${printAddress(pair)}: strategy manual: the ${r.analysis.totals.conflicting} conflicting rows of ${pair.a} and ${pair.b} ` +
        `are written to ${r.conflictsFile}; nothing was changed — make each conflicting row the same on both nodes (or choose another strategy), then run steep apply again`,
      { address: pair },
    );
  }
}

/** Differences an analysis found: conflicting rows, rows on one side only, tables it could not compare. */
function differences(a: MergeAnalysis): number {
  return a.totals.conflicting + a.totals.onlyA + a.totals.onlyB + a.notComparable;
}

export async function runMergeInit(
  topology: Topology,
  step: Step,
  ctx: StepContext,
  onEvent: EventSink,
): Promise<void> {
  const unit = mergeUnitOf(topology, step);
  const pair = mergePairOf(topology, unit.name);
  const at = printAddress(step.address);
  const parsed = unit.method === 'none' ? null : parseStrategy(unit.strategy);
  if (unit.method === 'merge' && !parsed)
    throw new SteepError('merge.strategy', `${at}: strategy ${unit.strategy} is not a merge strategy`, {
      address: at,
    });
  // null: a proof of equal rows, which reconciles nothing
  const strategy = parsed ? resolveStrategy(parsed, { source: pair.a, target: pair.b, first: pair.a }) : null;
  const run = new MergeRun(topology, step, ctx, onEvent, unit);
  try {
    for (const node of unit.nodes) await run.statements(node, 'drop');
    await run.record('preparing');
    let analysis: MergeAnalysis | null = await run.analyze(pair);
    for (let round = 1; analysis; round++) {
      if (differences(analysis) > 0) {
        if (!strategy) throw notEqual(step, analysis);
        await run.record('copying');
        await reconcileForInit(topology, pair, strategy, onEvent);
      }
      // before any lock: making a slot waits for the transactions open on the server
      if (round === 1) await run.makeSlots();
      analysis = await run.finalPass(pair, strategy, round, analysis);
    }
    await run.record('synchronized');
    onEvent({ event: 'merge.completed', level: 'info', address: at, step: step.id });
  } catch (err) {
    await run.failed(err);
    throw err;
  } finally {
    await run.close();
  }
}

/**
 * One merge init's run: a session per node (opened when first needed), the slots it made and
 * the subscriptions it created, so a failure drops the slots no subscription was made on.
 */
class MergeRun {
  private readonly sessions = new Map<string, pg.Client>();
  /** slots this run made (or took over), by the subscription they are for */
  private readonly made: Array<{ node: string; slot: string; subscription: string }> = [];
  private readonly created = new Set<string>();

  constructor(
    private readonly topology: Topology,
    private readonly step: Step,
    private readonly ctx: StepContext,
    private readonly onEvent: EventSink,
    private readonly unit: ReturnType<typeof mergeUnitOf>,
  ) {}

  private async session(node: string): Promise<pg.Client> {
    const c = this.sessions.get(node) ?? (await nodeSession(this.topology, node, MERGE_APPLICATION_NAME));
    this.sessions.set(node, c);
    return c;
  }

  /** Runs the step's statements of one kind on `node`; returns how many. */
  async statements(node: string, kind: 'drop' | 'slot' | 'create'): Promise<number> {
    const sql = statementsOn(this.step, node, kind);
    if (sql.length > 0) await runStatements(await this.session(node), this.step, sql, this.ctx);
    return sql.length;
  }

  async record(to: InitState, error?: string): Promise<void> {
    for (const s of this.unit.subscriptions) {
      const store = new SubscriptionStateStore(this.topology.settings.stateSchema, s.node);
      const changes = await store.transition(await this.session(s.node), s.name, to, {
        method: this.unit.method,
        source: s.from,
        error: error ?? null,
      });
      for (const c of changes) this.onEvent(stateChangeEvent(c));
    }
  }

  private event(name: 'merge.locking' | 'merge.locked' | 'merge.unlocked', message: string): void {
    this.onEvent({
      event: name,
      level: 'info',
      address: printAddress(this.step.address),
      step: this.step.id,
      message,
    });
  }

  async analyze(pair: MergePair): Promise<MergeAnalysis> {
    const analysis = await analyzePair(this.topology, pair, {
      parallel: this.topology.settings.parallel,
      examples: 5,
    });
    notComparable(this.step, analysis);
    return analysis;
  }

  async makeSlots(): Promise<void> {
    for (const node of this.unit.nodes) {
      if ((await this.statements(node, 'slot')) === 0) continue;
      for (const s of this.unit.subscriptions)
        if (s.from === node) this.made.push({ node, slot: s.slot, subscription: s.name });
    }
  }

  /**
   * The final pass under write locks on both nodes: the subscriptions are created and started at
   * the locks' positions (null), or, where the locked transactions may only re-check, what they
   * found is returned to be reconciled after the locks are released.
   */
  async finalPass(
    pair: MergePair,
    strategy: MergeStrategy | null,
    round: number,
    analysis: MergeAnalysis,
  ): Promise<MergeAnalysis | null> {
    const { topology, step, ctx, onEvent, unit } = this;
    const nodes = unit.nodes.join(' and ');
    this.event(
      'merge.locking',
      `blocking writes to the merged tables on ${nodes} for about ${(analysis.durationMs / 1000).toFixed(1)} s ` +
        '(the re-check under the locks repeats the analysis, which just took that long)',
    );
    const locks = await takeLocks(topology, step, unit.nodes, ctx, onEvent);
    const lockedAt = Math.min(...locks.map((l) => l.blockingSince));
    const lockOf = (node: string) => locks.find((l) => l.node === node)!;
    try {
      const inside = locks.every((l) => l.writes);
      this.event(
        'merge.locked',
        inside
          ? `writes to the merged tables wait on ${nodes}; what was written since the reconcile is merged under the locks`
          : `writes to the merged tables wait on ${nodes} (round ${round} of at most ${MERGE_FINAL_ROUNDS})`,
      );
      if (inside && strategy) {
        // the re-check and the remainder's reconcile, in the locked transactions
        await reconcileForInit(topology, pair, strategy, onEvent, {
          a: lockOf(pair.a).client,
          b: lockOf(pair.b).client,
        });
      } else {
        const again = await this.analyze(pair);
        if (!strategy) {
          if (differences(again) > 0) throw notEqual(step, again);
        } else {
          const verdict = mergeFinalPass(differences(again), round);
          if (verdict === 'give-up')
            throw new SteepError(
              'merge.final_pass',
              `${printAddress(step.address)}: after ${MERGE_FINAL_ROUNDS} rounds, the re-check under the write locks still finds ${differences(again)} ` +
                `rows different on ${nodes} (rows written since the reconcile), which a subscription with origin = any ` +
                'cannot take under the locks (it would send them back): apply again when the tables are quieter, or declare origin: none',
              { address: step.address, node: step.node },
            );
          if (verdict === 'reconcile-again') return again;
        }
      }
      for (const node of unit.nodes) {
        await this.statements(node, 'create');
        for (const s of unit.subscriptions) if (s.node === node) this.created.add(s.name);
      }
      for (const s of unit.subscriptions)
        await startOnSlot(
          await this.session(s.node),
          topology.subscriptions[s.name]!,
          lockOf(s.from).lsn,
          [],
        );
      for (const l of locks) await l.commit();
      return null;
    } finally {
      await Promise.all(locks.map((l) => l.release().catch(() => {})));
      this.event(
        'merge.unlocked',
        `unlocked: writes to the merged tables waited ${((Date.now() - lockedAt) / 1000).toFixed(1)} s on ${nodes}`,
      );
    }
  }

  /** Records `failed`; drops the slots no subscription was made on, so none is left retaining WAL. */
  async failed(err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    await this.record('failed', message).catch(() => {});
    for (const m of this.made)
      if (!this.created.has(m.subscription))
        await this.session(m.node)
          .then((c) => dropMergeSlot(c, m.slot))
          .catch(() => {});
  }

  async close(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((c) => c.end().catch(() => {})));
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
          ...stepFields(step),
          node,
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
    `${printAddress(step.address)}: ${bad.map((t) => t.reason ?? t.table).join('; ')}; nothing was changed`,
    { address: step.address, node: step.node },
  );
}

/**
 * A link declared `none` whose tables differ: the rows on one node only would stay there (hazard
 * data-gap). Nothing is created (the run's failure drops the slots it made); the way out is a merge.
 */
function notEqual(step: Step, a: MergeAnalysis): SteepError {
  const differing = a.tables
    .filter((t) => t.conflicting + t.onlyA + t.onlyB > 0)
    .map(
      (t) =>
        `${t.table} (${t.onlyA} rows only on ${a.a}, ${t.onlyB} only on ${a.b}, ${t.conflicting} with the same key and other values)`,
    );
  return new SteepError(
    'merge.not_equal',
    `${printAddress(step.address)}: init.method none says ${a.a} and ${a.b} hold the same rows, but ${differing.join(', ')} ` +
      `differ${differing.length === 1 ? 's' : ''}: started without a copy, those rows would stay on one node (hazard data-gap); nothing was created — ` +
      `declare init: { method: merge, strategy: "prefer:${a.a}" } under links.${a.name} in steep.yaml (it copies each node's one-sided rows to the other ` +
      `and resolves rows with the same key by the strategy: prefer:<node>, last-modified:<column> or manual), then run steep apply`,
    { address: step.address, node: step.node },
  );
}
