import type { DriftItem, FailoverVerdict, OrphanSlot, PlanMessage, SchemaComparison, Step } from './plan.js';
import type { SequenceLag } from './sequences.js';
import type { SubscriptionRef } from './topology.js';
import type { ConflictsSinceVerify } from './verifyRecord.js';

/**
 * What `steep drift` reports (docs/architecture.md, Inside the planner): made by `workflows/drift.ts`, shown by
 * `render/driftText.ts` and `render/driftMarkdown.ts`, printed as is by `drift --json`.
 */

export interface FingerprintChange {
  node: string;
  table: string;
  change: 'changed' | 'dropped';
  saved: string;
  current: string | null;
  savedColumns: number;
  currentColumns: number | null;
  capturedAt: string;
}

export interface DriftReport {
  formatVersion: 1;
  steepVersion: string;
  createdAt: string;
  config: { path: string; digest: string };
  /** anything below that counts: exit 2 */
  drifted: boolean;
  /** managed objects changed outside steep */
  objects: DriftItem[];
  /** every step `steep apply` would run now */
  changes: Array<Pick<Step, 'node' | 'action' | 'reasonText'> & { address: string }>;
  /** subscribed tables that are not MATCH (ORDER_DIFFERS is listed, never counted) */
  schema: SchemaComparison[];
  /** what schema sync says about them: strict mismatches, what auto mode cannot do */
  schemaProblems: PlanMessage[];
  fingerprints: FingerprintChange[];
  orphanSlots: OrphanSlot[];
  /** subscribed tables empty on the subscriber while their publisher holds rows */
  dataGaps: DataGap[];
  /** PostgreSQL 18: subscriptions with conflicts since their last verify (rows that may differ) */
  conflicts: ConflictsSinceVerify[];
  /**
   * declared subscriptions whose replication has stopped (model/syncVerdict.ts: `failing`), with
   * the evidence; absent when none
   */
  failing?: FailingSubscription[];
  /**
   * declared subscriptions with a table whose stream broke (model/continuity.ts: verdict `gap`):
   * changes of the publisher that never reached it, with the way out; absent when none
   */
  gaps?: FailingSubscription[];
  /**
   * declared subscriptions with a reinit not finished (its temporary publications still on the
   * publisher: planner/init/reinitLeftovers.ts), with the way out; absent when none
   */
  reinits?: FailingSubscription[];
  /**
   * declared subscriptions otherwise synchronized with a table not found equal within their
   * verify window (model/verifyWindow.ts: verdict `unverified`), naming the tables; absent when none
   */
  unverified?: FailingSubscription[];
  /**
   * declared subscriptions `diverged`: a verify (or a rolling verify) found rows that differ, or a
   * failover left the subscriber apart, with the way out; absent when none
   */
  diverged?: FailingSubscription[];
  /** with `--sequences`: subscriber sequences behind their publisher's by more than settings.sequenceLag */
  sequences?: SequenceLag[];
  /** subscriptions whose publisher declares standbys; `gap` and `not-ready` count as drift */
  failover?: FailoverVerdict[];
  /** what stops steep from telling (unreachable node, failed preflight): exit 1 */
  errors: PlanMessage[];
  warnings: PlanMessage[];
}

/** A table a subscription receives that is empty on its subscriber while its publisher holds rows. */
export interface DataGap extends SubscriptionRef {
  table: string;
}

/** A subscription whose apply is failing, as `drift` reports it. */
export interface FailingSubscription extends SubscriptionRef {
  /** the verdict's evidence */
  reasons: string[];
}
