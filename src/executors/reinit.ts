import type pg from 'pg';
import { readSubscriptionSlot } from '../catalog/subscriptionOnNode.js';
import { mask } from '../db/mask.js';
import { subscriptionAddress } from '../model/address.js';
import { adviceText } from '../model/advice.js';
import { SteepError } from '../model/errors.js';
import type { InitProgress, InitState } from '../model/initState.js';
import { SAY_EVERY_MS, waitedText } from '../model/waits.js';
import type { ReinitPlan, ReinitStatement } from '../planner/init/reinit.js';
import type { StateChange } from '../state/subscriptionState.js';
import type { EventSink } from './events.js';
import { type FollowTarget, followInit, stateChangeEvent } from './initFollow.js';
import { sleep } from './sleep.js';
import { slotsPastNow } from './slotCatchUp.js';
import { StuckSlotWatch } from './stuckSlot.js';
import { lockTables } from './tableLocks.js';

/**
 * The I/O of a reinit plan: its statements on the two locked sessions, the state moves around
 * them (`reinitializing` while the tables leave the subscription, `copying` once they are back),
 * the copy followed to `synchronized` exactly as an init's, then the temporary publications
 * dropped (a plan `copied` only drops them); it returns the rows this run copied. Stopped
 * anywhere, the next `steep reinit` resumes from what the nodes show; a signal (`signal`) starts
 * no further statement and leaves a running copy to PostgreSQL, and once the copy is
 * synchronized the temporary publications are dropped all the same (that finishes it).
 */

export interface ReinitSessions {
  publisher: pg.Client;
  subscriber: pg.Client;
}

export interface ReinitRun {
  /** record a state (through the legal states in between); null when steep's state schema is absent */
  moveTo: (to: InitState) => Promise<StateChange[]>;
  follow: FollowTarget;
  onEvent: EventSink;
  onProgress?: (p: InitProgress) => void;
  pollMs?: number;
  /** the session's lock_timeout: how long a TRUNCATE's locks are tried for before it fails */
  lockTimeoutMs: number;
  /** aborted by SIGINT/SIGTERM/SIGHUP: stop with `reinit.interrupted` before the next statement or sample */
  signal?: AbortSignal;
}

export async function executeReinit(s: ReinitSessions, plan: ReinitPlan, r: ReinitRun): Promise<number> {
  const t = r.follow;
  const nodes = { publisher: t.publisher.name, subscriber: t.subscriber.name };
  const what = `reinit of ${plan.tables.join(', ')} in subscription ${t.subscription}`;
  // stopped by a signal: what was done, what goes on in PostgreSQL, and the command that resumes it
  const interrupted = (where: string) =>
    new SteepError(
      'reinit.interrupted',
      `${what} stopped ${where}; ` +
        `run \`${adviceText('reinitTables', t.subscription, plan.tables)}\` again to resume it; the other tables keep streaming meanwhile`,
      { address: subscriptionAddress(t.subscription) },
    );
  const record = async (to: InitState) => {
    for (const c of await r.moveTo(to)) r.onEvent(stateChangeEvent(c));
  };
  const run = async (st: ReinitStatement) => {
    const client = st.node === 'publisher' ? s.publisher : s.subscriber;
    try {
      if (!st.lock) await client.query(st.sql);
      else {
        await client.query('BEGIN');
        try {
          await lockTables(client, st.lock, r.lockTimeoutMs);
          await client.query(st.sql);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
      }
    } catch (err) {
      const e = err as { message?: string };
      throw new SteepError(
        'reinit.failed',
        `${what}: ${st.sql} failed on ${nodes[st.node]}: ${mask(e.message ?? String(err))}; ` +
          `fix the cause and run steep reinit ${t.subscription} again to resume it`,
        { node: nodes[st.node], address: subscriptionAddress(t.subscription), cause: err },
      );
    }
  };
  r.onEvent({
    event: 'reinit.started',
    level: 'info',
    node: t.subscriber.name,
    subscription: t.subscription,
    phase: plan.stage,
    message: `reinit of ${plan.tables.join(', ')} (${plan.stage === 'fresh' ? 'from the start' : `resuming: ${plan.stage}`})`,
  });
  const t0 = Date.now();
  if (plan.stage === 'fresh' || plan.stage === 'switched') {
    // until the subscription moves onto them, the temporary publications are steep's alone: a
    // failure or a stop before then drops them (the next run would make them again)
    let switched = false;
    let recorded = false;
    try {
      for (const [done, st] of plan.statements.entries()) {
        if (r.signal?.aborted)
          throw interrupted(
            done === 0
              ? 'before it changed anything'
              : `after ${done} of its ${plan.statements.length} statements (the last: ${plan.statements[done - 1]!.sql} on ${nodes[plan.statements[done - 1]!.node]})`,
          );
        if (st.switches) {
          // the walsender decodes from the slot's position with the catalog of that moment, in
          // which the temporary publications do not exist yet: PostgreSQL skips them (16+:
          // "skipped loading publication"), so the other tables' changes from before their
          // creation would never arrive. Switched only once the slot has confirmed past it
          // (an ENABLE before it lets the worker confirm).
          await slotPastNow(s, t, r, () => interrupted('before it switched the subscription'));
          switched = true;
        }
        if (st.node === 'subscriber' && !recorded) {
          recorded = true;
          await record('reinitializing');
        }
        await run(st);
      }
    } catch (err) {
      if (switched || plan.stage !== 'fresh') throw err;
      // one at a time: a client runs one query at once
      const dropped: boolean[] = [];
      for (const st of plan.cleanup)
        dropped.push(
          await s.publisher.query(st.sql).then(
            () => true,
            () => false,
          ),
        );
      if (err instanceof SteepError && dropped.every(Boolean))
        throw new SteepError(
          err.code,
          `${err.message} (the temporary publications ${plan.temporary.join(', ')} were dropped on ${nodes.publisher})`,
          { node: err.node, address: err.address, cause: err.cause },
        );
      throw err;
    }
  }
  // copied by the run that stopped before dropping the temporary publications: only those are left
  const rowsCopied = plan.stage === 'copied' ? 0 : await copy();
  for (const st of plan.cleanup) await run(st);
  r.onEvent({
    event: 'reinit.completed',
    level: 'info',
    node: t.subscriber.name,
    subscription: t.subscription,
    phase: 'synchronized',
    duration_ms: Date.now() - t0,
    message: `${plan.tables.join(', ')} copied again`,
  });
  return rowsCopied;

  /** back on its own publications: the copy followed to synchronized; the rows it copied */
  async function copy(): Promise<number> {
    await record('copying');
    let seen: InitProgress | null = null;
    const last = await followInit(t, {
      onEvent: r.onEvent,
      onProgress: (p) => {
        seen = p;
        r.onProgress?.(p);
      },
      pollMs: r.pollMs,
      signal: r.signal,
      resume: adviceText('reinitTables', t.subscription, plan.tables),
    }).catch((err: unknown) => {
      if (!(err instanceof SteepError) || err.code !== 'init.interrupted') throw err;
      const p = seen as InitProgress | null;
      const figures = p?.state === 'copying' ? `, ${p.percent.toFixed(1)}% copied` : '';
      throw interrupted(
        `while the copy runs: it goes on in PostgreSQL on ${nodes.subscriber} (${p?.state ?? 'copying'}${figures}), and the temporary publications stay on ${nodes.publisher} until the reinit is resumed`,
      );
    });
    return last.rowsCopied;
  }
}

/** How long a reinit waits for the slot to confirm past its temporary publications' creation. */
const CATCH_UP_MS = 600_000;

/**
 * slotsPastNow for the reinit's slot (client-side polling, stopped by `signal`); else a
 * `reinit.catch_up` error, nothing switched.
 */
async function slotPastNow(
  s: ReinitSessions,
  t: FollowTarget,
  r: Pick<ReinitRun, 'signal' | 'onEvent'>,
  stopped: () => SteepError,
): Promise<void> {
  const signal = r.signal;
  const started = Date.now();
  let said = started;
  const slot = t.slot;
  const stuck = new StuckSlotWatch(
    { subscription: t.subscription, slot, publisher: t.publisher.name },
    'reinit',
  );
  await slotsPastNow(s.publisher, [slot], async (what) => {
    if (signal?.aborted) throw stopped();
    // 14–17: a walsender that cannot get past a publication's creation confirms nothing, ever
    const cause = await stuck.read(s.subscriber, (fn) => fn(s.publisher));
    if (cause)
      throw new SteepError(
        'reinit.catch_up',
        `slot ${slot} cannot confirm a position past the reinit's temporary publications (${what}): the subscription was not switched; ${cause}`,
      );
    // a disabled subscription confirms nothing: PostgreSQL disabled it at an error (disable_on_error)
    if ((await readSubscriptionSlot(s.subscriber, t.subscription))?.enabled === false)
      throw new SteepError(
        'reinit.catch_up',
        `subscription ${t.subscription} on ${t.subscriber.name} is disabled, so slot ${slot} confirms nothing (${what}): the subscription was not switched; steep status says why it is disabled; fix that and run steep reinit again`,
      );
    if (Date.now() - started > CATCH_UP_MS)
      throw new SteepError(
        'reinit.catch_up',
        `slot ${slot} has not confirmed a position past the reinit's temporary publications in ${CATCH_UP_MS / 1000} s (${what}): the subscription was not switched; run steep reinit again once it has caught up (steep status shows its lag)`,
      );
    if (Date.now() - said >= SAY_EVERY_MS) {
      said = Date.now();
      r.onEvent({
        event: 'reinit.waiting',
        level: 'warn',
        node: t.publisher.name,
        subscription: t.subscription,
        message: `waiting before the switch until slot ${slot} on ${t.publisher.name} confirms a position past the temporary publications: ${what} (${waitedText(started, said, CATCH_UP_MS)})`,
      });
    }
    await sleep(200, signal);
  });
}
