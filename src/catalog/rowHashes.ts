import { StringDecoder } from 'node:string_decoder';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { quoteIdent, quoteLiteral, quoteTable } from '../model/sql.js';
import type { TableName } from '../model/topology.js';
import type { CompareSide, KeyColumn, RowKey } from '../model/verify.js';
import { readSplitPoints } from './copySource.js';
import { PG15 } from './queries/catalogQuery.js';

/**
 * The SQL of a data comparison (SPEC §9 Verify): what a subscription carries, each table's key
 * and columns, and row hashes computed inside each database — per key-range chunk (one scan,
 * nothing but the sums leave the server), streamed per row ordered by key for the chunks that
 * differ, or looked up by key. Read-only: plain SELECTs and COPY … TO, ACCESS SHARE locks only.
 *
 * A row's hash is hashtextextended() of its compared columns as a row's text (`ROW(a, b)::text`),
 * whose output depends on a few settings: `compareSession` sets them alike on both sides.
 * hashtextextended is the hash of hash partitioning, stable across versions and platforms.
 * Text keys are ordered and bucketed with COLLATE "C" on both sides: byte order, whatever each
 * database's collation, and the order the CLI's merge join compares in.
 */

/** Settings that make row text identical on both nodes, and keep a comparison from blocking writers. */
export async function compareSession(
  client: pg.Client,
  opts: { statementTimeoutMs: number; lockTimeoutMs: number; readOnly?: boolean },
): Promise<void> {
  await client.query(
    `SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; ` +
      `SET extra_float_digits = 1; SET bytea_output = 'hex'; SET default_transaction_read_only = ${opts.readOnly === false ? 'off' : 'on'}; ` +
      `SET statement_timeout = ${Math.trunc(opts.statementTimeoutMs)}; SET lock_timeout = ${Math.trunc(opts.lockTimeoutMs)}; ` +
      `SET idle_in_transaction_session_timeout = ${Math.trunc(opts.statementTimeoutMs)}`,
  );
}

export interface SubscriptionInfo {
  publications: string[];
  slot: string | null;
  enabled: boolean;
  /** `schema.table` → pg_subscription_rel state */
  tables: Map<string, string>;
}

/** The live subscription on the subscriber: its publications, slot and tables; null when absent. */
export async function readSubscriptionInfo(
  client: pg.Client,
  name: string,
): Promise<SubscriptionInfo | null> {
  const { rows } = await client.query<{
    publications: string[];
    slot: string | null;
    enabled: boolean;
    tables: Array<{ s: string; n: string; st: string }> | null;
  }>(
    `SELECT s.subpublications::text[] AS publications, s.subslotname::text AS slot, s.subenabled AS enabled,
            (SELECT json_agg(json_build_object('s', n.nspname, 'n', c.relname, 'st', sr.srsubstate::text))
               FROM pg_catalog.pg_subscription_rel sr
               JOIN pg_catalog.pg_class c ON c.oid = sr.srrelid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE sr.srsubid = s.oid) AS tables
       FROM pg_catalog.pg_subscription s
      WHERE s.subname = $1 AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())`,
    [name],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    publications: r.publications,
    slot: r.slot,
    enabled: r.enabled,
    tables: new Map((r.tables ?? []).map((t) => [`${t.s}.${t.n}`, t.st])),
  };
}

/** One table as the subscription's publications publish it. */
export interface PublishedScope {
  table: TableName;
  /** the column list (every column when the publication has none); null before 15 */
  columns: string[] | null;
  /** the row filters of the publications that publish it; null when one of them has none */
  filter: string | null;
}

/**
 * The tables the publications publish, with their row filter and column list (15+). A table in
 * several publications: its rows pass when any filter passes (PostgreSQL ORs them), and none
 * applies when one publication has no filter.
 */
export async function readPublishedScope(
  client: pg.Client,
  version: number,
  publications: string[],
): Promise<PublishedScope[]> {
  const { rows } = await client.query<{
    schema: string;
    name: string;
    columns: string[] | null;
    filter: string | null;
    unfiltered: boolean;
  }>(
    version >= PG15
      ? `SELECT schemaname::text AS schema, tablename::text AS name,
                (SELECT array_agg(DISTINCT a) FROM pg_catalog.pg_publication_tables q, unnest(q.attnames) a
                  WHERE q.pubname = ANY($1) AND q.schemaname = p.schemaname AND q.tablename = p.tablename)::text[] AS columns,
                string_agg('(' || rowfilter || ')', ' OR ' ORDER BY pubname) AS filter,
                bool_or(rowfilter IS NULL) AS unfiltered
           FROM pg_catalog.pg_publication_tables p WHERE pubname = ANY($1)
          GROUP BY p.schemaname, p.tablename ORDER BY 1, 2`
      : `SELECT DISTINCT schemaname::text AS schema, tablename::text AS name, NULL::text[] AS columns,
                NULL::text AS filter, true AS unfiltered
           FROM pg_catalog.pg_publication_tables WHERE pubname = ANY($1) ORDER BY 1, 2`,
    [publications],
  );
  return rows.map((r) => ({
    table: { schema: r.schema, name: r.name },
    columns: r.columns,
    filter: r.unfiltered ? null : r.filter,
  }));
}

export interface ColumnShape {
  name: string;
  type: string;
  collatable: boolean;
  integer: boolean;
  generated: boolean;
}

/** A table's columns and the key it can be compared by, on one node. */
export interface TableShape {
  table: TableName;
  columns: ColumnShape[];
  /** primary key, else replica identity index; null when neither */
  key: { source: string; columns: string[] } | null;
  estimatedRows: number;
}

/** The shapes of `tables` on a node; a table absent there is absent from the result. */
export async function readTableShapes(
  client: pg.Client,
  tables: TableName[],
): Promise<Map<string, TableShape>> {
  const { rows } = await client.query<{
    schema: string;
    name: string;
    reltuples: number;
    columns: ColumnShape[] | null;
    key: { source: string; columns: string[] } | null;
  }>(
    `SELECT n.nspname::text AS schema, c.relname::text AS name, c.reltuples::float8 AS reltuples,
            (SELECT json_agg(json_build_object('name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
                                               'collatable', a.attcollation <> 0, 'integer', a.atttypid IN (20, 21, 23),
                                               'generated', a.attgenerated <> '') ORDER BY a.attnum)
               FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
            (SELECT json_build_object('source', CASE WHEN i.indisprimary THEN 'primary key' ELSE 'replica identity index ' || ic.relname END,
                                      'columns', (SELECT json_agg(a.attname ORDER BY k.ord)
                                                    FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                                                    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum))
               FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
              WHERE i.indrelid = c.oid AND (i.indisprimary OR (i.indisreplident AND c.relreplident = 'i'))
              ORDER BY i.indisprimary DESC LIMIT 1) AS key
       FROM unnest($1::text[], $2::text[]) AS t(s, r)
       JOIN pg_catalog.pg_namespace n ON n.nspname = t.s
       JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.r AND c.relkind IN ('r', 'p')`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  return new Map(
    rows.map((r) => [
      `${r.schema}.${r.name}`,
      {
        table: { schema: r.schema, name: r.name },
        columns: r.columns ?? [],
        key: r.key,
        estimatedRows: Math.max(0, r.reltuples),
      },
    ]),
  );
}

function ident(c: string): string {
  return quoteIdent(c);
}

/** An expression ordered byte-wise when it has a collation. */
function ordered(k: KeyColumn): string {
  return k.collatable ? `${ident(k.name)} COLLATE "C"` : ident(k.name);
}

/**
 * The merge order: integers natively, everything else as text in byte order (what compareKeys
 * does). Qualified: a bare name in ORDER BY means the output column of that name first — the
 * key's `::text` — which would order integers as text.
 */
function mergeOrder(table: TableName, k: KeyColumn): string {
  const column = `${quoteTable(table)}.${ident(k.name)}`;
  return k.integer ? column : `${column}::text COLLATE "C"`;
}

function rowHash(side: CompareSide): string {
  return `pg_catalog.hashtextextended(ROW(${side.columns.map(ident).join(', ')})::text COLLATE "C", 0)`;
}

function where(side: CompareSide, extra: string[] = []): string {
  const all = [...(side.filter ? [`(${side.filter})`] : []), ...extra];
  return all.length > 0 ? ` WHERE ${all.join(' AND ')}` : '';
}

/** The chunk of a row: width_bucket of the first key column over the bounds (0 when there are none). */
function bucket(side: CompareSide, bounds: string[]): string {
  if (bounds.length === 0) return '0';
  const k = side.keys[0]!;
  return `width_bucket(${ordered(k)}, ${quoteLiteral(`{${bounds.map(arrayElement).join(',')}}`)}::text[]::${k.type}[])`;
}

/**
 * The key ranges of `chunks`, as a predicate on the first key column an index can serve (a
 * non-collatable key, or any key in a database whose collation is C): re-checks of a few chunks
 * read those rows only. Chunk 0 is below the first bound, chunk i from bound i−1 up to bound i,
 * the last one from the last bound on — width_bucket's buckets, so the predicate selects exactly
 * their rows. Neighbouring chunks make one range: every chunk is `true`.
 */
function chunkRanges(side: CompareSide, bounds: string[], chunks: number[]): string {
  const k = side.keys[0]!;
  const v = (i: number) => `${quoteLiteral(bounds[i]!)}::${k.type}`;
  const runs: Array<[number, number]> = [];
  for (const b of [...chunks].sort((x, y) => x - y)) {
    const last = runs[runs.length - 1];
    if (last && b <= last[1] + 1) last[1] = Math.max(last[1], b);
    else runs.push([b, b]);
  }
  const ranges = runs.map(([from, to]) => {
    const lower = from > 0 ? `${ordered(k)} >= ${v(from - 1)}` : null;
    const upper = to < bounds.length ? `${ordered(k)} < ${v(to)}` : null;
    return [lower, upper].filter((x) => x !== null).join(' AND ') || 'true';
  });
  return `(${ranges.join(' OR ')})`;
}

/** An element of an array literal, quoted. */
function arrayElement(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * `chunks − 1` bounds of the first key column from the key's distribution (the copy engine's
 * split points: the planner's histogram, else a sample of pages), in the order width_bucket
 * compares them on both sides: the type's own order, byte-wise for text (COLLATE "C").
 */
export async function chunkBounds(
  client: pg.Client,
  side: CompareSide,
  chunks: number,
  estimatedRows: number,
) {
  if (chunks <= 1) return [];
  const k = side.keys[0]!;
  const points = await readSplitPoints(
    client,
    { ...side.table, key: { column: k.name, type: k.type }, estimatedRows },
    chunks,
  );
  if (!k.collatable || points.length === 0) return points;
  const { rows } = await client.query<{ b: string[] | null }>(
    `SELECT array_agg(b::text ORDER BY b) AS b FROM (SELECT DISTINCT x::${k.type} COLLATE "C" AS b FROM unnest($1::text[]) AS x) s`,
    [points],
  );
  return rows[0]?.b ?? [];
}

export interface ChunkHash {
  rows: number;
  /** the sum of the rows' hashes, as text (a numeric) */
  sum: string;
}

/** Count and hash sum per chunk, in one scan; `only`: just these chunks. Chunks without rows are absent. */
export async function hashChunks(
  client: pg.Client,
  side: CompareSide,
  bounds: string[],
  only?: number[],
): Promise<Map<number, ChunkHash>> {
  const filter = only ? ` WHERE b = ANY(${quoteLiteral(`{${only.join(',')}}`)}::int[])` : '';
  const ranges = only && bounds.length > 0 ? [chunkRanges(side, bounds, only)] : [];
  const { rows } = await client.query<{ b: number; rows: string; sum: string }>(
    `SELECT b, count(*)::text AS rows, sum(h)::text AS sum FROM (
       SELECT ${bucket(side, bounds)} AS b, ${rowHash(side)} AS h FROM ${quoteTable(side.table)}${where(side, ranges)}) s${filter}
      GROUP BY b`,
  );
  return new Map(rows.map((r) => [r.b, { rows: Number(r.rows), sum: r.sum }]));
}

/** COPY text format: `\\`, `\t`, `\n`… escapes undone. */
function unescapeCopy(v: string): string {
  if (!v.includes('\\')) return v;
  return v.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    switch (e[0]) {
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'v':
        return '\v';
      case 'x':
        return String.fromCharCode(Number.parseInt(e.slice(1), 16));
      default:
        return /^[0-7]/.test(e) ? String.fromCharCode(Number.parseInt(e, 8)) : e;
    }
  });
}

/**
 * (key, row hash) of every row of the chunks `chunks`, ordered by key as compareKeys compares,
 * streamed with COPY: memory flat whatever the chunk's size.
 */
export async function* streamRowHashes(
  client: pg.Client,
  side: CompareSide,
  bounds: string[],
  chunks: number[],
): AsyncGenerator<{ key: RowKey; hash: string }> {
  const sql =
    `COPY (SELECT ${side.keys.map((k) => `${ident(k.name)}::text`).join(', ')}, ${rowHash(side)} ` +
    `FROM ${quoteTable(side.table)}${where(side, bounds.length > 0 ? [chunkRanges(side, bounds, chunks)] : [])} ` +
    `ORDER BY ${side.keys.map((k) => mergeOrder(side.table, k)).join(', ')}) TO STDOUT`;
  const stream = client.query(copyTo(sql));
  const decoder = new StringDecoder('utf8');
  let rest = '';
  const n = side.keys.length;
  try {
    for await (const chunk of stream) {
      rest += decoder.write(chunk as Buffer);
      let nl = rest.indexOf('\n');
      let start = 0;
      const out: Array<{ key: RowKey; hash: string }> = [];
      while (nl >= 0) {
        const fields = rest.slice(start, nl).split('\t');
        out.push({ key: fields.slice(0, n).map(unescapeCopy), hash: fields[n]! });
        start = nl + 1;
        nl = rest.indexOf('\n', start);
      }
      rest = rest.slice(start);
      yield* out;
    }
  } finally {
    if (!stream.destroyed) stream.destroy();
  }
}

/** The row hashes of these keys (those present), keyed by `keyId`. */
export async function lookupRowHashes(
  client: pg.Client,
  side: CompareSide,
  keys: RowKey[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const n = side.keys.length;
  for (let i = 0; i < keys.length; i += ROW_BATCH) {
    const batch = keys.slice(i, i + ROW_BATCH);
    const { rows } = await client.query<Record<string, string>>({
      text:
        `SELECT ${side.keys.map((k, j) => `${ident(k.name)}::text AS k${j}`).join(', ')}, ${rowHash(side)}::text AS h ` +
        `FROM ${quoteTable(side.table)}` +
        where(side, [keysIn(side)]),
      values: keyParams(side, batch),
      rowMode: 'array',
    } as pg.QueryConfig);
    for (const r of rows as unknown as string[][]) out.set(keyId(r.slice(0, n)), r[n]!);
  }
  return out;
}

/** `(k1, k2) IN (…$1, $2 as text arrays cast to the key types…)`: the rows of a batch of keys. */
function keysIn(side: CompareSide, first = 1): string {
  const unnest = side.keys.map((_k, j) => `$${j + first}::text[]`).join(', ');
  const cast = side.keys.map((k, j) => `u.c${j}::${k.type}`).join(', ');
  const cols = side.keys.map((_k, j) => `c${j}`).join(', ');
  return `(${side.keys.map((k) => ident(k.name)).join(', ')}) IN (SELECT ${cast} FROM unnest(${unnest}) AS u(${cols}))`;
}

/** Key values per key column, as the parameters of keysIn. */
function keyParams(side: CompareSide, keys: RowKey[]): string[][] {
  return side.keys.map((_k, j) => keys.map((key) => key[j]!));
}

/** Rows fetched or written per statement. */
export const ROW_BATCH = 5000;

/**
 * The rows of these keys (those present), every compared column as its text (`side.columns`
 * order; null for NULL), keyed by `keyId`. Text is what COPY moves: it reads back exactly.
 */
export async function readRowsByKey(
  client: pg.Client,
  side: CompareSide,
  keys: RowKey[],
): Promise<Map<string, Array<string | null>>> {
  const out = new Map<string, Array<string | null>>();
  const n = side.keys.length;
  for (let i = 0; i < keys.length; i += ROW_BATCH) {
    const batch = keys.slice(i, i + ROW_BATCH);
    const { rows } = await client.query({
      text:
        `SELECT ${[...side.keys.map((k) => k.name), ...side.columns].map((c) => `${ident(c)}::text`).join(', ')} ` +
        `FROM ${quoteTable(side.table)} WHERE ${keysIn(side)}`,
      values: keyParams(side, batch),
      rowMode: 'array',
    } as pg.QueryConfig);
    for (const r of rows as unknown as Array<Array<string | null>>)
      out.set(keyId(r.slice(0, n) as string[]), r.slice(n));
  }
  return out;
}

/**
 * Compare pairs of values of one type, in the database (its own order for the type): 1 when
 * `a` is greater, −1 when `b` is, 0 when equal; a NULL is less than any value.
 */
export async function compareValues(
  client: pg.Client,
  type: string,
  pairs: Array<[string | null, string | null]>,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < pairs.length; i += ROW_BATCH) {
    const batch = pairs.slice(i, i + ROW_BATCH);
    const { rows } = await client.query<{ c: number }>(
      `SELECT CASE WHEN u.a::${type} IS NOT DISTINCT FROM u.b::${type} THEN 0
                   WHEN u.b IS NULL OR u.a::${type} > u.b::${type} THEN 1 ELSE -1 END AS c
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(a, b, i) ORDER BY u.i`,
      [batch.map((p) => p[0]), batch.map((p) => p[1])],
    );
    for (const r of rows) out.push(r.c);
  }
  return out;
}

/** A key as one string (a map key). */
export function keyId(key: RowKey): string {
  return JSON.stringify(key);
}

/** The publisher's WAL position now. */
export async function currentWalLsn(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ lsn: string }>('SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn');
  return rows[0]!.lsn;
}

/** Has the subscriber confirmed (applied and flushed) everything up to `lsn`? null: the slot is gone. */
export async function slotConfirmedPast(
  client: pg.Client,
  slot: string,
  lsn: string,
): Promise<boolean | null> {
  const { rows } = await client.query<{ ok: boolean | null }>(
    'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
    [slot, lsn],
  );
  return rows[0] ? rows[0].ok === true : null;
}

/**
 * The tables of `schemas` (all schemas but the system ones and `exclude` when null) on a node:
 * ordinary and partitioned tables, never a partition (compared through its root), sorted.
 */
export async function readTablesOfSchemas(
  client: pg.Client,
  schemas: string[] | null,
  exclude: string,
): Promise<TableName[]> {
  const { rows } = await client.query<TableName>(
    `SELECT n.nspname::text AS schema, c.relname::text AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
        AND (CASE WHEN $1::text[] IS NULL
                  THEN n.nspname NOT IN ('pg_catalog', 'information_schema', $2) AND n.nspname NOT LIKE 'pg\\_%'
                  ELSE n.nspname = ANY($1::text[]) END)
      ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`,
    [schemas, exclude],
  );
  return rows;
}
