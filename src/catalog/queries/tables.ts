import type { ObservedTable } from '../../model/cluster.js';
import { compareTableNames } from '../../model/order.js';
import { qualifiedName } from '../../model/topology.js';
import { PG16 } from '../../model/versions.js';
import { type CatalogQuery, jsonArrayQuery } from './catalogQuery.js';

/**
 * Every ordinary ('r') and partitioned ('p') table outside the system schemas, in one query
 * (no per-table round trip), with what decides what a publication of it publishes: its
 * partition parent or inheritance parents, UNLOGGED, and its replica identity's columns.
 * PostgreSQL 14+.
 *
 * Sizes and row counts are the planner's estimates (relpages, reltuples as of the last
 * VACUUM/ANALYZE; heap plus TOAST): pg_relation_size, and pg_total_relation_size more so, costs
 * many times what reading the estimates costs in a fresh session (it opens every relation),
 * and it waits for any lock stronger than ACCESS SHARE, which a plan must never
 * do. reltuples is -1 and relpages 0 for a table never vacuumed or analysed: both are then
 * reported as null (unknown), not as an empty table.
 *
 * The rows come back as one JSON array (`jsonArrayQuery`).
 */
export const tablesQuery = (serverVersion: number): CatalogQuery =>
  jsonArrayQuery(
    `select n.nspname::text as schema,
       c.relname::text as name,
       c.oid::int8 as oid,
       c.relreplident::text as "replicaIdentity",
       coalesce(i.has_primary_key, false) as "hasPrimaryKey",
       u.usable as "hasReplicaIdentity",
       c.relkind::text as kind,
       case when c.reltuples >= 0 then c.reltuples::float8 end as "estimatedRows",
       case when c.reltuples >= 0 or c.relpages > 0
            then ((c.relpages::int8 + coalesce(t.relpages, 0)) * current_setting('block_size')::int8)::float8
       end as "sizeBytes",
       c.relispartition as "partitionOf",
       array(select h.inhparent::text
               from pg_catalog.pg_inherits h
              where h.inhrelid = c.oid
              order by h.inhseqno) as inherits,
       c.relpersistence = 'u' as unlogged,
       pg_catalog.pg_get_userbyid(c.relowner)::text as owner,
       pg_catalog.pg_has_role(c.relowner, 'USAGE') as owned,${serverVersion >= PG16 ? `\n       pg_catalog.pg_has_role(c.relowner, 'SET') as "canSetRole",` : ''}
       pg_catalog.has_table_privilege(c.oid, 'INSERT') as "canInsert",
       case
         when not u.usable then '{}'::text[]
         when c.relreplident = 'f' then array(select a.attname::text
                               from pg_catalog.pg_attribute a
                              where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                                and a.attgenerated = ''
                              order by a.attnum)
         else array(select a.attname::text
                      from pg_catalog.pg_index x
                      join pg_catalog.pg_attribute a on a.attrelid = x.indrelid and a.attnum = any (x.indkey::int2[])
                     where x.indrelid = c.oid
                       and case c.relreplident when 'd' then x.indisprimary else x.indisreplident and x.indisvalid end
                     order by a.attnum)
       end as "identityColumns",
       exists (select 1 from pg_catalog.pg_attribute a
                where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                  and a.attgenerated = 'v') as "virtualGenerated"
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  left join pg_catalog.pg_class t on t.oid = c.reltoastrelid
  left join (select x.indrelid,
                    bool_or(x.indisprimary) as has_primary_key,
                    bool_or(x.indisreplident and x.indisvalid) as has_replident_index
               from pg_catalog.pg_index x
              group by x.indrelid) i on i.indrelid = c.oid
  -- can UPDATE/DELETE be replicated? d: needs a primary key; i: the index must exist; f: yes; n: no
  cross join lateral (select case c.relreplident when 'd' then coalesce(i.has_primary_key, false)
                                                when 'i' then coalesce(i.has_replident_index, false)
                                                else c.relreplident = 'f' end as usable) u
 where c.relkind in ('r', 'p')
   and c.relpersistence <> 't'
   and n.nspname not in ('pg_catalog', 'information_schema')
   and n.nspname !~ '^pg_toast'`,
  );

/**
 * A row of tablesQuery: the ObservedTable, with whether it is a partition where its parent's
 * name goes and its pg_inherits parents' oids (as text) where their names go.
 */
export type TableRow = Omit<ObservedTable, 'partitionOf'> & { partitionOf: boolean; inherits: string[] };

export function toTables(rows: TableRow[]): Record<string, ObservedTable> {
  const nameOf = new Map(rows.map((r) => [String(r.oid), qualifiedName(r)]));
  return Object.fromEntries(
    [...rows].sort(compareTableNames).map((r) => {
      const parents = r.inherits.map((oid) => nameOf.get(oid)).filter((n) => n !== undefined);
      const partitionOf = r.partitionOf ? (parents[0] ?? null) : null;
      return [qualifiedName(r), { ...r, partitionOf, inherits: r.partitionOf ? [] : parents }];
    }),
  );
}
