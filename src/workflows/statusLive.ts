import {
  type FinishedCopy,
  readAllFinishedCopies,
  readRetryIntervalMs,
  readSlotLag,
  readSubscriptionActivity,
} from '../catalog/initProgress.js';
import { postgresMessage } from '../catalog/session.js';
import { nodeSession, withSession } from '../db/connect.js';
import type { ClusterState, ObservedNode } from '../model/cluster.js';
import type { SlotLag, SubscriptionActivity } from '../model/initState.js';
import { foreignTopology } from '../model/ownership.js';
import {
  nextTimeline,
  type Promotion,
  promotionOf,
  type SubscriberTimeline,
} from '../model/subscriberPromotion.js';
import { type ErrorReading, nextReading } from '../model/syncVerdict.js';
import type { Topology } from '../model/topology.js';
import type { VerifyRecord } from '../model/verifyRecord.js';
import type { TableEvidence } from '../model/verifyWindow.js';
import { DivergedTablesStore } from '../state/divergedTables.js';
import { StatusReadingStore } from '../state/statusReadings.js';
import { SubscriberTimelineStore } from '../state/subscriberTimelines.js';
import { VerificationStore } from '../state/verifications.js';
import { readVerifiedEvidence } from '../state/verifiedEvidence.js';
import { readEachNode } from './tableFacts.js';

/**
 * The live figures of `status` that no catalog snapshot has, one session per node: worker
 * activity and error counts, slot lag, what steep's state schema records (diverged tables, the
 * last verify, each table's comparisons, the last reading of the error counters, the subscriber's
 * timeline when first read); and this reading of the error counters recorded there for the next
 * `status` to compare with (model/syncVerdict.ts), with the timeline of each subscription not
 * recorded yet or found promoted (model/subscriberPromotion.ts).
 */

export interface Live {
  activity: Map<string, SubscriptionActivity>;
  slots: Map<string, SlotLag>;
  /** by subscription */
  diverged: Map<string, string[]>;
  /** by subscription: its last verify of every table */
  verified: Map<string, VerifyRecord>;
  /** by subscription: its tables PostgreSQL copied (`f`), not yet in sync */
  finished: Map<string, FinishedCopy[]>;
  /** by subscription: steep's previous reading of its error counters */
  readings: Map<string, ErrorReading>;
  /** by subscription and table: what steep recorded of its comparisons (model/verifyWindow.ts) */
  evidence: Map<string, Map<string, TableEvidence>>;
  /** by subscription: the subscriber's latest promotion steep found (model/subscriberPromotion.ts) */
  promotions: Map<string, Promotion>;
  /** when this reading was taken (ISO 8601) */
  readAt: string;
  /** the node's wal_retrieve_retry_interval in ms; null: not read */
  retryIntervalMs: number | null;
  /** why this reading could not be recorded for the next (null: recorded) */
  notRecorded: string | null;
}

/**
 * `record`: keep this reading of the error counters for the next status, drift or metrics (all of
 * them do). `nodes`: only these (by default every node).
 */
export async function readLive(
  topology: Topology,
  observed: ClusterState,
  opts: { record: boolean; nodes?: ReadonlySet<string> },
): Promise<Map<string, Live>> {
  const out = new Map<string, Live>();
  // a node read moments ago, gone now: its catalog figures still show
  await readEachNode(
    topology,
    Object.values(observed.nodes).flatMap((n) =>
      !opts.nodes || opts.nodes.has(n.name) ? [[n.name, n] as const] : [],
    ),
    async (_, n) => {
      if (!n.reachable) return;
      const session = nodeSession(topology, n.name, 'steep status', {
        statementTimeoutMs: 10_000,
        // the nine reads below go out together
        pipeline: true,
      });
      await withSession(session, async (c) => {
        const readingStore = new StatusReadingStore(topology.settings.stateSchema, n.name);
        const timelineStore = new SubscriberTimelineStore(topology.settings.stateSchema, n.name);
        const [
          activity,
          slots,
          diverged,
          finished,
          verified,
          readings,
          retryIntervalMs,
          evidence,
          timelines,
        ] = await Promise.all([
          readSubscriptionActivity(c, n.serverVersion),
          readSlotLag(c).catch(() => [] as SlotLag[]),
          new DivergedTablesStore(topology.settings.stateSchema, n.name)
            .all(c)
            .catch(() => new Map<string, string[]>()),
          readAllFinishedCopies(c).catch(() => new Map<string, FinishedCopy[]>()),
          new VerificationStore(topology.settings.stateSchema, n.name)
            .all(c)
            .catch(() => new Map<string, VerifyRecord>()),
          readingStore.all(c).catch(() => null),
          readRetryIntervalMs(c).catch(() => null),
          readVerifiedEvidence(c, topology.settings.stateSchema, n.name).catch(
            () => new Map<string, Map<string, TableEvidence>>(),
          ),
          timelineStore.all(c).catch(() => null),
        ]);
        const readAt = new Date().toISOString();
        const promoted = timelinesNow(topology, n, timelines, readAt);
        out.set(n.name, {
          activity: new Map(activity.map((a) => [a.name, a])),
          slots: new Map(slots.map((s) => [s.slot, s])),
          diverged,
          finished,
          verified,
          readings: readings ?? new Map(),
          evidence,
          promotions: promoted.promotions,
          readAt,
          retryIntervalMs,
          notRecorded: opts.record
            ? await recordReadings(
                c,
                readingStore,
                ownActivity(topology, n, activity),
                readings,
                readAt,
                (sub) => publisherStartedAt(observed, n.subscriptions[sub]?.from ?? ''),
              )
            : null,
        });
        // best effort: a record not written is taken by the next reading (a promotion found then)
        if (opts.record && promoted.changed.length > 0)
          await timelineStore.record(c, promoted.changed).catch(() => {});
      });
    },
  );
  return out;
}

/**
 * Each own subscription's timeline record after this reading (model/subscriberPromotion.ts): the
 * promotions the records hold, and the records to write. None where the state schema has no
 * `subscriber_timelines` (an apply creates it) or the node's timeline was not read.
 */
function timelinesNow(
  topology: Topology,
  n: ObservedNode,
  recorded: Map<string, SubscriberTimeline> | null,
  now: string,
): { promotions: Map<string, Promotion>; changed: SubscriberTimeline[] } {
  const promotions = new Map<string, Promotion>();
  const changed: SubscriberTimeline[] = [];
  if (recorded === null || !n.server) return { promotions, changed };
  const server = { systemIdentifier: n.server.systemIdentifier, timeline: n.server.timeline ?? null };
  for (const o of Object.values(n.subscriptions)) {
    if (foreignTopology(o, topology.topology)) continue;
    const next = nextTimeline(recorded.get(o.name), o.name, o.oid, server, now);
    if (next.changed && next.record) changed.push(next.record);
    const p = promotionOf(next.record);
    if (p) promotions.set(o.name, p);
  }
  return { promotions, changed };
}

/**
 * The nodes whose live figures judge the declared subscriptions and record the readings of the
 * error counters: every node with subscriptions, their publishers, and the publisher of a declared
 * subscription not created yet whose slot it holds. A node without any is not read again (a fleet
 * of many databases on one server opens no second session on each: settings.maxConnections).
 */
export function liveNodes(topology: Topology, observed: ClusterState): Set<string> {
  const nodes = new Set<string>();
  for (const n of Object.values(observed.nodes)) {
    if (!n.reachable) continue;
    for (const o of Object.values(n.subscriptions)) {
      const d = topology.subscriptions[o.name];
      for (const name of [n.name, d?.from, o.from]) if (name) nodes.add(name);
    }
  }
  for (const d of Object.values(topology.subscriptions)) {
    const publisher = observed.nodes[d.from];
    if (d.slot && publisher?.reachable && publisher.slots[d.slot]) nodes.add(d.from);
  }
  return nodes;
}

/** The activity of the node's subscriptions but another topology's: its own status records those. */
function ownActivity(
  topology: Topology,
  n: ObservedNode,
  activity: SubscriptionActivity[],
): SubscriptionActivity[] {
  return activity.filter((a) => {
    const o = n.subscriptions[a.name];
    return !o || foreignTopology(o, topology.topology) === null;
  });
}

/**
 * Record this reading of the error counters (15+) for the next status to compare with; why it
 * could not be, or null. `previous` null: the state schema has no `status_readings` (an apply
 * creates it) or it could not be read.
 */
async function recordReadings(
  c: Awaited<ReturnType<typeof nodeSession>>,
  store: StatusReadingStore,
  activity: SubscriptionActivity[],
  previous: Map<string, ErrorReading> | null,
  now: string,
  startedAt: (subscription: string) => string | null,
): Promise<string | null> {
  const next = new Map<string, ErrorReading>();
  for (const a of activity) {
    const r = nextReading({
      applyErrors: a.applyErrorCount,
      syncErrors: a.syncErrorCount,
      previous: previous?.get(a.name) ?? null,
      now,
      publisherStartedAt: startedAt(a.name),
    });
    if (r) next.set(a.name, r);
  }
  if (next.size === 0) return null;
  if (previous === null) return "steep's state schema has no status_readings table (steep apply creates it)";
  try {
    await store.record(c, next);
    return null;
  } catch (err) {
    return postgresMessage(err);
  }
}

/** When `from`'s server started (pg_postmaster_start_time(), ISO 8601); null: not read. */
export function publisherStartedAt(observed: ClusterState, from: string): string | null {
  const n = observed.nodes[from];
  const epoch = n?.reachable ? n.server?.startedAt : undefined;
  return epoch ? new Date(Number(epoch) * 1000).toISOString() : null;
}
