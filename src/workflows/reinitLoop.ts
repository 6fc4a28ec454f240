import type { EventSink } from '../executors/events.js';
import { releaseFence, takeFence, waitNothingInFlight } from '../executors/reinitFence.js';
import type { MergePair } from '../model/merge.js';
import { strategyText } from '../model/mergeStrategy.js';
import { type SubscriptionSpec, type Topology, tableOfQualified } from '../model/topology.js';
import {
  type BrokenStream,
  type LoopPlan,
  type MissedDeletes,
  missedDeletesRule,
} from '../planner/init/reinitLoop.js';
import { reconcilePair } from './mergeReconcile.js';
import { readStatus } from './status.js';
import { withPair } from './verify.js';

/**
 * A reinit of tables replicated both ways (planner/init/reinitLoop.ts): fence the application's writes
 * to them on both nodes, wait until nothing of them is in flight, reconcile them as a merge does
 * in the fence's sessions, and let the writes go on. Returns the rows written (deleted ones too).
 */

/** How long each subscription may take to apply what its publisher committed before the fence. */
const CATCH_UP_MS = 60_000;
const APPLICATION_NAME = 'steep reinit';

export async function reconcileLooped(
  topology: Topology,
  d: SubscriptionSpec,
  loop: LoopPlan,
  slot: string,
  onEvent: EventSink,
  missed: MissedDeletes | null,
): Promise<number> {
  const nodes = { subscription: d.name, publisher: d.from, subscriber: d.node, slot };
  return withPair(topology, [d.from, d.node], 'write', APPLICATION_NAME, async (publisher, subscriber) => {
    const sessions = { publisher, subscriber };
    onEvent({
      event: 'reinit.fencing',
      level: 'info',
      node: d.node,
      subscription: d.name,
      message: `${loop.looped.join(', ')} replicated both ways: writes to them wait on ${d.from} and ${d.node} while they are reconciled in place (${strategyText(loop.strategy)}); nothing is truncated`,
    });
    try {
      await takeFence(sessions, loop, nodes);
      await waitNothingInFlight(sessions, loop, nodes, CATCH_UP_MS, (message) =>
        onEvent({ event: 'reinit.waiting', level: 'warn', node: d.node, subscription: d.name, message }),
      );
      const pair: MergePair = {
        name: d.name,
        kind: 'subscription',
        a: d.from,
        b: d.node,
        scope: { tables: loop.looped.map(tableOfQualified), schemas: [], allTables: false },
        ...(d.init.strategies ? { strategies: d.init.strategies } : {}),
      };
      const result = await reconcilePair(topology, pair, loop.strategy, {
        tables: loop.looped,
        sessions: { a: publisher, b: subscriber },
        onEvent,
        // a broken stream: rows only on the subscriber deleted as missed deletes where proven,
        // else copied back and each logged, the ones to delete again among them
        ...(missed ? { onlyB: missed.deleted ? ('delete' as const) : ('log' as const) } : {}),
      });
      return result.tables.reduce(
        (n, t) => n + t.copiedToA + t.copiedToB + t.deletedB + t.keptA + t.keptB,
        0,
      );
    } finally {
      await releaseFence(sessions, loop, nodes);
    }
  });
}

/**
 * What the rows only on the subscriber are where its inbound stream broke (planner/init/
 * reinitLoop.ts `missedDeletesRule`), from status as it reads now: its own verdict (a gap) and
 * each way back's. Null: the stream is not known to have broken.
 */
export async function missedDeletes(
  topology: Topology,
  d: SubscriptionSpec,
  loop: LoopPlan,
  broke: Omit<BrokenStream, 'gap'>,
): Promise<MissedDeletes | null> {
  const report = await readStatus(topology);
  const of = (name: string, node: string) =>
    report.subscriptions.find((s) => s.name === name && s.node === node)?.verdict?.verdict ?? null;
  return missedDeletesRule(
    d,
    { ...broke, gap: of(d.name, d.node) === 'gap' },
    loop.back.map((b) => ({ name: b.name, verdict: of(b.name, d.from) })),
  );
}
