/**
 * How samples of the nodes move a subscription's init forward, and the figures an init shows
 * (% done, rows/s, ETA, lag), in one pure module (no I/O): the executors
 * (`executors/initFollow.ts`) only sample and record, `status` and `init status` read with the
 * same rules.
 */
import type {
  InitProgress,
  InitState,
  PublishedTableSize,
  SlotLag,
  SubscriberSample,
  TableProgress,
  WorkerUse,
} from './initState.js';
import { compareLsn } from './lsn.js';
import { qualifiedName, type SubscriptionRef } from './topology.js';

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
  /** disabled by PostgreSQL at an error (catalog/errorCounters.ts `readDisabledAtError`) */
  disabledAtError?: boolean;
  /** the server's logical replication workers, when read (no table-sync worker runs, a table waits) */
  workerUse?: WorkerUse;
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
  return from !== undefined && to !== undefined && to > from ? live : recorded;
}

/** A walsender streams the slot, with (almost) no WAL left unconfirmed. */
function streamsWithoutLag(slot: SlotLag | null): boolean {
  return !!slot?.active && slot.lagBytes !== null && slot.lagBytes <= CAUGHT_UP_BYTES;
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
    readonly info: SubscriptionRef & { method: string },
    public state: InitState,
    opts: { startedAt?: string | null; previous?: Point; follow?: boolean } = {},
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
      let rows = 0;
      let percent = 0;
      if (COPIED.has(t.state)) {
        rows = Math.max(this.lastRows.get(key) ?? 0, estimated ?? 0);
        percent = 100;
      } else if (t.state === 'd' && t.tuplesProcessed !== null) {
        rows = t.tuplesProcessed;
        this.lastRows.set(key, rows);
        if (estimated && estimated > 0) percent = Math.min(99, (100 * rows) / estimated);
        else if (size && size.sizeBytes > 0 && t.bytesProcessed !== null)
          percent = Math.min(99, (100 * t.bytesProcessed) / size.sizeBytes);
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
    this.state = advanceState(this.state, liveState(sample, this.caughtUp(sample)));

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
    const etaSeconds = percent >= 100 ? 0 : percentPerSecond > 0 ? (100 - percent) / percentPerSecond : null;

    const a = sample.subscriber.activity;
    if (this.startedAt === null && this.state !== 'uninitialized' && this.state !== 'preparing')
      this.startedAt = new Date(sample.at).toISOString();
    const bytesTotal = sample.sizes ? tables.reduce((s, t) => s + (t.sizeBytes ?? 0), 0) : null;
    return {
      ...this.info,
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
      ...(sample.disabledAtError ? { disabledAtError: true as const } : {}),
      ...(sample.workerUse ? { workerUse: sample.workerUse } : {}),
    };
  }
}
