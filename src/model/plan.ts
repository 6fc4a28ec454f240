/** The plan: a value to print, save, diff and apply later. */
import type { Address } from './address.js';
import type { PlanCapture } from './capture.js';
import type { ObservedSlot } from './cluster.js';
import type { ACTION_CLASS } from './stepClass.js';
import type { IgnoreSpec, SubscriptionRef } from './topology.js';

/** `adopt`: an existing object without steep's marker, declared in the file, taken under management. */
export type Action = 'create' | 'update' | 'replace' | 'delete' | 'init' | 'sync-schema' | 'adopt';

export type Reason =
  | 'absent'
  | 'drifted'
  | 'config-changed'
  | 'cannot-alter'
  | 'removed-from-config'
  | 'schema-mismatch'
  | 'not-initialised'
  /** `steep init cancel`, or a prepared slot that could not be recorded: undo an init */
  | 'init-undone'
  /** exists without steep's marker: adopted */
  | 'unmarked'
  /** a physical clone's copy of its original's subscription, which steep does not manage: detached */
  | 'clone-copy';

export type Hazard =
  | 'drops-object'
  | 'drops-slot'
  | 'copies-data'
  | 'truncates-data'
  | 'rewrites-table'
  | 'locks-table'
  | 'requires-restart'
  /** tables join a subscription without being copied: their existing rows never arrive */
  | 'data-gap'
  /** writes to tables wait while the step runs (a merge init's final pass: LOCK … IN EXCLUSIVE MODE) */
  | 'blocks-writes';

/** What an executor does with a step; the planner decides, the executor only runs it. */
export type StepKind =
  | 'state-schema'
  | 'publication-create'
  | 'publication-alter'
  | 'publication-drop'
  | 'subscription-create'
  | 'subscription-alter'
  | 'subscription-drop'
  /** a slot made on its own before its subscription (a subscriber on the publisher's own server) */
  | 'slot-create'
  | 'slot-drop'
  | 'table-sync'
  /** `steep init cancel`: empty the tables a cancelled copy filled */
  | 'table-truncate'
  /** follow (and for `manual`, complete) a subscription's init until it is synchronized */
  | 'subscription-init'
  /**
   * merge init of a link (or one subscription): reconcile the rows both nodes hold, then with
   * writes blocked on both, create the subscriptions with copy_data = false
   */
  | 'merge-init';

export interface Change {
  /** attribute path, e.g. `tables`, `options.streaming` */
  path: string;
  before: unknown;
  after: unknown;
}

export interface Statement {
  /** Exactly what runs, with any password shown as **** (the executor fills secrets in). */
  sql: string;
  /** false for statements PostgreSQL refuses inside a transaction block */
  transactional: boolean;
  /** the node it runs on, when not the step's own (a merge init's steps span both nodes) */
  node?: string;
}

export interface Step {
  id: string;
  /** what it changes; the plan document prints it (`subscription.west_orders`: model/address.ts) */
  address: Address;
  node: string;
  kind: StepKind;
  action: Action;
  reason: Reason;
  reasonText: string;
  changes: Change[];
  statements: Statement[];
  dependsOn: string[];
  hazards: Hazard[];
  /** sha256 of the catalog rows this step depends on, to detect a stale saved plan */
  catalogDigest: string;
  /** what the step copies, for steps that copy data */
  copy?: CopyEstimate;
  /**
   * The lock_timeout and statement_timeout its statements run with (planner/stepTimeouts.ts);
   * every step of a plan has them. A command's own step (init cancel, init prepare's undo) runs
   * with that command's.
   */
  timeouts?: StepTimeouts;
  /**
   * A column's RENAME on a subscriber (planner/schema/columnRename.ts): it runs only once
   * `subscription` has applied every change of `table` that still names the column `column`
   * (executors/renameGuard.ts checks it right before the step).
   */
  renamedAfter?: { subscription: string; table: string; column: string };
  /**
   * A publication's create: after its statements, apply waits (client-side) until these slots,
   * of subscriptions that will read it, have confirmed a position past its creation
   * (planner/publications/publicationCatchUp.ts).
   */
  catchUpAfter?: { publication: string; slots: string[] };
  /**
   * Columns schema sync added with the value the publisher's old rows hold, or whose default it
   * changes while the publisher keeps such a value (planner/schema/oldRowValues.ts): the
   * statements from index `from` on set their defaults, and apply runs them only once `slots`
   * (on the publisher `node`) have confirmed a position past now, so that the inserts the
   * publisher made before its ADD COLUMN reach the subscriber's rows with that value, not with
   * the subscriber's own default; a disabled subscription's slot is read instead, and the step
   * fails where a change of `table` without them is still to apply (executors/keptDefaults.ts).
   */
  defaultsAfter?: {
    node: string;
    subscription: string;
    slots: string[];
    table: string;
    columns: string[];
    from: number;
  };
  /**
   * A subscription's publication list gaining publications that exist already (an earlier apply
   * made them and stopped in its wait, or they were made by hand), or its refresh copying a
   * partition tree in another shape (`reshaped`): before its statements, apply
   * waits (client-side, on the publisher `node`) until these slots have confirmed a position past
   * now (planner/publications/publicationCatchUp.ts).
   */
  catchUpBefore?: {
    node: string;
    publications: string[];
    slots: string[];
    /**
     * tables a refresh copies in another shape of their partition tree (root for leaves, or the
     * other way): the changes sent under the old shape are applied before the step empties them
     */
    reshaped?: string[];
  };
  /**
   * The subscription this step disables and leaves disabled (the file's `enabled: false`): apply
   * records the errors PostgreSQL had counted for it then (state/disables.ts), so that a later
   * reading tells its own DISABLE from PostgreSQL's at an error (disable_on_error).
   */
  disables?: string;
}

/** Milliseconds; 0: none (as PostgreSQL reads 0). */
export interface StepTimeouts {
  lockMs: number;
  statementMs: number;
}

/** What a step that copies data moves: the tables, their size and how long it should take. */
export interface CopyEstimate {
  /** `schema.table` */
  tables: string[];
  /** the publisher's size estimate of those tables; null when none of them was ever analysed */
  bytes: number | null;
  /** tables never analysed, of unknown size */
  unknownTables: number;
  /** bytes / rate; null when the size is unknown */
  seconds: number | null;
  bytesPerSecond: number;
  /** `measured`: from earlier inits on these nodes (state schema); `default`: steep's stated default */
  rateSource: 'measured' | 'default';
}

export interface DriftItem {
  address: string;
  path: string;
  expected: unknown;
  actual: unknown;
}

export interface UnmanagedObject {
  node: string;
  kind: 'publication' | 'subscription';
  name: string;
  /** the steep topology whose marker it carries (not this file's); absent when unmarked */
  topology?: string;
}

/** A logical slot nothing uses: steep's own orphan, or one steep cannot show it made. */
export interface OrphanSlot extends Pick<ObservedSlot, 'retainedWalBytes' | 'walStatus' | 'plugin'> {
  node: string;
  slot: string;
  /** steep can show it made it (planner/subscriptions/slotOrigin.ts); false: another tool's, never offered for dropping */
  madeBySteep: boolean;
  /** the exact statement that drops it, to run on its node: only for a slot steep made */
  dropSql?: string;
}

/** How many objects `ignore:` patterns matched (never reported, never touched). */
export type IgnoredCounts = Record<keyof IgnoreSpec, number>;

/**
 * Before the next failover: `ready`, `not-ready`, `no-failover-slots` (14–16). After the last one
 * (a promotion the subscription streamed through): `resumed` (shown to have skipped nothing),
 * `diverged` (a gap or phantom rows, or both) or `unknown` (steep cannot show either).
 */
export type FailoverVerdictKind =
  | 'ready'
  | 'not-ready'
  | 'no-failover-slots'
  | 'resumed'
  | 'diverged'
  | 'unknown';

/** The verdicts about the last failover (the others are about the next one). */
export const AFTER_FAILOVER: readonly FailoverVerdictKind[] = ['resumed', 'diverged', 'unknown'];

export interface FailoverVerdict extends SubscriptionRef {
  verdict: FailoverVerdictKind;
  /** one sentence each: every missing piece with the setting that fixes it, or what the verdict rests on */
  reasons: string[];
}

export interface PlanMessage {
  /** e.g. `preflight.wal_level`, `cycle`, `foreign-owner` */
  code: string;
  message: string;
  address?: string;
  node?: string;
}

export type SchemaStatus = 'MATCH' | 'MISMATCH' | 'ORDER_DIFFERS' | 'LOCAL_ONLY' | 'REMOTE_ONLY';

export interface SchemaColumnDifference {
  column: string;
  kind: 'missing' | 'extra' | 'type' | 'default' | 'nullability';
  publisher: unknown;
  subscriber: unknown;
}

/**
 * A subscribed table compared on its publisher and subscriber, as `steep schema compare
 * PUBLISHER SUBSCRIBER` would: LOCAL_ONLY = only on the publisher (missing on the subscriber),
 * REMOTE_ONLY = only on the subscriber; column `missing` = absent on the subscriber, `extra` =
 * only on the subscriber.
 */
export interface SchemaComparison {
  subscription: string;
  table: string;
  status: SchemaStatus;
  columns: SchemaColumnDifference[];
  publisher?: string;
  subscriber?: string;
  /** sha256 hex; null where the table is absent */
  publisherFingerprint?: string | null;
  subscriberFingerprint?: string | null;
  /** the publisher gave a column name to another column since steep's baseline (model/columnIdentity.ts) */
  identityChanged?: string;
}

/** How many steps of each action: `create`, `update`, … `syncSchema`, `adopt` (stepClass.ts `counted`). */
export type PlanSummary = Record<(typeof ACTION_CLASS)[Action]['counted'], number>;

/**
 * The version of the plan document (`schemas/plan.schema.json`). 2: the plan records what it
 * was made with (`inputs`), so `apply PLAN` plans again with exactly that.
 */
export const PLAN_FORMAT_VERSION = 2;

/** What besides steep.yaml and the nodes decided a plan: the command line of `steep plan`. */
export interface PlanInputs {
  /** `--target ADDRESS`, as given; empty: the whole file */
  targets: string[];
  /** `--lsn`, resolved: subscription → the LSN its manual init starts from */
  lsn: Record<string, string>;
  /** `--allow-hazard NAME`, sorted: the gated hazards (model/hazardGate.ts) apply may run */
  allowHazards: Hazard[];
}

export interface Plan {
  formatVersion: typeof PLAN_FORMAT_VERSION;
  steepVersion: string;
  createdAt: string;
  config: { path: string; digest: string };
  inputs: PlanInputs;
  observed: {
    digest: string;
    nodes: Record<string, { serverVersion: number }>;
    /** planned against `steep observe`'s capture (`plan --observed`), not the live nodes */
    capture?: PlanCapture;
  };
  summary: PlanSummary;
  drift: DriftItem[];
  steps: Step[];
  schema: SchemaComparison[];
  unmanaged: UnmanagedObject[];
  orphanSlots: OrphanSlot[];
  /** present when a publisher declares standbys: each of its subscriptions' part in a failover */
  failover?: FailoverVerdict[];
  /** present when the file has `ignore:` patterns */
  ignored?: IgnoredCounts;
  errors: PlanMessage[];
  warnings: PlanMessage[];
}
