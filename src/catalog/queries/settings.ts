import type { NodeSettings, ServerIdentity } from '../../model/cluster.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * The server: its version (every other query branches on it), the database, which running server
 * it is (system identifier and postmaster start, both readable by any role) and the settings
 * preflight needs. PostgreSQL 14+ (every setting exists since 10).
 */
export const SERVER_SETTINGS: CatalogQuery = {
  name: 'settings',
  text: `select current_setting('server_version_num')::int as server_version_num,
       current_setting('server_version') as server_version,
       current_database()::text as database,
       (select system_identifier::text from pg_control_system()) as system_identifier,
       extract(epoch from pg_postmaster_start_time())::text as started_at,
       current_setting('wal_level') as wal_level,
       current_setting('max_replication_slots')::int as max_replication_slots,
       current_setting('max_wal_senders')::int as max_wal_senders,
       current_setting('max_worker_processes')::int as max_worker_processes,
       current_setting('max_logical_replication_workers')::int as max_logical_replication_workers,
       current_setting('max_sync_workers_per_subscription')::int as max_sync_workers_per_subscription`,
};

export interface ServerSettingsRow {
  server_version_num: number;
  server_version: string;
  database: string;
  system_identifier: string;
  started_at: string;
  wal_level: string;
  max_replication_slots: number;
  max_wal_senders: number;
  max_worker_processes: number;
  max_logical_replication_workers: number;
  max_sync_workers_per_subscription: number;
}

export interface ServerInfo {
  serverVersion: number;
  serverVersionText: string;
  database: string;
  server: ServerIdentity;
  settings: NodeSettings;
}

export function toServerInfo(row: ServerSettingsRow): ServerInfo {
  return {
    serverVersion: row.server_version_num,
    serverVersionText: row.server_version,
    database: row.database,
    server: { systemIdentifier: row.system_identifier, startedAt: row.started_at },
    settings: {
      walLevel: row.wal_level,
      maxReplicationSlots: row.max_replication_slots,
      maxWalSenders: row.max_wal_senders,
      maxWorkerProcesses: row.max_worker_processes,
      maxLogicalReplicationWorkers: row.max_logical_replication_workers,
      maxSyncWorkersPerSubscription: row.max_sync_workers_per_subscription,
    },
  };
}
