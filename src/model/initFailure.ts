/**
 * The failure and stall rules of a followed init (no I/O): when `apply` and `init status` call
 * it `failed`, and the reason they give.
 */
import { adviceText } from './advice.js';
import type { InitProgress, SlotLag, WorkerUse } from './initState.js';
import { quoteIdent } from './sql.js';
import { qualifiedName } from './topology.js';
import { PG15 } from './versions.js';
import { waitedText } from './waits.js';

/** What the failure rules remember from one sample to the next (absent: not seen). */
export interface ErrorWatch {
  /** 15+: the workers' error count (sync + apply) this episode of errors is counted from */
  baseline?: number;
  /** …at the last sample */
  count?: number;
  /** when the count first rose above the baseline, and when it last rose */
  since?: number;
  risenAt?: number;
  unreachableSince?: number;
  stalledSince?: number;
  detachedSince?: number;
  /** since when no worker has been free for a table waiting for its copy */
  starvedSince?: number;
  /** since when the subscription is seen disabled at an error that pg_stat_subscription_stats has not counted yet */
  uncountedSince?: number;
  /** before 15: what the tables' copy looked like, and since when it has looked so */
  copy?: string;
  copyUnchangedSince?: number;
  /** the tables seen without their table-sync slot, and since when */
  lost?: string;
  lostSince?: number;
}

/** The init the rules judge, as their reasons name it. */
export interface InitSubject {
  subscription: string;
  /** the subscriber's node name */
  subscriber: string;
  /** the publisher's node name */
  publisher: string;
  slot: string;
  /** where the subscriber's workers connect to the publisher, as a DBA would look for it */
  route: string;
  /** the command that resumes the follow once the cause is fixed (default `steep apply`; a reinit's own) */
  resume?: string;
}

export interface Failure {
  /** `stuck`: its slot cannot decode past a publication's creation (14–17); the reason carries the way out */
  kind: 'publisher' | 'path' | 'sync' | 'apply' | 'workers' | 'sync_slot' | 'disabled' | 'stuck';
  reason: string;
}

/** One sample as the rules judge it, with the caller's own copy `w` of the watch, which they update. */
interface Judged {
  t: InitSubject;
  p: InitProgress;
  slot: SlotLag | null;
  now: number;
  w: ErrorWatch;
  failAfterMs: number;
  version: number;
}

/** How long a subscription disabled at an error waits for pg_stat_subscription_stats to count it. */
const UNCOUNTED_MS = 3_000;

/** Errors counted this close together come from one event: a cut connection fails every worker at once. */
const BURST_MS = 1_000;

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

function copyStalled({ p, now, w, failAfterMs }: Judged): boolean {
  if (p.state !== 'copying' || !p.enabled) {
    w.copy = undefined;
    w.copyUnchangedSince = undefined;
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

/** `PostgreSQL cannot finish public.a: its table-sync slot is gone from east` (status --check, reinit's refusal) */
export function cannotFinishText(tables: readonly string[], publisher: string): string {
  const one = tables.length === 1;
  return `PostgreSQL cannot finish ${tables.join(', ')}: ${one ? 'its table-sync slot is' : 'their table-sync slots are'} gone from ${publisher}`;
}

/**
 * A table's sync that can never finish. PostgreSQL's table-sync worker records the table `f`
 * (FINISHEDCOPY) once its COPY is committed, catches up from its own slot, then drops that slot
 * and records `s` (SYNCDONE) in one transaction, committed asynchronously (a subscription's
 * workers run with synchronous_commit = off by default). If that commit is lost (the subscriber
 * crashed before it reached the disk: seen 1 time in 12 with `pg_ctl restart -m immediate`
 * moments after a table's sync, on 14) or never made (the connection cut after the slot was
 * dropped, before the drop's answer came), the table stays `f` with no slot, and each new worker
 * fails at once with "replication slot … does not exist", every wal_retrieve_retry_interval, for
 * good. Seen for `failAfterMs` (the drop and its commit are milliseconds apart): only copying the
 * table again ends it, as reinit does.
 */
function lostSyncSlots({ p, now, w, failAfterMs }: Judged): Failure | null {
  const lost = p.lostSyncSlots ?? [];
  const key = lost.join(',');
  if (p.publisherError !== null || lost.length === 0) {
    w.lost = undefined;
    w.lostSince = undefined;
    return null;
  }
  if (key !== w.lost) {
    w.lost = key;
    w.lostSince = now;
  }
  if (now - w.lostSince! < failAfterMs) return null;
  const one = lost.length === 1;
  return {
    kind: 'sync_slot',
    reason:
      `PostgreSQL lost the table synchronisation slot${one ? '' : 's'} of ${lost.join(', ')}: ${one ? 'its' : 'their'} copy is recorded done ` +
      `(state f) but the slot${one ? ' is' : 's are'} gone from the publisher, so ${one ? 'its worker fails' : 'their workers fail'} with ` +
      '"replication slot … does not exist" and can never finish (this follows a subscriber restart or a cut connection as a table sync ends)',
  };
}

/**
 * One sample's verdict: why this init has failed (`failed`), or null while it has not (yet),
 * and what the rules remember for the next sample (`watch`, a new value: `watch` is not changed).
 */
export function failure(
  t: InitSubject,
  p: InitProgress,
  slot: SlotLag | null,
  now: number,
  watch: Readonly<ErrorWatch>,
  failAfterMs: number,
  version: number,
): { failed: Failure | null; watch: ErrorWatch } {
  const w = { ...watch };
  const j: Judged = { t, p, slot, now, w, failAfterMs, version };
  const errors = (p.syncErrorCount ?? 0) + (p.applyErrorCount ?? 0);
  // PostgreSQL 15 counts the workers' errors (pg_stat_subscription_stats)
  if (version >= PG15) watchErrors(w, errors, now, failAfterMs);
  const disabled = disabledAtError(j);
  // its error not counted yet: which worker failed is known at the next samples
  if (disabled === 'uncounted') return { failed: null, watch: w };
  const failed =
    disabled ??
    publisherUnreachable(j) ??
    lostSyncSlots(j) ??
    // no worker free: that is why none streams or copies, whatever the other rules would infer
    (starved(j)
      ? noFreeWorker(j)
      : (pathBroken(j) ?? (version >= PG15 ? workerFailing(j, errors) : workersStalled(j))));
  return { failed, watch: w };
}

/** How long a copy may wait for a free logical replication worker: as long as a copy that does not move. */
export function workerWaitMs(failAfterMs: number): number {
  return COPY_STALL_FACTOR * failAfterMs;
}

/** No table-sync worker runs, a table waits for its copy, and every logical replication worker of the server is taken. */
function starved({ p, now, w }: Judged): boolean {
  const use = p.workerUse;
  const waiting =
    p.enabled &&
    p.syncWorkers === 0 &&
    p.tables.some((x) => x.state === 'i' || x.state === 'd') &&
    use !== undefined &&
    use.running >= use.max;
  return heldFor(w, 'starvedSince', waiting, now) !== null;
}

/** `sub_a in app (2), sub_b in crm (1)` */
function workerUsers(use: WorkerUse): string {
  const shown = use.users.slice(0, 5).map((u) => `${u.subscription} in ${u.database} (${u.workers})`);
  return `${shown.join(', ')}${use.users.length > 5 ? ` and ${use.users.length - 5} more` : ''}`;
}

/** What a copy waiting for a worker waits for: `a free logical replication worker on west: all 2 … are in use (…)` */
export function workerWaitText(subscriber: string, use: WorkerUse): string {
  return (
    `a free logical replication worker on ${subscriber}: all ${use.running} of max_logical_replication_workers ${use.max} are in use ` +
    `(subscription in database (workers): ${workerUsers(use)})`
  );
}

/** Waited the whole while for a free worker: PostgreSQL starts the copy only once one is free. */
function noFreeWorker({ t, p, now, w, failAfterMs }: Judged): Failure | null {
  const held = now - w.starvedSince!;
  if (held < workerWaitMs(failAfterMs)) return null;
  return {
    kind: 'workers',
    reason: `no table synchronisation worker could start for ${Math.round(held / 1000)} s: it waits for ${workerWaitText(t.subscriber, p.workerUse!)}`,
  };
}

/**
 * While the copy waits for a free worker: `waiting 12 s of at most 60 s for a free logical
 * replication worker on west: …`, for the follow's progress line (said every few seconds); else
 * undefined.
 */
export function waitingText(
  t: InitSubject,
  p: InitProgress,
  watch: ErrorWatch,
  now: number,
  failAfterMs: number,
) {
  if (watch.starvedSince === undefined || !p.workerUse) return undefined;
  return `waiting ${waitedText(watch.starvedSince, now, workerWaitMs(failAfterMs))} for ${workerWaitText(t.subscriber, p.workerUse)}`;
}

/**
 * PostgreSQL disabled the subscription at an error (disable_on_error): its workers stopped and
 * none starts again until someone enables it, so there is nothing to wait for: told at the first
 * sample that shows it. Its error counts say which worker failed; its message is only in the
 * subscriber's server log.
 */
function disabledAtError({ p, w, now, version }: Judged): Failure | 'uncounted' | null {
  if (!p.disabledAtError) return null;
  const sync = (p.syncErrorCount ?? 0) > 0;
  const counted = sync || (p.applyErrorCount ?? 0) > 0;
  // the statistics reach pg_stat_subscription_stats a moment after the worker exits: waited for
  // (UNCOUNTED_MS), so that the worker named is the one that failed
  if (!counted && version >= PG15) {
    w.uncountedSince ??= now;
    if (now - w.uncountedSince < UNCOUNTED_MS) return 'uncounted';
  }
  const which = sync
    ? 'table synchronisation worker'
    : counted
      ? 'apply worker'
      : 'workers (not counted yet)';
  return {
    kind: 'disabled',
    reason:
      `PostgreSQL disabled it at an error of its ${which} ` +
      `(disable_on_error; pg_stat_subscription_stats: sync_error_count ${p.syncErrorCount ?? 0}, apply_error_count ${p.applyErrorCount ?? 0}), so its copy has stopped`,
  };
}

/** A table copied: the workers got past whatever failed before, so errors are counted afresh. */
export function afterTableCopied(watch: Readonly<ErrorWatch>): ErrorWatch {
  return { ...watch, baseline: undefined, count: undefined, since: undefined, risenAt: undefined };
}

/** When the error counters rose, and since when; after a quiet while, counted afresh. */
function watchErrors(w: ErrorWatch, errors: number, now: number, failAfterMs: number): void {
  w.baseline ??= errors;
  if (errors > (w.count ?? w.baseline)) {
    w.since ??= now;
    w.risenAt = now;
  }
  w.count = errors;
  // quiet for a while: PostgreSQL got past what failed (a connection cut once, say); a later error starts afresh
  if (w.risenAt !== undefined && now - w.risenAt >= 2 * failAfterMs) {
    w.baseline = errors;
    w.since = undefined;
    w.risenAt = undefined;
  }
}

/** How long `holds` has held, remembered in `w[since]`: null (and forgotten) while it does not. */
function heldFor(
  w: ErrorWatch,
  since: 'unreachableSince' | 'detachedSince' | 'stalledSince' | 'starvedSince',
  holds: boolean,
  now: number,
): number | null {
  w[since] = holds ? (w[since] ?? now) : undefined;
  return w[since] === undefined ? null : now - w[since];
}

function publisherUnreachable({ t, p, now, w, failAfterMs }: Judged): Failure | null {
  if ((heldFor(w, 'unreachableSince', p.publisherError !== null, now) ?? -1) < failAfterMs) return null;
  return {
    kind: 'publisher',
    reason: `the publisher ${t.publisher} cannot be reached (${p.publisherError})`,
  };
}

function pathBroken({ t, p, slot, now, w, failAfterMs }: Judged): Failure | null {
  // steep reaches the publisher, but no worker of the subscriber streams from its slot: the
  // subscriber's own path to the publisher is broken. Its failed connection attempts are counted
  // nowhere (not in pg_stat_subscription_stats), and PostgreSQL retries a worker only every
  // wal_retrieve_retry_interval (5 s by default): hence twice the patience. A worker whose
  // errors are still counted after the disconnection (15+) does get through: the rule below says why.
  const detached =
    p.enabled && p.state !== 'synchronized' && p.publisherError === null && slot?.active === false;
  const held = heldFor(w, 'detachedSince', detached, now);
  const getsThrough = w.risenAt !== undefined && w.risenAt - w.detachedSince! > BURST_MS;
  if (held === null || getsThrough || held < 2 * failAfterMs) return null;
  return {
    kind: 'path',
    reason:
      `no worker of ${t.subscriber} has streamed from the slot ${t.slot} on ${t.publisher} for ${Math.round(held / 1000)} s, ` +
      `although steep reaches ${t.publisher}: ${t.subscriber} cannot connect (or stay connected) to ${t.publisher} at ${t.route}`,
  };
}

/** PostgreSQL 15+: a worker that keeps failing: errors again after PostgreSQL restarted it, not one burst. */
function workerFailing({ p, now, w, failAfterMs }: Judged, errors: number): Failure | null {
  const baseline = w.baseline ?? errors;
  const since = w.since;
  const repeated = since !== undefined && w.risenAt !== undefined && w.risenAt - since >= BURST_MS;
  if (!repeated || errors < baseline + 2 || now - since < failAfterMs) return null;
  const sync = (p.syncErrorCount ?? 0) > 0;
  return {
    kind: sync ? 'sync' : 'apply',
    reason: `its ${sync ? 'table synchronisation' : 'apply'} worker failed ${errors - baseline} times (pg_stat_subscription_stats: sync_error_count ${p.syncErrorCount ?? 0}, apply_error_count ${p.applyErrorCount ?? 0})`,
  };
}

/** Before PostgreSQL 15 (no error counters): workers that keep exiting, or a copy that does not move. */
function workersStalled(j: Judged): Failure | null {
  const { t, p, now, w, failAfterMs, version } = j;
  const stalled = p.enabled && !p.applyWorkerRunning && p.syncWorkers === 0 && p.state !== 'synchronized';
  if ((heldFor(w, 'stalledSince', stalled, now) ?? -1) >= 2 * failAfterMs)
    return { kind: 'workers', reason: 'its workers keep exiting (none has run for a while)' };
  if (copyStalled(j)) {
    return {
      kind: 'sync',
      reason:
        `its copy has not moved for ${Math.round((now - w.copyUnchangedSince!) / 1000)} s: a table synchronisation worker keeps failing ` +
        `(PostgreSQL ${Math.floor(version / 10_000)} counts no worker errors), or waits for a free worker or for a long transaction on ${t.publisher}`,
    };
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
 * The sentence a failed init is recorded and reported with: why, what is not copied yet, and
 * what the DBA does next (`logAt`: where the subscriber's server log is).
 */
export function failedReason(
  t: InitSubject,
  failed: Failure,
  p: InitProgress,
  logAt: string,
  causes: readonly string[] = [],
): string {
  if (failed.kind === 'sync_slot') {
    const lost = p.lostSyncSlots ?? [];
    return (
      `init of subscription ${t.subscription} on ${t.subscriber} failed: ${failed.reason}; ` +
      `copy ${lost.length === 1 ? 'it' : 'them'} again with ${adviceText('reinitTables', t.subscription, lost)} ` +
      '(the other tables keep streaming), which follows the init to synchronized'
    );
  }
  if (failed.kind === 'stuck')
    return `init of subscription ${t.subscription} on ${t.subscriber} failed: ${failed.reason}`;
  const resume = t.resume ?? 'steep apply';
  if (failed.kind === 'workers' && p.workerUse) {
    return (
      `init of subscription ${t.subscription} on ${t.subscriber} failed: ${failed.reason}${notCopied(p)}; ` +
      `raise max_logical_replication_workers on ${t.subscriber} (a restart), or disable a subscription that need not run now; ` +
      `the subscription stays and PostgreSQL starts its copy once a worker is free: run \`${resume}\` again to follow it`
    );
  }
  if (failed.kind === 'disabled') {
    return (
      `init of subscription ${t.subscription} on ${t.subscriber} failed: ${failed.reason}${notCopied(p)}; ` +
      `PostgreSQL's message is in ${logAt} ("logical replication subscription "${t.subscription}" has been disabled due to an error" and the error before it); ` +
      `fix its cause, then run ALTER SUBSCRIPTION ${quoteIdent(t.subscription)} ENABLE on ${t.subscriber} and \`${resume}\` again, which follows the copy to synchronized`
    );
  }
  const where =
    failed.kind === 'publisher'
      ? `the slot ${t.slot} on ${t.publisher} is kept: once ${t.publisher} is back, run ${resume} again to resume`
      : failed.kind === 'path'
        ? `check that ${t.subscriber} can reach ${t.publisher} there (network, firewall, pg_hba.conf on ${t.publisher}); ` +
          `PostgreSQL's message is in ${logAt} (look for "could not connect to the publisher" or "could not receive data from WAL stream"); ` +
          `the slot ${t.slot} on ${t.publisher} is kept: once ${t.subscriber} reaches ${t.publisher} again, run ${resume} again to resume`
        : (causes.length > 0
            ? `PostgreSQL refuses it: ${causes.join('; ')}; `
            : `PostgreSQL's message is in ${logAt} (look for "logical replication" errors); `) +
          `the slot ${t.slot} on ${t.publisher} is kept: fix the cause and run ${resume} again to resume`;
  return `init of subscription ${t.subscription} on ${t.subscriber} failed: ${failed.reason}${notCopied(p)}; ${where}`;
}
