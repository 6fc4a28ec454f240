/**
 * `steep status` (docs/status.md): every node reachable or not and its version; every
 * subscription's init state, `synchronized` only where model/syncVerdict.ts proves it (else
 * failing, stopped, gap or unknown, with the evidence) and, with a verify window, every table was
 * found equal within it (else unverified: model/verifyWindow.ts), lag in bytes and seconds, apply/sync error
 * counts (and on 18 the conflict counters); every logical slot with its wal_status and retained
 * WAL, classified — used by a subscription, prepared by `steep init prepare`, PostgreSQL's
 * table-sync slots, orphaned (steep's) or another tool's. It changes nothing on the nodes but one row per subscription
 * in steep's state schema, its reading of the error counters (statusLive.ts). What depends on a
 * node steep cannot read is `unknown`, never absent. The one reading of the nodes that status,
 * `status --check`, drift's conflicts since the last verify and the metrics share.
 */
import { withoutSyncSlotAmong } from '../catalog/initProgress.js';
import { clusterReadOptions, readCluster } from '../catalog/readCluster.js';
import { loadTopology } from '../config/load.js';
import { type ClusterState, type ObservedSubscription, reachableNode } from '../model/cluster.js';
import { withErrorEpisode } from '../model/errorEpisode.js';
import { advanceState, caughtUpAtAGlance, liveState } from '../model/initFigures.js';
import type { InitState, SubscriptionActivity } from '../model/initState.js';
import { compareText } from '../model/order.js';
import { foreignTopology } from '../model/ownership.js';
import { AFTER_FAILOVER, type FailoverVerdict } from '../model/plan.js';
import type { NodeStatus, StatusReport, SubscriptionStatus } from '../model/statusReport.js';
import { VERDICT_STATES } from '../model/statusWords.js';
import { type Promotion, withPromotion } from '../model/subscriberPromotion.js';
import { type SyncFacts, syncVerdict } from '../model/syncVerdict.js';
import { qualifiedName, type Topology } from '../model/topology.js';
import { conflictBaseline, conflictsRose, conflictsSince, divergedStill } from '../model/verifyRecord.js';
import { type TableEvidence, verifiedFields, withWindow } from '../model/verifyWindow.js';
import { PG15 } from '../model/versions.js';
import { failoverVerdicts } from '../planner/failover/failover.js';
import { type UnfinishedReinit, unfinishedReinits } from '../planner/init/reinitLeftovers.js';
import { type LeftFence, leftFences } from '../planner/switchover/leftFence.js';
import { divergedLine } from '../render/repairAdvice.js';
import { continuityOf, observeContinuity, type TableGap } from './continuity.js';
import { missingColumnsOf, ownerObstaclesOf } from './statusColumns.js';
import { type Live, liveNodes, publisherStartedAt, readLive } from './statusLive.js';
import { slotStatuses } from './statusSlots.js';
import { observeStreamPositions } from './streamPositions.js';
import { markStuckSlots } from './stuckSlots.js';

/** What the verdict on a subscription rests on, kept until the columns of failing ones are read. */
interface Judged {
  status: SubscriptionStatus;
  facts: SyncFacts;
  /** the init state before the verdict, and the state the live figures alone show */
  initState: InitState;
  liveState: InitState;
  /** the subscriber's latest promotion steep found, and the tables compared with their evidence */
  promotion: Promotion | null;
  compared: readonly string[];
  evidence: ReadonlyMap<string, TableEvidence>;
}

/** What the whole reading found of each subscription, by `node/name`, before any is judged. */
interface Found {
  gaps: Map<string, TableGap[]>;
  reinits: ReadonlyMap<string, UnfinishedReinit>;
  fences: ReadonlyMap<string, LeftFence>;
  failoverDiverged: ReadonlySet<string>;
}

function subscriptionStatus(
  topology: Topology,
  observed: ClusterState,
  live: Map<string, Live>,
  name: string,
  node: string,
  o: ObservedSubscription | undefined,
  found: Found,
): { status: SubscriptionStatus; judged: Judged | null } {
  const { gaps, reinits, fences, failoverDiverged } = found;
  const d = topology.subscriptions[name];
  const from = d?.from ?? o?.from ?? '';
  const subscriber = reachableNode(observed, node);
  if (!subscriber) return { status: unknownSubscription(topology, observed, name, node, from), judged: null };
  const recorded = subscriber.initState?.subscriptions[name];
  const nodeLive = live.get(node);
  const activity = nodeLive?.activity.get(name) ?? null;
  const verified = nodeLive?.verified.get(name);
  const slotName = o ? (o.slotNone ? null : o.slot) : (d?.slot ?? null);
  const slot = slotName && from ? (live.get(from)?.slots.get(slotName) ?? null) : null;
  const tables = o?.tables ?? [];
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
    caughtUpAtAGlance(tables, slot),
  );
  // a table copied whose table-sync slot the publisher no longer has: PostgreSQL cannot finish it
  const finished = nodeLive?.finished.get(name) ?? [];
  const publisher = from ? reachableNode(observed, from) : undefined;
  const lostSyncSlots =
    publisher && finished.length > 0
      ? withoutSyncSlotAmong(
          finished,
          Object.values(publisher.slots).map((x) => x.name),
        )
      : [];
  const reinit = reinits.get(`${node}/${name}`);
  let state: InitState = 'uninitialized';
  // a reinit not finished stays in the state it recorded, whatever PostgreSQL's copy did since
  if (recorded)
    state =
      reinit && REINIT_STATES.has(recorded.state) ? recorded.state : advanceState(recorded.state, live_);
  else if (o && live_ !== 'preparing') state = live_;
  const previous = nodeLive?.readings.get(name) ?? null;
  const diverged =
    state === 'diverged' ? divergedStill(name, nodeLive?.diverged.get(name) ?? [], tables) : null;
  // steep's own state schema, which an allTables publication publishes too, is never compared
  const compared = tables.filter((t) => t.schema !== topology.settings.stateSchema).map(qualifiedName);
  const evidence = nodeLive?.evidence.get(name) ?? new Map<string, TableEvidence>();
  const baseline = conflictBaseline(verified, compared, evidence);
  const status: SubscriptionStatus = {
    name,
    node,
    from,
    declared: d !== undefined && d.node === node,
    ...(o && foreignTopology(o, topology.topology) ? { managedBy: o.managedBy!.topology } : {}),
    exists: o !== undefined,
    unknown: from && !publisher ? `${from} (its publisher) cannot be read: lag unknown` : null,
    enabled: o ? o.enabled : null,
    initMethod: recorded?.initMethod ?? d?.init.method ?? null,
    state,
    verdict: null,
    errorsReading: previous,
    error: state === 'failed' || state === 'diverged' ? (recorded?.error ?? diverged?.left ?? null) : null,
    since: recorded?.updatedAt ?? null,
    tablesTotal: tables.length,
    tablesReady: tables.filter((t) => t.state === 'r').length,
    slot: slotName,
    lagBytes: slot?.lagBytes ?? null,
    lagSeconds: slot?.lagSeconds ?? null,
    walsender: slot?.walsender ?? null,
    applyWorkerRunning: activity?.applyRunning ?? null,
    syncWorkers: activity?.syncWorkers ?? null,
    applyErrors: activity?.applyErrorCount ?? null,
    syncErrors: activity?.syncErrorCount ?? null,
    conflicts: activity?.conflicts ?? null,
    lastVerify: verified ? { at: verified.verifiedAt, verdict: verified.verdict } : null,
    conflictsSinceVerify: conflictsRose(activity?.conflicts ?? null, baseline?.conflicts ?? null),
    conflictsCountedFrom: baseline ? { at: baseline.at, rolling: baseline.rolling } : null,
    divergedTables: diverged?.carried ?? [],
    lostSyncSlots,
    ...(reinit ? { unfinishedReinit: reinit.reason } : {}),
    ...(fences.has(`${node}/${name}`) ? { leftFence: fences.get(`${node}/${name}`)!.reason } : {}),
  };
  if (!o) return { status, judged: null };
  if (nodeLive) Object.assign(status, verifiedFields(d?.verifyWindow, compared, evidence, nodeLive.readAt));
  const observedSlot =
    slotName && publisher ? Object.values(publisher.slots).find((x) => x.name === slotName) : null;
  const facts: SyncFacts = {
    subscription: name,
    node,
    from,
    enabled: o.enabled,
    disableOnError: o.options.disableOnError === true,
    ...(o.steepDisabledAt !== undefined ? { steepDisabledAt: o.steepDisabledAt } : {}),
    tables,
    applyRunning: activity?.applyRunning ?? null,
    countsErrors: subscriber.serverVersion >= PG15,
    applyErrors: activity?.applyErrorCount ?? null,
    syncErrors: activity?.syncErrorCount ?? null,
    previous,
    retryIntervalMs: nodeLive?.retryIntervalMs ?? null,
    notRecorded: nodeLive?.notRecorded ?? null,
    now: nodeLive?.readAt ?? new Date().toISOString(),
    slot:
      !publisher || !slotName
        ? null
        : observedSlot
          ? {
              name: slotName,
              active: slot?.active ?? observedSlot.active,
              lost: observedSlot.walStatus === 'lost',
              ...stuckAt(observedSlot.stuckAt, publisher.serverVersion),
            }
          : 'absent',
    publisherStartedAt: publisherStartedAt(observed, from),
    lagBytes: slot?.lagBytes ?? null,
    missingColumns: {},
    gaps: gaps.get(`${node}/${name}`) ?? [],
    unfinishedReinit: reinit?.reason ?? null,
    failoverDiverged: failoverDiverged.has(`${node}/${name}`),
  };
  const judged = {
    status,
    facts,
    initState: state,
    liveState: live_,
    promotion: nodeLive?.promotions.get(name) ?? null,
    compared,
    evidence,
  };
  judge(judged);
  return { status, judged };
}

/** The errors counted now and when a reading of steep's last saw them rise (model/errorEpisode.ts). */
function errorsSeen(f: SyncFacts) {
  const p = f.previous;
  if (!p) return null;
  return {
    roseAt: p.roseAt,
    applyErrors: f.applyErrors ?? p.applyErrors,
    syncErrors: f.syncErrors ?? p.syncErrors,
  };
}

/** The slot's stuckAt fact (model/syncVerdict.ts): the publication it cannot decode past, if any. */
function stuckAt(publication: string | undefined, version: number) {
  return publication === undefined ? {} : { stuckAt: { publication, version } };
}

/**
 * The verdict (model/syncVerdict.ts) on a subscription, and the state `status` shows: an init
 * state of `synchronized` stands only where the verdict proves it.
 */
function judge(j: Judged): void {
  const s = j.status;
  const f = j.facts;
  const scope = {
    subscription: f.subscription,
    node: f.node,
    tables: j.compared,
    evidence: j.evidence,
    window: s.verifyWindow,
  };
  const promoted = withPromotion(syncVerdict(f), j.promotion, { ...scope, from: f.from });
  const v = withWindow(withErrorEpisode(promoted, errorsSeen(f), scope), s.verifyWindow, f.subscription);
  s.verdict = v;
  if (j.initState !== 'synchronized' || v.verdict === 'synchronized') return;
  if (v.verdict === 'not_ready' && j.facts.unfinishedReinit) s.state = 'reinitializing';
  else if (v.verdict === 'not_ready') s.state = j.liveState === 'synchronized' ? 'catching_up' : j.liveState;
  else s.state = v.verdict;
  if (v.verdict === 'unknown') s.unknown = [v.reasons.join('; '), s.unknown].filter(Boolean).join('; ');
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
    verdict: null,
    errorsReading: null,
    walsender: null,
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
    conflictsCountedFrom: null,
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

/** Every subscription, observed or declared, judged (model/syncVerdict.ts), sorted. */
async function subscriptionStatuses(
  topology: Topology,
  observed: ClusterState,
  live: Map<string, Live>,
  gaps: Map<string, TableGap[]>,
): Promise<SubscriptionStatus[]> {
  const reinits = new Map(
    unfinishedReinits(topology, observed).map((u) => [`${u.node}/${u.subscription}`, u]),
  );
  const fences = new Map(leftFences(topology, observed).map((f) => [`${f.node}/${f.subscription}`, f]));
  // the failover verdicts first: one that left a subscription diverged names its way out, which
  // the verdict on its worker must not contradict (model/syncVerdict.ts)
  const failover = failoverVerdicts(topology, observed);
  const failoverDiverged = new Set(
    failover.filter((v) => v.verdict === 'diverged').map((v) => `${v.node}/${v.subscription}`),
  );
  const found: Found = { gaps, reinits, fences, failoverDiverged };
  const statusOf = (name: string, node: string, o?: ObservedSubscription) =>
    subscriptionStatus(topology, observed, live, name, node, o, found);
  const results = Object.values(observed.nodes).flatMap((n) =>
    n.reachable ? Object.values(n.subscriptions).map((o) => statusOf(o.name, n.name, o)) : [],
  );
  const seen = new Set(results.map((r) => `${r.status.node}/${r.status.name}`));
  for (const d of Object.values(topology.subscriptions))
    if (!seen.has(`${d.node}/${d.name}`)) results.push(statusOf(d.name, d.node));
  const subs = results.map((r) => r.status);
  // what the failing lack: columns their publisher publishes (read only for them)
  const failing = results.flatMap((r) => (r.judged?.status.verdict?.verdict === 'failing' ? [r.judged] : []));
  const facts = failing.map((j) => j.facts);
  const missing = await missingColumnsOf(topology, observed, facts);
  // and what PostgreSQL refuses their workers (16+: SET ROLE to a table's owner, or the
  // privileges of the subscription's owner on the tables)
  const refused = await ownerObstaclesOf(topology, observed, facts);
  for (const j of failing) {
    const key = `${j.facts.node}/${j.facts.subscription}`;
    const m = missing.get(key) ?? {};
    const obstacles = refused.get(key) ?? [];
    if (Object.keys(m).length === 0 && obstacles.length === 0) continue;
    j.facts.missingColumns = m;
    j.facts.obstacles = obstacles;
    judge(j);
  }
  subs.sort((a, b) => compareText(a.name, b.name) || compareText(a.node, b.node));
  withFailover(subs, failover);
  return subs;
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
  await Promise.all([observeStreamPositions(topology, observed), markStuckSlots(topology, observed)]);
  const live = await readLive(topology, observed, { record: true });
  const gaps = await observeContinuity(topology, observed, { record: true });
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
  const subs = await subscriptionStatuses(topology, observed, live, gaps);
  return {
    topology: topology.topology,
    sampledAt: new Date().toISOString(),
    nodes,
    subscriptions: subs,
    slots: slotStatuses(topology, observed, live),
  };
}

/** The states a reinit records before its copy is followed to the end (executors/reinit.ts). */
const REINIT_STATES: ReadonlySet<InitState> = new Set(['reinitializing', 'copying']);

/** The states the verdict shows where the init state is synchronized (judge). */
const FROM_SYNCHRONIZED: ReadonlySet<string> = new Set(VERDICT_STATES);

/**
 * Each subscription's part in a failover of its publisher: the last one and the next one; one
 * whose last failover skipped changes or left phantom rows shows as diverged with the reason as
 * read now (the record keeps apply's first), recorded or not yet (the next apply records it).
 */
function withFailover(subs: SubscriptionStatus[], verdicts: FailoverVerdict[]): void {
  for (const v of verdicts) {
    const s = subs.find((x) => x.name === v.subscription && x.node === v.node);
    if (!s) continue;
    if (AFTER_FAILOVER.includes(v.verdict)) s.lastFailover = { verdict: v.verdict, reasons: v.reasons };
    else s.failover = { verdict: v.verdict, reasons: v.reasons };
    if (v.verdict !== 'diverged') continue;
    // a synchronized init, whatever the verdict on its worker now: the failover's gap is the worse news
    if (s.state === 'synchronized' || (s.exists && FROM_SYNCHRONIZED.has(s.state))) s.state = 'diverged';
    // the verdict read now, not the one apply recorded when it first saw it: the subscription may
    // have been enabled, disabled or re-pointed since, and verify and reinit name this one
    if (s.state === 'diverged') s.error = v.reasons.join('; ');
  }
}

/**
 * For `drift`, from status' own reading of the subscribers, recorded as status records it (so
 * drift, status --check and the metrics judge each reading against the last one any of them
 * took; a subscriber that cannot be read tells nothing here, plan reports it): the declared
 * subscriptions with PostgreSQL 18 conflicts since their last verify, those failing, with a gap,
 * unverified or diverged, with the evidence, and reinits not finished.
 */
export async function liveProblems(topology: Topology, observed: ClusterState) {
  const live = await readLive(topology, observed, { record: true, nodes: liveNodes(topology, observed) });
  const judged = (
    await subscriptionStatuses(topology, observed, live, await continuityOf(topology, observed))
  ).filter((s) => s.declared);
  const conflicts = judged
    .flatMap((s) => conflictsSince(s) ?? [])
    .sort((a, b) => compareText(a.subscription, b.subscription));
  const of = (reason: (s: (typeof judged)[number]) => string[] | null | undefined) =>
    judged.flatMap((s) => {
      const reasons = reason(s);
      return reasons ? [{ subscription: s.name, node: s.node, from: s.from, reasons }] : [];
    });
  const verdict = (v: string) => of((s) => (s.verdict?.verdict === v ? s.verdict.reasons : null));
  const reinits = of((s) => (s.unfinishedReinit ? [s.unfinishedReinit] : null));
  const diverged = of((s) => (s.state !== 'diverged' ? null : s.error ? [s.error] : [divergedLine(s)]));
  const [failing, gaps, unverified] = [verdict('failing'), verdict('gap'), verdict('unverified')];
  return { conflicts, failing, gaps, reinits, unverified, diverged };
}

export async function openStatus(configPath: string) {
  const { topology, warnings } = await loadTopology(configPath);
  return { topology, configWarnings: warnings };
}
