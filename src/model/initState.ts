/**
 * Initialisation of a subscription (docs/steep-yaml.md): the eight states steep persists per subscription
 * in the subscriber's state schema, what the catalog reads of them, and the live progress
 * figures of an init (copy, catch-up) as `apply`, `init status` and `status` show them.
 */
import type { ObservedSlot, SubscriptionRelState } from './cluster.js';
import type { InitMethod } from './initMethods.js';
import type { SubscriptionRef, TableName } from './topology.js';

/** In the order an init passes through them, then the side states. */
export const INIT_STATES = [
  'uninitialized',
  'preparing',
  'copying',
  'catching_up',
  'synchronized',
  'diverged',
  'failed',
  'reinitializing',
] as const;

export type InitState = (typeof INIT_STATES)[number];

/** A `subscription_state` row of the node itself. Times are ISO 8601. */
export interface ObservedSubscriptionState {
  subscription: string;
  initMethod: InitMethod | string;
  state: InitState;
  sourceNode: string;
  startedAt: string | null;
  completedAt: string | null;
  updatedAt: string;
  /** why it failed (state `failed`), else null */
  error: string | null;
}

/** An `init_slots` row: a slot `steep init prepare` created on the publisher for a subscription. */
export interface ObservedInitSlot {
  slot: string;
  subscription: string;
  /** the slot's consistent point: the backup restored on the subscriber must be consistent here */
  lsn: string;
  snapshotName: string | null;
  createdAt: string;
  expiresAt: string | null;
}

/** What steep's state schema on a subscriber records about its subscriptions' inits. */
export interface ObservedInitState {
  /** by subscription name */
  subscriptions: Record<string, ObservedSubscriptionState>;
  /** by subscription name */
  slots: Record<string, ObservedInitSlot>;
  /**
   * by subscription name: the tables steep's own copy has loaded chunks of (`copy_chunks` rows
   * done), which a copy that starts over empties; absent where none
   */
  copied?: Record<string, TableName[]>;
}

/** One subscribed table during an init. */
export interface TableProgress extends TableName {
  /** pg_subscription_rel.srsubstate: i init, d copying, f copied, s synchronised, r ready */
  state: SubscriptionRelState;
  /** the publisher's table size (heap + TOAST), null when it could not be read */
  sizeBytes: number | null;
  /** the publisher's estimate of its rows (statistics, not a count) */
  estimatedRows: number | null;
  /** rows the table-sync worker has copied so far (pg_stat_progress_copy), or the estimate once copied */
  rowsCopied: number;
  /** 0–100 */
  percent: number;
}

/** A table's indexes steep's own copy deferred, and their build once under way. */
export interface DeferredIndexProgress {
  /** `schema.name` */
  table: string;
  indexes: string[];
  /** PostgreSQL's index build on the table (pg_stat_progress_create_index): phase and percent of it */
  building: { phase: string; percent: number | null } | null;
}

/** The live figures of a subscription's init, as sampled from both nodes at `sampledAt`. */
export interface InitProgress extends SubscriptionRef {
  method: InitMethod | string;
  /** the persisted state, moved forward by what this sample shows */
  state: InitState;
  /** 0–100: the copy, weighted by table size; 100 once every table is copied */
  percent: number;
  tablesTotal: number;
  tablesDone: number;
  /** `schema.table` being copied right now */
  currentTables: string[];
  rowsCopied: number;
  bytesTotal: number | null;
  /** rows per second over the last few samples; null until two samples exist */
  rowsPerSecond: number | null;
  /** seconds to the end of the copy at the current pace; null when unknown */
  etaSeconds: number | null;
  /** WAL the subscription still has to receive (publisher: current WAL position − slot's confirmed flush) */
  lagBytes: number | null;
  /** the publisher's replay lag for the subscription's walsender */
  lagSeconds: number | null;
  /** table-sync workers running on the subscriber */
  syncWorkers: number;
  /** the apply worker runs */
  applyWorkerRunning: boolean;
  /** pg_stat_subscription_stats (PostgreSQL 15+); null before 15 */
  applyErrorCount: number | null;
  syncErrorCount: number | null;
  /** null when the publisher answered */
  publisherError: string | null;
  /** null when the subscriber answered; else every other figure is unknown */
  subscriberError: string | null;
  /** the subscription exists on the subscriber */
  exists: boolean;
  enabled: boolean;
  /** persisted `error` of a failed init */
  error: string | null;
  startedAt: string | null;
  sampledAt: string;
  tables: TableProgress[];
  /** state `diverged`: the tables `steep verify` found different */
  divergedTables?: string[];
  /** steep's own copy, every row in: the tables whose deferred indexes are being built */
  buildingIndexes?: string[];
  /**
   * steep's own copy: the indexes it dropped before loading a big table and has not built again
   * yet (state `deferred_indexes`), per table, with the build under way on it (`init status`)
   */
  deferredIndexes?: DeferredIndexProgress[];
  /** tables copied (`f`) whose table-sync slot is gone from the publisher: they never finish */
  lostSyncSlots?: string[];
  /**
   * PostgreSQL disabled the subscription at an error (disable_on_error, model/disableOnError.ts):
   * nothing moves until it is enabled again, so a follow stops at once
   */
  disabledAtError?: true;
  /**
   * The server's logical replication workers, read while no table-sync worker runs and a table
   * waits for its copy (catalog/initProgress.ts `readWorkerUse`)
   */
  workerUse?: WorkerUse;
  /** what the copy waits for and for how long (`waiting 12 s of at most 60 s for …`), while it waits */
  waiting?: string;
}

/** A server's logical replication workers: the setting, those running, and whose they are (every database). */
export interface WorkerUse {
  max: number;
  running: number;
  users: Array<{ database: string; subscription: string; workers: number }>;
}

/**
 * The worker figures of an init no subscription worker is part of (steep's own copy runs before
 * the subscription is enabled) or whose subscriber cannot be read: no lag, no workers, no counts.
 */
export const NO_WORKER_FIGURES = {
  lagBytes: null,
  lagSeconds: null,
  syncWorkers: 0,
  applyWorkerRunning: false,
  applyErrorCount: null,
  syncErrorCount: null,
} as const satisfies Partial<InitProgress>;

// What one sample of the nodes shows during an init (read by catalog/initProgress.ts).

export interface SubscriptionTableSample extends TableName {
  state: SubscriptionRelState;
  /** rows copied so far by the table-sync worker, while it copies */
  tuplesProcessed: number | null;
  bytesProcessed: number | null;
}

export interface SubscriptionActivity
  extends Pick<InitProgress, 'enabled' | 'syncWorkers' | 'applyErrorCount' | 'syncErrorCount'> {
  oid: number;
  name: string;
  /** its slot on the publisher (a renamed subscription's keeps the old name); null: NONE */
  slot?: string | null;
  applyRunning: boolean;
  lastMessageAt: string | null;
  /** 18+, else null */
  conflictCount: number | null;
  conflicts: Record<string, number> | null;
}

export interface SubscriberSample {
  /** null: no such subscription on the node */
  activity: SubscriptionActivity | null;
  tables: SubscriptionTableSample[];
}

export interface PublishedTableSize {
  sizeBytes: number;
  /** the larger of the planner's estimate and the live-tuple statistic */
  estimatedRows: number;
}

export interface SlotLag
  extends Pick<
    ObservedSlot,
    'active' | 'activePid' | 'walStatus' | 'confirmedFlushLsn' | 'retainedWalBytes'
  > {
  slot: string;
  currentLsn: string;
  lagBytes: number | null;
  lagSeconds: number | null;
  /**
   * the slot's walsender: none (inactive), hidden (the role sees its pid only: pg_stat_replication
   * shows the rest to superusers and members of pg_read_all_stats), streaming; absent: not read
   */
  walsender?: 'none' | 'hidden' | 'streaming';
}
