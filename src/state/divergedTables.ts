import type pg from 'pg';
import { isoTime } from '../model/sql.js';
import type { TableVerdict } from '../model/verify.js';
import { StateTable } from './stateTable.js';

/**
 * `diverged_tables` (state schema migration 4): the tables of a subscription that `steep verify`
 * last found different on this subscriber, with what it counted. A verify rewrites the rows of
 * the tables it compared; a reinit removes those it copied again.
 */
export interface DivergedTable {
  table: string;
  missing: number;
  extra: number;
  different: number;
  verifiedAt: string;
}

export class DivergedTablesStore extends StateTable {
  protected readonly name = 'diverged_tables';

  /** The diverged tables' names ([] when the table is absent: migration 4 not applied yet). */
  async tablesOf(client: pg.Client, subscription: string): Promise<string[]> {
    if (!(await this.exists(client))) return [];
    return (await this.list(client, subscription)).map((t) => t.table);
  }

  /** Every subscription's diverged tables on this node. */
  async all(client: pg.Client): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (!(await this.exists(client))) return out;
    const { rows } = await client.query<{ subscription: string; table_name: string }>(
      `SELECT subscription, table_name FROM ${this.table} WHERE node_name = $1 ORDER BY 1, 2`,
      [this.node],
    );
    for (const r of rows) out.set(r.subscription, [...(out.get(r.subscription) ?? []), r.table_name]);
    return out;
  }

  async list(client: pg.Client, subscription: string): Promise<DivergedTable[]> {
    const { rows } = await client.query<DivergedTable>(
      `SELECT table_name AS "table", missing::float8 AS missing, extra::float8 AS extra,
              different::float8 AS different, ${isoTime('verified_at')} AS "verifiedAt"
         FROM ${this.table} WHERE node_name = $1 AND subscription = $2 ORDER BY table_name`,
      [this.node, subscription],
    );
    return rows;
  }

  /** Record what a verify found for the tables it compared (equal ones are forgotten). */
  async record(client: pg.Client, subscription: string, verdicts: TableVerdict[]): Promise<void> {
    const compared = verdicts.filter((v) => v.status !== 'not_verifiable');
    await this.forget(
      client,
      subscription,
      compared.map((v) => v.table),
    );
    const diverged = compared.filter((v) => v.status === 'diverged');
    if (diverged.length === 0) return;
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, table_name, missing, extra, different)
       SELECT $1, $2, v."table", v.missing, v.extra, v.different
         FROM jsonb_to_recordset($3::jsonb) AS v("table" text, missing bigint, extra bigint, different bigint)`,
      [this.node, subscription, JSON.stringify(diverged)],
    );
  }

  async forget(client: pg.Client, subscription: string, tables: string[]): Promise<void> {
    await client.query(
      `DELETE FROM ${this.table} WHERE node_name = $1 AND subscription = $2 AND table_name = ANY($3::text[])`,
      [this.node, subscription, tables],
    );
  }
}
