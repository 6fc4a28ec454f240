import type pg from 'pg';
import type { ColumnIdentities } from '../model/columnIdentity.js';

/**
 * The value the rows a column was added over hold (`attmissingval`, PUBLIC may read it), as one
 * JSON text to compare between two servers: a timestamp with time zone in UTC (JSON prints it
 * in the session's time zone, which two servers need not share).
 */
const KEPT = `(select case when a.atttypid = 'pg_catalog.timestamptz'::pg_catalog.regtype
                           then pg_catalog.to_json(((m.j ->> 0)::timestamptz) at time zone 'UTC')::text
                           else (m.j -> 0)::text end
                from (select pg_catalog.array_to_json(a.attmissingval) as j) m)`;

/**
 * The columns of `tables` (`schema.table`) on one node: name → attnum, type and the value
 * PostgreSQL kept for the rows a column was added over (model/columnIdentity.ts), in one query.
 * Dropped columns are left out (attisdropped); a table that is not there is absent from the
 * result. The server builds the result as one JSON text, parsed at once: a row per column
 * (15,000 for a plan of 10 nodes × 500 tables) cost a third of the continuity reading's CPU in
 * node-postgres's row parsing alone.
 */
export async function readColumnIdentities(
  client: pg.Client,
  tables: readonly string[],
): Promise<Record<string, ColumnIdentities>> {
  if (tables.length === 0) return {};
  const { rows } = await client.query<{ columns: string }>(
    `select coalesce(pg_catalog.json_object_agg(t.qn, t.columns), '{}')::text as columns
       from (select n.nspname::text || '.' || c.relname::text as qn,
                    pg_catalog.json_object_agg(a.attname::text,
                      case when a.atthasmissing
                           then pg_catalog.json_build_object('attnum', a.attnum::int, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod), 'kept', ${KEPT})
                           else pg_catalog.json_build_object('attnum', a.attnum::int, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod))
                      end
                      order by a.attnum) as columns
               from unnest($1::text[]) as u(qn)
               join pg_catalog.pg_namespace n on n.nspname = split_part(u.qn, '.', 1)
               join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = substr(u.qn, length(split_part(u.qn, '.', 1)) + 2)
               join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
              group by n.nspname, c.relname) t`,
    [tables],
  );
  return JSON.parse(rows[0]!.columns) as Record<string, ColumnIdentities>;
}
