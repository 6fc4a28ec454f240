import type { InitState } from './initState.js';
import type { FailoverVerdict } from './plan.js';

/**
 * What `steep status` reports (SPEC §4): made by `workflows/status.ts`, shown by
 * `render/status.ts`, printed as is by `status --json`.
 */

export interface NodeStatus {
  name: string;
  reachable: boolean;
  serverVersion: number | null;
  version: string | null;
  error: string | null;
}

export interface SubscriptionStatus {
  name: string;
  node: string;
  from: string;
  /** declared in steep.yaml */
  declared: boolean;
  /** null: unknown, its node could not be read */
  exists: boolean | null;
  enabled: boolean | null;
  initMethod: string | null;
  state: InitState | 'unknown';
  /** why figures are unknown: its node (or its publisher, for the lag) could not be read */
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
   * PostgreSQL 18+: the conflict counters that rose since the last verify began (or ever, never
   * verified), only those that rose; null before 18 or unknown
   */
  conflictsSinceVerify: Record<string, number> | null;
  /** state `diverged`: the tables `steep verify` found different */
  divergedTables: string[];
  /** tables PostgreSQL copied (`f`) whose table-sync slot is gone from the publisher: it cannot finish them */
  lostSyncSlots: string[];
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
  | 'physical'
  | 'unknown';

export interface SlotStatus {
  node: string;
  name: string;
  kind: SlotKind;
  /** the subscription using it (or prepared for, or expecting it) */
  subscription: string | null;
  /** that subscription is one of another database of a node's server, outside steep.yaml */
  otherDatabase?: { node: string; database: string };
  active: boolean;
  walStatus: string | null;
  retainedWalBytes: number | null;
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
  /** a node could not be read: what depends on it is unknown (exit 1) */
  unknown: boolean;
  /** one sentence per thing unhealthy or unknown, naming it */
  problems: string[];
}
