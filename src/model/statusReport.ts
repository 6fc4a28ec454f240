import type { ObservedSlot } from './cluster.js';
import type { FailoverVerdict } from './plan.js';
import type { StatusState } from './statusWords.js';
import type { ErrorReading, SyncVerdict } from './syncVerdict.js';
import type { SubscriptionDef } from './topology.js';
import type { WindowStatus } from './verifyWindow.js';

/**
 * What `steep status` reports (docs/commands.md, docs/status.md): made by `workflows/status.ts`, shown by
 * `render/status.ts`, printed as is by `status --json`.
 */

export interface NodeStatus {
  name: string;
  reachable: boolean;
  serverVersion: number | null;
  version: string | null;
  error: string | null;
}

export interface SubscriptionStatus extends Pick<SubscriptionDef, 'name' | 'node' | 'from'> {
  /** declared in steep.yaml */
  declared: boolean;
  /** the other steep topology that manages it (absent: this one's, or none) */
  managedBy?: string;
  /** null: unknown, its node could not be read */
  exists: boolean | null;
  enabled: boolean | null;
  initMethod: string | null;
  /** its init state, where `synchronized` is said only when model/syncVerdict.ts proves it, else the rule's word (model/statusWords.ts) */
  state: StatusState;
  /**
   * is it synchronized, with the evidence (model/syncVerdict.ts); null: not created, or its
   * node could not be read
   */
  verdict: SyncVerdict | null;
  /** steep's previous reading of the error counters, which the verdict compared with (null: none) */
  errorsReading: ErrorReading | null;
  /** the slot's walsender on the publisher (`hidden`: the role may not read its lag); null: not read */
  walsender: 'none' | 'hidden' | 'streaming' | null;
  /** why figures are unknown: its node (or its publisher, for the lag), or a reading the verdict needs, could not be read */
  unknown: string | null;
  /** why the init failed */
  error: string | null;
  since: string | null;
  tablesTotal: number;
  tablesReady: number;
  slot: string | null;
  lagBytes: number | null;
  lagSeconds: number | null;
  applyWorkerRunning: boolean | null;
  syncWorkers: number | null;
  /** PostgreSQL 15+ */
  applyErrors: number | null;
  syncErrors: number | null;
  /** PostgreSQL 18+: pg_stat_subscription_stats.confl_* */
  conflicts: Record<string, number> | null;
  /** the last `steep verify` of every table (null: never, or steep's state schema is older) */
  lastVerify: { at: string; verdict: string } | null;
  /**
   * PostgreSQL 18+: the conflict counters that rose since the last verify began, or since the
   * rolling verify's reading (`conflictsCountedFrom`), or ever, never verified; only those that
   * rose; null before 18 or unknown
   */
  conflictsSinceVerify: Record<string, number> | null;
  /**
   * the reading they are counted from: the last verify's end, or (`rolling`) the oldest of the
   * rolling verify's comparisons once every segment of every table has one; null: neither
   */
  conflictsCountedFrom: { at: string; rolling: boolean } | null;
  /** `verify.window` set: the share compared within it, the oldest comparison, the tables past it; absent: no window */
  verifyWindow?: WindowStatus;
  /** each table's oldest comparison, when it was last found equal as a whole (null: never); absent: not read */
  verifiedTables?: { table: string; at: string | null }[];
  /** state `diverged`: the tables `steep verify` found different */
  divergedTables: string[];
  /** tables PostgreSQL copied (`f`) whose table-sync slot is gone from the publisher: it cannot finish them */
  lostSyncSlots: string[];
  /** a reinit not finished: its temporary publications are still on the publisher (the reason, with the way out) */
  unfinishedReinit?: string;
  /** a switchover's fence left on its publisher without the switchover (planner/switchover/leftFence.ts), its reason */
  leftFence?: string;
  /** its publisher declares standbys: is it ready for the next failover */
  failover?: Pick<FailoverVerdict, 'verdict' | 'reasons'>;
  /** after a promotion of its publisher: resumed, unknown, or diverged (shown as state diverged with the reason) */
  lastFailover?: Pick<FailoverVerdict, 'verdict' | 'reasons'>;
}

/** `unknown`: no readable subscription uses it, but a node that could hold its user is unreadable */
export type SlotKind =
  | 'subscription'
  | 'prepared'
  | 'pending'
  | 'tablesync'
  | 'orphan'
  /** a logical slot nothing steep reads uses that steep cannot show it made (planner/subscriptions/slotOrigin.ts): never offered for dropping */
  | 'other'
  | 'physical'
  | 'unknown';

export interface SlotStatus extends Pick<ObservedSlot, 'name' | 'active' | 'walStatus' | 'retainedWalBytes'> {
  node: string;
  /** the database the slot serves (slots are the server's); null: a physical slot */
  database?: string | null;
  /** it serves another database of the node's server than the node's own */
  foreign?: true;
  kind: SlotKind;
  /** the subscription using it (or prepared for, or expecting it) */
  subscription: string | null;
  /** that subscription is one of another database of a node's server, outside steep.yaml */
  otherDatabase?: { node: string; database: string };
  lagBytes: number | null;
  /** prepared slots: the LSN recorded by init prepare */
  preparedLsn: string | null;
}

export interface StatusReport {
  topology: string;
  sampledAt: string;
  nodes: NodeStatus[];
  subscriptions: SubscriptionStatus[];
  slots: SlotStatus[];
}

/** `status --check` (for cron and monitors). */
export interface StatusCheck {
  /** a node, or a reading a verdict needs, could not be read: what depends on it is unknown */
  unknown: boolean;
  /** a problem is proven (exit 2, unless a node cannot be read: exit 1) */
  unhealthy: boolean;
  /** one sentence per thing unhealthy or unknown, naming it */
  problems: string[];
}
