import type pg from 'pg';
import { readSubscriptionInfo, type SubscriptionInfo } from '../catalog/compareScope.js';
import { readSubscriptionActivity } from '../catalog/initProgress.js';
import { compareSession } from '../catalog/rowHashes.js';
import { serverVersionOf } from '../catalog/session.js';
import { readSlotTrouble } from '../catalog/slotHolder.js';
import { nodeSession, withSession } from '../db/connect.js';
import { connectionLimit } from '../db/connectionLimit.js';
import type { EventSink } from '../executors/events.js';
import { recordTransition } from '../executors/initFollow.js';
import { compareTable } from '../executors/tableCompare.js';
import { subscriptionAddress } from '../model/address.js';
import { advise, keepPhantomsFirst, onlyCopyReason } from '../model/advice.js';
import { SteepError } from '../model/errors.js';
import { unrecordedState } from '../model/initLifecycle.js';
import { slotTroubleText } from '../model/syncVerdict.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import type { NotVerifiable, TableComparison, TableVerdict, VerifyReport } from '../model/verify.js';
import { allowedText } from '../model/verifyDirection.js';
import { isComparison } from '../planner/compare/verify.js';
import { DivergedTablesStore } from '../state/divergedTables.js';
import { StreamContinuityStore } from '../state/streamContinuity.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';
import { VerificationStore } from '../state/verifications.js';
import { VerifiedSegmentsStore } from '../state/verifiedSegments.js';
import { failoverWayOutNow, staleUrlNow, throwWithPastForkWayOut } from './reinitSlot.js';
import { recordSettled } from './streamPositions.js';
import { planVerify } from './verifyScope.js';
import { chunkRowsSetting, replayTimeoutMs } from './verifySettings.js';

/**
 * `steep verify SUBSCRIPTION` (docs/repair.md): compare what the subscription carries on both
 * nodes, table by table (`parallel` at a time, one read-only session per node each), record
 * the tables found diverged and move the subscription to `diverged` (or back to `synchronized`
 * once nothing differs any more).
 */

export interface VerifyOptions {
  tables?: string[];
  parallel: number;
  examples: number;
  onEvent: EventSink;
  /** a table starts (its estimated rows) / is done */
  onTableStart?: (table: string, estimatedRows: number) => void;
  onTableRows?: (table: string, rows: number) => void;
  onTableDone?: (v: TableVerdict) => void;
}

/** A comparison never waits on a lock long enough to hold up writers queued behind it. */
const LOCK_TIMEOUT_MS = 2_000;
/** One scan of a big table may take this long. */
const STATEMENT_TIMEOUT_MS = 30 * 60_000;
const APPLICATION_NAME = 'steep verify';

/**
 * A session on `node`: `compare` with compareSession's settings (a comparison's read-only
 * session), `write` with the same settings but writable and the file's lock_timeout (a merge
 * writing rows), `plain` as connected.
 */
export async function openSession(
  topology: Topology,
  node: string,
  kind: 'compare' | 'write' | 'plain',
  applicationName = APPLICATION_NAME,
): Promise<pg.Client> {
  const client = await nodeSession(topology, node, applicationName);
  if (kind !== 'plain')
    await compareSession(client, {
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
      lockTimeoutMs: kind === 'write' ? topology.settings.lockTimeout : LOCK_TIMEOUT_MS,
      readOnly: kind === 'compare',
    }).catch(async (err) => {
      await client.end().catch(() => {});
      throw err;
    });
  return client;
}

/**
 * `work` on an openSession of `kind` to each of two nodes, opened together, ended after it;
 * when one fails to open, the other is ended too and the first node's error is thrown.
 */
export async function withPair<T>(
  topology: Topology,
  nodes: [string, string],
  kind: 'compare' | 'write' | 'plain',
  applicationName: string,
  work: (a: pg.Client, b: pg.Client) => Promise<T>,
): Promise<T> {
  const opening = nodes.map((n) => openSession(topology, n, kind, applicationName));
  try {
    await Promise.allSettled(opening);
    return await work(await opening[0]!, await opening[1]!);
  } finally {
    await Promise.all(opening.map((o) => o.then((c) => c.end()).catch(() => {})));
  }
}

/** A table that cannot be compared, as a verdict of nothing compared. */
export function notVerifiable(n: NotVerifiable): TableVerdict {
  return {
    table: qualifiedName(n.table),
    status: 'not_verifiable',
    reason: n.reason,
    ...(n.notComparable ? { notComparable: true as const } : {}),
    keyColumns: [],
    rows: 0,
    subscriberRows: 0,
    chunks: 0,
    chunksIdentical: 0,
    missing: 0,
    extra: 0,
    different: 0,
    examples: { missing: [], extra: [], different: [] },
    changing: 0,
    durationMs: 0,
  };
}

/** Run `work` over `items`, at most `parallel` at a time, in order. */
export function pool<T, R>(items: T[], parallel: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const limited = connectionLimit(Math.max(1, parallel));
  return Promise.all(items.map((item) => limited(() => work(item))));
}

/**
 * What a verify of `d` needs before it compares: the subscription as the subscriber shows it,
 * refused when it replays nothing (no slot while enabled; a slot lost, or beyond the
 * publisher's WAL after a failover, each with its way out), and why its rows may be the only copy.
 */
export async function verifyPreflight(
  topology: Topology,
  d: SubscriptionSpec,
  pub: pg.Client,
  sub: pg.Client,
): Promise<{ info: SubscriptionInfo; slot: string | null; onlyCopy: string | null }> {
  // its publisher's url an older branch (the old primary started again): nothing compared with it
  const stale = await staleUrlNow(topology, d);
  if (stale)
    throw new SteepError('verify.stale_url', `${stale}; steep verify compares nothing with it`, {
      node: d.from,
      address: subscriptionAddress(d.name),
    });
  const info = await readSubscriptionInfo(sub, d.name);
  if (!info)
    throw new SteepError(
      'verify.no_subscription',
      `subscription ${d.name} does not exist on ${d.node}: create it with steep apply before verifying it`,
      { node: d.node, address: subscriptionAddress(d.name) },
    );
  // disabled with no slot (after a switchover's release): nothing is in flight, the rows as they are are compared
  if (info.slot === null && info.enabled)
    throw new SteepError(
      'verify.no_slot',
      `subscription ${d.name} on ${d.node} has no slot (slot_name = NONE): it replays nothing that could be compared`,
      { node: d.node, address: subscriptionAddress(d.name) },
    );
  const slot = info.slot;
  const onlyCopy = onlyCopyReason({
    subscription: d.name,
    node: d.node,
    enabled: d.enabled,
    observedEnabled: info.enabled,
  });
  const trouble = slot !== null ? await readSlotTrouble(pub, slot) : null;
  if (slot !== null && trouble) {
    const what = slotTroubleText(trouble, { slot, subscription: d.name, from: d.from, node: d.node });
    throw trouble.kind === 'beyond'
      ? new SteepError(
          'verify.slot_beyond_wal',
          `${what}, so rows cannot be compared or repaired on it; ${keepPhantomsFirst(d)}`,
          { node: d.from, address: subscriptionAddress(d.name) },
        )
      : new SteepError(
          'verify.slot_lost',
          `${what}: nothing replays to ${d.node}, so its rows cannot be compared and what it missed is unknown; ` +
            ((await failoverWayOutNow(topology, d)) ??
              advise(
                'reinitFull',
                { subscription: d.name, node: d.node, from: d.from, onlyCopy },
                [],
                'creates the slot again and copies every table',
              )),
          { node: d.from, address: subscriptionAddress(d.name) },
        );
  }
  return { info, slot, onlyCopy };
}

export async function verifyLoaded(
  topology: Topology,
  d: SubscriptionSpec,
  opts: VerifyOptions,
): Promise<VerifyReport> {
  const t0 = Date.now();
  return withSession(openSession(topology, d.node, 'plain'), (sub) =>
    withSession(openSession(topology, d.from, 'compare'), async (pub) => {
      const { info, slot, onlyCopy } = await verifyPreflight(topology, d, pub, sub);
      const started = await runStart(sub, d.name);
      // naming every table it carries is a verify of the whole subscription too
      const { plans, whole } = await planVerify(pub, sub, d, info, opts.tables, topology);
      const run = { ...started, whole };
      const verdicts = await pool(plans, opts.parallel, (plan) =>
        verifyTable(topology, d, slot, plan, opts),
      ).catch((err: unknown) => throwWithPastForkWayOut(topology, d, err));
      const state = await recordVerdicts(sub, topology, d, info, { ...run, verdicts }, opts.onEvent);
      return verifyReport(d, verdicts, { state, onlyCopy, t0 });
    }),
  );
}

/** When a comparison begins, with PostgreSQL 18's conflict counters then: conflicts after it are unconfirmed. */
export async function runStart(
  sub: pg.Client,
  subscription: string,
): Promise<{ startedAt: Date; conflicts: Record<string, number> | null }> {
  const startedAt = new Date();
  const [activity] = await readSubscriptionActivity(sub, await serverVersionOf(sub), subscription);
  return { startedAt, conflicts: activity?.conflicts ?? null };
}

/** A comparison of `d` as `steep verify` reports it: its tables' verdicts, the state they left it in. */
export function verifyReport(
  d: SubscriptionSpec,
  tables: TableVerdict[],
  at: { state: string | null; onlyCopy: string | null; t0: number },
): VerifyReport {
  return {
    subscription: d.name,
    node: d.node,
    from: d.from,
    tables,
    diverged: tables.some((v) => v.status === 'diverged'),
    notVerifiable: tables.filter((v) => v.status === 'not_verifiable').length,
    state: at.state,
    onlyCopy: at.onlyCopy,
    durationMs: Date.now() - at.t0,
  };
}

/** One table's verdict: compared on two sessions of its own, or why it cannot be. */
async function verifyTable(
  topology: Topology,
  d: SubscriptionSpec,
  slot: string | null,
  plan: TableComparison | NotVerifiable,
  opts: VerifyOptions,
): Promise<TableVerdict> {
  if (!isComparison(plan)) return tableDone(opts, d, notVerifiable(plan));
  const name = qualifiedName(plan.table);
  opts.onTableStart?.(name, plan.estimatedRows);
  const v = await compareOnPair(topology, d, slot, plan, {
    examples: opts.examples,
    onRows: (rows) => opts.onTableRows?.(name, rows),
    onEvent: opts.onEvent,
  });
  return tableDone(opts, d, v);
}

/**
 * A comparison (a table, or a rolling verify's segment of one) on two read-only sessions of its
 * own, re-checked as the subscriber replays through `slot` (none: as the rows are).
 */
export async function compareOnPair(
  topology: Topology,
  d: SubscriptionSpec,
  slot: string | null,
  plan: TableComparison,
  opts: { examples: number; onRows?: (rows: number) => void; onEvent?: EventSink },
): Promise<TableVerdict> {
  const name = qualifiedName(plan.table);
  // a subscriber that does not replay is waited for: said every few seconds (model/waits.ts)
  const onWaiting = (message: string) =>
    opts.onEvent?.({
      event: 'verify.waiting',
      level: 'warn',
      node: d.node,
      subscription: d.name,
      table: name,
      message,
    });
  return withPair(topology, [d.from, d.node], 'compare', APPLICATION_NAME, async (p, s) => {
    try {
      return await compareTable(p, s, plan, {
        replay:
          slot === null
            ? undefined
            : { ...replayOf(d, slot), onWaiting, ...reverseOf(topology, d, onWaiting) },
        examples: opts.examples,
        chunkRows: chunkRowsSetting(),
        onRows: opts.onRows,
      });
    } catch (err) {
      if (err instanceof SteepError) throw err;
      throw new SteepError(
        'verify.failed',
        `comparing ${name} of subscription ${d.name} failed: ${(err as { message?: string }).message ?? String(err)}`,
        {
          address: subscriptionAddress(d.name),
          cause: err,
        },
      );
    }
  });
}

function replayOf(d: SubscriptionSpec, slot: string) {
  return { slot, timeoutMs: replayTimeoutMs(), subscriberNode: d.node, subscription: d.name };
}

/** A link's other direction, which replays the subscriber's own writes to the publisher. */
function reverseOf(topology: Topology, d: SubscriptionSpec, onWaiting: (message: string) => void) {
  const back = Object.values(topology.subscriptions).find(
    (s) => d.link !== undefined && s.link === d.link && s.node === d.from && s.from === d.node,
  );
  return back ? { reverse: { ...replayOf(back, back.slot), onWaiting } } : {};
}

/** A table's verdict is in: told to the caller, then as an event. */
export function tableDone(
  opts: Pick<VerifyOptions, 'onTableDone' | 'onEvent'>,
  d: SubscriptionSpec,
  v: TableVerdict,
): TableVerdict {
  opts.onTableDone?.(v);
  opts.onEvent({
    event: 'verify.table_complete',
    level: v.status === 'diverged' ? 'warn' : 'info',
    node: d.node,
    subscription: d.name,
    table: v.table,
    phase: v.status,
    duration_ms: v.durationMs,
    message:
      v.status === 'not_verifiable'
        ? `not verifiable: ${v.reason}`
        : `${v.rows} rows, ${v.chunks} chunks (${v.chunksIdentical} identical), ${v.missing} missing, ${v.extra} extra, ${v.different} different${v.allowed ? `; ${allowedText(v.allowed) ?? "in PostgreSQL's direction"}` : ''}`,
  });
  return v;
}

/**
 * The subscription's state after a verify: `diverged` with the tables that differ, or back to
 * `synchronized` from `diverged` once no table is recorded as diverged any more; the verify's
 * record (each table's verdict; a verify of every table also the subscription's, with the
 * conflict counters it began with: one of some tables confirms nothing of the others). Without
 * steep's state schema nothing is recorded (null).
 */
export async function recordVerdicts(
  sub: pg.Client,
  topology: Topology,
  d: SubscriptionSpec,
  info: SubscriptionInfo,
  run: Parameters<VerificationStore['record']>[2],
  onEvent: EventSink,
): Promise<string | null> {
  const schema = topology.settings.stateSchema;
  if (!(await hasInitTables(sub, schema))) return null;
  const verdicts = run.verdicts;
  const record = new VerificationStore(schema, d.node);
  if (await record.exists(sub)) await record.record(sub, d.name, run);
  // every row of every table equal: what a failover before may have done is not in the rows
  // (an init's sample of a big table proves its segments only: model/initEvidence.ts)
  if (run.whole && verdicts.length > 0 && verdicts.every((v) => v.status === 'equal' && !v.sample))
    await recordSettled(topology, d, sub, 'verify');
  // a gap found before this verify began, in a table it found equal, is closed (model/continuity.ts)
  const equal = verdicts.filter((v) => v.status === 'equal' && !v.sample).map((v) => v.table);
  if (equal.length > 0)
    await new StreamContinuityStore(schema, d.node).forget(sub, d.name, equal, run.startedAt.toISOString());
  // these tables were compared whole: every segment of theirs a rolling verify keeps is equal as of then
  const segments = new VerifiedSegmentsStore(schema, d.node);
  if (await segments.exists(sub)) await segments.wholeEqual(sub, d.name, equal, run);
  const states = new SubscriptionStateStore(schema, d.node);
  const diverged = new DivergedTablesStore(schema, d.node);
  let stillDiverged = verdicts.some((v) => v.status === 'diverged');
  if (await diverged.exists(sub)) {
    await diverged.record(sub, d.name, verdicts);
    // a table found diverged before that left the subscription since is no longer its to repair
    const left = (await diverged.tablesOf(sub, d.name)).filter((t) => !info.tables.has(t));
    if (left.length > 0) await diverged.forget(sub, d.name, left);
    stillDiverged = (await diverged.list(sub, d.name)).length > 0;
  }
  // adopted and never recorded: streaming with every table ready is synchronized
  const current =
    (await states.get(sub, d.name))?.state ??
    unrecordedState({ enabled: info.enabled, tables: info.tables.values() });
  let to = current;
  if (stillDiverged && current === 'synchronized') to = 'diverged';
  if (!stillDiverged && current === 'diverged') to = 'synchronized';
  if (to !== current) await recordTransition(states, sub, d, to, onEvent);
  return to;
}
