import { withSession } from '../db/connect.js';
import type { BinarylessColumn } from '../model/cluster.js';
import type { ConnectionSpec, TableName } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import { openCatalogSession } from './session.js';

/**
 * Which columns of some tables cannot be copied or streamed in binary format on this node
 * (014_binary.pl): the column's type, or a type it is made of, has no send function (binary COPY
 * TO fails: "no binary output function available for type") or no receive function (COPY FROM
 * fails). A type is made of: an array's element (array_send / array_recv call the element's), a
 * domain's base type, a composite's attribute types, a range's subtype, a multirange's range.
 * `own_send`: the column's own type has a send function, so pgoutput sends it in binary (and
 * fails where a type it is made of has none); without one it sends the column as text. Generated
 * columns are left out: a table sync does not copy into them. Asked only for the tables of binary
 * subscriptions (planner/subscriptions/binaryCopy.ts).
 */
export const BINARYLESS_COLUMNS_SQL = `
with recursive cols as (
  select n.nspname::text as schema, c.relname::text as name, a.attnum, a.attname::text as col,
         pg_catalog.format_type(a.atttypid, a.atttypmod) as type, a.atttypid as typid
    from unnest($1::text[], $2::text[]) as u(s, t)
    join pg_catalog.pg_namespace n on n.nspname = u.s::name
    join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = u.t::name
    join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
   where a.attgenerated = ''
),
parts(top, oid, depth) as (
  select distinct typid, typid, 0 from cols
  union
  select p.top, x.oid, p.depth + 1
    from parts p
    join pg_catalog.pg_type t on t.oid = p.oid
    cross join lateral (
      select t.typelem
       where t.typelem <> 0
         and (t.typsend = 'pg_catalog.array_send'::pg_catalog.regproc or t.typreceive = 'pg_catalog.array_recv'::pg_catalog.regproc)
      union all
      select t.typbasetype where t.typtype = 'd'
      union all
      select a.atttypid from pg_catalog.pg_attribute a
       where t.typtype = 'c' and a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped
      union all
      select r.rngsubtype from pg_catalog.pg_range r where t.typtype = 'r' and r.rngtypid = t.oid
      union all
      select r.rngtypid from pg_catalog.pg_range r where t.typtype = 'm' and r.rngmultitypid = t.oid
    ) x(oid)
   where p.depth < 16
),
lacking as (
  select p.top,
         (select pg_catalog.format_type(t.oid, null) from parts q join pg_catalog.pg_type t on t.oid = q.oid
           where q.top = p.top and t.typsend = 0 order by q.depth, 1 limit 1) as no_send,
         (select pg_catalog.format_type(t.oid, null) from parts q join pg_catalog.pg_type t on t.oid = q.oid
           where q.top = p.top and t.typreceive = 0 order by q.depth, 1 limit 1) as no_receive
    from (select distinct top from parts) p
)
select cols.schema, cols.name, cols.col as column, cols.type, l.no_send, l.no_receive,
       t.typsend <> 0 as own_send
  from cols join lacking l on l.top = cols.typid
  join pg_catalog.pg_type t on t.oid = cols.typid
 where l.no_send is not null or l.no_receive is not null
 order by cols.schema, cols.name, cols.attnum`;

/** `schema.table` → its binaryless columns, in column order; every table asked for (and found) has an entry. */
export async function readBinaryless(
  conn: ConnectionSpec,
  opts: { node: string; tables: readonly TableName[]; connectTimeoutMs?: number },
): Promise<Map<string, BinarylessColumn[]>> {
  const out = new Map<string, BinarylessColumn[]>(opts.tables.map((t) => [qualifiedName(t), []]));
  if (opts.tables.length === 0) return out;
  return withSession(openCatalogSession(conn, opts), async (client) => {
    // format_type prints names schema-qualified outside pg_catalog, whatever the role's search_path
    await client.query('BEGIN READ ONLY');
    try {
      await client.query(`select pg_catalog.set_config('search_path', 'pg_catalog', true)`);
      const { rows } = await client.query<BinarylessRow>(BINARYLESS_COLUMNS_SQL, [
        opts.tables.map((t) => t.schema),
        opts.tables.map((t) => t.name),
      ]);
      await client.query('COMMIT');
      for (const r of rows)
        out.get(`${r.schema}.${r.name}`)?.push({
          column: r.column,
          type: r.type,
          noSend: r.no_send,
          noReceive: r.no_receive,
          ownSend: r.own_send,
        });
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  });
}

interface BinarylessRow {
  schema: string;
  name: string;
  column: string;
  type: string;
  no_send: string | null;
  no_receive: string | null;
  own_send: boolean;
}
