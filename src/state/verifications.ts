import type pg from 'pg';
import { isoTime, quoteIdent } from '../model/sql.js';
import type { TableVerdict } from '../model/verify.js';
import type { VerifyRecord } from '../model/verifyRecord.js';
import { hasColumn } from './columns.js';
import { StateTable } from './stateTable.js';

/**
 * `verifications` and `verified_tables` (state schema migration 10): the last `steep verify` of
 * each subscription on this subscriber, and of each table it compared.
 */
export class VerificationStore extends StateTable {
  protected readonly name = 'verifications';

  private get verifiedTables(): string {
    return `${quoteIdent(this.schema)}.verified_tables`;
  }

  /**
   * Record a verify that began at `startedAt` with these conflict counters and found `verdicts`:
   * each table's verdict, and when it compared every table (`whole`) the subscription's.
   */
  async record(
    client: pg.Client,
    subscription: string,
    run: {
      startedAt: Date;
      conflicts: Record<string, number> | null;
      whole: boolean;
      verdicts: TableVerdict[];
    },
  ): Promise<void> {
    const v = run.verdicts;
    if (run.whole) {
      const diverged = v.filter((t) => t.status === 'diverged').length;
      const notVerifiable = v.filter((t) => t.status === 'not_verifiable').length;
      const verdict = diverged > 0 ? 'diverged' : notVerifiable > 0 ? 'not_verifiable' : 'equal';
      await client.query(
        `INSERT INTO ${this.table} AS v (node_name, subscription, started_at, verified_at, verdict, tables_compared, tables_diverged, tables_not_verifiable, conflicts)
         VALUES ($1, $2, $3, now(), $4, $5, $6, $7, $8)
         ON CONFLICT (node_name, subscription) DO UPDATE SET started_at = excluded.started_at, verified_at = excluded.verified_at,
           verdict = excluded.verdict, tables_compared = excluded.tables_compared, tables_diverged = excluded.tables_diverged,
           tables_not_verifiable = excluded.tables_not_verifiable, conflicts = excluded.conflicts`,
        [
          this.node,
          subscription,
          run.startedAt,
          verdict,
          v.length - notVerifiable,
          diverged,
          notVerifiable,
          run.conflicts === null ? null : JSON.stringify(run.conflicts),
        ],
      );
    }
    if (v.length === 0) return;
    // migration 20: a sampled comparison says how much it read; one of every row clears that
    const sampled = await hasColumn(client, this.verifiedTables, 'sampled_segments');
    const rows = v.map((t) => ({
      ...t,
      sampled: t.sample?.compared ?? null,
      segments: t.sample?.of ?? null,
      notComparable: t.notComparable === true,
    }));
    await client.query(
      `INSERT INTO ${this.verifiedTables} (node_name, subscription, table_name, verified_at, verdict, rows, missing, extra, different${sampled ? ', sampled_segments, segments, not_comparable' : ''})
       SELECT $1, $2, v."table", now(), v.status, v.rows, v.missing, v.extra, v.different${sampled ? ', v.sampled, v.segments, v."notComparable"' : ''}
         FROM jsonb_to_recordset($3::jsonb) AS v("table" text, status text, rows bigint, missing bigint, extra bigint, different bigint, sampled integer, segments integer, "notComparable" boolean)
       ON CONFLICT (node_name, subscription, table_name) DO UPDATE SET verified_at = excluded.verified_at,
         verdict = excluded.verdict, rows = excluded.rows, missing = excluded.missing, extra = excluded.extra,
         different = excluded.different${sampled ? ', sampled_segments = excluded.sampled_segments, segments = excluded.segments, not_comparable = excluded.not_comparable' : ''}`,
      [this.node, subscription, JSON.stringify(rows)],
    );
  }

  /**
   * Forget the subscription's verifies (it was dropped, or is created again): a verdict belongs to
   * the subscription it was made for, not to another of the same name.
   */
  override async clear(client: pg.Client, subscription: string): Promise<void> {
    if (!(await this.exists(client))) return;
    await super.clear(client, subscription);
    await client.query(`DELETE FROM ${this.verifiedTables} WHERE node_name = $1 AND subscription = $2`, [
      this.node,
      subscription,
    ]);
  }

  /** Every subscription's last verify on this node (empty when migration 10 is not applied). */
  async all(client: pg.Client): Promise<Map<string, VerifyRecord>> {
    if (!(await this.exists(client))) return new Map();
    const { rows } = await client.query<VerifyRecord>(
      `SELECT subscription, ${isoTime('started_at')} AS "startedAt", ${isoTime('verified_at')} AS "verifiedAt", verdict, tables_compared AS "tablesCompared",
              tables_diverged AS "tablesDiverged", tables_not_verifiable AS "tablesNotVerifiable", conflicts
         FROM ${this.table} WHERE node_name = $1 ORDER BY subscription`,
      [this.node],
    );
    return new Map(rows.map((r) => [r.subscription, r]));
  }
}
