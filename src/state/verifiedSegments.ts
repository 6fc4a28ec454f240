import type pg from 'pg';
import type { Segment } from '../model/rollingVerify.js';
import { isoTime } from '../model/sql.js';
import { hasColumn } from './columns.js';
import { StateTable } from './stateTable.js';

/**
 * `verified_segments` (state schema migration 19): each table of a subscription cut into
 * segments of its first key column (model/rollingVerify.ts), with when `verify --rolling` last
 * compared each and when each was last found equal.
 */
export class VerifiedSegmentsStore extends StateTable {
  protected readonly name = 'verified_segments';

  /** The subscription's segments, by table and segment. */
  async list(client: pg.Client, subscription: string): Promise<Segment[]> {
    const { rows } = await client.query<Segment & { rows: string }>(
      `SELECT subscription, table_name AS "table", segment, key_column AS "keyColumn", lo, hi, rows::text AS rows,
              ${isoTime('compared_at')} AS "comparedAt", verdict, ${isoTime('equal_at')} AS "equalAt"
         FROM ${this.table} WHERE node_name = $1 AND subscription = $2 ORDER BY table_name, segment`,
      [this.node, subscription],
    );
    return rows.map((r) => ({ ...r, rows: Number(r.rows) }));
  }

  /** A table's map made again (none yet, or its key changed): its segments, none compared. */
  async replace(client: pg.Client, subscription: string, table: string, segments: Segment[]): Promise<void> {
    await this.forget(client, subscription, [table]);
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, table_name, segment, key_column, lo, hi, rows)
       SELECT $1, $2, $3, s.segment, s."keyColumn", s.lo, s.hi, s.rows
         FROM jsonb_to_recordset($4::jsonb) AS s(segment int, "keyColumn" text, lo text, hi text, rows bigint)`,
      [this.node, subscription, table, JSON.stringify(segments)],
    );
  }

  /** The tables' maps dropped (they left the subscription). */
  async forget(client: pg.Client, subscription: string, tables: string[]): Promise<void> {
    await client.query(
      `DELETE FROM ${this.table} WHERE node_name = $1 AND subscription = $2 AND table_name = ANY($3::text[])`,
      [this.node, subscription, tables],
    );
  }

  /** Migration 23 applied: each segment keeps the conflict counters read before it was found equal. */
  async keepsConflicts(client: pg.Client): Promise<boolean> {
    return hasColumn(client, this.table, 'equal_conflicts');
  }

  /**
   * One segment compared from `at` on: what it found, and its rows; `conflicts`, PostgreSQL 18's
   * counters read before it, kept with `equal_at` (undefined: the column is not there yet).
   */
  async record(
    client: pg.Client,
    s: Pick<Segment, 'subscription' | 'table' | 'segment'>,
    found: {
      at: Date;
      verdict: NonNullable<Segment['verdict']>;
      rows: number;
      conflicts?: Record<string, number> | null;
    },
  ): Promise<void> {
    const kept = found.conflicts !== undefined;
    await client.query(
      `UPDATE ${this.table} SET compared_at = $5, verdict = $6, rows = $7,
              equal_at = CASE WHEN $6 = 'equal' THEN $5 ELSE equal_at END
              ${kept ? ", equal_conflicts = CASE WHEN $6 = 'equal' THEN $8::jsonb ELSE equal_conflicts END" : ''}
        WHERE node_name = $1 AND subscription = $2 AND table_name = $3 AND segment = $4`,
      [
        this.node,
        s.subscription,
        s.table,
        s.segment,
        found.at,
        found.verdict,
        found.rows,
        ...(kept ? [found.conflicts && JSON.stringify(found.conflicts)] : []),
      ],
    );
  }

  /**
   * A verify of these whole tables, begun at `at` with `conflicts` read then, found them equal:
   * every segment of theirs is.
   */
  async wholeEqual(
    client: pg.Client,
    subscription: string,
    tables: string[],
    run: { startedAt: Date; conflicts: Record<string, number> | null },
  ): Promise<void> {
    if (tables.length === 0) return;
    const kept = await this.keepsConflicts(client);
    await client.query(
      `UPDATE ${this.table} SET compared_at = $4, verdict = 'equal', equal_at = $4
              ${kept ? ', equal_conflicts = $5::jsonb' : ''}
        WHERE node_name = $1 AND subscription = $2 AND table_name = ANY($3::text[])`,
      [
        this.node,
        subscription,
        tables,
        run.startedAt,
        ...(kept ? [run.conflicts && JSON.stringify(run.conflicts)] : []),
      ],
    );
  }
}
