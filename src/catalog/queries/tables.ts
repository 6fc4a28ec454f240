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
    'tables',
    `select c.oid::int8 as oid,
       n.nspname::text as schema,
       c.relname::text as name,
       c.relkind::text as kind,
       c.relreplident::text as replica_identity,
       coalesce(i.has_primary_key, false) as has_primary_key,
       coalesce(i.has_replident_index, false) as has_replident_index,
       case when c.reltuples >= 0 then c.reltuples::float8 end as estimated_rows,
       case when c.reltuples >= 0 or c.relpages > 0
            then ((c.relpages::int8 + coalesce(t.relpages, 0)) * current_setting('block_size')::int8)::float8
       end as size_bytes,
       c.relpersistence = 'u' as unlogged,
       pg_catalog.pg_get_userbyid(c.relowner)::text as owner,
       pg_catalog.pg_has_role(c.relowner, 'USAGE') as owned,
       ${serverVersion >= PG16 ? `pg_catalog.pg_has_role(c.relowner, 'SET')` : 'null::bool'} as can_set_role,
       pg_catalog.has_table_privilege(c.oid, 'INSERT') as can_insert,
       array(select h.inhparent::text
               from pg_catalog.pg_inherits h
              where h.inhrelid = c.oid
              order by h.inhseqno) as parent_oids,
       c.relispartition as is_partition,
       case c.relreplident
         when 'f' then array(select a.attname::text
                               from pg_catalog.pg_attribute a
                              where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                                and a.attgenerated = ''
                              order by a.attnum)
         when 'n' then '{}'::text[]
         else array(select a.attname::text
                      from pg_catalog.pg_index x
                      join pg_catalog.pg_attribute a on a.attrelid = x.indrelid and a.attnum = any (x.indkey::int2[])
                     where x.indrelid = c.oid
                       and case c.relreplident when 'd' then x.indisprimary else x.indisreplident and x.indisvalid end
                     order by a.attnum)
       end as identity_columns,
       exists (select 1 from pg_catalog.pg_attribute a
                where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                  and a.attgenerated = 'v') as virtual_generated
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  left join pg_catalog.pg_class t on t.oid = c.reltoastrelid
  left join (select x.indrelid,
                    bool_or(x.indisprimary) as has_primary_key,
                    bool_or(x.indisreplident and x.indisvalid) as has_replident_index
               from pg_catalog.pg_index x
              group by x.indrelid) i on i.indrelid = c.oid
 where c.relkind in ('r', 'p')
   and c.relpersistence <> 't'
   and n.nspname not in ('pg_catalog', 'information_schema')
   and n.nspname !~ '^pg_toast'`,
  );

export interface TableRow {
  oid: number;
  schema: string;
  name: string;
  kind: string;
  replica_identity: string;
  has_primary_key: boolean;
  has_replident_index: boolean;
  estimated_rows: number | null;
  size_bytes: number | null;
  unlogged: boolean;
  owner: string;
  owned: boolean;
  /** 16+: may SET ROLE to its owner (null before 16) */
  can_set_role: boolean | null;
  can_insert: boolean;
  /** pg_inherits parents' oids, as text */
  parent_oids: string[];
  is_partition: boolean;
  identity_columns: string[];
  virtual_generated: boolean;
}

/** Can UPDATE/DELETE be replicated? d: needs a primary key; i: the index must exist; f: yes; n: no. */
function usableReplicaIdentity(r: TableRow): boolean {
  switch (r.replica_identity) {
    case 'd':
      return r.has_primary_key;
    case 'i':
      return r.has_replident_index;
    case 'f':
      return true;
    default:
      return false;
  }
}

export function toTables(rows: TableRow[]): Record<string, ObservedTable> {
  const out: Record<string, ObservedTable> = {};
  const nameOf = new Map(rows.map((r) => [String(r.oid), qualifiedName(r)]));
  for (const r of [...rows].sort(compareTableNames)) {
    const parents = (r.parent_oids ?? []).map((oid) => nameOf.get(oid)).filter((n) => n !== undefined);
    out[qualifiedName(r)] = {
      schema: r.schema,
      name: r.name,
      oid: r.oid,
      replicaIdentity: r.replica_identity as ObservedTable['replicaIdentity'],
      hasPrimaryKey: r.has_primary_key,
      hasReplicaIdentity: usableReplicaIdentity(r),
      kind: r.kind === 'p' ? 'p' : 'r',
      estimatedRows: r.estimated_rows,
      sizeBytes: r.size_bytes,
      partitionOf: r.is_partition ? (parents[0] ?? null) : null,
      inherits: r.is_partition ? [] : parents,
      unlogged: r.unlogged,
      owner: r.owner,
      owned: r.owned,
      ...(r.can_set_role === null ? {} : { canSetRole: r.can_set_role }),
      canInsert: r.can_insert,
      identityColumns: usableReplicaIdentity(r) ? r.identity_columns : [],
      virtualGenerated: r.virtual_generated,
    };
  }
  return out;
}
