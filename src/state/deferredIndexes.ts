import type pg from 'pg';
import { qualifiedName, type TableName } from '../model/topology.js';
import { StateTable } from './stateTable.js';

/**
 * `deferred_indexes` rows on the subscriber: the indexes of a table that steep's own copy
 * dropped before loading it and builds again once every chunk is in (copy/deferredIndexes.ts),
 * each with the statement that builds it. Written in the transaction that drops them and
 * removed in the one that builds them, so a table is never without an index nobody recorded.
 */
export interface DeferredIndex {
  table: TableName;
  index: string;
  /** the order the statements run in: the primary key first */
  position: number;
  /** `ALTER TABLE … ADD CONSTRAINT …` or `CREATE INDEX …` */
  definition: string;
}

/** Deferred indexes a table's together, tables in the order of `rows` (a list() is by table, then position). */
export function byTable(
  rows: readonly DeferredIndex[],
): Array<{ table: TableName; indexes: DeferredIndex[] }> {
  const out = new Map<string, { table: TableName; indexes: DeferredIndex[] }>();
  for (const x of rows) {
    const key = qualifiedName(x.table);
    const t = out.get(key) ?? { table: x.table, indexes: [] };
    t.indexes.push(x);
    out.set(key, t);
  }
  return [...out.values()];
}

export class DeferredIndexStore extends StateTable {
  protected readonly name = 'deferred_indexes';

  async record(client: pg.Client, subscription: string, indexes: DeferredIndex[]): Promise<void> {
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, table_schema, table_name, index_name, position, definition)
       SELECT $1, $2, x."table"->>'schema', x."table"->>'name', x.index, x.position, x.definition
         FROM jsonb_to_recordset($3::jsonb) AS x("table" jsonb, index text, position int, definition text)`,
      [this.node, subscription, JSON.stringify(indexes)],
    );
  }

  /** The subscription's deferred indexes, a table's together, in the order they are built. */
  async list(client: pg.Client, subscription: string): Promise<DeferredIndex[]> {
    // a state schema from before migration 9 has deferred nothing
    if (!(await this.exists(client))) return [];
    const { rows } = await client.query<DeferredIndex>(
      `SELECT json_build_object('schema', table_schema, 'name', table_name) AS "table", index_name AS index,
              position, definition
         FROM ${this.table} WHERE node_name = $1 AND subscription = $2 ORDER BY table_schema, table_name, position`,
      [this.node, subscription],
    );
    return rows;
  }

  async remove(client: pg.Client, subscription: string, table: TableName): Promise<void> {
    await client.query(
      `DELETE FROM ${this.table} WHERE node_name = $1 AND subscription = $2 AND table_schema = $3 AND table_name = $4`,
      [this.node, subscription, table.schema, table.name],
    );
  }
}
