import type { NodeSettings } from '../../model/cluster.js';
import type { ServerIdentity } from '../../model/serverIdentity.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * The server: its version (every other query branches on it), the database, which running server
 * it is (system identifier and postmaster start, both readable by any role; out of recovery, the
 * timeline it writes, from its WAL file's name) and the settings
 * preflight needs. PostgreSQL 14+ (every setting exists since 10).
 */
export const SERVER_SETTINGS: CatalogQuery = {
  text: `select current_setting('server_version_num')::int as "serverVersion",
       current_setting('server_version') as "serverVersionText",
       current_database()::text as database,
       json_build_object(
         'systemIdentifier', (select system_identifier::text from pg_control_system()),
         'startedAt', extract(epoch from pg_postmaster_start_time())::text,
         'timeline', case when pg_is_in_recovery() then null
           else ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int end) as server,
       json_build_object(
         'walLevel', current_setting('wal_level'),
         'maxReplicationSlots', current_setting('max_replication_slots')::int,
         'maxWalSenders', current_setting('max_wal_senders')::int,
         'maxWorkerProcesses', current_setting('max_worker_processes')::int,
         'maxLogicalReplicationWorkers', current_setting('max_logical_replication_workers')::int,
         'maxSyncWorkersPerSubscription', current_setting('max_sync_workers_per_subscription')::int) as settings`,
};

/** The one row of SERVER_SETTINGS. */
export interface ServerInfo {
  serverVersion: number;
  serverVersionText: string;
  database: string;
  server: ServerIdentity;
  settings: NodeSettings;
}
