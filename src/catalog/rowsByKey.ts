/**
 * Rows by key (docs/repair.md and docs/steep-yaml.md's merge): the row hashes of given keys (the differences a grouped
 * comparison narrowed down), the rows themselves for a merge, and values compared in the
 * database's own order. Read-only, in batches of ROW_BATCH keys.
 */
import type pg from 'pg';
import { quoteIdent } from '../model/sql.js';
import type { CompareSide, RowKey } from '../model/verify.js';
import { relation, rowHash, where } from './rowHashes.js';

/** The row hashes of these keys (those present), keyed by `keyId`; a key on several rows: heldTwice. */
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
        `SELECT ${side.keys.map((k, j) => `${quoteIdent(k.name)}::text AS k${j}`).join(', ')}, ${rowHash(side)}::text AS h ` +
        `FROM ${relation(side)}` +
        where(side, [keysIn(side)]),
      values: keyParams(side, batch),
      rowMode: 'array',
    } as pg.QueryConfig);
    for (const r of rows as unknown as string[][]) {
      const id = keyId(r.slice(0, n));
      const seen = out.get(id);
      out.set(id, seen === undefined ? r[n]! : `${seen} ${r[n]!}`);
    }
  }
  return out;
}

/**
 * A lookup's hashes of a key held by several rows (a subscriber table without the publisher's
 * key): `h1 h2 …`, never equal to one row's hash, so the copies beyond the first are not taken
 * for a row in flight that became equal.
 */
export function heldTwice(hash: string | undefined): boolean {
  return hash?.includes(' ') === true;
}

/** `(k1, k2) IN (…$1, $2 as text arrays cast to the key types…)`: the rows of a batch of keys. */
function keysIn(side: CompareSide, first = 1): string {
  const unnest = side.keys.map((_k, j) => `$${j + first}::text[]`).join(', ');
  const cast = side.keys.map((k, j) => `u.c${j}::${k.type}`).join(', ');
  const cols = side.keys.map((_k, j) => `c${j}`).join(', ');
  return `(${side.keys.map((k) => quoteIdent(k.name)).join(', ')}) IN (SELECT ${cast} FROM unnest(${unnest}) AS u(${cols}))`;
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
        `SELECT ${[...side.keys.map((k) => k.name), ...side.columns].map((c) => `${quoteIdent(c)}::text`).join(', ')} ` +
        `FROM ${relation(side)} WHERE ${keysIn(side)}`,
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
