import type pg from 'pg';
import type { InitProgress } from '../model/initState.js';
import { StateTable } from './stateTable.js';

/**
 * `init_progress` rows (docs/steep-yaml.md, On every node): the latest figures of a subscription's init, written by
 * whoever follows it (apply, `init status`), so another session can see how far it got.
 */
export class InitProgressStore extends StateTable {
  protected readonly name = 'init_progress';

  async save(client: pg.Client, p: InitProgress): Promise<void> {
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, phase, overall_percent, tables_total, tables_completed,
                                  current_table, rows_copied, bytes_copied, rows_per_second, eta_seconds, started_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12::timestamptz, now()), now())
       ON CONFLICT (node_name, subscription) DO UPDATE SET
         phase = EXCLUDED.phase, overall_percent = EXCLUDED.overall_percent, tables_total = EXCLUDED.tables_total,
         tables_completed = EXCLUDED.tables_completed, current_table = EXCLUDED.current_table,
         rows_copied = EXCLUDED.rows_copied, bytes_copied = EXCLUDED.bytes_copied,
         rows_per_second = EXCLUDED.rows_per_second, eta_seconds = EXCLUDED.eta_seconds,
         started_at = EXCLUDED.started_at, updated_at = now()`,
      [
        this.node,
        p.subscription,
        p.state,
        p.percent,
        p.tablesTotal,
        p.tablesDone,
        p.currentTables.length > 0 ? p.currentTables.join(', ') : null,
        Math.round(p.rowsCopied),
        Math.round(((p.bytesTotal ?? 0) * p.percent) / 100),
        p.rowsPerSecond ?? 0,
        p.etaSeconds === null ? null : Math.round(p.etaSeconds),
        p.startedAt,
      ],
    );
  }

  /** The last figures recorded, and when. */
  async get(client: pg.Client, subscription: string) {
    const { rows } = await client.query<{ rowsCopied: number; percent: number; updatedAt: Date }>(
      `SELECT rows_copied::float8 AS "rowsCopied", overall_percent AS percent, updated_at AS "updatedAt"
         FROM ${this.table} WHERE node_name = $1 AND subscription = $2`,
      [this.node, subscription],
    );
    return rows[0] ?? null;
  }
}
