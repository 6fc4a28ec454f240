import type { EventSink } from '../executors/events.js';
import { releaseFence, takeFence, waitNothingInFlight } from '../executors/reinitFence.js';
import type { MergePair } from '../model/merge.js';
import { strategyText } from '../model/mergeStrategy.js';
import type { SlotTrouble } from '../model/syncVerdict.js';
import { type SubscriptionSpec, type Topology, tableOfQualified } from '../model/topology.js';
import type { LoopPlan } from '../planner/init/reinitLoop.js';
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

/** What the rows only on the subscriber are, where its inbound stream is known to have broken. */
export interface MissedDeletes {
  /** they are deletes it missed, and are deleted there */
  deleted: boolean;
  /** why, one sentence */
  why: string;
}

/**
 * A reinit of tables replicated both ways whose own stream broke (its slot gone or invalidated,
 * or a gap status names) missed the publisher's deletes as well as its inserts, and a row only
 * on the subscriber is either such a delete or a write of the subscriber the way back has not
 * brought. Where every way back is `synchronized` (streaming with no known hole, compared within
 * its window) and the subscriber holds no rows past a failover's fork, the publisher holds
 * everything the subscriber wrote (the fence's catch-up brings the rest), so such a row is a
 * delete it missed: deleted, kept in merge_log. Otherwise it is copied to the publisher, as any
 * one-sided row, kept in merge_log too (`copied-back`), and the reason is said (no verify can
 * decide it afterwards: the way back's comparison counts those same rows as missing on the
 * publisher). Null: the stream is not known to have broken.
 */
export async function missedDeletes(
  topology: Topology,
  d: SubscriptionSpec,
  loop: LoopPlan,
  broke: { slot: SlotTrouble | null; pastFork: boolean },
): Promise<MissedDeletes | null> {
  const report = await readStatus(topology);
  const of = (name: string, node: string) =>
    report.subscriptions.find((s) => s.name === name && s.node === node);
  const gap = of(d.name, d.node)?.verdict?.verdict === 'gap';
  const slot = broke.slot?.kind === 'absent' || broke.slot?.kind === 'lost';
  if (!slot && !gap) return null;
  const how = slot
    ? `its slot on ${d.from} is ${broke.slot!.kind === 'absent' ? 'gone' : 'invalidated'}`
    : 'its stream has a gap';
  const kept = `rows only on ${d.node} are copied to ${d.from}, deletes it missed with them (each kept in merge_log on both nodes, strategy copied-back: those to delete again are among them)`;
  if (broke.pastFork)
    return {
      deleted: false,
      why: `${d.name} missed changes of ${d.from} (${how}), and ${d.node} may hold rows past ${d.from}'s failover: ${kept}`,
    };
  const unproven = loop.back
    .map((b) => ({ name: b.name, verdict: of(b.name, d.from)?.verdict ?? null }))
    .filter((b) => b.verdict?.verdict !== 'synchronized');
  if (unproven.length > 0)
    return {
      deleted: false,
      why:
        `${d.name} missed changes of ${d.from} (${how}), and ${unproven.map((b) => `${b.name} is ${b.verdict?.verdict ?? 'not read'}`).join(', ')}: ` +
        `what ${d.node} wrote may not all be on ${d.from}, so ${kept} (docs/repair.md)`,
    };
  return {
    deleted: true,
    why: `${d.name} missed changes of ${d.from} (${how}) and ${loop.back.map((b) => b.name).join(', ')} brought ${d.from} everything ${d.node} wrote (synchronized): rows only on ${d.node} are deletes it missed, deleted there and each kept in merge_log`,
  };
}
