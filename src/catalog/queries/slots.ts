import { PG17 } from '../../model/versions.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * Replication slots of the whole server (slots are cluster-wide; `database` says where a
 * logical slot lives). Retained WAL is measured from the current WAL position (the last
 * replayed one on a standby) to the slot's restart_lsn. PostgreSQL 17+: failover; null before.
 * The transactions the slot decoded (pg_stat_replication_slots.total_txns), since when the
 * server's statistics count (a crash discards them and resets the archiver's, a clean restart
 * keeps them: pg_stat_archiver.stats_reset) and the slot's own last reset (a slot made again has
 * none), as epoch seconds.
 */
export function slotsQuery(serverVersion: number): CatalogQuery {
  return {
    text: `select s.slot_name::text as name,
       s.plugin::text as plugin,
       case when s.slot_type = 'physical' then 'physical' else 'logical' end as "slotType",
       s.database::text as database,
       s.active,
       s.active_pid as "activePid",
       s.wal_status as "walStatus",
       s.safe_wal_size::float8 as "safeWalSize",
       pg_catalog.pg_wal_lsn_diff(
         case when pg_catalog.pg_is_in_recovery() then pg_catalog.pg_last_wal_replay_lsn()
              else pg_catalog.pg_current_wal_lsn() end,
         s.restart_lsn)::float8 as "retainedWalBytes",
       s.confirmed_flush_lsn::text as "confirmedFlushLsn",
       s.restart_lsn::text as "restartLsn",
       s.temporary,
       ${serverVersion >= PG17 ? 's.failover' : 'null::boolean as failover'},
       st.total_txns::text as "decodedTxns",
       (select extract(epoch from a.stats_reset)::text from pg_catalog.pg_stat_archiver a) as "countedSince",
       extract(epoch from st.stats_reset)::text as "countReset"
  from pg_catalog.pg_replication_slots s
  left join pg_catalog.pg_stat_replication_slots st on st.slot_name = s.slot_name`,
  };
}
