import type { TableScope } from '../../model/tableSchema.js';
import type { CatalogQuery } from './catalogQuery.js';
import { SCOPE_CTE, scopeValues } from './columns.js';

/**
 * The indexes and constraints of a scope's tables (model/tableObjects.ts), in one query: every
 * valid index behind no constraint (a partition's part of a parent index left out) and every
 * primary key, unique, check, exclusion and foreign key constraint the table itself declares
 * (none inherited from a parent). Run between QUALIFY_NAMES and RESTORE_NAMES, so tables,
 * functions and types print schema-qualified. One row, a JSON array of
 * `[schema, table, name, kind, definition, references]`.
 */
export function tableObjectsQuery(scope: TableScope, stateSchema: string): CatalogQuery {
  return {
    text: `with ${SCOPE_CTE}
select coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(o.schema, o.name, o.object, o.kind, o.definition, o.refs)
                ORDER BY o.schema COLLATE "C", o.name COLLATE "C", o.object COLLATE "C"), '[]')::text as objects
  from (select n.nspname::text as schema, c.relname::text as name, ic.relname::text as object,
               case when i.indisunique then 'unique-index' else 'index' end as kind,
               pg_catalog.pg_get_indexdef(i.indexrelid) as definition, null::text as refs
          from scope s
          join pg_catalog.pg_class c on c.oid = s.oid
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace
          join pg_catalog.pg_index i on i.indrelid = c.oid
          join pg_catalog.pg_class ic on ic.oid = i.indexrelid
         where i.indisvalid
           and not exists (select 1 from pg_catalog.pg_constraint k
                            where k.conindid = i.indexrelid and k.conrelid = c.oid and k.contype in ('p', 'u', 'x'))
           and not exists (select 1 from pg_catalog.pg_inherits h where h.inhrelid = i.indexrelid)
        union all
        select n.nspname::text, c.relname::text, k.conname::text, k.contype::text,
               pg_catalog.pg_get_constraintdef(k.oid),
               case when k.contype = 'f' then rn.nspname::text || '.' || rc.relname::text end
          from scope s
          join pg_catalog.pg_class c on c.oid = s.oid
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace
          join pg_catalog.pg_constraint k on k.conrelid = c.oid
          left join pg_catalog.pg_class rc on rc.oid = k.confrelid
          left join pg_catalog.pg_namespace rn on rn.oid = rc.relnamespace
         where k.contype in ('p', 'u', 'c', 'x', 'f') and k.conislocal and k.conparentid = 0) o`,
    values: scopeValues(scope, stateSchema),
  };
}

/** The objects query's one row. */
export interface TableObjectsRow {
  objects: string;
}

/** One object of the objects query, in its JSON array's order. */
export type TableObjectTuple = [
  schema: string,
  table: string,
  name: string,
  kind: string,
  definition: string,
  references: string | null,
];
