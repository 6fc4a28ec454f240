import type pg from 'pg';
import { isoTime } from '../model/sql.js';
import type { ErrorReading } from '../model/syncVerdict.js';
import { StateTable } from './stateTable.js';

/**
 * `status_readings` (state schema migration 12): steep's last reading of each subscription's
 * error counters on this subscriber, which the next `status` compares with
 * (model/syncVerdict.ts).
 */
export class StatusReadingStore extends StateTable {
  protected readonly name = 'status_readings';

  /** Every subscription's last reading on this node; null when migration 12 is not applied. */
  async all(client: pg.Client): Promise<Map<string, ErrorReading> | null> {
    if (!(await this.exists(client))) return null;
    const out = new Map<string, ErrorReading>();
    const { rows } = await client.query<{ subscription: string } & ErrorReading>(
      `SELECT subscription, apply_errors::float8 AS "applyErrors", sync_errors::float8 AS "syncErrors",
              ${isoTime('read_at')} AS at, ${isoTime('rose_at')} AS "roseAt"
         FROM ${this.table} WHERE node_name = $1`,
      [this.node],
    );
    for (const { subscription, ...r } of rows) out.set(subscription, r);
    return out;
  }

  /** Record these readings, by subscription (one statement). */
  async record(client: pg.Client, readings: Map<string, ErrorReading>): Promise<void> {
    if (readings.size === 0) return;
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, apply_errors, sync_errors, read_at, rose_at)
       SELECT $1, r.subscription, r."applyErrors", r."syncErrors", r.at, r."roseAt"
         FROM jsonb_to_recordset($2::jsonb)
           AS r(subscription text, "applyErrors" bigint, "syncErrors" bigint, at timestamptz, "roseAt" timestamptz)
       ON CONFLICT (node_name, subscription) DO UPDATE SET apply_errors = excluded.apply_errors,
         sync_errors = excluded.sync_errors, read_at = excluded.read_at, rose_at = excluded.rose_at`,
      [this.node, JSON.stringify([...readings].map(([subscription, r]) => ({ subscription, ...r })))],
    );
  }
}
