import type pg from 'pg';
import { segmentBounds, segmentComparison, segmentKey } from '../catalog/segments.js';
import { loadTopology } from '../config/load.js';
import { withSession } from '../db/connect.js';
import type { EventSink } from '../executors/events.js';
import { parseDuration } from '../model/durations.js';
import { SteepError } from '../model/errors.js';
import { unrecordedState } from '../model/initLifecycle.js';
import { compareText } from '../model/order.js';
import {
  coverageOf,
  type RollingReport,
  rangeText,
  rollingOrder,
  type Segment,
  type SegmentVerdict,
  segmentCount,
  segmentId,
  segmentsOf,
} from '../model/rollingVerify.js';
import {
  declaredSubscription,
  qualifiedName,
  type SubscriptionSpec,
  type Topology,
} from '../model/topology.js';
import type { TableComparison, TableVerdict, VerifyReport } from '../model/verify.js';
import { isComparison } from '../planner/compare/verify.js';
import { SubscriptionStateStore } from '../state/subscriptionState.js';
import { VerifiedSegmentsStore } from '../state/verifiedSegments.js';
import {
  compareOnPair,
  notVerifiable,
  openSession,
  recordVerdicts,
  runStart,
  verifyPreflight,
  verifyReport,
} from './verify.js';
import { planVerify } from './verifyScope.js';

/**
 * `steep verify --rolling --budget DURATION [SUBSCRIPTION]` (docs/repair.md): the segments of
 * every table of the subscription (of every subscription when none is named), least recently
 * compared first, one comparison each — `compareTable` on the segment's key range, re-checked
 * under writes as `steep verify` does — until the budget is spent; none but the first starts
 * after it, and none is compared twice in a run (a run is at most one cycle). Each
 * segment's comparison is recorded as it ends (verified_segments), so the next run resumes with
 * the others; a segment found diverged moves the subscription to `diverged` at once, as
 * `steep verify` does, with its table in diverged_tables. A rolling run never clears a table
 * found diverged: a verify of it, or its reinit, does.
 */

export interface RollingOptions {
  /** `--budget`: a duration as steep.yaml writes them (model/durations.ts) */
  budget: string;
  parallel: number;
  examples: number;
  onEvent: EventSink;
  onSegmentDone?: (s: SegmentVerdict) => void;
}

/** A tuning knob (and the tests' way to get many segments out of small tables): rows per segment. */
function segmentRowsSetting(): number | undefined {
  const n = Number.parseInt(process.env.STEEP_VERIFY_SEGMENT_ROWS ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** One subscription as the run found it: what it compares, and its segments. */
export interface Scope {
  d: SubscriptionSpec;
  info: Awaited<ReturnType<typeof verifyPreflight>>['info'];
  slot: string | null;
  onlyCopy: string | null;
  state: string | null;
  comparisons: Map<string, TableComparison>;
  notVerifiable: TableVerdict[];
  segments: Segment[];
  /** per table, the diverged segments' verdicts summed */
  diverged: Map<string, TableVerdict>;
  /**
   * PostgreSQL 18's conflict counters read before any comparison of the run (null before 18),
   * kept with each segment found equal; undefined: the state schema keeps none (migration 23)
   */
  conflicts: Record<string, number> | null | undefined;
}

export async function verifyRolling(
  configPath: string,
  subscription: string | undefined,
  opts: RollingOptions,
) {
  const t0 = Date.now();
  const budgetMs = parseDuration(opts.budget);
  if (budgetMs === undefined || budgetMs === 0)
    throw new SteepError(
      'verify.budget',
      `--budget ${opts.budget} is not a duration: write one as 30s, 5min, 1h (a number alone is milliseconds)`,
    );
  const deadline = t0 + budgetMs;
  const { topology, warnings } = await loadTopology(configPath);
  const chosen = subscription
    ? [declaredSubscription(topology, subscription, 'verify.unknown_subscription')]
    : Object.values(topology.subscriptions).sort((a, b) => compareText(a.name, b.name));
  const scopes: Scope[] = [];
  for (const d of chosen) scopes.push(await scopeOf(topology, d));
  const queue = rollingOrder(scopes.flatMap((s) => s.segments));
  const byName = new Map(scopes.map((s) => [s.d.name, s]));
  const compared: SegmentVerdict[] = [];
  const sessions = new Map<string, Promise<pg.Client>>();
  // one session per subscriber records each segment as it ends, one record at a time
  const subscriberOf = (node: string) => {
    if (!sessions.has(node)) sessions.set(node, openSession(topology, node, 'plain'));
    return sessions.get(node)!;
  };
  let recording = Promise.resolve();
  const serially = (work: () => Promise<void>) => {
    const done = recording.then(work);
    recording = done.catch(() => {});
    return done;
  };
  let next = 0;
  let failure: unknown = null;
  const worker = async () => {
    // the first segment starts whatever the budget: a run shorter than one comparison still moves on
    while (failure === null && next < queue.length && (next === 0 || Date.now() < deadline)) {
      const seg = queue[next++]!;
      const scope = byName.get(seg.subscription)!;
      try {
        const v = await compareSegment(topology, scope, seg, opts);
        const found = {
          subscription: seg.subscription,
          table: seg.table,
          segment: seg.segment,
          lo: seg.lo,
          hi: seg.hi,
          verdict: v.verdict,
        };
        await serially(() =>
          recordSegment(topology, scope, seg, found, v.at, subscriberOf(scope.d.node), opts),
        );
        compared.push(found);
        opts.onSegmentDone?.(found);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.parallel }, worker));
  } finally {
    await Promise.all([...sessions.values()].map((c) => c.then((x) => x.end()).catch(() => {})));
  }
  if (failure !== null) throw failure;
  const reports = scopes.map((s) => reportOf(s, t0));
  const report: RollingReport = {
    budgetMs,
    parallel: opts.parallel,
    compared,
    notReached: queue.length - compared.length,
    coverage: coverageOf(
      scopes.flatMap((s) => s.segments),
      new Set(compared.map(segmentId)),
    ),
    subscriptions: reports,
    diverged: reports.some((r) => r.diverged),
    rows: compared.reduce((n, c) => n + c.verdict.rows, 0),
    durationMs: Date.now() - t0,
  };
  return { report, configWarnings: warnings };
}

/** A subscription's comparisons and segments: each table's map read, made where it has none or its key changed, dropped for tables gone. */
export async function scopeOf(topology: Topology, d: SubscriptionSpec): Promise<Scope> {
  const schema = topology.settings.stateSchema;
  return withSession(openSession(topology, d.node, 'plain'), (sub) =>
    withSession(openSession(topology, d.from, 'compare'), async (pub) => {
      const { info, slot, onlyCopy } = await verifyPreflight(topology, d, pub, sub);
      const store = new VerifiedSegmentsStore(schema, d.node);
      if (!(await store.exists(sub)))
        throw new SteepError(
          'verify.no_state',
          `verify --rolling records what it compared in steep's state schema ${schema} on ${d.node}, which does not have it yet: run steep apply first (it migrates the schema)`,
          { node: d.node },
        );
      const { plans } = await planVerify(pub, sub, d, info, undefined, topology);
      const comparisons = new Map(plans.filter(isComparison).map((p) => [qualifiedName(p.table), p]));
      // read before any comparison: a conflict counted after it is one no comparison may have seen
      const { conflicts } = await runStart(sub, d.name);
      const keepsConflicts = await store.keepsConflicts(sub);
      const kept = await store.list(sub, d.name);
      const gone = [...new Set(kept.map((s) => s.table))].filter((t) => !comparisons.has(t));
      if (gone.length > 0) await store.forget(sub, d.name, gone);
      const segments: Segment[] = [];
      for (const [table, cmp] of comparisons) {
        const key = segmentKey(cmp);
        const mine = kept.filter((s) => s.table === table);
        if (mine.length > 0 && mine.every((s) => s.keyColumn === key)) {
          segments.push(...mine);
          continue;
        }
        const count = key === null ? 1 : segmentCount(cmp.estimatedRows, segmentRowsSetting());
        const made = segmentsOf(
          { subscription: d.name, table, keyColumn: key },
          await segmentBounds(pub, cmp, count),
          cmp.estimatedRows,
        );
        await store.replace(sub, d.name, table, made);
        segments.push(...made);
      }
      const state =
        (await new SubscriptionStateStore(schema, d.node).get(sub, d.name))?.state ??
        unrecordedState({ enabled: info.enabled, tables: info.tables.values() });
      return {
        d,
        info,
        slot,
        onlyCopy,
        state,
        comparisons,
        notVerifiable: plans.flatMap((p) => (isComparison(p) ? [] : [notVerifiable(p)])),
        segments,
        diverged: new Map(),
        conflicts: keepsConflicts ? conflicts : undefined,
      };
    }),
  );
}

/** One segment compared on a pair of its own; `at`: when it began (what an equal verdict holds from). */
export async function compareSegment(
  topology: Topology,
  scope: Scope,
  seg: Segment,
  opts: Pick<RollingOptions, 'examples' | 'onEvent'>,
): Promise<{ verdict: TableVerdict; at: Date }> {
  const at = new Date();
  const cmp = segmentComparison(scope.comparisons.get(seg.table)!, seg);
  const verdict = await compareOnPair(topology, scope.d, scope.slot, cmp, {
    examples: opts.examples,
    onEvent: opts.onEvent,
  });
  opts.onEvent({
    event: 'verify.segment_complete',
    level: verdict.status === 'diverged' ? 'warn' : 'info',
    node: scope.d.node,
    subscription: scope.d.name,
    table: seg.table,
    phase: verdict.status,
    duration_ms: verdict.durationMs,
    message: `segment ${seg.segment} ${rangeText(seg)}: ${verdict.status}, ${verdict.rows} rows`,
  });
  return { verdict, at };
}

/**
 * The segment's comparison recorded; a difference found also as `steep verify` records it: the
 * table's diverged segments of this run summed in diverged_tables, the subscription `diverged`.
 */
async function recordSegment(
  topology: Topology,
  scope: Scope,
  seg: Segment,
  found: SegmentVerdict,
  at: Date,
  subscriber: Promise<pg.Client>,
  opts: Pick<RollingOptions, 'onEvent'>,
): Promise<void> {
  const sub = await subscriber;
  const v = found.verdict;
  await new VerifiedSegmentsStore(topology.settings.stateSchema, scope.d.node).record(sub, seg, {
    at,
    verdict: v.status,
    rows: v.rows,
    conflicts: scope.conflicts,
  });
  Object.assign(seg, {
    comparedAt: at.toISOString(),
    verdict: v.status,
    rows: v.rows,
    equalAt: v.status === 'equal' ? at.toISOString() : seg.equalAt,
  });
  if (v.status !== 'diverged') return;
  const summed = sumVerdicts(scope.diverged.get(seg.table), v);
  scope.diverged.set(seg.table, summed);
  const run = { startedAt: at, conflicts: null, whole: false, verdicts: [summed] };
  scope.state = await recordVerdicts(sub, topology, scope.d, scope.info, run, opts.onEvent);
}

/** The counts two segments' verdicts of one table add up. */
const COUNTS = [
  'rows',
  'subscriberRows',
  'chunks',
  'chunksIdentical',
  'missing',
  'extra',
  'different',
  'changing',
  'durationMs',
] as const;

/** Two segments' verdicts of one table as one. */
export function sumVerdicts(a: TableVerdict | undefined, b: TableVerdict): TableVerdict {
  if (!a) return b;
  const counts = Object.fromEntries(COUNTS.map((k) => [k, a[k] + b[k]]));
  const allowed = a.allowed &&
    b.allowed && {
      ...a.allowed,
      missing: a.allowed.missing + b.allowed.missing,
      extra: a.allowed.extra + b.allowed.extra,
      different: a.allowed.different + b.allowed.different,
    };
  return {
    ...a,
    ...counts,
    ...(allowed ? { allowed } : {}),
    examples: {
      missing: [...a.examples.missing, ...b.examples.missing],
      extra: [...a.examples.extra, ...b.examples.extra],
      different: [...a.examples.different, ...b.examples.different],
    },
  };
}

/** The subscription as `steep verify` reports it: its tables found diverged in this run, and those not comparable. */
function reportOf(s: Scope, t0: number): VerifyReport {
  const tables = [
    ...[...s.diverged.values()].sort((a, b) => compareText(a.table, b.table)),
    ...s.notVerifiable,
  ];
  return verifyReport(s.d, tables, { state: s.state, onlyCopy: s.onlyCopy, t0 });
}
