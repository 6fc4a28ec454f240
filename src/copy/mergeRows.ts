import type pg from 'pg';
import { ROW_BATCH } from '../catalog/rowsByKey.js';
import { quoteIdent, quoteTable } from '../model/sql.js';
import type { TableName } from '../model/topology.js';

/**
 * The writes of a merge (docs/steep-yaml.md merge): rows read from one node as text per column
 * (catalog/rowHashes.ts readRowsByKey) written to the other, cast back to each column's type —
 * the text COPY moves, so every value arrives exactly. One statement per batch: a batch is
 * written whole or not at all.
 */

export interface RowTarget {
  table: TableName;
  /** the written columns, in the order of each row's values */
  columns: string[];
  /** format_type() of each column */
  types: string[];
  /** the key columns (among `columns`) */
  keys: string[];
  /** an ordinary table: its rows alone are updated, not its inheritance children's (`ONLY`) */
  only: boolean;
}

function source(t: RowTarget): string {
  const arrays = t.columns.map((_c, j) => `$${j + 1}::text[]`).join(', ');
  const names = t.columns.map((_c, j) => `c${j}`).join(', ');
  return `unnest(${arrays}) AS u(${names})`;
}

function value(t: RowTarget, j: number): string {
  return `u.c${j}::${t.types[j]}`;
}

/** `sql` once per batch of ROW_BATCH rows (a batch written whole or not at all), each column's values one text[]; the rows it wrote. */
async function perBatch(client: pg.Client, t: RowTarget, rows: Array<Array<string | null>>, sql: string) {
  let written = 0;
  for (let i = 0; i < rows.length; i += ROW_BATCH) {
    const batch = rows.slice(i, i + ROW_BATCH);
    const columns = t.columns.map((_c, j) => batch.map((row) => row[j] ?? null));
    written += (await client.query(sql, columns)).rowCount ?? 0;
  }
  return written;
}

/**
 * Insert rows whose keys the node lacks; a key present by now (written since the analysis) is
 * left as it is — the merge's final pass finds it. Returns the rows inserted.
 */
export async function insertRows(client: pg.Client, t: RowTarget, rows: Array<Array<string | null>>) {
  const sql =
    `INSERT INTO ${quoteTable(t.table)} (${t.columns.map(quoteIdent).join(', ')}) ` +
    `SELECT ${t.columns.map((_c, j) => value(t, j)).join(', ')} FROM ${source(t)} ON CONFLICT DO NOTHING`;
  return perBatch(client, t, rows, sql);
}

/** Overwrite the rows of these keys with these values (the other node's rows). Returns the rows updated. */
export async function overwriteRows(client: pg.Client, t: RowTarget, rows: Array<Array<string | null>>) {
  const set = t.columns.map((c, j) => (t.keys.includes(c) ? null : `${quoteIdent(c)} = ${value(t, j)}`));
  const assignments = set.filter((x) => x !== null);
  if (assignments.length === 0) return 0;
  const match = t.keys.map((k) => {
    const j = t.columns.indexOf(k);
    return `${quoteTable(t.table)}.${quoteIdent(k)} = ${value(t, j)}`;
  });
  const sql = `UPDATE ${t.only ? 'ONLY ' : ''}${quoteTable(t.table)} SET ${assignments.join(', ')} FROM ${source(t)} WHERE ${match.join(' AND ')}`;
  return perBatch(client, t, rows, sql);
}

/** Delete the rows of these keys (each row's key columns among its values). Returns the rows deleted. */
export async function deleteRows(client: pg.Client, t: RowTarget, rows: Array<Array<string | null>>) {
  const match = t.keys.map((k) => {
    const j = t.columns.indexOf(k);
    return `${quoteTable(t.table)}.${quoteIdent(k)} = ${value(t, j)}`;
  });
  const sql = `DELETE FROM ${t.only ? 'ONLY ' : ''}${quoteTable(t.table)} USING ${source(t)} WHERE ${match.join(' AND ')}`;
  return perBatch(client, t, rows, sql);
}
