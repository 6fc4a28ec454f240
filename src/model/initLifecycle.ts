/**
 * The init lifecycle of a subscription, in one pure module (no I/O): its states and the legal
 * moves between them, how samples of the nodes move an init forward, the figures an init shows
 * (% done, rows/s, ETA, lag), and the rules that call a followed init `failed` or stalled.
 * The state store (`state/subscriptionState.ts`) records through `transitionPath`, the
 * executors (`executors/initFollow.ts`) only sample and record, `status` and `init status`
 * read with the same rules. Over 400 lines because it is one idea: the lifecycle; the types it
 * works on live in `model/initState.ts`.
 */
import { SteepError } from './errors.js';
import type {
  InitProgress,
  InitState,
  PublishedTableSize,
  SlotLag,
  SubscriberSample,
  TableProgress,
} from './initState.js';
import { compareLsn } from './lsn.js';
import { qualifiedName } from './topology.js';
import { PG15 } from './versions.js';

// ---- States and transitions ----

/**
 * The eight init states of a subscription (SPEC §9, reference FR-010), persisted in the
 * subscriber's `subscription_state` (keyed by the node's own name, SPEC §8), and the legal
 * transitions between them:
 *
 *   uninitialized → preparing → copying → catching_up → synchronized
 *   any init state → failed → (resume) preparing | copying | catching_up
 *   synchronized → diverged → reinitializing → copying …
 *   any state → uninitialized (cancel, or the subscription dropped)
 *
 * `none` and `manual` skip `copying`: uninitialized/preparing → catching_up.
 */
export const TRANSITIONS: Readonly<Record<InitState, readonly InitState[]>> = {
  uninitialized: ['preparing', 'copying', 'catching_up', 'synchronized', 'failed'],
  preparing: ['copying', 'catching_up', 'failed', 'uninitialized'],
  copying: ['catching_up', 'failed', 'uninitialized'],
  catching_up: ['synchronized', 'copying', 'failed', 'uninitialized'],
  synchronized: ['diverged', 'reinitializing', 'failed', 'uninitialized'],
  diverged: ['reinitializing', 'synchronized', 'failed', 'uninitialized'],
  failed: ['preparing', 'copying', 'catching_up', 'reinitializing', 'uninitialized'],
  reinitializing: ['copying', 'catching_up', 'synchronized', 'failed', 'uninitialized'],
};

export function canTransition(from: InitState, to: InitState): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * The legal states to pass through from `from` to `to`, shortest first (`to` last); [] when
 * already there. An apply that samples `copying` and then `synchronized` records the
 * `catching_up` in between, so the log shows the whole journey.
 */
export function transitionPath(from: InitState, to: InitState): InitState[] {
  if (from === to) return [];
  const previous = new Map<InitState, InitState>();
  const queue: InitState[] = [from];
  while (queue.length > 0) {
    const s = queue.shift()!;
    for (const next of TRANSITIONS[s]) {
      if (next === from || previous.has(next)) continue;
      previous.set(next, s);
      if (next === to) {
        const path: InitState[] = [to];
        let at = s;
        while (at !== from) {
          path.unshift(at);
          at = previous.get(at)!;
        }
        return path;
      }
      queue.push(next);
    }
  }
  throw new SteepError('init.illegal_transition', `no legal way from init state ${from} to ${to}`);
}

/**
 * The state of an existing subscription steep holds no record of: one adopted from a hand-made
 * topology (`steep import`, before its adoption was recorded), or one whose record was lost. If
 * it is enabled and every table it receives is ready (`r`), its data came from its own stream:
 * it is `synchronized` (and verify may find it `diverged`, reinit may repair it, and `init
 * cancel` of it is a destroy). Otherwise nothing is known of its init: `uninitialized`.
 */
export function unrecordedState(s: { enabled: boolean; tables: Iterable<string> }): InitState {
  if (!s.enabled) return 'uninitialized';
  for (const state of s.tables) if (state !== 'r') return 'uninitialized';
  return 'synchronized';
}

/**
 * States in which a subscription's tables hold what it streamed, not an init's partial copy:
 * dropping it (`init cancel`) is a destroy, needing --allow-destroy and a confirmation.
 */
export const STREAMED: readonly InitState[] = ['synchronized', 'diverged', 'reinitializing'];

/** States in which an init is under way: started_at is kept, completed_at cleared. */
export const IN_PROGRESS: readonly InitState[] = ['preparing', 'copying', 'catching_up', 'reinitializing'];

// ---- Merge init: the states it passes and its final pass ----

/**
 * A merge init (both nodes hold rows) records, on each subscriber, for each subscription of its
 * unit: `preparing` (preflight and analysis) → `copying` (one-sided rows copied, conflicts
 * resolved) → `synchronized` once both subscriptions exist (created with copy_data = false at
 * one point where writes to the merged tables were blocked on both nodes). An existing
 * subscription whose merge is recorded `preparing`, `copying` or `failed` was left by an
 * interrupted merge: the next apply drops it and merges again (the rows already reconciled are
 * identical by then).
 */
export const MERGE_UNFINISHED: readonly InitState[] = ['preparing', 'copying', 'failed'];

/**
 * Rounds of a merge's final pass before it gives up, where the pass cannot write under its locks
 * (a one-way subscription with origin = any would send those writes back): each finds new
 * differences, reconciles them after releasing the locks, locks again.
 */
export const MERGE_FINAL_ROUNDS = 3;

/**
 * That read-only final pass, after the re-check under the write locks: nothing differs → create
 * the subscriptions now; rows written since the reconcile differ → release, reconcile them, lock
 * again; still differing after MERGE_FINAL_ROUNDS → give up. (With origin = none everywhere the
 * remainder is reconciled under the locks and there are no rounds: workflows/mergeInit.ts.)
 */
export function mergeFinalPass(differences: number, round: number): 'create' | 'reconcile-again' | 'give-up' {
  if (differences === 0) return 'create';
  return round < MERGE_FINAL_ROUNDS ? 'reconcile-again' : 'give-up';
}

// ---- Samples move an init forward; progress arithmetic ----

/**
 * Observing (not following) an init: below this much unconfirmed WAL, with a walsender
 * streaming the slot, a subscription whose tables are all ready counts as caught up.
 */
const CAUGHT_UP_BYTES = 64 * 1024;
/** Rates are measured over the samples of this window. */
const RATE_WINDOW_MS = 10_000;
/** A table whose size is unknown weighs like one of 8 kB (one page). */
const MIN_WEIGHT = 8192;

const COPIED: ReadonlySet<string> = new Set(['f', 's', 'r']);

/** pg_subscription_rel: the table's copy is done (f copied, s synchronised, r ready). */
export function isCopied(state: string): boolean {
  return COPIED.has(state);
}

export interface InitSample {
  /** ms since the epoch */
  at: number;
  subscriber: SubscriberSample;
  /** the publisher's sizes of the subscribed tables; null while unknown */
  sizes: Map<string, PublishedTableSize> | null;
  /** the subscription's slot on the publisher; null when absent or the publisher did not answer */
  slot: SlotLag | null;
  /** why the publisher did not answer; null when it did */
  publisherError: string | null;
  /** tables copied (`f`) whose table-sync slot the publisher no longer has (lostSyncSlots) */
  lostSyncSlots?: string[];
}

export interface TrackedSubscription {
  subscription: string;
  node: string;
  from: string;
  method: string;
}

/** Where each state sits on the way to synchronized; an init only moves forward on it. */
const FORWARD: Partial<Record<InitState, number>> = {
  uninitialized: 0,
  preparing: 1,
  reinitializing: 1,
  copying: 2,
  catching_up: 3,
  synchronized: 4,
};

/** The state a sample shows, regardless of what was recorded before. */
export function liveState(sample: InitSample, caughtUp: boolean): InitState {
  const a = sample.subscriber.activity;
  if (!a) return 'uninitialized';
  if (!a.enabled) return 'preparing';
  if (sample.subscriber.tables.some((t) => !COPIED.has(t.state))) return 'copying';
  return caughtUp ? 'synchronized' : 'catching_up';
}

/**
 * The recorded state moved forward by what a sample shows. `failed`, `diverged` and
 * `synchronized` stay as they are: only an apply leaves them (resume, reinit).
 */
export function advanceState(recorded: InitState, live: InitState): InitState {
  const from = FORWARD[recorded];
  const to = FORWARD[live];
  if (from === undefined || to === undefined || recorded === 'synchronized') return recorded;
  if (live === 'uninitialized') return recorded;
  return to > from ? live : recorded;
}

/** A walsender streams the slot, with (almost) no WAL left unconfirmed. */
function streamsWithoutLag(slot: SlotLag | null): boolean {
  if (!slot?.active || slot.lagBytes === null) return false;
  return slot.lagBytes <= CAUGHT_UP_BYTES;
}

/**
 * Caught up, for an observer that looks once (`status`): every table ready and the slot
 * streamed with (almost) no lag. A follower (`InitTracker`) waits for the WAL position instead.
 */
export function caughtUpAtAGlance(tables: readonly { state: string }[], slot: SlotLag | null): boolean {
  return tables.every((t) => t.state === 'r') && streamsWithoutLag(slot);
}

interface Point {
  at: number;
  rows: number;
  percent: number;
}

export class InitTracker {
  private readonly history: Point[] = [];
  /** the publisher's WAL position when every table had become ready: caught up once confirmed past it */
  private targetLsn: string | null = null;
  /** rows last seen per table while copying, so a copied table keeps its count */
  private readonly lastRows = new Map<string, number>();
  private startedAt: string | null;

  private readonly follow: boolean;

  /**
   * `follow`: samples come one after another from the start of the catch-up (apply), so
   * caught up means confirmed past the WAL position of the moment every table was ready; an
   * observer that may look only once also accepts a streaming slot with (almost) no lag.
   */
  constructor(
    readonly info: TrackedSubscription,
    public state: InitState,
    opts: {
      startedAt?: string | null;
      previous?: { at: number; rows: number; percent: number };
      follow?: boolean;
    } = {},
  ) {
    this.follow = opts.follow ?? false;
    this.startedAt = opts.startedAt ?? null;
    if (opts.previous) this.history.push(opts.previous);
  }

  /** Every table ready, and the slot confirmed past the WAL written up to then (or lag ~0). */
  private caughtUp(sample: InitSample): boolean {
    const tables = sample.subscriber.tables;
    if (!sample.subscriber.activity?.enabled || tables.some((t) => t.state !== 'r')) {
      this.targetLsn = null;
      return false;
    }
    const slot = sample.slot;
    if (!slot || slot.lagBytes === null) return false;
    const first = this.targetLsn === null;
    if (first) this.targetLsn = slot.currentLsn;
    if (
      (this.follow || !first) &&
      slot.confirmedFlushLsn !== null &&
      compareLsn(slot.confirmedFlushLsn, this.targetLsn!) >= 0
    )
      return true;
    return !this.follow && streamsWithoutLag(slot);
  }

  private tableFigures(sample: InitSample): TableProgress[] {
    return sample.subscriber.tables.map((t) => {
      const key = qualifiedName(t);
      const size = sample.sizes?.get(key) ?? null;
      const estimated = size ? size.estimatedRows : null;
      let rows: number;
      let percent: number;
      if (COPIED.has(t.state)) {
        rows = Math.max(this.lastRows.get(key) ?? 0, estimated ?? 0);
        percent = 100;
      } else if (t.state === 'd' && t.tuplesProcessed !== null) {
        rows = t.tuplesProcessed;
        this.lastRows.set(key, rows);
        if (estimated && estimated > 0) percent = Math.min(99, (100 * rows) / estimated);
        else if (size && size.sizeBytes > 0 && t.bytesProcessed !== null)
          percent = Math.min(99, (100 * t.bytesProcessed) / size.sizeBytes);
        else percent = 0;
      } else {
        rows = 0;
        percent = 0;
      }
      return {
        schema: t.schema,
        name: t.name,
        state: t.state,
        sizeBytes: size ? size.sizeBytes : null,
        estimatedRows: estimated,
        rowsCopied: rows,
        percent,
      };
    });
  }

  /** Figures of one sample; `state` is the recorded state moved forward by it. */
  update(sample: InitSample, recorded: { error: string | null } = { error: null }): InitProgress {
    const tables = this.tableFigures(sample);
    const caughtUp = this.caughtUp(sample);
    this.state = advanceState(this.state, liveState(sample, caughtUp));

    const weight = (t: TableProgress) => (sample.sizes ? Math.max(t.sizeBytes ?? 0, MIN_WEIGHT) : 1);
    const totalWeight = tables.reduce((s, t) => s + weight(t), 0);
    const percent =
      tables.length === 0
        ? sample.subscriber.activity?.enabled
          ? 100
          : 0
        : tables.reduce((s, t) => s + weight(t) * t.percent, 0) / totalWeight;
    const rows = tables.reduce((s, t) => s + t.rowsCopied, 0);

    this.history.push({ at: sample.at, rows, percent });
    while (this.history.length > 2 && sample.at - this.history[1]!.at >= RATE_WINDOW_MS) this.history.shift();
    const first = this.history[0]!;
    const seconds = (sample.at - first.at) / 1000;
    const rowsPerSecond = seconds >= 0.5 ? Math.max(0, (rows - first.rows) / seconds) : null;
    const percentPerSecond = seconds >= 0.5 ? (percent - first.percent) / seconds : 0;
    let etaSeconds: number | null = null;
    if (percent >= 100) etaSeconds = 0;
    else if (percentPerSecond > 0) etaSeconds = (100 - percent) / percentPerSecond;

    const a = sample.subscriber.activity;
    if (this.startedAt === null && this.state !== 'uninitialized' && this.state !== 'preparing')
      this.startedAt = new Date(sample.at).toISOString();
    const bytesTotal = sample.sizes ? tables.reduce((s, t) => s + (t.sizeBytes ?? 0), 0) : null;
    return {
      subscription: this.info.subscription,
      node: this.info.node,
      from: this.info.from,
      method: this.info.method,
      state: this.state,
      percent: Math.round(percent * 10) / 10,
      tablesTotal: tables.length,
      tablesDone: tables.filter((t) => COPIED.has(t.state)).length,
      currentTables: tables.filter((t) => t.state === 'd').map(qualifiedName),
      rowsCopied: Math.round(rows),
      bytesTotal,
      rowsPerSecond: rowsPerSecond === null ? null : Math.round(rowsPerSecond),
      etaSeconds: etaSeconds === null ? null : Math.round(etaSeconds),
      lagBytes: sample.slot?.lagBytes ?? null,
      lagSeconds: sample.slot?.lagSeconds ?? null,
      syncWorkers: a?.syncWorkers ?? 0,
      applyWorkerRunning: a?.applyRunning ?? false,
      applyErrorCount: a?.applyErrorCount ?? null,
      syncErrorCount: a?.syncErrorCount ?? null,
      publisherError: sample.publisherError,
      subscriberError: null,
      exists: a !== null,
      enabled: a?.enabled ?? false,
      error: this.state === 'failed' ? recorded.error : null,
      startedAt: this.startedAt,
      sampledAt: new Date(sample.at).toISOString(),
      tables,
      ...(sample.lostSyncSlots?.length ? { lostSyncSlots: sample.lostSyncSlots } : {}),
    };
  }
}

// ---- Failure and stall rules of a followed init ----

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
  /** the tables seen without their table-sync slot, and since when */
  lost: string | null;
  lostSince: number | null;
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
}

export type FailureKind = 'publisher' | 'path' | 'sync' | 'apply' | 'workers' | 'sync_slot';

export interface Failure {
  kind: FailureKind;
  reason: string;
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
    lost: null,
    lostSince: null,
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
function lostSyncSlots(p: InitProgress, now: number, w: ErrorWatch, failAfterMs: number): Failure | null {
  const lost = p.lostSyncSlots ?? [];
  const key = lost.join(',');
  if (p.publisherError !== null || lost.length === 0) {
    w.lost = null;
    w.lostSince = null;
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
  return { failed: judge(t, p, slot, now, w, failAfterMs, version), watch: w };
}

/** A table copied: the workers got past whatever failed before, so errors are counted afresh. */
export function afterTableCopied(watch: Readonly<ErrorWatch>): ErrorWatch {
  return { ...watch, baseline: null, count: null, since: null, risenAt: null };
}

/** `failure`'s rules, on the caller's own copy `w` of the watch. */
function judge(
  t: InitSubject,
  p: InitProgress,
  slot: SlotLag | null,
  now: number,
  w: ErrorWatch,
  failAfterMs: number,
  version: number,
): Failure | null {
  const errors = (p.syncErrorCount ?? 0) + (p.applyErrorCount ?? 0);
  // PostgreSQL 15 counts the workers' errors (pg_stat_subscription_stats)
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
        reason: `the publisher ${t.publisher} cannot be reached (${p.publisherError})`,
      };
    }
  } else w.unreachableSince = null;

  const lost = lostSyncSlots(p, now, w, failAfterMs);
  if (lost) return lost;

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
          `no worker of ${t.subscriber} has streamed from the slot ${t.slot} on ${t.publisher} for ${Math.round((now - w.detachedSince) / 1000)} s, ` +
          `although steep reaches ${t.publisher}: ${t.subscriber} cannot connect (or stay connected) to ${t.publisher} at ${t.route}`,
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
          `(PostgreSQL ${Math.floor(version / 10_000)} counts no worker errors), or waits for a free worker or for a long transaction on ${t.publisher}`,
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
 * The sentence a failed init is recorded and reported with: why, what is not copied yet, and
 * what the DBA does next (`logAt`: where the subscriber's server log is).
 */
export function failedReason(t: InitSubject, failed: Failure, p: InitProgress, logAt: string): string {
  if (failed.kind === 'sync_slot') {
    const lost = p.lostSyncSlots ?? [];
    return (
      `init of subscription ${t.subscription} on ${t.subscriber} failed: ${failed.reason}; ` +
      `copy ${lost.length === 1 ? 'it' : 'them'} again with steep reinit ${t.subscription} --tables ${lost.join(',')} ` +
      '(the other tables keep streaming), which follows the init to synchronized'
    );
  }
  const where =
    failed.kind === 'publisher'
      ? `the slot ${t.slot} on ${t.publisher} is kept: once ${t.publisher} is back, run steep apply again to resume`
      : failed.kind === 'path'
        ? `check that ${t.subscriber} can reach ${t.publisher} there (network, firewall, pg_hba.conf on ${t.publisher}); ` +
          `PostgreSQL's message is in ${logAt} (look for "could not connect to the publisher" or "could not receive data from WAL stream"); ` +
          `the slot ${t.slot} on ${t.publisher} is kept: once ${t.subscriber} reaches ${t.publisher} again, run steep apply again to resume`
        : `PostgreSQL's message is in ${logAt} (look for "logical replication" errors); ` +
          `the slot ${t.slot} on ${t.publisher} is kept: fix the cause and run steep apply again to resume`;
  return `init of subscription ${t.subscription} on ${t.subscriber} failed: ${failed.reason}${notCopied(p)}; ${where}`;
}
