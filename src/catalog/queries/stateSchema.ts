import { quoteIdent } from '../../model/sql.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * Does steep's state schema exist, can its migration table be read, which of its objects the role
 * does not own (a migration's ALTER needs their owner), and which of the tables
 * read in the second round trip are readable: `subscription_state` and `init_slots` (both),
 * `copy_chunks`, `object_digests`, `disables`. PostgreSQL 14+. `$1` is the schema name. The migrations and
 * those tables are queried only when readable, so a node without them never aborts the
 * snapshot transaction.
 */
export function stateSchemaQuery(schema: string): CatalogQuery {
  const s = quoteIdent(schema);
  const readable = (n: number) => `coalesce(has_table_privilege(to_regclass($${n}), 'SELECT'), false)`;
  return {
    // to_regclass of a name in a schema the role may not use is an error before PostgreSQL 16
    text: `select exists (select 1 from pg_catalog.pg_namespace where nspname = $1) as exists,
       exists (select 1
                 from pg_catalog.pg_class c
                 join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                 join pg_catalog.pg_attribute a on a.attrelid = c.oid
                where n.nspname = $1 and c.relname = 'migrations' and c.relkind in ('r', 'p')
                  and a.attname = 'version' and not a.attisdropped
                  and has_schema_privilege(n.oid, 'USAGE')
                  and has_column_privilege(c.oid, a.attnum, 'SELECT')) as has_migrations,
       coalesce((select has_schema_privilege(n.oid, 'CREATE') from pg_catalog.pg_namespace n where n.nspname = $1), false)
         as can_create_in_schema,
       coalesce((select pg_has_role(n.nspowner, 'USAGE') from pg_catalog.pg_namespace n where n.nspname = $1), false)
         as owns_schema,
       (select n.nspowner::regrole::text from pg_catalog.pg_namespace n where n.nspname = $1) as schema_owner,
       coalesce((select has_schema_privilege(n.oid, 'USAGE') and has_schema_privilege(n.oid, 'CREATE')
                   and not exists (select 1 from pg_catalog.pg_class c
                                    where c.relnamespace = n.oid and c.relkind in ('r', 'p')
                                      and not (has_table_privilege(c.oid, 'SELECT') and has_table_privilege(c.oid, 'INSERT')
                                               and has_table_privilege(c.oid, 'UPDATE') and has_table_privilege(c.oid, 'DELETE')))
                   and not exists (select 1 from pg_catalog.pg_class c
                                    where c.relnamespace = n.oid
                                      -- a CASE: the planner may call the function before it filters by relkind
                                      and case when c.relkind = 'S' then not has_sequence_privilege(c.oid, 'USAGE') else false end)
                   from pg_catalog.pg_namespace n where n.nspname = $1), false) as schema_writable,
       coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('name', o.name, 'owner', o.owner::regrole::text) order by o.name)
                   from (select c.relname::text as name, c.relowner as owner from pg_catalog.pg_class c
                           join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                          where n.nspname = $1 and c.relkind in ('r', 'p')
                         union all
                         select f.proname || '()', f.proowner from pg_catalog.pg_proc f
                           join pg_catalog.pg_namespace n on n.oid = f.pronamespace
                          where n.nspname = $1) o
                  where not pg_catalog.pg_has_role(o.owner, 'USAGE')), '[]'::jsonb) as not_owned,
       case when u.usable then ${readable(2)} and ${readable(3)} else false end as init_readable,
       case when u.usable then ${readable(4)} else false end as chunks_readable,
       case when u.usable then ${readable(5)} else false end as digests_readable,
       case when u.usable then ${readable(6)} else false end as disables_readable
  from (select coalesce((select has_schema_privilege(n.oid, 'USAGE')
                           from pg_catalog.pg_namespace n where n.nspname = $1), false) as usable) u`,
    values: [
      schema,
      `${s}.subscription_state`,
      `${s}.init_slots`,
      `${s}.copy_chunks`,
      `${s}.object_digests`,
      `${s}.disables`,
    ],
  };
}

export interface StateSchemaRow {
  exists: boolean;
  has_migrations: boolean;
  can_create_in_schema: boolean;
  owns_schema: boolean;
  /** the schema's owner, null when absent */
  schema_owner: string | null;
  /** USAGE and CREATE on it, SELECT/INSERT/UPDATE/DELETE on each of its tables, USAGE on each sequence */
  schema_writable: boolean;
  /** its tables (`name`) and functions (`name()`) whose owner the role is not (nor a member of) */
  not_owned: Array<{ name: string; owner: string }>;
  init_readable: boolean;
  chunks_readable: boolean;
  digests_readable: boolean;
  disables_readable: boolean;
}

export function migrationVersionQuery(schema: string): CatalogQuery {
  return {
    text: `select max(version)::float8 as version from ${quoteIdent(schema)}.migrations`,
  };
}

export interface MigrationVersionRow {
  version: number | null;
}
