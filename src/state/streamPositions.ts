import type pg from 'pg';
import type { StreamPosition, StreamPositionRecord } from '../model/cluster.js';
import { StateTable } from './stateTable.js';

/**
 * `stream_positions` (state schema migration 11), on a subscriber: per subscription and primary
 * (system identifier, timeline), what it had applied when steep last saw it stream from there.
 */
export class StreamPositionStore extends StateTable {
  protected readonly name = 'stream_positions';

  async list(client: pg.Client): Promise<StreamPosition[]> {
    const { rows } = await client.query<StreamPosition>(
      `SELECT subscription, system_identifier AS "systemIdentifier", timeline, origin_lsn::text AS "originLsn",
              ready, to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "recordedAt",
              to_char(settled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "settledAt",
              settled_by AS "settledBy"
         FROM ${this.table} WHERE node_name = $1 ORDER BY subscription, system_identifier, timeline`,
      [this.node],
    );
    return rows;
  }

  /**
   * steep reinit --full copied the subscription's tables from this primary, or a verify found
   * them all equal there, or a reading after its promotion found the subscriber had applied
   * nothing past the fork (`by`): kept with its row (a row made here records `originLsn`, what
   * the subscriber had applied then, 0/0 when not given; not ready).
   */
  async markSettled(
    client: pg.Client,
    subscription: string,
    primary: { systemIdentifier: string; timeline: number },
    by: 'reinit' | 'verify' | 'failover',
    originLsn = '0/0',
  ): Promise<void> {
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, system_identifier, timeline, origin_lsn, ready, recorded_at, settled_at, settled_by)
       VALUES ($1, $2, $3, $4, $6::pg_lsn, false, now(), now(), $5)
       ON CONFLICT (node_name, subscription, system_identifier, timeline) DO UPDATE SET settled_at = now(), settled_by = $5`,
      [this.node, subscription, primary.systemIdentifier, primary.timeline, by, originLsn],
    );
  }

  /** Record each position as the latest seen from its primary. */
  async record(client: pg.Client, positions: StreamPositionRecord[]): Promise<void> {
    if (positions.length === 0) return;
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, system_identifier, timeline, origin_lsn, ready, recorded_at)
       SELECT $1, p.subscription, p."systemIdentifier", p.timeline, p."originLsn", p.ready, now()
         FROM jsonb_to_recordset($2::jsonb) AS p(subscription text, "systemIdentifier" text, timeline int, "originLsn" pg_lsn, ready boolean)
       ON CONFLICT (node_name, subscription, system_identifier, timeline) DO UPDATE SET
         origin_lsn = excluded.origin_lsn, ready = excluded.ready, recorded_at = excluded.recorded_at`,
      [this.node, JSON.stringify(positions)],
    );
  }
}
