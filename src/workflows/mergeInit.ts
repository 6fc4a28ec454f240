import type pg from 'pg';
import type { EventSink } from '../executors/events.js';
import { stateChangeEvent } from '../executors/initFollow.js';
import { openNodeSession, runStatements, statementsOn, WriteLocks } from '../executors/mergeInit.js';
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
import { reconcilePair } from './mergeReconcile.js';

/**
 * A merge init inside `apply` (SPEC §9 merge, issue 16), for one merge unit (a link, or one
 * subscription): the plan's `merge-init` step. Every statement comes from the plan; this
 * orchestrates:
 * 1. drop what an interrupted merge left (subscriptions recorded `preparing`/`copying`/`failed`);
 * 2. preflight and analysis (`preparing`), then reconcile: one-sided rows copied across,
 *    conflicts resolved by the strategy, every decision in merge_log (`copying`);
 * 3. the final pass: write locks on both nodes, a re-check that must find nothing different
 *    (rows written since the reconcile are reconciled and the pass repeated, at most
 *    MERGE_FINAL_ROUNDS times), both subscriptions created with copy_data = false while writes
 *    wait, the locks released (`synchronized`).
 * Interrupted anywhere, the next apply plans the merge again and converges: reconciled rows are
 * identical by then, and a subscription made before the interruption is dropped and made again.
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
) => Promise<unknown>;

/** What a merge-init step names, read from its changes (the planner's words). */
export interface MergeUnitOfStep {
  /** the link's or the subscription's name */
  name: string;
  kind: 'link' | 'subscription';
  nodes: [string, string];
  strategy: string;
  subscriptions: Array<{ name: string; node: string; from: string }>;
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
      return { name: n, node: d.node, from: d.from };
    }),
  };
}

/**
 * The merge engine's reconcile as a merge init runs it: `manual` writes the conflicts to a file
 * and stops the init there, nothing changed.
 */
export const reconcileForInit: Reconcile = async (topology, pair, strategy, onEvent) => {
  const r = await reconcilePair(topology, pair, strategy, { onEvent, parallel: topology.settings.parallel });
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
      opts.onEvent({
        event: 'merge.locking',
        level: 'info',
        address: step.address,
        step: step.id,
        message:
          `blocking writes to the merged tables on ${unit.nodes.join(' and ')} for about ${(analysis.durationMs / 1000).toFixed(1)} s ` +
          '(the re-check under the locks repeats the analysis, which just took that long)',
      });
      const locked = Date.now();
      const locks = await Promise.all(unit.nodes.map((n) => WriteLocks.take(topology, step, n, ctx)));
      try {
        opts.onEvent({
          event: 'merge.locked',
          level: 'info',
          address: step.address,
          step: step.id,
          message: `writes to the merged tables wait on ${unit.nodes.join(' and ')} (round ${round} of at most ${MERGE_FINAL_ROUNDS})`,
        });
        analysis = await analyzePair(topology, pair, { parallel: topology.settings.parallel, examples: 5 });
        notComparable(step, analysis);
        const verdict = mergeFinalPass(differences(analysis), round);
        if (verdict === 'give-up')
          throw new SteepError(
            'merge.final_pass',
            `${step.address}: after ${MERGE_FINAL_ROUNDS} rounds, the re-check under the write locks still finds ${differences(analysis)} ` +
              `rows different on ${unit.nodes.join(' and ')} (rows written since the reconcile): the writes outpace the merge; ` +
              'apply again when the tables are quieter, or raise settings.lockTimeout',
            { address: step.address, node: step.node },
          );
        if (verdict === 'create') {
          // both subscriptions start here: no write to these tables can fall between them
          for (const node of unit.nodes) {
            const creates = statementsOn(step, node, 'create');
            if (creates.length > 0) await runStatements(await session(node), step, creates, ctx);
          }
          break;
        }
      } finally {
        await Promise.all(locks.map((l) => l.release().catch(() => {})));
        opts.onEvent({
          event: 'merge.unlocked',
          level: 'info',
          address: step.address,
          step: step.id,
          message: `writes to the merged tables blocked ${((Date.now() - locked) / 1000).toFixed(1)} s on ${unit.nodes.join(' and ')}`,
        });
      }
    }
    await record('synchronized');
    opts.onEvent({ event: 'merge.completed', level: 'info', address: step.address, step: step.id });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await record('failed', message).catch(() => {});
    throw err;
  } finally {
    await Promise.all([...sessions.values()].map((c) => c.end().catch(() => {})));
  }
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
