import type pg from 'pg';
import { mask } from '../db/mask.js';
import { SteepError } from '../model/errors.js';
import type { InitProgress, InitState } from '../model/initState.js';
import type { ReinitPlan, ReinitStatement } from '../planner/reinit.js';
import type { StateChange } from '../state/subscriptionState.js';
import type { EventSink } from './events.js';
import { type FollowTarget, followInit, stateChangeEvent } from './initFollow.js';

/**
 * The I/O of a reinit plan: its statements on the two locked sessions, the state moves around
 * them (`reinitializing` while the tables leave the subscription, `copying` once they are back),
 * the copy followed to `synchronized` exactly as an init's, then the temporary publications
 * dropped. Stopped anywhere, the next `steep reinit` resumes from what the nodes show.
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
}

async function run(
  s: ReinitSessions,
  st: ReinitStatement,
  plan: ReinitPlan,
  nodes: { publisher: string; subscriber: string },
  subscription: string,
) {
  const client = st.node === 'publisher' ? s.publisher : s.subscriber;
  try {
    await client.query(st.sql);
  } catch (err) {
    const e = err as { message?: string };
    throw new SteepError(
      'reinit.failed',
      `reinit of ${plan.tables.join(', ')} in subscription ${subscription}: ${st.sql} failed on ${nodes[st.node]}: ${mask(e.message ?? String(err))}; ` +
        `fix the cause and run steep reinit ${subscription} again to resume, or steep init cancel ${subscription}`,
      { node: nodes[st.node], address: `subscription.${subscription}`, cause: err },
    );
  }
}

export async function executeReinit(
  s: ReinitSessions,
  plan: ReinitPlan,
  r: ReinitRun,
): Promise<InitProgress> {
  const t = r.follow;
  const nodes = { publisher: t.publisher.name, subscriber: t.subscriber.name };
  const record = async (to: InitState) => {
    for (const c of await r.moveTo(to)) r.onEvent(stateChangeEvent(c));
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
  if (plan.stage !== 'copying') {
    for (const st of plan.statements) {
      if (st.node === 'subscriber') await record('reinitializing');
      await run(s, st, plan, nodes, t.subscription);
    }
  }
  await record('copying');
  const last = await followInit(t, { onEvent: r.onEvent, onProgress: r.onProgress, pollMs: r.pollMs });
  for (const st of plan.cleanup) await run(s, st, plan, nodes, t.subscription);
  r.onEvent({
    event: 'reinit.completed',
    level: 'info',
    node: t.subscriber.name,
    subscription: t.subscription,
    phase: 'synchronized',
    duration_ms: Date.now() - t0,
    message: `${plan.tables.join(', ')} copied again`,
  });
  return last;
}
