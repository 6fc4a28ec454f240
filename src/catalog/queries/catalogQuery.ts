import { compareText } from '../../model/order.js';

/** A catalog query: one question, its SQL text and its parameters (the benchmark replays them with psql). */
export interface CatalogQuery {
  text: string;
  values?: unknown[];
}

/**
 * A catalog query whose rows come back as one JSON array in one text value: the driver parsing
 * hundreds of rows field by field costs several times the CPU of one `JSON.parse`, and more
 * wall time. An oid must be cast (`::int8`) to arrive as a
 * JSON number; arrays arrive as JSON arrays and NULL as null. Read the rows with `jsonRows`.
 */
export function jsonArrayQuery(select: string): CatalogQuery {
  return { text: `select coalesce(pg_catalog.json_agg(t), '[]')::text as rows from (\n${select}) t` };
}

/** The one row of a `jsonArrayQuery`. */
export interface JsonArrayRow {
  rows: string;
}

/** The rows of a `jsonArrayQuery`'s result. */
export function jsonRows<T>(result: readonly JsonArrayRow[]): T[] {
  return JSON.parse(result[0]?.rows ?? '[]') as T[];
}

/** The values of `pairs` grouped by their keys, each group in the pairs' order. */
export function grouped<K, V>(pairs: Iterable<readonly [K, V]>): Map<K, V[]> {
  const out = new Map<K, V[]>();
  for (const [k, v] of pairs) {
    const group = out.get(k);
    if (group) group.push(v);
    else out.set(k, [v]);
  }
  return out;
}

/** Rows keyed and ordered by name. */
export function byName<T extends { name: string }>(rows: readonly T[]): Record<string, T> {
  return Object.fromEntries([...rows].sort((a, b) => compareText(a.name, b.name)).map((r) => [r.name, r]));
}
