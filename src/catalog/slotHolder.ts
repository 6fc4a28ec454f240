import type pg from 'pg';
import { quoteIdent } from '../model/sql.js';
import type { SlotTrouble } from '../model/syncVerdict.js';
import { readPublicationHole } from './publicationHole.js';

/** Who holds a replication slot on this node (the session streaming it or holding its snapshot). PostgreSQL 14+. */

export interface SlotHolder {
  /** null: nobody holds it */
  pid: number | null;
  applicationName: string | null;
}

/** The slot's holder; null when there is no such slot. */
export async function readSlotHolder(client: pg.Client, slot: string): Promise<SlotHolder | null> {
  const { rows } = await client.query<SlotHolder>(
    `SELECT s.active_pid AS pid, a.application_name AS "applicationName" FROM pg_catalog.pg_replication_slots s
       LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = s.active_pid
      WHERE s.slot_name = $1`,
    [slot],
  );
  return rows[0] ?? null;
}

/** The slot is on this node. */
export async function slotExists(client: pg.Client, slot: string): Promise<boolean> {
  return (await readSlotHolder(client, slot)) !== null;
}

/**
 * Whether the slot is on this node, and usable: `lost` when PostgreSQL invalidated it (wal_status
 * `lost`: the WAL it still needed was removed, past max_slot_wal_keep_size or, on 18, after
 * idle_replication_slot_timeout): nothing can be decoded from it again.
 */
async function readSlotPresence(client: pg.Client, slot: string): Promise<'absent' | 'lost' | 'present'> {
  const { rows } = await client.query<{ lost: boolean }>(
    "SELECT wal_status IS NOT DISTINCT FROM 'lost' AS lost FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
    [slot],
  );
  return rows.length === 0 ? 'absent' : rows[0]!.lost ? 'lost' : 'present';
}

/**
 * What is wrong with the slot that only a copy on a slot made again repairs; null when sound.
 * `decodes`: the publications its subscription lists and this server's version, to read whether
 * its walsender can get past their creation (catalog/publicationHole.ts, 14–17).
 */
export async function readSlotTrouble(
  client: pg.Client,
  slot: string,
  decodes?: { publications: readonly string[]; version: number },
): Promise<SlotTrouble | null> {
  const presence = await readSlotPresence(client, slot);
  if (presence !== 'present') return { kind: presence };
  const beyond = await readSlotBeyondWal(client, slot);
  if (beyond) return { kind: 'beyond', ...beyond };
  const publication = decodes ? await readPublicationHole(client, { slot, ...decodes }) : null;
  return publication === null ? null : { kind: 'publication', publication, version: decodes!.version };
}

/** Whether someone streams from the slot, and how far it has been confirmed; null when there is no such slot. */
export async function readSlotConfirmed(
  client: pg.Client,
  slot: string,
): Promise<{ active: boolean; confirmed: string | null } | null> {
  const { rows } = await client.query<{ active: boolean; confirmed: string | null }>(
    'SELECT active, confirmed_flush_lsn::text AS confirmed FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return rows[0] ?? null;
}

/**
 * The slot confirms a position beyond this node's own WAL (pg_current_wal_lsn()): a subscriber
 * applied changes elsewhere (from an old primary, past a failover's fork) and confirmed them here
 * when it reconnected. Its walsender waits for WAL that this node never wrote, and decodes
 * nothing of this node's own changes up to there. Null when not (or no such slot).
 */
async function readSlotBeyondWal(
  client: pg.Client,
  slot: string,
): Promise<{ confirmed: string; wal: string } | null> {
  const { rows } = await client.query<{ confirmed: string; wal: string }>(
    `SELECT confirmed_flush_lsn::text AS confirmed, pg_catalog.pg_current_wal_lsn()::text AS wal
       FROM pg_catalog.pg_replication_slots
      WHERE slot_name = $1 AND NOT pg_catalog.pg_is_in_recovery() AND confirmed_flush_lsn > pg_catalog.pg_current_wal_lsn()`,
    [slot],
  );
  return rows[0] ?? null;
}

/**
 * The replication sessions of `applicationNames` that hold `slot` or created it: a slot made with
 * an exported snapshot is released once made, and the session that keeps the snapshot shows only
 * in its last command (`CREATE_REPLICATION_SLOT "slot" …`).
 */
export async function readSlotSessions(
  client: pg.Client,
  slot: string,
  applicationNames: readonly string[],
): Promise<number[]> {
  const { rows } = await client.query<{ pid: number }>(
    `SELECT a.pid FROM pg_catalog.pg_stat_activity a
      WHERE a.backend_type = 'walsender' AND a.application_name = ANY($2::text[])
        AND (a.pid IN (SELECT s.active_pid FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = $1)
             OR position($3 in a.query) > 0)`,
    [slot, [...applicationNames], `CREATE_REPLICATION_SLOT ${quoteIdent(slot)}`],
  );
  return rows.map((r) => r.pid);
}

/** Per slot of `slots` that exists, the WAL it retains in bytes (null: never reserved). */
export async function readSlotRetention(
  client: pg.Client,
  slots: string[],
): Promise<Map<string, number | null>> {
  const { rows } = await client.query<{ slot_name: string; retained: string | null }>(
    `SELECT slot_name, pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::text AS retained
       FROM pg_catalog.pg_replication_slots WHERE slot_name = ANY($1::text[])`,
    [slots],
  );
  return new Map(rows.map((r) => [r.slot_name, r.retained === null ? null : Number(r.retained)]));
}
