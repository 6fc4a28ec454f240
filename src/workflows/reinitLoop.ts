import type { EventSink } from '../executors/events.js';
import { releaseFence, takeFence, waitNothingInFlight } from '../executors/reinitFence.js';
import type { MergePair } from '../model/merge.js';
import { strategyText } from '../model/mergeStrategy.js';
import { type SubscriptionSpec, type Topology, tableOfQualified } from '../model/topology.js';
import type { LoopPlan } from '../planner/init/reinitLoop.js';
import { reconcilePair } from './mergeReconcile.js';
import { withPair } from './verify.js';

/**
 * A reinit of tables replicated both ways (planner/init/reinitLoop.ts): fence the application's writes
 * to them on both nodes, wait until nothing of them is in flight, reconcile them as a merge does
 * in the fence's sessions, and let the writes go on. Returns the rows written.
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
      });
      return result.tables.reduce((n, t) => n + t.copiedToA + t.copiedToB + t.keptA + t.keptB, 0);
    } finally {
      await releaseFence(sessions, loop, nodes);
    }
  });
}
