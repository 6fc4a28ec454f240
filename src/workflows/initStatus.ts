import type pg from 'pg';
import { readDisabledAtError } from '../catalog/errorCounters.js';
import {
  readFinishedCopies,
  readIndexBuilds,
  readSlotLag,
  readWorkerUseIfWaiting,
  sampleSubscriber,
  withoutSyncSlot,
} from '../catalog/initProgress.js';
import { serverVersionOf } from '../catalog/session.js';
import { loadTopology } from '../config/load.js';
import { ReconnectingSession } from '../db/reconnecting.js';
import type { EventSink } from '../executors/events.js';
import { PublishedSizes, stateChangeEvent } from '../executors/initFollow.js';
import { advanceState, InitTracker } from '../model/initFigures.js';
import {
  type DeferredIndexProgress,
  type InitProgress,
  type InitState,
  NO_WORKER_FIGURES,
  type ObservedSubscriptionState,
} from '../model/initState.js';
import { compareText } from '../model/order.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { declaredSubscription, qualifiedName } from '../model/topology.js';
import { divergedStill } from '../model/verifyRecord.js';
import { byTable, DeferredIndexStore } from '../state/deferredIndexes.js';
import { DivergedTablesStore } from '../state/divergedTables.js';
import { InitProgressStore } from '../state/initProgress.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';

/**
 * `steep init status`: the figures of every subscription's init (or one), sampled live from
 * both nodes, the same way apply follows an init. Kept between refreshes (`--watch`): sessions
 * stay open and rates come from successive samples.
 *
 * When nobody else follows an init (its init_progress row is older than a few seconds, e.g.
 * after `apply --no-wait`), the forward moves it shows (copying → catching_up → synchronized)
 * are recorded and logged, so the persisted state keeps up with the nodes. `failed` is only
 * ever decided by apply, which watches over time.
 */

const APPLICATION_NAME = 'steep init status';
/** Someone follows an init whose figures were written this recently. */
const FOLLOWED_WITHIN_MS = 5_000;
/** A recorded sample this recent seeds the rate of a one-shot status. */
const SEED_WITHIN_MS = 30_000;

interface Watched {
  d: SubscriptionSpec;
  tracker: InitTracker | null;
  sizes: PublishedSizes;
  /** this observer has recorded a move of it (its own figures are then no sign of another follower) */
  recording?: true;
}

export class InitObserver {
  private readonly sessions = new Map<string, ReconnectingSession>();
  private readonly info = new Map<string, { version: number; stateTables: boolean }>();
  private readonly watched: Watched[];

  constructor(
    private readonly topology: Topology,
    subscriptions: SubscriptionSpec[],
    private readonly onEvent: EventSink = () => {},
  ) {
    this.watched = subscriptions.map((d) => ({ d, tracker: null, sizes: new PublishedSizes() }));
  }

  private session(node: string): ReconnectingSession {
    const s =
      this.sessions.get(node) ??
      new ReconnectingSession(node, this.topology.nodes[node]!.connection, {
        applicationName: APPLICATION_NAME,
        connectTimeoutMs: this.topology.settings.connectTimeout,
      });
    this.sessions.set(node, s);
    return s;
  }

  private async nodeInfo(node: string, c: pg.Client) {
    const i = this.info.get(node) ?? {
      version: await serverVersionOf(c),
      stateTables: await hasInitTables(c, this.topology.settings.stateSchema),
    };
    this.info.set(node, i);
    return i;
  }

  async sample(): Promise<InitProgress[]> {
    return Promise.all(this.watched.map((w) => this.sampleOne(w)));
  }

  private unreachable(w: Watched, error: string): InitProgress {
    const d = w.d;
    return {
      subscription: d.name,
      node: d.node,
      from: d.from,
      method: d.init.method,
      state: w.tracker?.state ?? 'uninitialized',
      percent: 0,
      tablesTotal: 0,
      tablesDone: 0,
      currentTables: [],
      rowsCopied: 0,
      bytesTotal: null,
      rowsPerSecond: null,
      etaSeconds: null,
      ...NO_WORKER_FIGURES,
      publisherError: null,
      subscriberError: error,
      exists: false,
      enabled: false,
      error: null,
      startedAt: null,
      sampledAt: new Date().toISOString(),
      tables: [],
    };
  }

  private async sampleOne(w: Watched): Promise<InitProgress> {
    const d = w.d;
    const schema = this.topology.settings.stateSchema;
    const states = new SubscriptionStateStore(schema, d.node);
    const progress = new InitProgressStore(schema, d.node);
    const sub = this.session(d.node);
    const pub = this.session(d.from);
    const read = await sub.use(async (c) => {
      const info = await this.nodeInfo(d.node, c);
      const recorded = info.stateTables ? await states.get(c, d.name) : null;
      const lastSaved = info.stateTables ? await progress.get(c, d.name) : null;
      const subscriber = await sampleSubscriber(c, info.version, d.name);
      const enabled = subscriber.activity?.enabled !== false;
      const stopped = await readDisabledAtError(c, info.version, d.name, enabled, { schema, node: d.node });
      const workerUse = await readWorkerUseIfWaiting(c, subscriber);
      const finished = subscriber.tables.some((t) => t.state === 'f')
        ? await readFinishedCopies(c, d.name)
        : [];
      const diverged =
        recorded?.state === 'diverged'
          ? await new DivergedTablesStore(schema, d.node).tablesOf(c, d.name)
          : [];
      const deferred = info.stateTables
        ? await deferredIndexes(c, new DeferredIndexStore(schema, d.node), d.name)
        : [];
      return { recorded, lastSaved, subscriber, info, diverged, finished, deferred, stopped, workerUse };
    });
    if (!read) return this.unreachable(w, `${d.node}: ${sub.error ?? 'unreachable'}`);
    const { recorded, lastSaved, subscriber, info, diverged, finished, deferred, stopped, workerUse } = read;
    const recordedState: InitState = recorded?.state ?? 'uninitialized';
    if (!w.tracker) {
      const fresh = lastSaved && Date.now() - lastSaved.updatedAt.getTime() <= SEED_WITHIN_MS;
      w.tracker = new InitTracker(
        { subscription: d.name, node: d.node, from: d.from, method: d.init.method },
        recordedState,
        {
          startedAt: recorded?.startedAt ?? null,
          previous: fresh
            ? { at: lastSaved.updatedAt.getTime(), rows: lastSaved.rowsCopied, percent: lastSaved.percent }
            : undefined,
        },
      );
    } else if (advanceState(recordedState, w.tracker.state) !== w.tracker.state) {
      // someone else (apply, cancel) moved it
      w.tracker.state = recordedState;
    }
    const sizes = await w.sizes.read(pub, subscriber.tables);
    const slot = (await pub.use((c) => readSlotLag(c, subscriber.activity?.slot ?? d.slot)))?.[0] ?? null;
    const lostSyncSlots =
      finished.length > 0 ? ((await pub.use((c) => withoutSyncSlot(c, finished))) ?? []) : [];
    const p = w.tracker.update(
      {
        at: Date.now(),
        subscriber,
        sizes,
        slot,
        publisherError: pub.error,
        lostSyncSlots,
        disabledAtError: stopped,
        ...(workerUse ? { workerUse } : {}),
      },
      { error: recorded?.error ?? null },
    );
    // figures written this recently by another follower (apply): it records the moves; figures this
    // observer wrote itself are no one else's (a watch recording catching_up, then synchronized)
    const followedElsewhere =
      !w.recording && lastSaved && Date.now() - lastSaved.updatedAt.getTime() < FOLLOWED_WITHIN_MS;
    if (info.stateTables && recorded && p.state !== recordedState && !followedElsewhere) {
      w.recording = true;
      await this.record(d, recorded, p);
    }
    const building = deferred.filter((x) => x.building).map((x) => x.table);
    // a repair names only the diverged tables the subscription still carries
    const toRepair = divergedStill(d.name, diverged, subscriber.tables).carried;
    return {
      ...p,
      ...(toRepair.length > 0 ? { divergedTables: toRepair } : {}),
      ...(deferred.length > 0 ? { deferredIndexes: deferred } : {}),
      ...(building.length > 0 ? { buildingIndexes: building } : {}),
    };
  }

  /** Record the forward moves this sample shows (best effort: a read-only role records nothing). */
  private async record(
    d: SubscriptionSpec,
    recorded: ObservedSubscriptionState,
    p: InitProgress,
  ): Promise<void> {
    const schema = this.topology.settings.stateSchema;
    await this.session(d.node).use(async (c) => {
      const changes = await new SubscriptionStateStore(schema, d.node).transition(c, d.name, p.state, {
        method: recorded.initMethod,
        source: recorded.sourceNode,
      });
      for (const ch of changes) this.onEvent(stateChangeEvent(ch, p));
      await new InitProgressStore(schema, d.node).save(c, p);
      if (p.state === 'synchronized') {
        this.onEvent({
          event: 'init.completed',
          level: 'info',
          node: d.node,
          subscription: d.name,
          phase: 'synchronized',
          rows_copied: p.rowsCopied,
          overall_progress: 1,
        });
      }
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.close()));
  }
}

/**
 * One refresh for a one-shot status: when a copy is under way and no rate is known yet (no
 * recent recorded sample), a second sample a second later measures it.
 */
export async function sampleOnce(observer: InitObserver): Promise<InitProgress[]> {
  const first = await observer.sample();
  if (!first.some((p) => p.state === 'copying' && p.rowsPerSecond === null)) return first;
  await new Promise((r) => setTimeout(r, 1000));
  return observer.sample();
}

/** Load the file and watch `subscription` (or every subscription it declares). */
export async function openInitStatus(
  configPath: string,
  subscription: string | undefined,
  onEvent?: EventSink,
) {
  const { topology, warnings } = await loadTopology(configPath);
  const subs =
    subscription === undefined
      ? Object.values(topology.subscriptions).sort((a, b) => compareText(a.name, b.name))
      : [declaredSubscription(topology, subscription, 'init.unknown_subscription')];
  return { topology, observer: new InitObserver(topology, subs, onEvent), configWarnings: warnings };
}

/**
 * The indexes the subscription's copy deferred and has not built yet, per table, each with the
 * build PostgreSQL reports on it: the session building them (apply's, or init cancel's) keeps
 * their rows until it commits, so they show while it runs.
 */
async function deferredIndexes(
  c: pg.Client,
  store: DeferredIndexStore,
  subscription: string,
): Promise<DeferredIndexProgress[]> {
  const rows = await store.list(c, subscription);
  if (rows.length === 0) return [];
  const builds = await readIndexBuilds(c);
  return byTable(rows).map((t) => ({
    table: qualifiedName(t.table),
    indexes: t.indexes.map((x) => x.index),
    building: builds.get(qualifiedName(t.table)) ?? null,
  }));
}
