import type { ObservedSlot } from '../../model/cluster.js';
import { compareText } from '../../model/order.js';
import { PG17 } from '../../model/versions.js';
import type { CatalogQuery } from './catalogQuery.js';

/*
 * Replication slots of the whole server (slots are cluster-wide; `database` says where a
 * logical slot lives). Retained WAL is measured from the current WAL position (the last
 * replayed one on a standby) to the slot's restart_lsn.
 */

const SLOT_COLUMNS_14 = `s.slot_name::text as name,
       s.plugin::text as plugin,
       s.slot_type as slot_type,
       s.database::text as database,
       s.active,
       s.active_pid,
       s.wal_status,
       s.safe_wal_size::float8 as safe_wal_size,
       pg_catalog.pg_wal_lsn_diff(
         case when pg_catalog.pg_is_in_recovery() then pg_catalog.pg_last_wal_replay_lsn()
              else pg_catalog.pg_current_wal_lsn() end,
         s.restart_lsn)::float8 as retained_wal_bytes,
       s.confirmed_flush_lsn::text as confirmed_flush_lsn,
       s.restart_lsn::text as restart_lsn,
       s.temporary`;

/** PostgreSQL 14–16 (wal_status and safe_wal_size exist since 13). */
export const SLOTS_14: CatalogQuery = {
  name: 'slots',
  text: `select ${SLOT_COLUMNS_14}
  from pg_catalog.pg_replication_slots s`,
};

/** PostgreSQL 17+: + failover. */
export const SLOTS_17: CatalogQuery = {
  name: 'slots',
  text: `select ${SLOT_COLUMNS_14},
       s.failover
  from pg_catalog.pg_replication_slots s`,
};

export function slotsQuery(serverVersion: number): CatalogQuery {
  return serverVersion >= PG17 ? SLOTS_17 : SLOTS_14;
}

export interface SlotRow {
  name: string;
  plugin: string | null;
  slot_type: string;
  database: string | null;
  active: boolean;
  active_pid: number | null;
  wal_status: string | null;
  safe_wal_size: number | null;
  retained_wal_bytes: number | null;
  confirmed_flush_lsn: string | null;
  restart_lsn: string | null;
  temporary: boolean;
  /** PG 17+ */
  failover?: boolean;
}

export function toSlots(rows: SlotRow[]): Record<string, ObservedSlot> {
  const out: Record<string, ObservedSlot> = {};
  for (const r of [...rows].sort((a, b) => compareText(a.name, b.name))) {
    out[r.name] = {
      name: r.name,
      plugin: r.plugin,
      slotType: r.slot_type === 'physical' ? 'physical' : 'logical',
      database: r.database,
      active: r.active,
      activePid: r.active_pid,
      walStatus: r.wal_status,
      safeWalSize: r.safe_wal_size,
      retainedWalBytes: r.retained_wal_bytes,
      confirmedFlushLsn: r.confirmed_flush_lsn,
      restartLsn: r.restart_lsn,
      temporary: r.temporary,
      failover: r.failover ?? null,
    };
  }
  return out;
}
