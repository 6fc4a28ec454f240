import type pg from 'pg';
import type { ColumnIdentities } from '../model/columnIdentity.js';

/**
 * The columns of `tables` (`schema.table`) on one node: name → attnum and type
 * (model/columnIdentity.ts), in one query. Dropped columns are left out (attisdropped); a table
 * that is not there is absent from the result.
 */
export async function readColumnIdentities(
  client: pg.Client,
  tables: readonly string[],
): Promise<Record<string, ColumnIdentities>> {
  if (tables.length === 0) return {};
  const { rows } = await client.query<{ table: string; name: string; attnum: number; type: string }>(
    `select n.nspname::text || '.' || c.relname::text as "table", a.attname::text as name, a.attnum::int as attnum,
            pg_catalog.format_type(a.atttypid, a.atttypmod) as type
       from unnest($1::text[]) as u(qn)
       join pg_catalog.pg_namespace n on n.nspname = split_part(u.qn, '.', 1)
       join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = substr(u.qn, length(split_part(u.qn, '.', 1)) + 2)
       join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped`,
    [tables],
  );
  const out: Record<string, ColumnIdentities> = {};
  for (const r of rows) out[r.table] = { ...out[r.table], [r.name]: { attnum: r.attnum, type: r.type } };
  return out;
}
