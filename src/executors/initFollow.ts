/**
 * Follow a subscription's init to `synchronized`: sample the subscriber's workers and the
 * publisher's slot every `pollMs`, record every state change (`subscription_state`,
 * `init.state_change`) and the figures (`init_progress`), report progress, and record
 * `failed` with the reason when the failure rules say so. Only the I/O of following lives
 * here: the states, the figures and the failure rules are `model/initLifecycle.ts`,
 * `initFigures.ts` and `initFailure.ts`. Never changes replication itself: the slot and the
 * subscription stay, so a later apply resumes.
 */

import type pg from 'pg';
import { readDisabledAtError } from '../catalog/errorCounters.js';
import {
  readFinishedCopies,
  readPublishedTableSizes,
  readServerLog,
  readSlotLag,
  readWorkerUseIfWaiting,
  sampleSubscriber,
  withoutSyncSlot,
} from '../catalog/initProgress.js';
import { serverVersionOf } from '../catalog/session.js';
import { readSetRoleDenied } from '../catalog/subscriptionOnNode.js';
import { connect } from '../db/connect.js';
import { mask } from '../db/mask.js';
import { ReconnectingSession } from '../db/reconnecting.js';
import { isSessionLost } from '../db/sessionLost.js';
import { subscriptionAddress } from '../model/address.js';
import { adviceText } from '../model/advice.js';
import { SteepError } from '../model/errors.js';
import {
  afterTableCopied,
  type ErrorWatch,
  failedReason,
  failure,
  waitingText,
} from '../model/initFailure.js';
import { type InitSample, InitTracker, isCopied } from '../model/initFigures.js';
import type { InitProgress, InitState, PublishedTableSize } from '../model/initState.js';
import { setRoleDeniedText } from '../model/syncVerdict.js';
import type { NodeSpec, SubscriptionSpec, TableName, Topology } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import { SAY_EVERY_MS } from '../model/waits.js';
import { InitProgressStore } from '../state/initProgress.js';
import { hasInitTables, type StateChange, SubscriptionStateStore } from '../state/subscriptionState.js';
import type { ApplyEvent, EventSink } from './events.js';
import { sleep } from './sleep.js';
import { StuckSlotWatch } from './stuckSlot.js';
import { subscriberLost } from './subscriberLost.js';

/** What following `d`'s init reads: its subscriber, its publisher (and how subscribers reach it), its slot. */
export function followTargetOf(topology: Topology, d: SubscriptionSpec, slot = d.slot) {
  return {
    subscription: d.name,
    method: d.init.method,
    slot,
    subscriber: topology.nodes[d.node]!,
    publisher: topology.nodes[d.from]!,
    stateSchema: topology.settings.stateSchema,
  };
}
export type FollowTarget = ReturnType<typeof followTargetOf>;

export interface FollowOptions {
  onEvent: EventSink;
  onProgress?: (p: InitProgress) => void;
  /** default 250 ms (SC-002: figures within 2 s of real progress) */
  pollMs?: number;
  /** a publisher unreachable, or errors repeating, this long means `failed`; default 15 s */
  failAfterMs?: number;
  connectTimeoutMs?: number;
  /**
   * Aborted (SIGINT/SIGTERM/SIGHUP): stop following after the current sample, with an
   * `init.interrupted` error. Only the follow stops: the init goes on in PostgreSQL.
   */
  signal?: AbortSignal;
  /** the command a failure names to resume (default `steep apply`; a reinit names its own) */
  resume?: string;
}

/** Samples are cheap (two small queries per node): frequent ones end the follow as soon as it is synchronized. */
export const DEFAULT_POLL_MS = 250;
/** init_progress is written at most this often. */
const SAVE_EVERY_MS = 1000;
export const DEFAULT_FAIL_AFTER_MS = 15_000;
const APPLICATION_NAME = 'steep init';

/** The follow was stopped by a signal: what the init was doing, and how to follow it from here. */
function interrupted(t: FollowTarget, p: InitProgress): SteepError {
  const figures = p.state === 'copying' ? `, ${p.percent.toFixed(1)}% copied` : '';
  return new SteepError(
    'init.interrupted',
    `the init of subscription ${t.subscription} goes on in PostgreSQL on ${t.subscriber.name} (${p.state}${figures}): ` +
      `follow it with \`steep init status ${t.subscription} --watch\`, which records it synchronized once it is, ` +
      `then \`${adviceText('verify', t.subscription)}\` compares its rows (until then it is unverified)`,
    { node: t.subscriber.name, address: subscriptionAddress(t.subscription) },
  );
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

/** Record `d`'s move to `to` (through the states between) and report each change. */
export async function recordTransition(
  store: SubscriptionStateStore,
  client: pg.Client,
  d: SubscriptionSpec,
  to: InitState,
  onEvent: EventSink,
  error: string | null = null,
): Promise<void> {
  const details = { method: d.init.method, source: d.from, error };
  for (const c of await store.transition(client, d.name, to, details)) onEvent(stateChangeEvent(c));
}

/** Bookkeeping of one follow: the recorded state, and writes to the state schema (best effort). */
class Recorder {
  private readonly states: SubscriptionStateStore;
  private readonly progress: InitProgressStore;

  constructor(
    private readonly t: FollowTarget,
    private readonly client: pg.Client,
    private readonly enabled: boolean,
    public recorded: InitState,
    public error: string | null,
    private readonly onEvent: EventSink,
  ) {
    this.states = new SubscriptionStateStore(t.stateSchema, t.subscriber.name);
    this.progress = new InitProgressStore(t.stateSchema, t.subscriber.name);
  }

  async moveTo(to: InitState, p: InitProgress, error: string | null = null): Promise<void> {
    if (to === this.recorded) return;
    const { subscriber, subscription, method, publisher } = this.t;
    const changes = this.enabled
      ? await this.states.transition(this.client, subscription, to, { method, source: publisher.name, error })
      : [
          {
            node: subscriber.name,
            subscription,
            from: this.recorded,
            to,
            at: new Date().toISOString(),
            error,
          },
        ];
    for (const c of changes) this.onEvent(stateChangeEvent(c, p));
    this.recorded = to;
    this.error = error;
  }

  async save(p: InitProgress): Promise<void> {
    if (this.enabled) await this.progress.save(this.client, p).catch(() => {});
  }
}

/** Where the subscriber's workers connect to the publisher, as a DBA would look for it. */
function subscriberRoute(publisher: NodeSpec): string {
  const c = publisher.replicationConnection ?? publisher.connection;
  return `${c.host}:${c.port} (${publisher.replicationConnection ? 'its replicationUrl' : 'its url'})`;
}

/**
 * Follow until `synchronized` (resolves with the last figures) or `failed` (throws a
 * SteepError('init.failed') with the reason, after recording it).
 */
export async function followInit(t: FollowTarget, opts: FollowOptions): Promise<InitProgress> {
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  const failAfterMs = opts.failAfterMs ?? DEFAULT_FAIL_AFTER_MS;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
  const sub = await connect(t.subscriber.connection, {
    node: t.subscriber.name,
    applicationName: APPLICATION_NAME,
    connectTimeoutMs,
  });
  const pub = new ReconnectingSession(t.publisher.name, t.publisher.connection, {
    applicationName: APPLICATION_NAME,
    connectTimeoutMs,
  });
  // the last progress shown: a lost subscriber's wait is said on its line (text mode) too
  let shown: InitProgress | undefined;
  const onProgress = (p: InitProgress) => {
    shown = p;
    opts.onProgress?.(p);
  };
  try {
    const { version, rec, tracker, startedAt } = await resume(t, sub, opts.onEvent);
    const subject = {
      subscription: t.subscription,
      subscriber: t.subscriber.name,
      publisher: t.publisher.name,
      slot: t.slot,
      route: subscriberRoute(t.publisher),
      ...(opts.resume ? { resume: opts.resume } : {}),
    };
    const began = Date.now();
    const take = sampler(t, sub, pub, version);
    // a fresh init reports every table copied while it is followed, even one copied before
    // the first sample; a resumed one already reported those copied before it failed
    const reportCopied = copiedTables(t, opts.onEvent, rec.recorded !== 'failed', startedAt ?? began);
    let watch: ErrorWatch = {};
    const stuck = new StuckSlotWatch(
      {
        subscription: t.subscription,
        slot: t.slot,
        publisher: t.publisher.name,
      },
      'init',
    );
    let savedAt = 0;
    let saidAt = 0;

    for (;;) {
      const at = Date.now();
      const sample = await take(at);
      const p = tracker.update(sample, { error: rec.error });
      for (let n = reportCopied(p, at); n > 0; n--) watch = afterTableCopied(watch);
      await rec.moveTo(p.state, p);
      const judged = failure(subject, p, sample.slot, at, watch, failAfterMs, version);
      watch = judged.watch;
      const stuckAt = judged.failed ? null : await stuck.read(sub, (fn) => pub.use(fn));
      if (stuckAt) judged.failed = { kind: 'stuck', reason: stuckAt };
      const waiting = waitingText(subject, p, watch, at, failAfterMs);
      if (waiting) {
        p.waiting = waiting;
        // the progress line carries it; a JSON log gets it as an event, as often
        if (at - saidAt >= SAY_EVERY_MS) {
          saidAt = at;
          opts.onEvent({
            event: 'init.waiting',
            level: 'warn',
            node: t.subscriber.name,
            subscription: t.subscription,
            phase: p.state,
            message: waiting,
          });
        }
      }
      if (judged.failed) {
        const log = await readServerLog(sub);
        const where = `the server log of ${t.subscriber.name}${log ? ` (${log})` : ''}`;
        // PostgreSQL's reason where steep can read it from the catalog (16+: SET ROLE to an owner)
        const refused = await readSetRoleDenied(sub, version, t.subscription).catch(() => null);
        const causes = refused ? setRoleDeniedText(t.subscription, t.subscriber.name, refused) : [];
        const reason = failedReason(subject, judged.failed, p, where, causes);
        const final = { ...p, state: 'failed' as const, error: reason };
        await rec.moveTo('failed', final, reason);
        await rec.save(final);
        onProgress(final);
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
        throw new SteepError('init.failed', reason, {
          node: t.subscriber.name,
          address: subscriptionAddress(t.subscription),
        });
      }
      if (at - savedAt >= SAVE_EVERY_MS || p.state === 'synchronized') {
        await rec.save(p);
        savedAt = at;
      }
      onProgress(p);
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
      if (opts.signal?.aborted) {
        await rec.save(p);
        throw interrupted(t, p);
      }
      await sleep(Math.max(0, pollMs - (Date.now() - at)), opts.signal);
    }
  } catch (err) {
    if (err instanceof SteepError || !isSessionLost(err)) throw err;
    throw await subscriberLost(t, err, {
      failAfterMs,
      connectTimeoutMs,
      onEvent: opts.onEvent,
      onWaiting: (waiting) => shown && onProgress({ ...shown, waiting }),
      onChange: (c) => opts.onEvent(stateChangeEvent(c)),
    });
  } finally {
    await pub.close();
    await sub.end().catch(() => {});
  }
}

/** Where a follow starts: the state recorded on the subscriber (a failed init resumes from what the nodes show). */
async function resume(t: FollowTarget, sub: pg.Client, onEvent: EventSink) {
  const version = await serverVersionOf(sub);
  const tables = await hasInitTables(sub, t.stateSchema);
  const persisted = tables
    ? await new SubscriptionStateStore(t.stateSchema, t.subscriber.name).get(sub, t.subscription)
    : null;
  const rec = new Recorder(
    t,
    sub,
    tables,
    persisted?.state ?? 'uninitialized',
    persisted?.error ?? null,
    onEvent,
  );
  const tracker = new InitTracker(
    { subscription: t.subscription, node: t.subscriber.name, from: t.publisher.name, method: t.method },
    rec.recorded === 'failed' ? 'preparing' : rec.recorded,
    { startedAt: persisted?.startedAt ?? null, follow: true },
  );
  return { version, rec, tracker, startedAt: persisted?.startedAt ? Date.parse(persisted.startedAt) : null };
}

/** The publisher's sizes of a subscription's tables, read again only when its tables change. */
export class PublishedSizes {
  private sizes: Map<string, PublishedTableSize> | null = null;
  private tables = '';

  async read(
    pub: ReconnectingSession,
    tables: readonly TableName[],
  ): Promise<Map<string, PublishedTableSize> | null> {
    const key = tables.map(qualifiedName).join(',');
    if (key !== this.tables && tables.length > 0) {
      const read = await pub.use((c) => readPublishedTableSizes(c, tables));
      if (read) {
        this.sizes = read;
        this.tables = key;
      }
    }
    return this.sizes;
  }
}

/** What one sample reads from both nodes; the publisher's table sizes are read again only when the tables change. */
function sampler(t: FollowTarget, sub: pg.Client, pub: ReconnectingSession, version: number) {
  const published = new PublishedSizes();
  let seen = false;
  return async (at: number): Promise<InitSample> => {
    const subscriber = await sampleSubscriber(sub, version, t.subscription).catch((err: unknown) => {
      if (isSessionLost(err)) throw err;
      throw new SteepError(
        'init.follow_failed',
        `following the init of subscription ${t.subscription} on ${t.subscriber.name} failed: ${mask(err instanceof Error ? err.message : String(err))}; ` +
          'the init itself goes on in PostgreSQL: see it with steep init status',
        { node: t.subscriber.name, address: subscriptionAddress(t.subscription), cause: err },
      );
    });
    if (!subscriber.activity && seen) {
      throw new SteepError(
        'init.gone',
        `subscription ${t.subscription} was dropped on ${t.subscriber.name} while steep followed its init`,
        { node: t.subscriber.name, address: subscriptionAddress(t.subscription) },
      );
    }
    seen ||= subscriber.activity !== null;
    const sizes = await published.read(pub, subscriber.tables);
    const slot = (await pub.use((c) => readSlotLag(c, t.slot)))?.[0] ?? null;
    // rare and brief: a table in `f` whose table-sync slot is gone never finishes (failure rules)
    let lostSyncSlots: string[] = [];
    if (subscriber.tables.some((x) => x.state === 'f')) {
      const finished = await readFinishedCopies(sub, t.subscription);
      lostSyncSlots = (await pub.use((c) => withoutSyncSlot(c, finished))) ?? [];
    }
    const state = { schema: t.stateSchema, node: t.subscriber.name };
    const enabled = subscriber.activity?.enabled !== false;
    const disabledAtError = await readDisabledAtError(sub, version, t.subscription, enabled, state);
    // a table waits for its copy and no table-sync worker runs: whether a worker is free to run one
    const workerUse = await readWorkerUseIfWaiting(sub, subscriber);
    return {
      at,
      subscriber,
      sizes,
      slot,
      publisherError: pub.error,
      lostSyncSlots,
      disabledAtError,
      ...(workerUse ? { workerUse } : {}),
    };
  };
}

/**
 * Reports each table once as its copy finishes (`init.table_complete`), with how long it took:
 * the tables `p` shows copied for the first time; returns how many.
 */
function copiedTables(t: FollowTarget, onEvent: EventSink, fresh: boolean, initStart: number) {
  const started = new Map<string, number>();
  const reported = new Set<string>();
  let first = true;
  return (p: InitProgress, at: number): number => {
    let count = 0;
    for (const table of p.tables) {
      const key = qualifiedName(table);
      if (!started.has(key) && (table.state === 'i' || table.state === 'd')) started.set(key, at);
      const copied = isCopied(table.state);
      if (copied && first && !fresh) reported.add(key);
      if (!copied || reported.has(key)) continue;
      reported.add(key);
      count++;
      onEvent({
        event: 'init.table_complete',
        level: 'info',
        node: t.subscriber.name,
        subscription: t.subscription,
        table: key,
        rows_copied: table.rowsCopied,
        duration_ms: at - (started.get(key) ?? initStart),
        phase: p.state,
        overall_progress: p.percent / 100,
      });
    }
    first = false;
    return count;
  };
}
