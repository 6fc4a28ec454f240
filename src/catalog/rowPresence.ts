import type pg from 'pg';
import { withSession } from '../db/connect.js';
import { quoteLiteral, quoteTable } from '../model/sql.js';
import type { ConnectionSpec, TableName } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import { openCatalogSession } from './session.js';

/**
 * Which of the given tables hold at least one row: asked only for the tables a subscription
 * about to be created with `copy_data` would copy into (docs/steep-yaml.md, existing data), one
 * `EXISTS (SELECT 1 FROM t)` per table in a single statement (an index-free probe that stops
 * at the first visible row). A table the role may not read is left out of the answer and
 * reported in `unreadable`.
 */
export interface RowPresence {
  withRows: Set<string>;
  unreadable: Set<string>;
}

/** The statement, for a list of tables known to exist. PostgreSQL 14+. */
export function rowPresenceSql(tables: readonly TableName[]): string {
  return tables
    .map(
      (t) =>
        `select ${quoteLiteral(qualifiedName(t))}::text as name, exists (select 1 from ${quoteTable(t)}) as has_rows`,
    )
    .join('\nunion all\n');
}

export async function readRowPresence(
  conn: ConnectionSpec,
  opts: { node: string; tables: readonly TableName[]; connectTimeoutMs?: number },
): Promise<RowPresence> {
  if (opts.tables.length === 0) return { withRows: new Set(), unreadable: new Set() };
  return withSession(openCatalogSession(conn, opts), async (client) => {
    const names = opts.tables.map(qualifiedName);
    const allowed = await client.query<{ name: string; ok: boolean }>(
      `select n as name, coalesce(has_table_privilege(to_regclass(q), 'SELECT'), false) as ok
       from unnest($1::text[], $2::text[]) as t(n, q)`,
      [names, opts.tables.map(quoteTable)],
    );
    const readable = new Set(allowed.rows.filter((r) => r.ok).map((r) => r.name));
    const probe = opts.tables.filter((t) => readable.has(qualifiedName(t)));
    return {
      withRows: new Set(await tablesWithRows(client, probe)),
      unreadable: new Set(names.filter((n) => !readable.has(n))),
    };
  });
}

/** Which of `tables` (known to exist, readable) hold a row, on an open session, in their order. */
export async function tablesWithRows(client: pg.Client, tables: readonly TableName[]): Promise<string[]> {
  if (tables.length === 0) return [];
  const { rows } = await client.query<{ name: string; has_rows: boolean }>(rowPresenceSql(tables));
  const held = new Set(rows.filter((r) => r.has_rows).map((r) => r.name));
  return tables.map(qualifiedName).filter((n) => held.has(n));
}

/**
 * The row count of each of the given tables that the role may read (one statement; a table it
 * may not read is left out): what planner/subscriptions/heldRows.ts compares on both sides.
 */
export async function readRowCounts(
  conn: ConnectionSpec,
  opts: { node: string; tables: readonly TableName[]; connectTimeoutMs?: number },
): Promise<Map<string, number>> {
  if (opts.tables.length === 0) return new Map();
  return withSession(openCatalogSession(conn, opts), async (client) => {
    const allowed = await client.query<{ name: string; ok: boolean }>(
      `select n as name, coalesce(has_table_privilege(to_regclass(q), 'SELECT'), false) as ok
       from unnest($1::text[], $2::text[]) as t(n, q)`,
      [opts.tables.map(qualifiedName), opts.tables.map(quoteTable)],
    );
    const readable = new Set(allowed.rows.filter((r) => r.ok).map((r) => r.name));
    const probe = opts.tables.filter((t) => readable.has(qualifiedName(t)));
    if (probe.length === 0) return new Map();
    const { rows } = await client.query<{ name: string; n: string }>(
      probe
        .map(
          (t) =>
            `select ${quoteLiteral(qualifiedName(t))}::text as name, (select count(*) from ${quoteTable(t)})::text as n`,
        )
        .join('\nunion all\n'),
    );
    return new Map(rows.map((r) => [r.name, Number(r.n)]));
  });
}
