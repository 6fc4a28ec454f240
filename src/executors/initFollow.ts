import type pg from 'pg';
import {
  type PublishedTableSize,
  readPublishedTableSizes,
  readServerLog,
  readSlotLag,
  type SlotLag,
  sampleSubscriber,
  serverVersionOf,
} from '../catalog/initProgress.js';
import { PG15 } from '../catalog/queries/catalogQuery.js';
import { connect } from '../db/connect.js';
import { mask } from '../db/mask.js';
import { ReconnectingSession } from '../db/reconnecting.js';
import { isSessionLost } from '../db/sessionLost.js';
import { SteepError } from '../model/errors.js';
import type { InitProgress, InitState } from '../model/initState.js';
import type { ConnectionSpec } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import { InitProgressStore } from '../state/initProgress.js';
import { hasInitTables, type StateChange, SubscriptionStateStore } from '../state/subscriptionState.js';
import type { ApplyEvent, EventSink } from './events.js';
import { type InitSample, InitTracker } from './initTracker.js';
import { subscriberLost } from './subscriberLost.js';

/**
 * Follow a subscription's init to `synchronized`: sample the subscriber's workers and the
 * publisher's slot every `pollMs`, record every state change (`subscription_state`,
 * `init.state_change`) and the figures (`init_progress`), report progress, and turn a
 * publisher that stays unreachable or table syncs that keep failing into `failed` with the
 * reason. Never changes replication itself: the slot and the subscription stay, so a later
 * apply resumes.
 */

export interface InitNode {
  name: string;
  connection: ConnectionSpec;
  /** how subscribers reach this node (its replicationUrl), when not by `connection` */
  replicationConnection?: ConnectionSpec;
}

export interface FollowTarget {
  subscription: string;
  method: string;
  slot: string;
  subscriber: InitNode;
  publisher: InitNode;
  stateSchema: string;
}

export interface FollowOptions {
  onEvent: EventSink;
  onProgress?: (p: InitProgress) => void;
  /** default 250 ms (SC-002: figures within 2 s of real progress) */
  pollMs?: number;
  /** a publisher unreachable, or errors repeating, this long means `failed`; default 15 s */
  failAfterMs?: number;
  connectTimeoutMs?: number;
}

/** Samples are cheap (two small queries per node): frequent ones end the follow as soon as it is synchronized. */
export const DEFAULT_POLL_MS = 250;
/** init_progress is written at most this often. */
const SAVE_EVERY_MS = 1000;
export const DEFAULT_FAIL_AFTER_MS = 15_000;
const APPLICATION_NAME = 'steep init';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function errorText(err: unknown): string {
  return mask(err instanceof Error ? err.message : String(err));
}

export function stateChangeEvent(c: StateChange, p?: InitProgress): ApplyEvent {
  return {
    event: 'init.state_change',
    level: c.to === 'failed' ? 'error' : 'info',
    node: c.node,
    subscription: c.subscription,
    phase: c.to,
    message: `${c.from} → ${c.to}${c.error ? `: ${c.error}` : ''}`,
    ...(p ? { overall_progress: p.percent / 100, rows_copied: p.rowsCopied } : {}),
  };
}

/** Bookkeeping of one follow: the recorded state, and writes to the state schema (best effort). */
class Recorder {
  readonly states: SubscriptionStateStore;
  readonly progress: InitProgressStore;
  recorded: InitState;
  error: string | null;

  constructor(
    private readonly t: FollowTarget,
    private readonly client: pg.Client,
    private readonly enabled: boolean,
    recorded: { state: InitState; error: string | null },
    private readonly onEvent: EventSink,
  ) {
    this.states = new SubscriptionStateStore(t.stateSchema, t.subscriber.name);
    this.progress = new InitProgressStore(t.stateSchema, t.subscriber.name);
    this.recorded = recorded.state;
    this.error = recorded.error;
  }

  async moveTo(to: InitState, p: InitProgress, error: string | null = null): Promise<void> {
    if (to === this.recorded) return;
    if (!this.enabled) {
      this.onEvent(
        stateChangeEvent(
          {
            node: this.t.subscriber.name,
            subscription: this.t.subscription,
            from: this.recorded,
            to,
            at: new Date().toISOString(),
            error,
          },
          p,
        ),
      );
    } else {
      const changes = await this.states.transition(this.client, this.t.subscription, to, {
        method: this.t.method,
        source: this.t.publisher.name,
        error,
      });
      for (const c of changes) this.onEvent(stateChangeEvent(c, p));
    }
    this.recorded = to;
    this.error = error;
  }

  async save(p: InitProgress): Promise<void> {
    if (this.enabled) await this.progress.save(this.client, p).catch(() => {});
  }
}

/** What the failure rules remember from one sample to the next. */
export interface ErrorWatch {
  /** 15+: the workers' error count (sync + apply) this episode of errors is counted from */
  baseline: number | null;
  /** …at the last sample */
  count: number | null;
  /** when the count first rose above the baseline, and when it last rose */
  since: number | null;
  risenAt: number | null;
  unreachableSince: number | null;
  stalledSince: number | null;
  detachedSince: number | null;
  /** before 15: what the tables' copy looked like, and since when it has looked so */
  copy: string | null;
  copyUnchangedSince: number | null;
}

/** Where the subscriber's workers connect to the publisher, as a DBA would look for it. */
function subscriberRoute(publisher: InitNode): string {
  const c = publisher.replicationConnection ?? publisher.connection;
  return `${c.host}:${c.port} (${publisher.replicationConnection ? 'its replicationUrl' : 'its url'})`;
}

/** Errors counted this close together come from one event: a cut connection fails every worker at once. */
const BURST_MS = 1_000;

export function newErrorWatch(): ErrorWatch {
  return {
    baseline: null,
    count: null,
    since: null,
    risenAt: null,
    unreachableSince: null,
    stalledSince: null,
    detachedSince: null,
    copy: null,
    copyUnchangedSince: null,
  };
}

/**
 * Before 15 no worker error is counted anywhere a session can read, and a table-sync worker that
 * fails (a duplicate key in the COPY, say) dies within milliseconds and is started again every
 * wal_retrieve_retry_interval: samples rarely see it. What shows is a copy that stops moving:
 * the same tables in the same states with the same rows copied (a copying worker moves its
 * pg_stat_progress_copy count all the time). A copy that waits for a free worker, or for a long
 * transaction on the publisher before its slot is made, looks alike: hence the long patience, and
 * a reason that says so (preflight warns when workers run short).
 */
const COPY_STALL_FACTOR = 4;

function copyStalled(p: InitProgress, now: number, w: ErrorWatch, failAfterMs: number): boolean {
  if (p.state !== 'copying' || !p.enabled) {
    w.copy = null;
    w.copyUnchangedSince = null;
    return false;
  }
  const copy = JSON.stringify(p.tables.map((x) => [x.state, x.rowsCopied]));
  if (copy !== w.copy) {
    w.copy = copy;
    w.copyUnchangedSince = now;
    return false;
  }
  return now - (w.copyUnchangedSince ?? now) >= COPY_STALL_FACTOR * failAfterMs;
}

/** Why this init has failed, or null while it has not (yet): one sample's verdict, `w` carried across samples. */
export function failure(
  t: FollowTarget,
  p: InitProgress,
  slot: SlotLag | null,
  now: number,
  w: ErrorWatch,
  failAfterMs: number,
  version: number,
): { reason: string; kind: 'publisher' | 'path' | 'sync' | 'apply' | 'workers' } | null {
  const errors = (p.syncErrorCount ?? 0) + (p.applyErrorCount ?? 0);
  if (version >= PG15) {
    if (w.baseline === null) w.baseline = errors;
    if (errors > (w.count ?? w.baseline)) {
      w.since ??= now;
      w.risenAt = now;
    }
    w.count = errors;
    // quiet for a while: PostgreSQL got past what failed (a connection cut once, say); a later error starts afresh
    if (w.risenAt !== null && now - w.risenAt >= 2 * failAfterMs) {
      w.baseline = errors;
      w.since = null;
      w.risenAt = null;
    }
  }

  if (p.publisherError !== null) {
    w.unreachableSince ??= now;
    if (now - w.unreachableSince >= failAfterMs) {
      return {
        kind: 'publisher',
        reason: `the publisher ${t.publisher.name} cannot be reached (${p.publisherError})`,
      };
    }
  } else w.unreachableSince = null;

  // steep reaches the publisher, but no worker of the subscriber streams from its slot: the
  // subscriber's own path to the publisher is broken. Its failed connection attempts are counted
  // nowhere (not in pg_stat_subscription_stats), and PostgreSQL retries a worker only every
  // wal_retrieve_retry_interval (5 s by default): hence twice the patience. A worker whose
  // errors are still counted after the disconnection (15+) does get through: the rule below says why.
  if (p.enabled && p.state !== 'synchronized' && p.publisherError === null && slot !== null && !slot.active) {
    w.detachedSince ??= now;
    const getsThrough = w.risenAt !== null && w.risenAt - w.detachedSince > BURST_MS;
    if (!getsThrough && now - w.detachedSince >= 2 * failAfterMs) {
      return {
        kind: 'path',
        reason:
          `no worker of ${t.subscriber.name} has streamed from the slot ${t.slot} on ${t.publisher.name} for ${Math.round((now - w.detachedSince) / 1000)} s, ` +
          `although steep reaches ${t.publisher.name}: ${t.subscriber.name} cannot connect (or stay connected) to ${t.publisher.name} at ${subscriberRoute(t.publisher)}`,
      };
    }
  } else w.detachedSince = null;

  if (version >= PG15) {
    // a worker that keeps failing: errors again after PostgreSQL restarted it, not one burst
    const baseline = w.baseline ?? errors;
    const since = w.since;
    const repeated = since !== null && w.risenAt !== null && w.risenAt - since >= BURST_MS;
    if (repeated && errors >= baseline + 2 && now - since >= failAfterMs) {
      const sync = (p.syncErrorCount ?? 0) > 0;
      return {
        kind: sync ? 'sync' : 'apply',
        reason: `its ${sync ? 'table synchronisation' : 'apply'} worker failed ${errors - baseline} times (pg_stat_subscription_stats: sync_error_count ${p.syncErrorCount ?? 0}, apply_error_count ${p.applyErrorCount ?? 0})`,
      };
    }
  } else {
    if (p.enabled && !p.applyWorkerRunning && p.syncWorkers === 0 && p.state !== 'synchronized') {
      w.stalledSince ??= now;
      if (now - w.stalledSince >= 2 * failAfterMs) {
        return { kind: 'workers', reason: 'its workers keep exiting (none has run for a while)' };
      }
    } else w.stalledSince = null;
    if (copyStalled(p, now, w, failAfterMs)) {
      return {
        kind: 'sync',
        reason:
          `its copy has not moved for ${Math.round((now - w.copyUnchangedSince!) / 1000)} s: a table synchronisation worker keeps failing ` +
          `(PostgreSQL ${Math.floor(version / 10_000)} counts no worker errors), or waits for a free worker or for a long transaction on ${t.publisher.name}`,
      };
    }
  }
  return null;
}

function notCopied(p: InitProgress): string {
  const left = p.tables.filter((x) => x.state !== 'r').map(qualifiedName);
  if (left.length === 0) return '';
  const shown = left.slice(0, 5).join(', ');
  return `; tables not yet ready: ${shown}${left.length > 5 ? ` and ${left.length - 5} more` : ''}`;
}

/**
 * Follow until `synchronized` (resolves with the last figures) or `failed` (throws a
 * SteepError('init.failed') with the reason, after recording it).
 */
export async function followInit(t: FollowTarget, opts: FollowOptions): Promise<InitProgress> {
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  const failAfterMs = opts.failAfterMs ?? DEFAULT_FAIL_AFTER_MS;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
  const address = `subscription.${t.subscription}`;
  const sub = await connect(t.subscriber.connection, {
    node: t.subscriber.name,
    applicationName: APPLICATION_NAME,
    connectTimeoutMs,
  });
  const pub = new ReconnectingSession(t.publisher.name, t.publisher.connection, {
    applicationName: APPLICATION_NAME,
    connectTimeoutMs,
  });
  try {
    const version = await serverVersionOf(sub);
    const tables = await hasInitTables(sub, t.stateSchema);
    const states = new SubscriptionStateStore(t.stateSchema, t.subscriber.name);
    const persisted = tables ? await states.get(sub, t.subscription) : null;
    const rec = new Recorder(
      t,
      sub,
      tables,
      { state: persisted?.state ?? 'uninitialized', error: persisted?.error ?? null },
      opts.onEvent,
    );
    // a failed init resumes: what the nodes show now decides where it goes from there
    const tracker = new InitTracker(
      { subscription: t.subscription, node: t.subscriber.name, from: t.publisher.name, method: t.method },
      rec.recorded === 'failed' ? 'preparing' : rec.recorded,
      { startedAt: persisted?.startedAt ?? null, follow: true },
    );
    const watch = newErrorWatch();
    const began = Date.now();
    const copyStarted = new Map<string, number>();
    const reported = new Set<string>();
    // a fresh init reports every table copied while it is followed, even one copied before
    // the first sample; a resumed one already reported those copied before it failed
    const fresh = rec.recorded !== 'failed';
    const initStart = persisted?.startedAt ? Date.parse(persisted.startedAt) : began;
    let first = true;
    let savedAt = 0;
    let sizes: Map<string, PublishedTableSize> | null = null;
    let sizedTables = '';
    let seen = false;

    for (;;) {
      const at = Date.now();
      const subscriber = await sampleSubscriber(sub, version, t.subscription).catch((err: unknown) => {
        if (isSessionLost(err)) throw err;
        throw new SteepError(
          'init.follow_failed',
          `following the init of subscription ${t.subscription} on ${t.subscriber.name} failed: ${errorText(err)}; ` +
            'the init itself goes on in PostgreSQL: see it with steep init status',
          { node: t.subscriber.name, address, cause: err },
        );
      });
      if (!subscriber.activity && seen) {
        throw new SteepError(
          'init.gone',
          `subscription ${t.subscription} was dropped on ${t.subscriber.name} while steep followed its init`,
          { node: t.subscriber.name, address },
        );
      }
      seen ||= subscriber.activity !== null;
      const tableKey = subscriber.tables.map(qualifiedName).join(',');
      if (tableKey !== sizedTables && subscriber.tables.length > 0) {
        const read = await pub.use((c) => readPublishedTableSizes(c, subscriber.tables));
        if (read) {
          sizes = read;
          sizedTables = tableKey;
        }
      }
      const slot = (await pub.use((c) => readSlotLag(c, t.slot)))?.[0] ?? null;
      const sample: InitSample = { at, subscriber, sizes, slot, publisherError: pub.error };
      const p = tracker.update(sample, { error: rec.error });

      for (const table of p.tables) {
        const key = qualifiedName(table);
        if (!copyStarted.has(key) && (table.state === 'i' || table.state === 'd')) copyStarted.set(key, at);
        const copied = table.state === 'f' || table.state === 's' || table.state === 'r';
        if (copied && first && !fresh) reported.add(key);
        if (copied && !reported.has(key)) {
          reported.add(key);
          opts.onEvent({
            event: 'init.table_complete',
            level: 'info',
            node: t.subscriber.name,
            subscription: t.subscription,
            table: key,
            rows_copied: table.rowsCopied,
            duration_ms: at - (copyStarted.get(key) ?? initStart),
            phase: p.state,
            overall_progress: p.percent / 100,
          });
          watch.baseline = null;
          watch.count = null;
          watch.since = null;
          watch.risenAt = null;
        }
      }
      first = false;

      await rec.moveTo(p.state, p);
      const failed = failure(t, p, slot, at, watch, failAfterMs, version);
      if (failed) {
        const log = await readServerLog(sub);
        const logAt = `the server log of ${t.subscriber.name}${log ? ` (${log})` : ''}`;
        const where =
          failed.kind === 'publisher'
            ? `the slot ${t.slot} on ${t.publisher.name} is kept: once ${t.publisher.name} is back, run steep apply again to resume`
            : failed.kind === 'path'
              ? `check that ${t.subscriber.name} can reach ${t.publisher.name} there (network, firewall, pg_hba.conf on ${t.publisher.name}); ` +
                `PostgreSQL's message is in ${logAt} (look for "could not connect to the publisher" or "could not receive data from WAL stream"); ` +
                `the slot ${t.slot} on ${t.publisher.name} is kept: once ${t.subscriber.name} reaches ${t.publisher.name} again, run steep apply again to resume`
              : `PostgreSQL's message is in ${logAt} (look for "logical replication" errors); ` +
                `the slot ${t.slot} on ${t.publisher.name} is kept: fix the cause and run steep apply again to resume`;
        const reason = `init of subscription ${t.subscription} on ${t.subscriber.name} failed: ${failed.reason}${notCopied(p)}; ${where}`;
        const final = { ...p, state: 'failed' as const, error: reason };
        await rec.moveTo('failed', final, reason);
        await rec.save(final);
        opts.onProgress?.(final);
        opts.onEvent({
          event: 'init.failed',
          level: 'error',
          node: t.subscriber.name,
          subscription: t.subscription,
          phase: 'failed',
          message: reason,
          duration_ms: Date.now() - began,
          overall_progress: p.percent / 100,
          rows_copied: p.rowsCopied,
        });
        throw new SteepError('init.failed', reason, { node: t.subscriber.name, address });
      }
      if (at - savedAt >= SAVE_EVERY_MS || p.state === 'synchronized') {
        await rec.save(p);
        savedAt = at;
      }
      opts.onProgress?.(p);
      if (p.state === 'synchronized') {
        opts.onEvent({
          event: 'init.completed',
          level: 'info',
          node: t.subscriber.name,
          subscription: t.subscription,
          phase: 'synchronized',
          rows_copied: p.rowsCopied,
          duration_ms: Date.now() - began,
          overall_progress: 1,
        });
        return p;
      }
      await sleep(Math.max(0, pollMs - (Date.now() - at)));
    }
  } catch (err) {
    if (err instanceof SteepError || !isSessionLost(err)) throw err;
    throw await subscriberLost(t, err, {
      failAfterMs,
      connectTimeoutMs,
      onEvent: opts.onEvent,
      onChange: (c) => opts.onEvent(stateChangeEvent(c)),
    });
  } finally {
    await pub.close();
    await sub.end().catch(() => {});
  }
}
