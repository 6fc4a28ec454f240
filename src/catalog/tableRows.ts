/**
 * What one node's catalog says of the rows of some tables, in one statement: whether one exists
 * (read, within the publisher's row filter where one is given), the planner's estimate, and the
 * table's size (with its TOAST) — for an init's plausibility check and how its comparison reads
 * each table (model/initEvidence.ts).
 */
import type pg from 'pg';
import { quoteLiteral, quoteTable } from '../model/sql.js';
import { qualifiedName, type TableName } from '../model/topology.js';

export interface TableRows {
  hasRows: boolean;
  /** `reltuples`, null where the table was never analysed (−1 from 14 on) */
  estimate: number | null;
  bytes: number;
}

/** By `schema.table`; a table the node lacks is absent. */
export async function readTableRows(
  client: pg.Client,
  tables: readonly { table: TableName; filter?: string | null }[],
): Promise<Map<string, TableRows>> {
  // a table the node lacks is left out (a statement naming it would not parse)
  const { rows: present } = await client.query<{ name: string }>(
    'SELECT n AS name FROM unnest($1::text[]) n WHERE to_regclass(n) IS NOT NULL',
    [tables.map((t) => quoteTable(t.table))],
  );
  const there = new Set(present.map((r) => r.name));
  tables = tables.filter((t) => there.has(quoteTable(t.table)));
  if (tables.length === 0) return new Map();
  // a partitioned table's rows are its partitions'; any other table's are its own (not its heirs')
  const one = ({ table, filter }: { table: TableName; filter?: string | null }) => {
    const rows = (only: string) =>
      `EXISTS (SELECT 1 FROM ${only}${quoteTable(table)}${filter ? ` WHERE ${filter}` : ''})`;
    return `SELECT ${quoteLiteral(qualifiedName(table))} AS name,
            CASE WHEN c.relkind = 'p' THEN ${rows('')} ELSE ${rows('ONLY ')} END AS "hasRows",
            CASE WHEN c.reltuples >= 0 AND (c.reltuples > 0 OR c.relpages > 0) THEN c.reltuples::float8 END AS estimate,
            pg_catalog.pg_table_size(c.oid)::float8 AS bytes
       FROM pg_catalog.pg_class c WHERE c.oid = ${quoteLiteral(quoteTable(table))}::regclass`;
  };
  const { rows } = await client.query<{ name: string } & TableRows>(tables.map(one).join('\nUNION ALL\n'));
  return new Map(rows.map((r) => [r.name, { hasRows: r.hasRows, estimate: r.estimate, bytes: r.bytes }]));
}
