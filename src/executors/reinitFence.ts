import type pg from 'pg';
import { slotConfirmedPast } from '../catalog/compareScope.js';
import { mask } from '../db/mask.js';
import { subscriptionAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import { SAY_EVERY_MS, waitedText } from '../model/waits.js';
import type { LoopPlan, NodeStatements } from '../planner/init/reinitLoop.js';
import type { ReinitSessions } from './reinit.js';
import { sleep } from './sleep.js';
import { flushedWalMark } from './walMark.js';

/**
 * The I/O of a reinit's fence on tables replicated both ways (planner/init/reinitLoop.ts decides every
 * statement): take it on a session of each node, wait until neither subscription has anything of
 * those tables in flight, and let it go. The sessions stay open in between: the reconcile writes
 * in them (they hold the advisory lock the triggers wait for, and carry the origin).
 */

export interface FenceNodes {
  subscription: string;
  publisher: string;
  subscriber: string;
  /** the subscription's slot on the publisher */
  slot: string;
}

async function runAll(client: pg.Client, statements: string[], node: string, n: FenceNodes): Promise<void> {
  for (const sql of statements) {
    try {
      await client.query(sql);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw new SteepError(
        'reinit.failed',
        `reinit of subscription ${n.subscription}: ${sql.split(' ').slice(0, 6).join(' ')} … failed on ${node}: ${mask((err as Error).message ?? String(err))}; ` +
          `nothing was copied yet: fix the cause and run steep reinit ${n.subscription} again`,
        { node, address: subscriptionAddress(n.subscription), cause: err },
      );
    }
  }
}

/** Put the triggers and the lock on both nodes. */
export async function takeFence(s: ReinitSessions, plan: LoopPlan, n: FenceNodes): Promise<void> {
  await runAll(s.publisher, plan.publisher.take, n.publisher, n);
  await runAll(s.subscriber, plan.subscriber.take, n.subscriber, n);
}

/**
 * Wait until each node has applied everything the other committed before the fence: the
 * subscription's slot on the publisher, and each subscription of the way back's slot on the
 * subscriber, confirmed past the WAL position read after the triggers were in place.
 */
export async function waitNothingInFlight(
  s: ReinitSessions,
  plan: LoopPlan,
  n: FenceNodes,
  timeoutMs: number,
  say: (message: string) => void = () => {},
): Promise<void> {
  const waits = [
    { client: s.publisher, node: n.publisher, slots: [n.slot], to: n.subscriber },
    { client: s.subscriber, node: n.subscriber, slots: plan.back.map((b) => b.slot), to: n.publisher },
  ];
  const positions = await Promise.all(
    waits.map((w) => flushedWalMark(w.client, `reinit of ${n.subscription}: fence`)),
  );
  const started = Date.now();
  const deadline = started + timeoutMs;
  let said = started;
  for (const [i, w] of waits.entries())
    for (const slot of w.slots)
      for (;;) {
        const ok = await slotConfirmedPast(w.client, slot, positions[i]!);
        if (ok) break;
        if (ok === null || Date.now() > deadline)
          throw new SteepError(
            'reinit.lagging',
            ok === null
              ? `reinit of subscription ${n.subscription}: slot ${slot} does not exist on ${w.node}, so ${w.to} receives nothing from it; nothing was copied: run steep apply, then reinit again`
              : `reinit of subscription ${n.subscription}: ${w.to} has not applied ${w.node}'s changes up to ${positions[i]} (slot ${slot}) within ${Math.round(timeoutMs / 1000)} s; ` +
                  'nothing was copied: check the subscriptions with steep status and run reinit again once their lag is small',
            { node: w.to, address: subscriptionAddress(n.subscription) },
          );
        if (Date.now() - said >= SAY_EVERY_MS) {
          said = Date.now();
          say(
            `reinit of subscription ${n.subscription} waits, writes held, for ${w.to} to apply ${w.node}'s changes up to ${positions[i]} (slot ${slot}; ${waitedText(started, said, timeoutMs)})`,
          );
        }
        await sleep(50);
      }
}

/** Every release statement, each tried whatever failed before it; the first failure is thrown. */
async function releaseOn(client: pg.Client, st: NodeStatements): Promise<void> {
  await client.query('ROLLBACK').catch(() => {});
  let first: unknown = null;
  for (const sql of st.release)
    await client.query(sql).catch(async (err: unknown) => {
      first ??= err;
      await client.query('ROLLBACK').catch(() => {});
    });
  if (first) throw first;
}

/**
 * Drop the triggers and let the lock go on both nodes (both tried, whatever fails). A session that
 * is gone let go of the lock as it ended, and its triggers wait for nothing: the next reinit drops them.
 */
export async function releaseFence(s: ReinitSessions, plan: LoopPlan, n: FenceNodes): Promise<void> {
  const results = await Promise.allSettled([
    releaseOn(s.publisher, plan.publisher),
    releaseOn(s.subscriber, plan.subscriber),
  ]);
  const failed = results.findIndex((r) => r.status === 'rejected');
  if (failed >= 0) {
    const node = failed === 0 ? n.publisher : n.subscriber;
    const err = (results[failed] as PromiseRejectedResult).reason as Error;
    throw new SteepError(
      'reinit.failed',
      `reinit of subscription ${n.subscription}: dropping its write fence on ${node} failed: ${mask(err.message ?? String(err))}; ` +
        `its triggers steep_reinit_fence wait for nothing once this session has ended; run steep reinit ${n.subscription} again to drop them`,
      { node, address: subscriptionAddress(n.subscription), cause: err },
    );
  }
}
