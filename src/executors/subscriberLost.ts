import { connect, withSession } from '../db/connect.js';
import { describeSessionLost } from '../db/sessionLost.js';
import { subscriptionAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import { SAY_EVERY_MS, waitedText } from '../model/waits.js';
import { hasInitTables, type StateChange, SubscriptionStateStore } from '../state/subscriptionState.js';
import type { EventSink } from './events.js';
import type { FollowTarget } from './initFollow.js';
import { sleep } from './sleep.js';

/**
 * The subscriber's session broke while apply followed an init there: the server restarted or
 * stopped (or ended the session), and apply's sessions and advisory lock on it went with it, so
 * the follow stops rather than carry on unlocked. PostgreSQL goes on with the init by itself
 * once the server is back. So that the next apply follows it again (the plan does so for a
 * `failed` init), the init is recorded `failed` with the reason as soon as the subscriber
 * answers again, waiting for it at most `failAfterMs`.
 */

const APPLICATION_NAME = 'steep init';
const RETRY_MS = 500;

export interface SubscriberLostOptions {
  failAfterMs: number;
  connectTimeoutMs: number;
  onEvent: EventSink;
  /** the wait's text where the follow shows its progress (apply's step line) */
  onWaiting?: (text: string) => void;
  onChange: (c: StateChange) => void;
}

/** Record the init `failed` once the subscriber is back; the error apply reports. */
export async function subscriberLost(
  t: FollowTarget,
  err: unknown,
  opts: SubscriberLostOptions,
): Promise<SteepError> {
  const node = t.subscriber.name;
  const began = Date.now();
  const reason = `init of subscription ${t.subscription} on ${node} failed: ${describeSessionLost(node, err)}, and apply's lock there with it`;
  const resume = `the slot ${t.slot} on ${t.publisher.name} is kept and PostgreSQL goes on with the init`;
  const recorded = `${reason}; ${resume}: run steep apply again to follow it to synchronized`;
  let saved = false;
  let said = began;
  for (;;) {
    try {
      saved = await withSession(
        connect(t.subscriber.connection, {
          node,
          applicationName: APPLICATION_NAME,
          connectTimeoutMs: opts.connectTimeoutMs,
        }),
        async (c) => {
          if (!(await hasInitTables(c, t.stateSchema))) return false;
          const changes = await new SubscriptionStateStore(t.stateSchema, node).transition(
            c,
            t.subscription,
            'failed',
            { method: t.method, source: t.publisher.name, error: recorded },
          );
          for (const change of changes) opts.onChange(change);
          return true;
        },
      );
      break;
    } catch {
      // still restarting (connection refused, "the database system is starting up")
      if (Date.now() - began >= opts.failAfterMs) break;
      if (Date.now() - said >= SAY_EVERY_MS) {
        said = Date.now();
        const message = `${describeSessionLost(node, err)}: waiting for ${node} to answer again, to record the init of ${t.subscription} failed so that steep apply follows it again (${waitedText(began, said, opts.failAfterMs)})`;
        opts.onEvent({ event: 'init.waiting', level: 'warn', node, subscription: t.subscription, message });
        opts.onWaiting?.(message);
      }
      await sleep(RETRY_MS);
    }
  }
  const message = saved
    ? recorded
    : `${reason}; ${resume} once ${node} is back: follow it then with steep init status --watch`;
  opts.onEvent({
    event: 'init.failed',
    level: 'error',
    node,
    subscription: t.subscription,
    phase: 'failed',
    message,
    duration_ms: Date.now() - began,
  });
  return new SteepError('init.subscriber_lost', message, {
    node,
    address: subscriptionAddress(t.subscription),
    cause: err,
  });
}
