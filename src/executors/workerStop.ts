import type pg from 'pg';
import { readSlotHolder } from '../catalog/slotHolder.js';
import { readWorkerRunning } from '../catalog/subscriptionOnNode.js';
import { onNodeSession } from '../db/connect.js';
import type { Step } from '../model/plan.js';
import type { Topology } from '../model/topology.js';
import { SAY_EVERY_MS, waitedText } from '../model/waits.js';
import type { EventSink } from './events.js';
import { sleep } from './sleep.js';

/** How long apply waits for a disabled subscription's workers to stop. */
const STOP_CEILING_MS = 30_000;

/**
 * After apply's DISABLE of `subscription` on `node`: until its workers have stopped and its slot
 * is let go (`released`, read on the publisher), so that the reading after the steps finds it
 * paused and records where it stands (model/continuity.ts PausedPositions: moved by hand before
 * the next reading, that is a gap). A worker finishes the transaction it applies first. Says what
 * it waits for every SAY_EVERY_MS; at its ceiling it gives up and says the next `steep status`
 * records it instead. True when they stopped.
 */
export async function workersStopped(
  client: pg.Client,
  s: { subscription: string; node: string; released: () => Promise<boolean> },
  onEvent: EventSink,
): Promise<boolean> {
  const started = Date.now();
  let said = started;
  for (;;) {
    if (!(await readWorkerRunning(client, s.subscription)) && (await s.released())) return true;
    const now = Date.now();
    if (now - started >= STOP_CEILING_MS) {
      onEvent({
        event: 'apply.step_waiting',
        level: 'warn',
        node: s.node,
        subscription: s.subscription,
        message: `the worker of ${s.subscription} on ${s.node}, or its walsender, still runs ${Math.round(STOP_CEILING_MS / 1000)} s after its DISABLE (a long transaction it finishes first): where it stands is recorded by the next steep status instead`,
      });
      return false;
    }
    if (now - said >= SAY_EVERY_MS) {
      said = now;
      onEvent({
        event: 'apply.step_waiting',
        level: 'info',
        node: s.node,
        subscription: s.subscription,
        message: `waiting for the worker of ${s.subscription} on ${s.node} to stop after its DISABLE (${waitedText(started, now, STOP_CEILING_MS)})`,
      });
    }
    await sleep(100);
  }
}

/**
 * After apply's DISABLE steps (`disabled`): each subscription's workers stopped and its slot let
 * go (workersStopped), so the reading after the steps finds it paused and records where
 * it stands. Best effort: a publisher that cannot be read leaves it to the next reading.
 */
export async function pausedSettle(
  topology: Topology,
  disabled: readonly Step[],
  sessions: ReadonlyMap<string, pg.Client>,
  onEvent: EventSink,
): Promise<void> {
  for (const step of disabled) {
    const d = step.address.kind === 'subscription' ? topology.subscriptions[step.address.name] : undefined;
    const client = sessions.get(step.node);
    if (!d || !client) continue;
    const settle = (pub: pg.Client) =>
      workersStopped(
        client,
        {
          subscription: d.name,
          node: d.node,
          released: async () => !(await readSlotHolder(pub, d.slot))?.pid,
        },
        onEvent,
      );
    await onNodeSession(topology, d.from, sessions, settle, 'steep apply').catch(() => {});
  }
}
