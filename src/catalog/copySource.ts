import type pg from 'pg';
import { compareTableNames } from '../model/order.js';
import { quoteIdent, quoteLiteral, quoteTable } from '../model/sql.js';
import { qualifiedName, type TableName } from '../model/topology.js';
import { sentColumns, throughAncestors } from '../model/verify.js';
import { readPublishedScope } from './compareScope.js';

/**
 * What steep's own copy engine reads (docs/steep-yaml.md): the tables a subscription's publications carry
 * with exactly the rows and columns they publish (row filters and column lists, PostgreSQL 15+,
 * and the stored generated columns 18 sends;
 * several publications of one table combine as PostgreSQL's table sync combines them: a filter
 * only when every one has one, OR-ed; every column when one has no list), each table's size
 * estimate and split key, and the split points of that key (the planner's histogram, or a
 * sample when the table was never analysed).
 */

export interface CopyColumn {
  name: string;
  /** format_type() */
  type: string;
  /**
   * a built-in type (oid below 16384): its binary form carries no database-specific oid; and one
   * with binary send/receive functions (BINARY_IO), so a binary COPY can carry it
   */
  builtin: boolean;
}

export interface CopySourceTable extends TableName {
  /** the columns copied, in the publisher's order */
  columns: CopyColumn[];
  /** the combined row filter, or null for every row */
  rowFilter: string | null;
  /** relpages × block size: the planner's own estimate, no scan */
  estimatedBytes: number;
  estimatedRows: number;
  /** the first primary-key column and its type, when the table has a primary key */
  key: { column: string; type: string } | null;
  /** a partitioned table (COPY reads it through a SELECT) */
  partitioned: boolean;
  /** a stored generated column among `columns` (COPY names none: it reads them through a SELECT) */
  generated: boolean;
}

interface TableRow {
  schema: string;
  name: string;
  relpages: number;
  reltuples: number;
  block_size: number;
  relkind: string;
  key_column: string | null;
  key_type: string | null;
  /** every column but virtual generated ones; `generated`: a stored generated one */
  columns: Array<{ name: string; type: string; builtin: boolean; generated: boolean }>;
}

/** Without its generation flag: what is copied is the column's values. */
const copyColumn = ({ name, type, builtin }: TableRow['columns'][number]): CopyColumn => ({
  name,
  type,
  builtin,
});

/**
 * The column's type has binary send and receive functions, and so has an array's element (array_send
 * calls the element's): aclitem, a built-in type, has neither, and a binary COPY of it fails.
 */
const BINARY_IO = `(SELECT t.typsend <> 0 AND t.typreceive <> 0
           AND (t.typelem = 0 OR t.typsend <> 'pg_catalog.array_send'::pg_catalog.regproc
                OR (SELECT e.typsend <> 0 AND e.typreceive <> 0 FROM pg_catalog.pg_type e WHERE e.oid = t.typelem))
          FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid)`;

const TABLES_SQL = `
SELECT n.nspname AS schema, c.relname AS name, greatest(c.relpages, 0)::float8 AS relpages,
       greatest(c.reltuples, 0)::float8 AS reltuples, current_setting('block_size')::int AS block_size,
       c.relkind::text AS relkind,
       (SELECT a.attname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a
           ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = c.oid AND i.indisprimary) AS key_column,
       (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a
           ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = c.oid AND i.indisprimary) AS key_type,
       coalesce((SELECT json_agg(json_build_object('name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
                                                   'builtin', a.atttypid < 16384 AND ${BINARY_IO},
                                                   'generated', a.attgenerated <> '') ORDER BY a.attnum)
                   FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> 'v'), '[]') AS columns
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`;

/** Column names and types of `tables` on a node (the subscriber's side of a copy): its generated ones take no values. */
export async function readColumns(
  client: pg.Client,
  tables: readonly TableName[],
): Promise<Map<string, CopyColumn[]>> {
  const { rows } = await client.query<TableRow>(TABLES_SQL, [
    tables.map((t) => t.schema),
    tables.map((t) => t.name),
  ]);
  return new Map(
    rows.map((r) => [`${r.schema}.${r.name}`, r.columns.filter((c) => !c.generated).map(copyColumn)]),
  );
}

/**
 * Everything the engine copies for `publications`, read at the copy's snapshot: a partition
 * published beside an ancestor published via root is not copied on its own (model/verify.ts
 * throughAncestors): its rows come with the ancestor's, through the ancestor's row filter.
 */
export async function readCopySource(
  client: pg.Client,
  publications: readonly string[],
  version: number,
  stateSchema: string,
): Promise<CopySourceTable[]> {
  const all = await readPublishedScope(client, version, [...publications], stateSchema);
  const through = throughAncestors(all);
  const scope = all.filter((p) => !through.has(qualifiedName(p.table)));
  const published = new Map(scope.map((p) => [`${p.table.schema}.${p.table.name}`, p]));
  const { rows } = await client.query<TableRow>(TABLES_SQL, [
    scope.map((p) => p.table.schema),
    scope.map((p) => p.table.name),
  ]);
  return rows
    .map((r): CopySourceTable => {
      const { columns, filter } = published.get(`${r.schema}.${r.name}`)!;
      // a stored generated one sent (18) is copied into the subscriber's plain column
      const copied = sentColumns(r.columns, columns);
      return {
        schema: r.schema,
        name: r.name,
        columns: copied.map(copyColumn),
        rowFilter: filter,
        estimatedBytes: r.relpages * r.block_size,
        estimatedRows: r.reltuples,
        key: r.key_column && r.key_type ? { column: r.key_column, type: r.key_type } : null,
        partitioned: r.relkind === 'p',
        generated: copied.some((c) => c.generated),
      };
    })
    .sort(compareTableNames);
}

/**
 * `count - 1` split points of the table's key, evenly spaced in its distribution: from the
 * planner's histogram when the table was analysed, else from a sample of its pages. Fewer
 * (or none) when the key has fewer distinct values. As text, cast back to the key's type.
 */
export async function readSplitPoints(
  client: pg.Client,
  t: Pick<CopySourceTable, 'schema' | 'name' | 'key' | 'estimatedRows'>,
  count: number,
): Promise<string[]> {
  if (!t.key || count < 2) return [];
  const type = t.key.type;
  const { rows: hist } = await client.query<{ b: string }>(
    `SELECT b::text AS b FROM unnest((SELECT histogram_bounds::text::${type}[] FROM pg_catalog.pg_stats
        WHERE schemaname = $1 AND tablename = $2 AND attname = $3 LIMIT 1)) b`,
    [t.schema, t.name, t.key.column],
  );
  let sorted = hist.map((r) => r.b);
  if (sorted.length < count) {
    // never analysed (or too few bounds): a sample of about 30,000 rows' pages
    const percent = Math.min(100, Math.max(0.01, (30_000 / Math.max(1, t.estimatedRows)) * 100));
    const { rows } = await client.query<{ b: string }>(
      `SELECT k::text AS b FROM (SELECT ${quoteIdent(t.key.column)} AS k FROM ${quoteTable(t)}
          TABLESAMPLE SYSTEM (${percent.toFixed(4)})) s ORDER BY k`,
    );
    sorted = rows.map((r) => r.b);
  }
  if (sorted.length === 0) return [];
  const out: string[] = [];
  for (let i = 1; i < count; i++) {
    const v = sorted[Math.floor((i * sorted.length) / count)];
    if (v !== undefined && v !== out[out.length - 1]) out.push(v);
  }
  return out;
}

/** `COPY (SELECT …) TO STDOUT` of one chunk: its columns, the row filter and its key range. */
export function copyOutSql(
  t: CopySourceTable,
  range: { lower: string | null; upper: string | null },
  binary: boolean,
): string {
  const cols = t.columns.map((c) => quoteIdent(c.name)).join(', ');
  const where: string[] = [];
  if (t.rowFilter) where.push(`(${t.rowFilter})`);
  if (t.key) {
    const k = quoteIdent(t.key.column);
    if (range.lower !== null) where.push(`${k} >= ${quoteLiteral(range.lower)}::${t.key.type}`);
    if (range.upper !== null) where.push(`${k} < ${quoteLiteral(range.upper)}::${t.key.type}`);
  }
  const format = binary ? ' WITH (FORMAT binary)' : '';
  if (where.length === 0 && !t.partitioned && !t.generated)
    return `COPY ${quoteTable(t)} (${cols}) TO STDOUT${format}`;
  const filter = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
  return `COPY (SELECT ${cols} FROM ${quoteTable(t)}${filter}) TO STDOUT${format}`;
}

/** `COPY … FROM STDIN` into the subscriber's table, the columns named. */
export function copyInSql(t: TableName, columns: readonly CopyColumn[], binary: boolean): string {
  const cols = columns.map((c) => quoteIdent(c.name)).join(', ');
  return `COPY ${quoteTable(t)} (${cols}) FROM STDIN${binary ? ' WITH (FORMAT binary)' : ''}`;
}
