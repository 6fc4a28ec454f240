import type pg from 'pg';
import type { TableName } from '../model/topology.js';
import { StateTable } from './stateTable.js';

/**
 * `copy_chunks` rows on the subscriber (docs/steep-yaml.md, On every node): the chunks of steep's own copy of a
 * subscription at the snapshot of its slot (consistent point `lsn`), recorded once when the
 * copy is planned (so a rerun copies the very same key ranges), and marked done in the same
 * transaction as the chunk's rows, so the two never disagree.
 */
export interface ChunkRecord {
  table: TableName;
  chunk: number;
  lower: string | null;
  upper: string | null;
  estimatedBytes: number;
  /** null until done */
  rows: number | null;
  bytes: number | null;
}

export class CopyChunkStore extends StateTable {
  protected readonly name = 'copy_chunks';

  async list(client: pg.Client, subscription: string, lsn: string): Promise<ChunkRecord[]> {
    const { rows } = await client.query<ChunkRecord>(
      `SELECT json_build_object('schema', table_schema, 'name', table_name) AS "table", chunk,
              lower_bound AS lower, upper_bound AS upper, estimated_bytes::float8 AS "estimatedBytes",
              rows::float8 AS rows, bytes::float8 AS bytes
         FROM ${this.table} WHERE node_name = $1 AND subscription = $2 AND lsn = $3::pg_lsn
        ORDER BY table_schema, table_name, chunk`,
      [this.node, subscription, lsn],
    );
    return rows;
  }

  /** The copy's plan, replacing whatever an earlier copy of the subscription left. */
  async plan(client: pg.Client, subscription: string, lsn: string, chunks: ChunkRecord[]): Promise<void> {
    await this.clear(client, subscription);
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, lsn, table_schema, table_name, chunk, lower_bound, upper_bound, estimated_bytes)
       SELECT $1, $2, $3::pg_lsn, x."table"->>'schema', x."table"->>'name', x.chunk, x.lower, x.upper, x."estimatedBytes"
         FROM jsonb_to_recordset($4::jsonb)
           AS x("table" jsonb, chunk int, lower text, upper text, "estimatedBytes" bigint)`,
      [
        this.node,
        subscription,
        lsn,
        JSON.stringify(chunks.map((c) => ({ ...c, estimatedBytes: Math.round(c.estimatedBytes) }))),
      ],
    );
  }

  async done(
    client: pg.Client,
    c: { subscription: string; lsn: string; table: TableName; chunk: number; rows: number; bytes: number },
  ): Promise<void> {
    await client.query(
      `UPDATE ${this.table} SET rows = $7, bytes = $8, completed_at = now()
        WHERE node_name = $1 AND subscription = $2 AND lsn = $3::pg_lsn AND table_schema = $4 AND table_name = $5 AND chunk = $6`,
      [this.node, c.subscription, c.lsn, c.table.schema, c.table.name, c.chunk, c.rows, c.bytes],
    );
  }

  /** The tables at least one finished chunk of the subscription's copy loaded rows into. */
  async copiedTables(client: pg.Client, subscription: string): Promise<TableName[]> {
    const { rows } = await client.query<TableName>(
      `SELECT DISTINCT table_schema AS schema, table_name AS name FROM ${this.table}
        WHERE node_name = $1 AND subscription = $2 AND completed_at IS NOT NULL ORDER BY 1, 2`,
      [this.node, subscription],
    );
    return rows;
  }
}
