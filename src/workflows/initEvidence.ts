/**
 * Every init ends with evidence (docs/status.md, model/initEvidence.ts). Before a restored
 * subscription is enabled, its tables are checked for rows plainly not the publisher's; once an
 * init is `synchronized`, apply compares its rows — every row of a table below
 * `verify.fullBelow`, a sample of a bigger one's rolling-verify segments — and records the
 * comparison as `steep verify` does: a table that differs makes the subscription `diverged`.
 */
import type pg from 'pg';
import { readPublishedScope, readSubscriptionInfo } from '../catalog/compareScope.js';
import { readErrorCounts, subscriptionErrorCount } from '../catalog/errorCounters.js';
import { serverVersionOf } from '../catalog/session.js';
import { readTableRows } from '../catalog/tableRows.js';
import { nodeSession, withSession } from '../db/connect.js';
import type { ApplyEvent, EventSink } from '../executors/events.js';
import { sleep } from '../executors/sleep.js';
import { subscriptionAddress } from '../model/address.js';
import { adviceText } from '../model/advice.js';
import { SteepError } from '../model/errors.js';
import { comparisonOf, FULL_BELOW_DEFAULT, implausibleRows, sampledSegments } from '../model/initEvidence.js';
import { nextReading } from '../model/syncVerdict.js';
import { qualifiedName, type SubscriptionSpec, type Topology } from '../model/topology.js';
import type { TableComparison, TableVerdict, VerifyReport } from '../model/verify.js';
import { oldestComparison } from '../model/verifyWindow.js';
import { SAY_EVERY_MS } from '../model/waits.js';
import { compareSummary, repairHint } from '../render/verify.js';
import { StatusReadingStore } from '../state/statusReadings.js';
import { readVerifiedEvidence } from '../state/verifiedEvidence.js';
import { VerifiedSegmentsStore } from '../state/verifiedSegments.js';
import {
  compareOnPair,
  openSession,
  pool,
  recordVerdicts,
  runStart,
  tableDone,
  verifyReport,
} from './verify.js';
import { compareSegment, type Scope, scopeOf, sumVerdicts } from './verifyRolling.js';

export interface EvidenceOptions {
  parallel: number;
  onEvent: EventSink;
  /** only these tables (`schema.table`: a reinit's); absent: every table, recorded as a verify of the whole subscription */
  tables?: readonly string[];
}

/** Examples of each kind of difference an init's comparison keeps (as `steep verify`'s default). */
const EXAMPLES = 10;

/**
 * Refuse to enable a subscription whose restored tables are plainly not the publisher's rows
 * (`sub`: the apply's session on the subscriber): each table of its publications, empty where
 * the publisher holds rows, or an order of magnitude apart in both sides' estimates.
 */
export async function checkRestored(topology: Topology, d: SubscriptionSpec, sub: pg.Client): Promise<void> {
  const scope = await withSession(nodeSession(topology, d.from, 'steep apply'), async (pub) => {
    const published = await readPublishedScope(
      pub,
      await serverVersionOf(pub),
      d.publications,
      topology.settings.stateSchema,
    );
    return { published, rows: await readTableRows(pub, published) };
  });
  const onSubscriber = await readTableRows(
    sub,
    scope.published.map((p) => ({ table: p.table })),
  );
  const problems = scope.published.flatMap((p) => {
    const table = qualifiedName(p.table);
    const pubRows = scope.rows.get(table);
    const subRows = onSubscriber.get(table);
    if (!pubRows || !subRows) return [];
    const why = implausibleRows({
      table,
      publisherHasRows: pubRows.hasRows,
      subscriberHasRows: subRows.hasRows,
      // a row filter makes the publisher's estimate no measure of what the subscriber should hold
      publisherEstimate: p.filter === null ? pubRows.estimate : null,
      subscriberEstimate: p.filter === null ? subRows.estimate : null,
    });
    return why === null ? [] : [why];
  });
  if (problems.length === 0) return;
  throw new SteepError(
    'init.implausible_rows',
    `the ${d.init.method} init of ${d.name} on ${d.node} was not enabled: ${problems.join('; ')}. ` +
      `Restore the rows from ${d.from} at the slot \`steep init prepare\` made (or run ANALYZE on ${d.node}'s copy where the rows are there and its estimate is stale), then run steep apply again`,
    { node: d.node, address: subscriptionAddress(d.name) },
  );
}

/**
 * The evidence an init (or a reinit, of its `tables`) ends with: its rows compared, what it
 * found said as events carrying `fields` (an apply step's). A table that differs throws (the
 * subscription is `diverged`; the message names the tables and the way out, `what` ended with
 * rows that differ); a comparison that cannot run leaves it `unverified`, said as a warning.
 */
export async function requireEvidence(
  topology: Topology,
  d: SubscriptionSpec,
  opts: EvidenceOptions & { fields: Partial<ApplyEvent>; what: string },
): Promise<void> {
  const { onEvent, fields } = opts;
  let done = 0;
  const report = await compareAfterInit(topology, d, {
    ...opts,
    onEvent: (e) => {
      onEvent(e);
      if (e.event === 'verify.table_complete')
        onEvent({
          event: 'init.comparing',
          level: 'info',
          ...fields,
          message: `comparing rows: ${++done} table(s) compared`,
        });
    },
  }).catch((err: unknown) => {
    onEvent({
      event: 'init.compare_failed',
      level: 'warn',
      ...fields,
      message: `${d.name} is streaming but its rows were not compared (${err instanceof Error ? err.message : String(err)}): it is unverified until \`${adviceText('verify', d.name, opts.tables)}\` compares them`,
    });
    return null;
  });
  if (report === null) return;
  const diverged = report.tables.filter((t) => t.status === 'diverged');
  onEvent({
    event: 'init.compared',
    level: diverged.length > 0 ? 'warn' : 'info',
    ...fields,
    node: d.node,
    subscription: d.name,
    duration_ms: report.durationMs,
    message: compareSummary(report),
  });
  if (diverged.length === 0) return;
  throw new SteepError(
    'init.diverged',
    `${opts.what} ended with rows that differ from ${d.from}'s: ${diverged
      .map((t) => `${t.table} (missing ${t.missing}, extra ${t.extra}, different ${t.different})`)
      .join(', ')}; it is diverged — ${repairHint(report)}`,
    { node: d.node, address: subscriptionAddress(d.name) },
  );
}

/**
 * The init's comparison of `d`, recorded as a verify of every table (its verdict moves the
 * subscription to `diverged` where a table differs). Each table below `verify.fullBelow` row by
 * row; a bigger one by `sampledSegments` of its rolling map, whose comparisons are recorded so the
 * next `verify --rolling` starts with the segments the sample left.
 */
export async function compareAfterInit(
  topology: Topology,
  d: SubscriptionSpec,
  opts: EvidenceOptions,
): Promise<VerifyReport> {
  const t0 = Date.now();
  const scope = await scopeOf(topology, d);
  const fullBelow = d.verifyFullBelow ?? FULL_BELOW_DEFAULT;
  const only = opts.tables && new Set(opts.tables);
  const comparisons = [...scope.comparisons.values()].filter(
    (c) => !only || only.has(qualifiedName(c.table)),
  );
  const notVerifiable = scope.notVerifiable.filter((v) => !only || only.has(v.table));
  const sizes = await withSession(openSession(topology, d.from, 'plain'), (pub) =>
    readTableRows(pub, comparisons),
  );
  return withSession(openSession(topology, d.node, 'plain'), async (sub) => {
    const started = await runStart(sub, d.name);
    // the segments sampled are recorded on this one session, one write at a time
    const store = new VerifiedSegmentsStore(topology.settings.stateSchema, d.node);
    let writes = Promise.resolve();
    const record: RecordSegment = (seg, found) => {
      writes = writes.then(() => store.record(sub, seg, { ...found, conflicts: scope.conflicts }));
      return writes;
    };
    const compared = await pool(comparisons, opts.parallel, async (cmp) => {
      const bytes = sizes.get(qualifiedName(cmp.table))?.bytes ?? null;
      const v =
        comparisonOf(bytes, fullBelow) === 'full'
          ? await compareOnPair(topology, d, scope.slot, cmp, { examples: EXAMPLES, onEvent: opts.onEvent })
          : await compareSample(topology, scope, cmp, record, opts);
      return tableDone(opts, d, v);
    });
    await writes;
    const verdicts = [...compared, ...notVerifiable.map((v) => tableDone(opts, d, v))];
    // every table the subscription carries (a full reinit names them all): a whole comparison,
    // which is what confirms the conflicts counted before it began
    const whole =
      comparisons.length === scope.comparisons.size && notVerifiable.length === scope.notVerifiable.length;
    const run = { ...started, whole, verdicts };
    const state = await recordVerdicts(sub, topology, d, scope.info, run, opts.onEvent);
    return verifyReport(d, verdicts, { state, onlyCopy: scope.onlyCopy, t0 });
  });
}

type RecordSegment = (
  seg: Parameters<VerifiedSegmentsStore['record']>[1],
  found: Parameters<VerifiedSegmentsStore['record']>[2],
) => Promise<void>;

/** A big table by a sample of its segments, each recorded as a rolling verify records it. */
async function compareSample(
  topology: Topology,
  scope: Scope,
  cmp: TableComparison,
  record: RecordSegment,
  opts: EvidenceOptions,
): Promise<TableVerdict> {
  const table = qualifiedName(cmp.table);
  const all = scope.segments.filter((s) => s.table === table);
  const picked = sampledSegments(all);
  let summed: TableVerdict | undefined;
  const found = new Set<TableVerdict['status']>();
  for (const seg of picked) {
    const { verdict, at } = await compareSegment(topology, scope, seg, {
      examples: EXAMPLES,
      onEvent: opts.onEvent,
    });
    await record(seg, { at, verdict: verdict.status, rows: verdict.rows });
    summed = sumVerdicts(summed, verdict);
    found.add(verdict.status);
  }
  // a table has at least one segment; one differing segment is a table that differs
  const status = found.has('diverged')
    ? 'diverged'
    : found.has('not_verifiable')
      ? 'not_verifiable'
      : 'equal';
  return {
    ...summed!,
    table,
    status,
    ...(picked.length < all.length ? { sample: { compared: picked.length, of: all.length } } : {}),
  };
}

/** How often a wait for tables joining a subscription says what it waits for. */

/**
 * The tables that joined a running subscription in this apply (a refresh's copy by PostgreSQL),
 * followed until ready and then compared, with every other table of it never compared and those
 * its step opened a gap in (`gapped`: joined without a copy, compared before they left; an equal
 * comparison closes the gap, workflows/allowedGaps.ts) (`sub`: the apply's session on the subscriber). The wait says what it waits for every 10 s and ends,
 * leaving them to `steep init status --watch` and a verify, when the subscription is disabled,
 * its workers' errors rise (15+), or the signal comes. A table that differs throws as an init's.
 */
export async function settleJoined(
  topology: Topology,
  d: SubscriptionSpec,
  sub: pg.Client,
  opts: EvidenceOptions & { fields: Partial<ApplyEvent>; signal?: AbortSignal; gapped?: readonly string[] },
): Promise<void> {
  const version = await serverVersionOf(sub);
  const errorsBefore = await subscriptionErrorCount(sub, version, d.name);
  let said = Date.now();
  let tables: string[] = [];
  for (;;) {
    const info = await readSubscriptionInfo(sub, d.name);
    if (!info?.enabled || opts.signal?.aborted) return;
    const copying = [...info.tables].filter(([, state]) => state !== 'r').map(([t]) => t);
    if (copying.length === 0) {
      tables = [...info.tables.keys()];
      break;
    }
    const errors = await subscriptionErrorCount(sub, version, d.name);
    if (errors !== null && errorsBefore !== null && errors > errorsBefore) return;
    if (Date.now() - said >= SAY_EVERY_MS) {
      said = Date.now();
      opts.onEvent({
        event: 'apply.step_waiting',
        level: 'info',
        ...opts.fields,
        message: `PostgreSQL copies ${copying.length} table(s) that joined ${d.name} on ${d.node} (${copying.join(', ')}): waiting for them to be ready, then apply compares them`,
      });
    }
    await sleep(250);
  }
  const evidence = (await readVerifiedEvidence(sub, topology.settings.stateSchema, d.node)).get(d.name);
  const gapped = new Set(opts.gapped);
  const never = tables.filter((t) => gapped.has(t) || oldestComparison(evidence?.get(t)) === null);
  if (never.length === 0) return;
  await recordErrorReading(topology, d, sub);
  await requireEvidence(topology, d, { ...opts, tables: never, what: `the tables that joined ${d.name}` });
}

/**
 * This reading of `d`'s error counters, recorded before the comparison of a reinit or of an
 * apply's joined tables as status records its own (state/statusReadings.ts): errors that rose
 * before it (a worker stopped on a column its table lacked until the apply added it, a walsender
 * stuck on a publication until `reinit --full` made its slot again) are behind the comparison
 * (model/errorEpisode.ts); the next status otherwise dates their rise after it. Not before an
 * init's: a first reading there would date every error before the first status as a rise. Best
 * effort, as status's.
 */
export async function recordErrorReading(topology: Topology, d: SubscriptionSpec, sub: pg.Client) {
  try {
    const counts = await readErrorCounts(sub, await serverVersionOf(sub), d.name);
    const store = new StatusReadingStore(topology.settings.stateSchema, d.node);
    const previous = counts && (await store.all(sub));
    if (!counts || !previous) return;
    const now = new Date().toISOString();
    const next = nextReading({
      ...counts,
      previous: previous.get(d.name) ?? null,
      now,
      publisherStartedAt: null,
    });
    if (next) await store.record(sub, new Map([[d.name, next]]));
  } catch {
    // not recorded: the next status dates the rise, and asks for a comparison after it
  }
}
