/**
 * The SQL of a data comparison (docs/repair.md and docs/steep-yaml.md's merge): row hashes computed inside each
 * database — per group of rows (runs of a dense integer key, else key-range chunks split by key
 * hash; one scan, nothing but one bytea of the sums leaves the server), and streamed per row
 * ordered by key for the groups that differ (looked up by key: rowsByKey.ts). Read-only: plain
 * SELECTs and COPY … TO, ACCESS SHARE locks only.
 *
 * A row's hash is hash_record_extended() of its compared columns (rowHash), the hashes of hash
 * partitioning, stable across versions and platforms; columns hashed as their text depend on a
 * few settings: `compareSession` sets them alike on both sides.
 * Text keys are ordered and bucketed with COLLATE "C" on both sides: byte order, whatever each
 * database's collation, and the order the CLI's merge join compares in.
 */
import { StringDecoder } from 'node:string_decoder';
import type pg from 'pg';
import { CopyOut } from '../db/copyOut.js';
import { setSession } from '../db/session.js';
import { quoteIdent, quoteLiteral, quoteTable } from '../model/sql.js';
import type { TableName } from '../model/topology.js';
import type { CompareSide, KeyColumn, RowKey } from '../model/verify.js';

/**
 * Settings that make row text identical on both nodes, and keep a comparison from blocking
 * writers; work_mem holds the first pass's groups (MAX_GROUPS) in memory: past 4 MB (the default)
 * PostgreSQL spills them to disk, costing a third more CPU. row_security off: a query that a
 * row-level security policy would filter fails instead ("query would be affected by row-level
 * security policy"), so no read of a comparison (or a merge's write) ever sees only what a
 * policy lets it; a role that bypasses the policies reads as before (planner/compare/rowSecurity.ts
 * refuses the others' tables before they are read).
 */
export async function compareSession(
  client: pg.Client,
  opts: { statementTimeoutMs: number; lockTimeoutMs: number; readOnly?: boolean },
): Promise<void> {
  await setSession(client, {
    statementTimeoutMs: opts.statementTimeoutMs,
    lockTimeoutMs: opts.lockTimeoutMs,
    idleInTransactionTimeoutMs: opts.statementTimeoutMs,
    other: {
      DateStyle: "'ISO, YMD'",
      IntervalStyle: "'postgres'",
      TimeZone: "'UTC'",
      extra_float_digits: '1',
      bytea_output: "'hex'",
      default_transaction_read_only: opts.readOnly === false ? 'off' : 'on',
      work_mem: "'64MB'",
      row_security: 'off',
    },
  });
}

/** An expression ordered byte-wise when it has a collation. */
export function ordered(k: KeyColumn): string {
  return k.collatable ? `${quoteIdent(k.name)} COLLATE "C"` : quoteIdent(k.name);
}

/**
 * The merge order: integers natively, everything else as text in byte order (what compareKeys
 * does). Qualified: a bare name in ORDER BY means the output column of that name first — the
 * key's `::text` — which would order integers as text.
 */
function mergeOrder(table: TableName, k: KeyColumn): string {
  const column = `${quoteTable(table)}.${quoteIdent(k.name)}`;
  return k.integer ? column : `${column}::text COLLATE "C"`;
}

/**
 * A row's hash: hash_record_extended over its compared columns, those of `byValue` as they are
 * (text ones in byte order, COLLATE "C"), every other as its text — the same expression on both
 * sides, since `byValue` only holds columns of the same type on both.
 */
export function rowHash(side: CompareSide): string {
  const byValue = new Map(side.byValue.map((c) => [c.name, c.collatable]));
  const fields = side.columns.map((c) => {
    const collatable = byValue.get(c);
    if (collatable === undefined) return `${quoteIdent(c)}::text COLLATE "C"`;
    return collatable ? `${quoteIdent(c)} COLLATE "C"` : quoteIdent(c);
  });
  return `pg_catalog.hash_record_extended(ROW(${fields.join(', ')}), 0)`;
}

/** What a side's rows are read from: an ordinary table without its inheritance children (`ONLY`). */
export function relation(side: CompareSide): string {
  return `${side.only ? 'ONLY ' : ''}${quoteTable(side.table)}`;
}

export function where(side: CompareSide, extra: string[] = []): string {
  const all = [...(side.filter ? [`(${side.filter})`] : []), ...extra];
  return all.length > 0 ? ` WHERE ${all.join(' AND ')}` : '';
}

/**
 * How a table's rows are grouped for the first pass: key-range chunks (`bounds`, width_bucket's
 * buckets over the first key column), each split into `subs` groups (a power of two) by a hash of
 * the whole key. A group's id is `chunk × subs + sub`. Chunks keep neighbouring keys together (a
 * range of differing keys reads a few chunks by index); the sub-groups make a differing group
 * small when the differences are spread out (1 % of keys, evenly: nearly every chunk differs,
 * few of its groups do).
 *
 * A dense integer key (KeySteps) needs neither: its groups are runs of consecutive key values,
 * numbered by arithmetic — no bounds to search, no key hash, and every group a key range the
 * index reads (chunk = group ÷ subs, as above).
 */
export interface Grouping {
  bounds: string[];
  subs: number;
  steps?: KeySteps;
}

/**
 * The groups of a single integer key whose values are about as many as the rows: group i holds
 * the values from `lo + i × width` to `lo + (i + 1) × width − 1`, for i from 0 to `count − 1`;
 * group −1 every value below `lo`, group `count` every value from `lo + count × width` up (rows
 * written after the ends were read).
 */
export interface KeySteps {
  lo: number;
  width: number;
  count: number;
}

/** The chunk of a row: width_bucket of the first key column over the bounds (0 when there are none). */
function bucket(side: CompareSide, bounds: string[]): string {
  if (bounds.length === 0) return '0';
  const k = side.keys[0]!;
  return `width_bucket(${ordered(k)}, ${quoteLiteral(`{${bounds.map(arrayElement).join(',')}}`)}::text[]::${k.type}[])`;
}

/** The group of a row (Grouping): its run of key values, or its chunk and the low bits of its key's hash. */
function group(side: CompareSide, g: Grouping): string {
  if (g.steps) {
    const k = quoteIdent(side.keys[0]!.name);
    const { lo, width, count } = g.steps;
    return `(CASE WHEN ${k} < (${lo}) THEN -1 WHEN ${k} >= (${lo + width * count}) THEN ${count} ELSE (${k}::int8 - (${lo})) / ${width} END)`;
  }
  if (g.subs <= 1) return bucket(side, g.bounds);
  const only = side.keys.length === 1 ? side.keys[0]! : null;
  const keyHash = only?.integer
    ? `pg_catalog.hashint8extended(${quoteIdent(only.name)}::int8, 0)`
    : `pg_catalog.hashtextextended(ROW(${side.keys.map((k) => quoteIdent(k.name)).join(', ')})::text COLLATE "C", 0)`;
  return `(${bucket(side, g.bounds)}::int8 * ${g.subs} + (${keyHash} & ${g.subs - 1}))`;
}

/** Differing key ranges read through the index up to this many; past it, a scan tests each row's group. */
const INDEX_RANGES = 16;

/** Neighbouring ids as runs [from, to], ascending. */
function runsOf(ids: number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const b of [...new Set(ids)].sort((x, y) => x - y)) {
    const last = runs[runs.length - 1];
    if (last && b <= last[1] + 1) last[1] = b;
    else runs.push([b, b]);
  }
  return runs;
}

const INT8_MIN = '-9223372036854775808';
const INT8_MAX = '9223372036854775807';

/** The key values of runs of KeySteps groups, both ends included. */
function stepRanges(s: KeySteps, groups: number[]): Array<[string, string]> {
  const start = (i: number) => (i < 0 ? INT8_MIN : String(s.lo + i * s.width));
  const end = (i: number) => (i >= s.count ? INT8_MAX : String(s.lo + (i + 1) * s.width - 1));
  return runsOf(groups).map(([from, to]) => [start(from), end(to)]);
}

/**
 * The rows of `groups`: their key ranges as a predicate on the first key column an index can
 * serve (a non-collatable key, or any key in a database whose collation is C) when they make few
 * ranges, and each row's group tested against the list (a hashed IN) when there are sub-groups or
 * many ranges. Chunk 0 is below the first bound, chunk i from bound i−1 up to bound i, the last
 * one from the last bound on — width_bucket's buckets. Neighbouring chunks make one range.
 */
function groupFilter(side: CompareSide, g: Grouping, groups: number[]): string[] {
  const inList = () =>
    `${group(side, g)} IN (SELECT unnest(${quoteLiteral(`{${groups.join(',')}}`)}::int8[]))`;
  if (g.steps) {
    const ranges = stepRanges(g.steps, groups);
    if (ranges.length > INDEX_RANGES) return [inList()];
    const k = quoteIdent(side.keys[0]!.name);
    return [`(${ranges.map(([from, to]) => `${k} BETWEEN ${from} AND ${to}`).join(' OR ')})`];
  }
  if (g.bounds.length === 0 && g.subs <= 1) return [];
  const runs = runsOf(groups.map((id) => Math.floor(id / g.subs)));
  const out: string[] = [];
  if (g.bounds.length > 0 && runs.length <= INDEX_RANGES) {
    const k = side.keys[0]!;
    const v = (i: number) => `${quoteLiteral(g.bounds[i]!)}::${k.type}`;
    const ranges = runs.map(([from, to]) => {
      const lower = from > 0 ? `${ordered(k)} >= ${v(from - 1)}` : null;
      const upper = to < g.bounds.length ? `${ordered(k)} < ${v(to)}` : null;
      return [lower, upper].filter((x) => x !== null).join(' AND ') || 'true';
    });
    out.push(`(${ranges.join(' OR ')})`);
  }
  if (g.subs > 1 || runs.length > INDEX_RANGES) out.push(inList());
  return out;
}

/** An element of an array literal, quoted. */
function arrayElement(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Pages sampled per chunk bound: enough that a bound rarely falls between a page's own rows. */
const PAGES_PER_CHUNK = 4;
/** Keys sampled at least, when the table has the pages. */
const SAMPLE_ROWS = 30_000;

/**
 * The ends of a dense integer key (a sequence's: a single integer key whose values from min to
 * max are at most twice the rows), read off the index; null for any other key.
 */
export async function denseKeyEnds(
  client: pg.Client,
  side: CompareSide,
  estimatedRows: number,
): Promise<{ lo: number; hi: number } | null> {
  const k = side.keys[0]!;
  if (side.keys.length !== 1 || !k.integer) return null;
  const { rows: ends } = await client.query<{ lo: string | null; hi: string | null }>(
    `SELECT min(${quoteIdent(k.name)})::text AS lo, max(${quoteIdent(k.name)})::text AS hi FROM ${relation(side)}${where(side)}`,
  );
  const lo = Number(ends[0]?.lo ?? Number.NaN);
  const hi = Number(ends[0]?.hi ?? Number.NaN);
  const dense =
    Number.isSafeInteger(lo) && Number.isSafeInteger(hi) && hi - lo + 1 <= 2 * Math.max(1, estimatedRows);
  return dense ? { lo, hi } : null;
}

/**
 * `chunks − 1` bounds of the first key column from a sample of pages: at least PAGES_PER_CHUNK
 * pages per chunk, few keys from each. Sampling whole pages of a table filled in key order gives
 * runs of neighbouring keys; taking all of them and every n-th as a bound made a few huge chunks
 * and many tiny ones. In the order width_bucket compares them on both sides: the type's own
 * order, byte-wise for text (COLLATE "C"). Of the rows the side's filter keeps: a rolling
 * verify's segment is a filter on the key; `tableRows` (the whole table's estimate) then sizes the
 * sample, so a segment of a big table samples no more pages than the table would.
 */
export async function chunkBounds(
  client: pg.Client,
  side: CompareSide,
  chunks: number,
  estimatedRows: number,
  tableRows = estimatedRows,
): Promise<string[]> {
  if (chunks <= 1) return [];
  const k = side.keys[0]!;
  const { rows: rel } = await client.query<{ pages: number }>(
    `SELECT greatest(c.relpages, 0)::float8 AS pages FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass`,
    [quoteTable(side.table)],
  );
  const pages = rel[0]?.pages || Math.max(1, estimatedRows / 50);
  const sampled = Math.min(
    pages,
    Math.max(chunks * PAGES_PER_CHUNK, (SAMPLE_ROWS * pages) / Math.max(1, tableRows)),
  );
  const percent = Math.min(100, Math.max(0.0001, (sampled / pages) * 100));
  const perPage = Math.max(1, Math.ceil(SAMPLE_ROWS / sampled));
  const { rows } = await client.query<{ b: string }>(
    `SELECT k::text AS b FROM (
       SELECT k, row_number() OVER (PARTITION BY (ctid::text::point)[0] ORDER BY ctid) AS r
         FROM (SELECT ctid, ${quoteIdent(k.name)} AS k FROM ${relation(side)} TABLESAMPLE SYSTEM (${percent.toFixed(4)})${where(side)}) s) s
      WHERE r <= ${perPage} ORDER BY k${k.collatable ? ' COLLATE "C"' : ''}`,
  );
  const sorted = rows.map((r) => r.b);
  const out: string[] = [];
  for (let i = 1; i < chunks && sorted.length > 0; i++) {
    const v = sorted[Math.floor((i * sorted.length) / chunks)];
    if (v !== undefined && v !== out[out.length - 1]) out.push(v);
  }
  return out;
}

/**
 * The first pass's answer for one side: per group, ascending by id, its id (int4), its rows
 * (int8) and the XOR of its rows' hashes (int8; keys are unique: no two rows of a group cancel
 * out as equal ones) — 20 bytes each, one bytea for the whole table: 125,000 groups cost the
 * client a buffer to walk, not 125,000 rows to parse. Groups without rows are absent.
 */
export class GroupHashes {
  static readonly RECORD = 20;
  constructor(private readonly buf: Buffer) {}
  get size(): number {
    return this.buf.length / GroupHashes.RECORD;
  }
  id(i: number): number {
    return this.buf.readInt32BE(i * GroupHashes.RECORD);
  }
  rows(): number {
    let n = 0;
    for (let o = 4; o < this.buf.length; o += GroupHashes.RECORD) n += Number(this.buf.readBigInt64BE(o));
    return n;
  }
  ids(): number[] {
    return Array.from({ length: this.size }, (_v, i) => this.id(i));
  }
  /** The ids of the groups whose rows or hash differ between the two sides (present on one only included), ascending. */
  differing(other: GroupHashes): number[] {
    const R = GroupHashes.RECORD;
    const out: number[] = [];
    let i = 0;
    let j = 0;
    while (i < this.size || j < other.size) {
      const a = i < this.size ? this.id(i) : Number.POSITIVE_INFINITY;
      const b = j < other.size ? other.id(j) : Number.POSITIVE_INFINITY;
      if (a < b) {
        out.push(a);
        i++;
      } else if (b < a) {
        out.push(b);
        j++;
      } else {
        if (this.buf.compare(other.buf, j * R + 4, (j + 1) * R, i * R + 4, (i + 1) * R) !== 0) out.push(a);
        i++;
        j++;
      }
    }
    return out;
  }
}

/** Rows and hash per group (Grouping), in one scan; `only`: just these groups. */
export async function hashChunks(
  client: pg.Client,
  side: CompareSide,
  g: Grouping,
  only?: number[],
): Promise<GroupHashes> {
  const { rows } = await client.query<{ a: Buffer | null }>(
    `SELECT string_agg(int4send(b::int4) || int8send(n) || int8send(x), ''::bytea ORDER BY b) AS a FROM (
       SELECT b, count(*) AS n, bit_xor(h) AS x FROM (
         SELECT ${group(side, g)} AS b, ${rowHash(side)} AS h FROM ${relation(side)}${where(side, only ? groupFilter(side, g, only) : [])}) s
        GROUP BY b) s`,
  );
  return new GroupHashes(rows[0]?.a ?? Buffer.alloc(0));
}

/**
 * A keyless table's rows as a multiset, in one scan: how many, and the sum of their hashes
 * (a sum, not an XOR: two equal rows do not cancel out), whatever the order. What REPLICA
 * IDENTITY FULL replicates is the whole row, so equal multisets are equal tables.
 */
export async function multisetHash(
  client: pg.Client,
  side: CompareSide,
): Promise<{ rows: number; sum: string }> {
  const { rows } = await client.query<{ n: string; s: string }>(
    `SELECT count(*)::text AS n, coalesce(sum(${rowHash(side)}::numeric), 0)::text AS s FROM ${relation(side)}${where(side)}`,
  );
  return { rows: Number(rows[0]!.n), sum: rows[0]!.s };
}

/** COPY text format's one-letter escapes. */
const COPY_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** COPY text format: `\\`, `\t`, `\n`… escapes undone. */
function unescapeCopy(v: string): string {
  if (!v.includes('\\')) return v;
  return v.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
    return COPY_ESCAPES[e] ?? e;
  });
}

/**
 * Key ranges are read one by one through the index when there are at most one per this many
 * groups (1 M rows: 1,950 ranges); past it, one scan is as cheap (10,000 ranges of 8 rows read
 * by index cost as much CPU as the scan of all 1 M rows).
 */
const GROUPS_PER_RANGE = 64;

/**
 * The SELECT of streamRowHashes. Runs of KeySteps groups, not too many, are read range by
 * range through the key's index (a nested loop over the ranges; OFFSET 0 keeps PostgreSQL from
 * turning it inside out, a scan of the table testing every range); otherwise one scan filtered
 * by groupFilter.
 */
function rowHashesSql(side: CompareSide, g: Grouping, groups: number[]): string {
  const order = side.keys.map((k) => mergeOrder(side.table, k)).join(', ');
  const ranges = g.steps ? stepRanges(g.steps, groups) : [];
  if (!g.steps || ranges.length <= INDEX_RANGES || ranges.length * GROUPS_PER_RANGE > g.steps.count)
    return (
      `SELECT ${side.keys.map((k) => `${quoteIdent(k.name)}::text`).join(', ')}, ${rowHash(side)} ` +
      `FROM ${relation(side)}${where(side, groupFilter(side, g, groups))} ORDER BY ${order}`
    );
  const k = quoteIdent(side.keys[0]!.name);
  const ends = (i: 0 | 1) => quoteLiteral(`{${ranges.map((r) => r[i]).join(',')}}`);
  return (
    `SELECT x.k, x.h FROM unnest(${ends(0)}::int8[], ${ends(1)}::int8[]) AS steep_r(lo, hi) CROSS JOIN LATERAL (` +
    `SELECT ${k}::text AS k, ${rowHash(side)} AS h, ${order} AS o FROM ${relation(side)}` +
    `${where(side, [`${k} >= steep_r.lo`, `${k} <= steep_r.hi`])} OFFSET 0) x ORDER BY x.o`
  );
}

/**
 * (key, row hash) of every row of the groups `groups`, ordered by key as compareKeys compares,
 * streamed with COPY: memory flat whatever the chunk's size.
 */
export async function* streamRowHashes(
  client: pg.Client,
  side: CompareSide,
  g: Grouping,
  groups: number[],
): AsyncGenerator<{ key: RowKey; hash: string }> {
  const stream = client.query(new CopyOut(`COPY (${rowHashesSql(side, g, groups)}) TO STDOUT`));
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
