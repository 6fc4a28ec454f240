/** The observed state: what the nodes' catalogs really hold, in topology.ts's shapes where they are the same object. */

import type { ObservedInitState } from './initState.js';
import type { ForeignKeyEdge } from './loadOrder.js';
import type { LockHolder } from './lockHolder.js';
import type { OwnerToRole } from './membershipGrant.js';
import type { RoleGaps } from './privileges.js';
import type { ServerIdentity } from './serverIdentity.js';
import type { NodeTableSchemas, ObservedTableSchema } from './tableSchema.js';
import type { PublicationDef, SubscriptionDef, SubscriptionOptions, TableName } from './topology.js';

/** A value steep could not read (e.g. subconninfo without privilege): never assumed equal. */
export const UNKNOWN = { unknown: true } as const;
export type Unknown = typeof UNKNOWN;
export function isUnknown(v: unknown): v is Unknown {
  return typeof v === 'object' && v !== null && (v as { unknown?: unknown }).unknown === true;
}

/** What steep's ownership comment says (`managed by steep: topology=… conn=sha256:…`). */
export interface Ownership {
  topology: string;
  /** sha256 hex of the connection string steep set (subscriptions only) */
  connHash?: string;
  /** `protect: true` in the file when steep last set the comment: steep never drops it */
  protect?: boolean;
  /**
   * A subscription's slot when it is not its name and the file does not say `slot:` (a renamed
   * subscription keeps its slot: PostgreSQL cannot rename one): that slot is its default
   */
  slot?: string;
}

/** A publication as `steep reinit` reads it on the publisher (docs/repair.md). */
export interface ReinitPublication {
  name: string;
  /** the `publish` option: insert, update, delete, truncate */
  publish: string[];
  viaRoot: boolean;
  tables: Array<{
    /** `schema.table` */
    table: string;
    schema: string;
    name: string;
    /** the publication's explicit column list, null when it has none (15+) */
    columns: string[] | null;
    /** its row filter as PostgreSQL prints it, null when none (15+) */
    filter: string | null;
    /** its partition ancestors, nearest first (`schema.table`); null or absent: not a partition */
    ancestors?: string[] | null;
  }>;
}

export interface ObservedPublication extends PublicationDef {
  oid: number;
  /** pg_publication.xmin: new at an ALTER of its options, name or owner (model/continuity.ts); absent: not read */
  rowVersion?: string;
  /**
   * The oid of each membership's catalog row, by table (`schema.table`, pg_publication_rel) and by schema
   * (pg_publication_namespace): PostgreSQL makes a new row when a table or schema leaves and joins again,
   * or its row filter or column list changes (model/continuity.ts). Absent when it has none.
   */
  members?: { tables: Record<string, number>; schemas: Record<string, number> };
  owner: string;
  /** another owner than steep's role: may it give it to steep's role (absent: steep's role owns it) */
  ownerToRole?: OwnerToRole;
  comment: string | null;
  /** null = not marked: unmanaged */
  managedBy: Ownership | null;
}

export type SubscriptionRelState = 'i' | 'd' | 'f' | 's' | 'r';

export interface ObservedSubscriptionTable extends TableName {
  state: SubscriptionRelState;
  lsn: string | null;
}

export interface ObservedSubscription extends SubscriptionDef {
  oid: number;
  /** pg_subscription.xmin: every ALTER SUBSCRIPTION makes a new one (model/continuity.ts); absent: not read */
  rowVersion?: string;
  /** a worker of it (apply or table sync) runs, as the catalog was read; absent: not read */
  workerRunning?: boolean;
  /** 15+: the position ALTER SUBSCRIPTION … SKIP set, not yet skipped; null or absent: none */
  skipLsn?: string | null;
  owner: string;
  /** another owner than steep's role: may it give it to steep's role (absent: steep's role owns it) */
  ownerToRole?: OwnerToRole;
  /** The connection string, or UNKNOWN when the role cannot read subconninfo. Contains secrets. */
  conninfo: string | Unknown;
  /** Every option the server version has; an option it lacks is absent. */
  options: Partial<SubscriptionOptions>;
  /** slot_name is NONE */
  slotNone: boolean;
  comment: string | null;
  managedBy: Ownership | null;
  tables: ObservedSubscriptionTable[];
  /** Replication origin `pg_<oid>` and its remote LSN, when present. */
  originLsn: string | null;
  /**
   * apply + sync errors counted since the statistics were reset (pg_stat_subscription_stats,
   * 15+): with `disableOnError` and the subscription disabled, PostgreSQL disabled it after one.
   * Absent or null: not counted (before 15) or not read.
   */
  errorsCounted?: number | null;
  /**
   * the errors counted when apply last disabled it itself (state `disables`), while it is the
   * subscription apply disabled and its statistics were not reset since; absent: none recorded
   */
  steepDisabledAt?: number;
}

/** Has a subscriber applied every change of a table decoded before a column's rename on its publisher (catalog/renameApplied.ts). */
export type RenameApplied =
  | {
      state: 'applied' | 'pending';
      /** the publisher's WAL position the pending changes were read up to */
      upto: string;
      /** pending: where the last change naming the old column was decoded */
      lastOld?: string;
    }
  | { state: 'unknown'; why: string };

export interface ObservedSlot {
  name: string;
  plugin: string | null;
  slotType: 'logical' | 'physical';
  database: string | null;
  active: boolean;
  activePid: number | null;
  /** reserved | extended | unreserved | lost | null */
  walStatus: string | null;
  safeWalSize: number | null;
  retainedWalBytes: number | null;
  confirmedFlushLsn: string | null;
  /** 14–17: the publication it cannot decode past (catalog/publicationHole.ts); absent: none, or not read */
  stuckAt?: string;
  /** 18: the publications its next changes skip, missing where they were committed (catalog/publicationHole.ts); absent: none, or not read */
  skips?: string[];
  restartLsn: string | null;
  temporary: boolean;
  failover: boolean | null /* 17+ */;
  /** transactions decoded (pg_stat_replication_slots), counted since `countedSince` and `countReset` (catalog/queries/slots.ts) */
  decodedTxns?: string | null;
  countedSince?: string | null;
  countReset?: string | null;
}

export interface ObservedOrigin {
  name: string;
  remoteLsn: string | null;
}

export interface ObservedTable extends TableName {
  oid: number;
  /** d = default, n = nothing, f = full, i = index */
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  hasPrimaryKey: boolean;
  /** The replica identity is usable for UPDATE/DELETE: a primary key (default), an index, or FULL. */
  hasReplicaIdentity: boolean;
  /** relkind: r = table, p = partitioned */
  kind: 'r' | 'p';
  /** The planner's estimates (reltuples, relpages + TOAST); null for a table never vacuumed or analysed. */
  estimatedRows: number | null;
  sizeBytes: number | null;
  /** Holds at least one row; read only for the tables a subscription to be created would copy into. */
  hasRows?: boolean;
  /** Its rows (count(*)); read only where a plan must prove a subscriber holds a partition tree's rows (planner/subscriptions/heldRows.ts). */
  rowCount?: number;
  /** A partition's partitioned parent (`schema.name`); null/absent for any other table. */
  partitionOf?: string | null;
  /** Parents by plain inheritance (`INHERITS`), `schema.name`; partitions have none here. */
  inherits?: string[];
  /** UNLOGGED: PostgreSQL never publishes it (not even FOR ALL TABLES). */
  unlogged?: boolean;
  /** Its owner, and whether steep's role has its privileges (a member of it): only they may publish it. */
  owner?: string;
  owned?: boolean;
  /** 16+: steep's role may SET ROLE to its owner, as a subscription's workers do with runAsOwner false. */
  canSetRole?: boolean;
  /** steep's role may INSERT into it, as steep's own copy does. */
  canInsert?: boolean;
  /** The replica identity's columns (key or index columns; every column for FULL); empty when none. */
  identityColumns?: string[];
  /** Has a virtual generated column (PG 18), which a row filter is stored expanded through. */
  virtualGenerated?: boolean;
  /**
   * Its foreign keys and its user triggers that fire in origin mode (`schema.table: trigger`):
   * read only on a subscriber whose role may not set session_replication_role, for the tables
   * steep's own copy would load there (planner/init/ownCopyLoad.ts).
   */
  foreignKeys?: ForeignKeyEdge[];
  originTriggers?: string[];
  /**
   * Its columns whose type, or a type it is made of, has no binary send or receive function here: read
   * only for the tables of binary subscriptions (planner/subscriptions/binaryCopy.ts); empty when none lacks one.
   */
  binaryless?: BinarylessColumn[];
}

/** A column whose type cannot be sent or received in binary format on the node read. */
export interface BinarylessColumn {
  column: string;
  /** format_type() of the column */
  type: string;
  /** the type (the column's, or one it is made of) without a send function; null when every one has it */
  noSend: string | null;
  /** the type without a receive function; null when every one has it */
  noReceive: string | null;
  /** the column's own type has a send function: pgoutput streams it in binary (else as text) */
  ownSend: boolean;
}

export interface NodeSettings {
  walLevel: string;
  maxReplicationSlots: number;
  maxWalSenders: number;
  maxWorkerProcesses: number;
  maxLogicalReplicationWorkers: number;
  /** table syncs a subscription runs at once during its initial copy */
  maxSyncWorkersPerSubscription: number;
}

export interface ObservedRole {
  name: string;
  superuser: boolean;
  replication: boolean;
  /** CREATE on the database (needed for CREATE PUBLICATION) */
  canCreateInDatabase: boolean;
  /** superuser, or member of pg_create_subscription (PG 16+) */
  canCreateSubscription: boolean;
  /** can read pg_subscription.subconninfo */
  canReadConninfo: boolean;
  /** member of pg_create_subscription (PG 16+; absent: not read) */
  memberOfCreateSubscription?: boolean;
  /**
   * the managed service's admin role it is a member of (rds_superuser, cloudsqlsuperuser,
   * azure_pg_admin: model/privileges.ts CLOUD_ADMIN_ROLES); absent: none, or not read
   */
  cloudAdminRole?: string;
  /** what steep calls that the role may not (absent: not read, taken as nothing) */
  gaps?: RoleGaps;
}

export interface ObservedStateSchema {
  exists: boolean;
  /** highest applied migration, null when absent */
  version: number | null;
  /** the role may create tables in it (absent: not read) */
  canCreateIn?: boolean;
  /** the role owns it, or is a member of its owner (absent: not read) */
  owned?: boolean;
  /** its owner (absent: not read, or no schema) */
  owner?: string;
  /** the role may use it, create in it, and read and write each of its tables and sequences (absent: not read) */
  writable?: boolean;
  /**
   * its tables (`name`) and functions (`name()`) the role neither owns nor is a member of the
   * owner of: a migration that alters one needs that owner (absent: not read)
   */
  notOwned?: Array<{ name: string; owner: string }>;
}

/** A subscription of another database of a node's server, outside what steep reads of the node. */
export interface OtherDatabaseSubscription extends Pick<SubscriptionDef, 'name' | 'slot' | 'enabled'> {
  database: string;
}

export interface ObservedNode {
  name: string;
  reachable: true;
  serverVersion: number;
  /** e.g. "18.4" */
  serverVersionText: string;
  database: string;
  /** Which running server this database is on (absent in fixtures that do not say). */
  server?: ServerIdentity;
  settings: NodeSettings;
  role: ObservedRole;
  publications: Record<string, ObservedPublication>;
  subscriptions: Record<string, ObservedSubscription>;
  slots: Record<string, ObservedSlot>;
  /**
   * Subscriptions of the server's other databases, with their slots (pg_subscription is
   * shared): a slot they use on a publisher is theirs, never an orphan (absent: not read)
   */
  otherDatabaseSubscriptions?: OtherDatabaseSubscription[];
  /**
   * Where the node stands in its WAL history (IDENTIFY_SYSTEM, TIMELINE_HISTORY), read only where
   * a plan needs it: a `physical` init's subscriber (where its clone forked from the publisher)
   * and its publisher (its timeline). Absent: not read.
   */
  walHistory?: TimelineHistory;
  /** Physical inits' publishers' marks (state/cloneMarks.ts) as held here, by `<from>/<slot>` (null: none) */
  cloneMarks?: Record<string, string | null>;
  origins: Record<string, ObservedOrigin>;
  /** Every ordinary and partitioned table outside system schemas, by `schema.name`. */
  tables: Record<string, ObservedTable>;
  stateSchema: ObservedStateSchema;
  /** Who holds steep's advisory lock there: another steep command at work (absent: not read) */
  steepLock?: LockHolder | null;
  /**
   * address → catalog digest of each managed object as the last successful apply left it
   * (state schema `object_digests`); absent before migration 2 or the first apply.
   */
  objectDigests?: Record<string, string>;
  /**
   * the data fences of switchovers found here (catalog/queries/switchoverFences.ts): by
   * subscription, its fenced tables and the roles left without login and read-only here
   */
  switchoverFences?: ObservedSwitchoverFence[];
  /** Normalised row filters of the desired file: `schema.table` → (as written → as PostgreSQL prints it). */
  rowFilters: Record<string, Record<string, string>>;
  /** Row filters PostgreSQL refused: `schema.table` → (as written → PostgreSQL's message). */
  rowFilterErrors: Record<string, Record<string, string>>;
  /** The columns each normalised row filter uses: `schema.table` → (as written → columns); absent: not read. */
  rowFilterColumns?: Record<string, Record<string, string[]>>;
  /**
   * Fingerprints, types and sequences of the tables subscriptions receive, and their columns
   * where needed; absent when none were read.
   */
  tableSchemas?: NodeTableSchemas<ObservedTableSchema>;
  /** What steep's state schema records about this node's subscription inits; absent when it holds none. */
  initState?: ObservedInitState;
  /** What this subscriber applied when steep last saw it stream from each primary (absent: not read) */
  streamPositions?: StreamPosition[];
  /**
   * On a subscriber, per subscription and `schema.table` whose column its publisher renamed: has
   * it applied every change from before the rename (read by `plan`; absent: not read).
   */
  renamesApplied?: Record<string, Record<string, RenameApplied>>;
  /**
   * On a subscriber, per subscription and `schema.table` whose publisher gave a column name to
   * another column since steep's baseline (model/columnIdentity.ts): what changed, and the way
   * out (read by `plan`; absent: not read or none).
   */
  columnGaps?: Record<string, Record<string, { reason: string; wayOut: string }>>;
  /** Read when the node declares standbys: the node's and each standby's part in a failover. */
  failover?: ObservedFailover;
}

/** A logical slot as a node's failover read sees it (17+: `synced`, `invalidation_reason`). */
export interface FailoverSlot extends Pick<ObservedSlot, 'name' | 'confirmedFlushLsn' | 'active'> {
  /** a copy kept by slot synchronisation (on a standby; on a primary: left from before its promotion) */
  synced: boolean;
  /** why PostgreSQL invalidated it, or null */
  invalidated: string | null;
  /** a synced copy stays temporary until the standby has caught up with it: a promotion drops it */
  temporary: boolean;
}

/** A server's part in failover: its recovery state, the settings that keep slots in sync, its logical slots. */
export interface FailoverServer {
  inRecovery: boolean;
  serverVersion: number;
  /** null: the version has no such setting, or the role may not read it */
  syncReplicationSlots: boolean | null;
  hotStandbyFeedback: boolean | null;
  primarySlotName: string | null;
  /** primary_conninfo names a dbname (slot synchronisation needs one); null: unreadable */
  primaryConninfoHasDbname: boolean | null;
  /** the primary's `synchronized_standby_slots` (17+), as a list; null: no such setting */
  synchronizedStandbySlots: string[] | null;
  slots: Record<string, FailoverSlot>;
  /** how far its own WAL reaches: pg_current_wal_lsn() on a primary, the replayed position on a standby (null: none yet) */
  walLsn: string | null;
  /** a primary's place in its WAL history (read on a replication connection); absent on a standby */
  history?: TimelineHistory;
}

/**
 * Where a primary stands in its WAL history: IDENTIFY_SYSTEM's system identifier and timeline,
 * and TIMELINE_HISTORY's switch points (each timeline before it, with the LSN where the next one
 * forked from it, oldest first). `read: false`: the role may not open a replication connection.
 */
export type TimelineHistory =
  | {
      read: true;
      systemIdentifier: string;
      timeline: number;
      forks: { timeline: number; switchLsn: string }[];
      /** IDENTIFY_SYSTEM's xlogpos on a primary, its WAL flushed so far (absent on a standby) */
      flushLsn?: string;
    }
  | { read: false; error: string };

/**
 * What a subscriber had applied (its origin's LSN) when steep last saw it stream from a primary,
 * per primary (system identifier and timeline), and whether steep found the subscription ready
 * for a failover then (synchronized_standby_slots holding changes back until the standbys have
 * them). State schema `stream_positions`.
 */
export interface StreamPosition {
  subscription: string;
  systemIdentifier: string;
  timeline: number;
  originLsn: string;
  ready: boolean;
  recordedAt: string;
  /**
   * when steep reinit --full copied its tables from this primary, or a verify there found every
   * table equal (`settledBy`): a failover before it is behind them; `failover`: a reading after the
   * promotion found the subscriber had applied nothing past the fork (the failover resumed)
   */
  settledAt: string | null;
  settledBy: 'reinit' | 'verify' | 'failover' | null;
}

/** A position to record: what a run saw (when it was recorded, and a copy, are the table's to say). */
export type StreamPositionRecord = Omit<StreamPosition, 'recordedAt' | 'settledAt' | 'settledBy'>;

/** One declared standby of a node: `host:port` as the file gives it, and what was read there. */
export type ObservedStandby =
  | ({ address: string; reachable: true } & FailoverServer)
  | { address: string; reachable: false; error: string };

/** A node that declares standbys (or holds slots synced before its promotion): what failover needs. */
export interface ObservedFailover {
  /** the node itself */
  self: FailoverServer;
  standbys: ObservedStandby[];
}

export interface UnreachableNode {
  name: string;
  reachable: false;
  /** one sentence naming the cause (refused, authentication, unknown database, timeout); no secrets */
  error: string;
  /** the standbys it declares, as read while it could not be (one may have been promoted) */
  standbys?: ObservedStandby[];
  stale?: true; // read, but its url is a stale server (planner/failover/staleNode.ts): the plan uses none of it
}

export interface ClusterState {
  nodes: Record<string, ObservedNode | UnreachableNode>;
}

/** The node `name` of `observed` when steep could read it. */
export function reachableNode(observed: ClusterState, name: string): ObservedNode | undefined {
  const n = observed.nodes[name];
  return n?.reachable ? n : undefined;
}

/** A switchover's data fence on a node, and the role fence it may have left (no login, read-only here). */
export interface ObservedSwitchoverFence {
  subscription: string;
  tables: TableName[];
  roles: string[];
}
