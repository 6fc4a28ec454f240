/**
 * `steep status` (SPEC §4): every node reachable or not and its version; every subscription's
 * init state, lag in bytes and seconds, apply/sync error counts (and on 18 the conflict
 * counters); every logical slot with its wal_status and retained WAL, classified — used by a
 * subscription, prepared by `steep init prepare`, PostgreSQL's table-sync slots, or orphaned.
 * Read-only. What depends on a node steep cannot read is `unknown`, never absent. Over 400
 * lines because it is one idea, the one reading of the nodes that status, `status --check`,
 * drift's conflicts since the last verify and the metrics share.
 */
import {
  type FinishedCopy,
  readAllFinishedCopies,
  readSlotLag,
  readSubscriptionActivity,
  withoutSyncSlotAmong,
} from '../catalog/initProgress.js';
import { clusterReadOptions, readCluster } from '../catalog/readCluster.js';
import { parseDuration } from '../config/durations.js';
import { loadTopology } from '../config/load.js';
import { parseSize } from '../config/sizes.js';
import { nodeSession } from '../db/connect.js';
import { connectionLimit } from '../db/connectionLimit.js';
import { subscriptionAddress } from '../model/address.js';
import { formatBytes } from '../model/bytes.js';
import type { ClusterState, ObservedNode, ObservedSubscription } from '../model/cluster.js';
import { type Problem, SteepError } from '../model/errors.js';
import { cannotFinishText } from '../model/initFailure.js';
import { advanceState, caughtUpAtAGlance, liveState } from '../model/initFigures.js';
import type { InitState, SlotLag, SubscriptionActivity } from '../model/initState.js';
import { compareText } from '../model/order.js';
import { AFTER_FAILOVER, type FailoverVerdict } from '../model/plan.js';
import type {
  NodeStatus,
  SlotStatus,
  StatusCheck,
  StatusReport,
  SubscriptionStatus,
} from '../model/statusReport.js';
import type { Topology } from '../model/topology.js';
import {
  type ConflictsSinceVerify,
  conflictsRose,
  conflictsSinceText,
  type VerifyRecord,
} from '../model/verifyRecord.js';
import { failoverVerdicts } from '../planner/failover.js';
import { classifySlot } from '../planner/slotKinds.js';
import { DivergedTablesStore } from '../state/divergedTables.js';
import { VerificationStore } from '../state/verifications.js';
import { observeStreamPositions } from './streamPositions.js';

interface Live {
  activity: Map<string, SubscriptionActivity>;
  slots: Map<string, SlotLag>;
  /** by subscription */
  diverged: Map<string, string[]>;
  /** by subscription: its last verify of every table */
  verified: Map<string, VerifyRecord>;
  /** by subscription: its tables PostgreSQL copied (`f`), not yet in sync */
  finished: Map<string, FinishedCopy[]>;
}

/** The live figures no catalog snapshot has: worker activity and error counts, slot lag. One session per node. */
async function readLive(topology: Topology, observed: ClusterState): Promise<Map<string, Live>> {
  const out = new Map<string, Live>();
  const limited = connectionLimit(topology.settings.maxConnections);
  await Promise.all(
    Object.values(observed.nodes).map((n) =>
      limited(async () => {
        if (!n.reachable || !topology.nodes[n.name]) return;
        try {
          const c = await nodeSession(topology, n.name, 'steep status', {
            statementTimeoutMs: 10_000,
            // the five reads below go out together
            pipeline: true,
          });
          try {
            const [activity, slots, diverged, finished, verified] = await Promise.all([
              readSubscriptionActivity(c, n.serverVersion),
              readSlotLag(c).catch(() => [] as SlotLag[]),
              new DivergedTablesStore(topology.settings.stateSchema, n.name)
                .all(c)
                .catch(() => new Map<string, string[]>()),
              readAllFinishedCopies(c).catch(() => new Map<string, FinishedCopy[]>()),
              new VerificationStore(topology.settings.stateSchema, n.name)
                .all(c)
                .catch(() => new Map<string, VerifyRecord>()),
            ]);
            out.set(n.name, {
              activity: new Map(activity.map((a) => [a.name, a])),
              slots: new Map(slots.map((s) => [s.slot, s])),
              diverged,
              finished,
              verified,
            });
          } finally {
            await c.end().catch(() => {});
          }
        } catch {
          // read moments ago, gone now: its catalog figures still show
        }
      }),
    ),
  );
  return out;
}

function reachable(observed: ClusterState, name: string): ObservedNode | undefined {
  const n = observed.nodes[name];
  return n?.reachable ? n : undefined;
}

function subscriptionStatus(
  topology: Topology,
  observed: ClusterState,
  live: Map<string, Live>,
  name: string,
  node: string,
  o: ObservedSubscription | undefined,
): SubscriptionStatus {
  const d = topology.subscriptions[name];
  const from = d?.from ?? o?.from ?? '';
  const subscriber = reachable(observed, node);
  if (!subscriber) return unknownSubscription(topology, observed, name, node, from);
  const recorded = subscriber?.initState?.subscriptions[name];
  const activity = live.get(node)?.activity.get(name) ?? null;
  const verified = live.get(node)?.verified.get(name);
  const slotName = o ? (o.slotNone ? null : o.slot) : (d?.slot ?? null);
  const slot = slotName && from ? (live.get(from)?.slots.get(slotName) ?? null) : null;
  const tables = o?.tables ?? [];
  const ready = tables.filter((t) => t.state === 'r').length;
  const caughtUp = caughtUpAtAGlance(tables, slot);
  const live_ = liveState(
    {
      at: Date.now(),
      subscriber: {
        activity: o ? (activity ?? { ...emptyActivity(o), enabled: o.enabled }) : null,
        tables: tables.map((t) => ({ ...t, tuplesProcessed: null, bytesProcessed: null })),
      },
      sizes: null,
      slot,
      publisherError: null,
    },
    caughtUp,
  );
  // a table copied whose table-sync slot the publisher no longer has: PostgreSQL cannot finish it
  const finished = live.get(node)?.finished.get(name) ?? [];
  const publisher = from ? reachable(observed, from) : undefined;
  const lostSyncSlots =
    publisher && finished.length > 0
      ? withoutSyncSlotAmong(
          finished,
          Object.values(publisher.slots).map((x) => x.name),
        )
      : [];
  let state: InitState;
  if (recorded) state = advanceState(recorded.state, live_);
  else if (o) state = live_ === 'preparing' ? 'uninitialized' : live_;
  else state = 'uninitialized';
  return {
    name,
    node,
    from,
    declared: d !== undefined && d.node === node,
    exists: o !== undefined,
    unknown:
      from && !reachable(observed, from) ? `${from} (its publisher) cannot be read: lag unknown` : null,
    enabled: o ? o.enabled : null,
    initMethod: recorded?.initMethod ?? d?.init.method ?? null,
    state,
    error: state === 'failed' || state === 'diverged' ? (recorded?.error ?? null) : null,
    since: recorded?.updatedAt ?? null,
    tablesTotal: tables.length,
    tablesReady: ready,
    slot: slotName,
    lagBytes: slot?.lagBytes ?? null,
    lagSeconds: slot?.lagSeconds ?? null,
    applyWorkerRunning: activity?.applyRunning ?? null,
    syncWorkers: activity?.syncWorkers ?? null,
    applyErrors: activity?.applyErrorCount ?? null,
    syncErrors: activity?.syncErrorCount ?? null,
    conflicts: activity?.conflicts ?? null,
    lastVerify: verified ? { at: verified.verifiedAt, verdict: verified.verdict } : null,
    conflictsSinceVerify: conflictsRose(activity?.conflicts ?? null, verified?.conflicts ?? null),
    divergedTables: state === 'diverged' ? (live.get(node)?.diverged.get(name) ?? []) : [],
    lostSyncSlots,
  };
}

/** A subscription on a node steep cannot read: nothing about it is known. */
function unknownSubscription(
  topology: Topology,
  observed: ClusterState,
  name: string,
  node: string,
  from: string,
): SubscriptionStatus {
  const d = topology.subscriptions[name];
  const n = observed.nodes[node];
  const why = n && !n.reachable ? n.error : null;
  return {
    name,
    node,
    from,
    declared: d !== undefined && d.node === node,
    exists: null,
    enabled: null,
    initMethod: d?.init.method ?? null,
    state: 'unknown',
    unknown: `${node} cannot be read${why ? ` (${why})` : ''}`,
    error: null,
    divergedTables: [],
    lostSyncSlots: [],
    since: null,
    tablesTotal: 0,
    tablesReady: 0,
    slot: d?.slot ?? null,
    lagBytes: null,
    lagSeconds: null,
    applyWorkerRunning: null,
    syncWorkers: null,
    applyErrors: null,
    syncErrors: null,
    conflicts: null,
    lastVerify: null,
    conflictsSinceVerify: null,
  };
}

function emptyActivity(o: ObservedSubscription): SubscriptionActivity {
  return {
    oid: o.oid,
    name: o.name,
    enabled: o.enabled,
    applyRunning: false,
    syncWorkers: 0,
    lastMessageAt: null,
    applyErrorCount: null,
    syncErrorCount: null,
    conflictCount: null,
    conflicts: null,
  };
}

function slotStatuses(topology: Topology, observed: ClusterState, live: Map<string, Live>): SlotStatus[] {
  const out: SlotStatus[] = [];
  for (const n of Object.values(observed.nodes)) {
    if (!n.reachable) continue;
    for (const s of Object.values(n.slots)) {
      if (s.temporary) continue;
      const lag = live.get(n.name)?.slots.get(s.name) ?? null;
      const { kind, subscription, preparedLsn, otherDatabase } = classifySlot(topology, observed, n.name, s);
      out.push({
        node: n.name,
        name: s.name,
        kind,
        subscription,
        ...(otherDatabase ? { otherDatabase } : {}),
        active: s.active,
        walStatus: s.walStatus,
        retainedWalBytes: lag?.retainedWalBytes ?? s.retainedWalBytes,
        lagBytes: lag?.lagBytes ?? null,
        preparedLsn,
      });
    }
  }
  return out.sort((a, b) => compareText(a.node, b.node) || compareText(a.name, b.name));
}

export async function readStatus(topology: Topology): Promise<StatusReport> {
  const observed = await readCluster(
    Object.values(topology.nodes).map((n) => ({
      name: n.name,
      connection: n.connection,
      standbys: n.standbys,
    })),
    clusterReadOptions(topology.settings),
  );
  await observeStreamPositions(topology, observed);
  const live = await readLive(topology, observed);
  const nodes: NodeStatus[] = Object.keys(topology.nodes)
    .sort(compareText)
    .map((name) => {
      const n = observed.nodes[name];
      if (n?.reachable)
        return {
          name,
          reachable: true,
          serverVersion: n.serverVersion,
          version: n.serverVersionText,
          error: null,
        };
      return { name, reachable: false, serverVersion: null, version: null, error: n?.error ?? 'not read' };
    });
  const subs: SubscriptionStatus[] = [];
  const seen = new Set<string>();
  for (const n of Object.values(observed.nodes)) {
    if (!n.reachable) continue;
    for (const o of Object.values(n.subscriptions)) {
      seen.add(`${n.name}/${o.name}`);
      subs.push(subscriptionStatus(topology, observed, live, o.name, n.name, o));
    }
  }
  for (const d of Object.values(topology.subscriptions)) {
    if (seen.has(`${d.node}/${d.name}`)) continue;
    subs.push(subscriptionStatus(topology, observed, live, d.name, d.node, undefined));
  }
  subs.sort((a, b) => compareText(a.name, b.name) || compareText(a.node, b.node));
  withFailover(subs, failoverVerdicts(topology, observed));
  return {
    topology: topology.topology,
    sampledAt: new Date().toISOString(),
    nodes,
    subscriptions: subs,
    slots: slotStatuses(topology, observed, live),
  };
}

/**
 * Each subscription's part in a failover of its publisher: the last one and the next one; one
 * whose last failover skipped changes or left phantom rows shows as diverged with the reason,
 * recorded or not yet (the next apply records it).
 */
function withFailover(subs: SubscriptionStatus[], verdicts: FailoverVerdict[]): void {
  for (const v of verdicts) {
    const s = subs.find((x) => x.name === v.subscription && x.node === v.node);
    if (!s) continue;
    if (AFTER_FAILOVER.includes(v.verdict)) s.lastFailover = { verdict: v.verdict, reasons: v.reasons };
    else s.failover = { verdict: v.verdict, reasons: v.reasons };
    if (v.verdict !== 'diverged') continue;
    if (s.state === 'synchronized') s.state = 'diverged';
    if (s.state === 'diverged') s.error = s.error ?? v.reasons.join('; ');
  }
}

/**
 * The declared subscriptions with PostgreSQL 18 conflicts since their last verify, for `drift`:
 * status' own reading of the subscribers (a subscriber that cannot be read tells nothing here;
 * plan reports it).
 */
export async function conflictsSinceVerify(
  topology: Topology,
  observed: ClusterState,
): Promise<ConflictsSinceVerify[]> {
  const live = await readLive(topology, observed);
  const out: ConflictsSinceVerify[] = [];
  for (const d of Object.values(topology.subscriptions).sort((a, b) => compareText(a.name, b.name))) {
    const l = live.get(d.node);
    const activity = l?.activity.get(d.name);
    if (!l || !activity) continue;
    const verified = l.verified.get(d.name);
    const rose = conflictsRose(activity.conflicts, verified?.conflicts ?? null);
    if (rose && Object.keys(rose).length > 0)
      out.push({ subscription: d.name, node: d.node, verifiedAt: verified?.verifiedAt ?? null, rose });
  }
  return out;
}

export async function openStatus(
  configPath: string,
): Promise<{ topology: Topology; configWarnings: Problem[] }> {
  const { topology, warnings } = await loadTopology(configPath);
  return { topology, configWarnings: warnings };
}

/** `--max-lag`: a size (`64MB`, bytes when plain) or a duration (`30s`, `5min`). */
export type LagLimit = { bytes: number } | { seconds: number };

export function parseMaxLag(text: string): LagLimit {
  const bytes = parseSize(text);
  if (bytes !== undefined) return { bytes };
  const ms = /[a-z]\s*$/.test(text) ? parseDuration(text) : undefined;
  if (ms !== undefined && ms > 0) return { seconds: ms / 1000 };
  throw new SteepError(
    'status.max_lag',
    `--max-lag ${text} is neither a size (e.g. 64MB, 1GB, or bytes) nor a duration (e.g. 30s, 5min)`,
  );
}

/**
 * `status --check`, for cron and monitors: every subscription steep.yaml declares must exist,
 * be enabled (unless the file says `enabled: false`), be synchronized (every table ready) and within `maxLag`;
 * no slot may be `lost` or `unreserved`; every node must be readable.
 */
export function checkStatus(r: StatusReport, topology: Topology, maxLag?: LagLimit): StatusCheck {
  const problems: string[] = [];
  for (const n of r.nodes) if (!n.reachable) problems.push(`node ${n.name} cannot be read: ${n.error}`);
  for (const s of r.subscriptions.filter((x) => x.declared)) {
    const at = `${subscriptionAddress(s.name)} on ${s.node}`;
    if (s.state === 'unknown') {
      problems.push(`${at}: unknown, ${s.unknown}`);
      continue;
    }
    if (!s.exists) {
      problems.push(`${at}: not created`);
      continue;
    }
    if (s.enabled === false && topology.subscriptions[s.name]?.enabled !== false)
      problems.push(`${at}: disabled`);
    if (s.state === 'failed') problems.push(`${at}: init failed${s.error ? `: ${s.error}` : ''}`);
    else if (s.state === 'synchronized' && s.tablesReady < s.tablesTotal)
      // tables joined a synchronized subscription and PostgreSQL still copies them
      problems.push(`${at}: tables ${s.tablesReady}/${s.tablesTotal} ready, not synchronized`);
    else if (s.state !== 'synchronized')
      problems.push(
        `${at}: ${s.state}, not synchronized` +
          (s.lostSyncSlots.length > 0
            ? `, and ${cannotFinishText(s.lostSyncSlots, s.from)} (steep status says what ends it)`
            : ''),
      );
    // PostgreSQL 18: conflicts since the last verify may have left rows apart (a same-key update
    // on both nodes of a link, a row missing on the subscriber); a verify confirms or clears them
    const rose = s.conflictsSinceVerify;
    if (rose && Object.keys(rose).length > 0)
      problems.push(
        `${at}: ${conflictsSinceText({ subscription: s.name, node: s.node, verifiedAt: s.lastVerify?.at ?? null, rose })}`,
      );
    if (maxLag && 'bytes' in maxLag && s.lagBytes !== null && s.lagBytes > maxLag.bytes)
      problems.push(`${at}: lag ${formatBytes(s.lagBytes)}, over --max-lag ${formatBytes(maxLag.bytes)}`);
    if (maxLag && 'seconds' in maxLag && s.lagSeconds !== null && s.lagSeconds > maxLag.seconds)
      problems.push(`${at}: lag ${s.lagSeconds.toFixed(1)} s, over --max-lag ${maxLag.seconds} s`);
    if (maxLag && s.unknown) problems.push(`${at}: ${s.unknown}`);
    if (s.state === 'diverged' && s.error) problems.push(`${at}: ${s.error}`);
    if (s.lastFailover?.verdict === 'unknown')
      problems.push(
        `${at}: the last failover of ${s.from} may have skipped changes: ${s.lastFailover.reasons.join('; ')}`,
      );
    if (s.failover?.verdict === 'not-ready')
      problems.push(`${at}: not ready for a failover of ${s.from}: ${s.failover.reasons.join('; ')}`);
  }
  for (const s of r.slots) {
    if (s.walStatus === 'lost' || s.walStatus === 'unreserved')
      problems.push(`slot ${s.node}/${s.name}: wal_status ${s.walStatus}`);
  }
  return { unknown: r.nodes.some((n) => !n.reachable), problems };
}
