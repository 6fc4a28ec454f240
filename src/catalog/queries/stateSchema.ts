import { quoteIdent } from '../../model/sql.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * Does steep's state schema exist, and can its migration table be read? PostgreSQL 14+.
 * `$1` is the schema name. The migrations query below is sent only when `has_migrations`,
 * so a missing table or column never aborts the snapshot transaction.
 */
export function stateSchemaQuery(schema: string): CatalogQuery {
  return {
    name: 'state-schema',
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
         as owns_schema`,
    values: [schema],
  };
}

export interface StateSchemaRow {
  exists: boolean;
  has_migrations: boolean;
  can_create_in_schema: boolean;
  owns_schema: boolean;
}

/** The highest applied migration. PostgreSQL 14+; only when `<schema>.migrations(version)` exists. */
export function migrationVersionQuery(schema: string): CatalogQuery {
  return {
    name: 'state-migrations',
    text: `select max(version)::float8 as version from ${quoteIdent(schema)}.migrations`,
  };
}

export interface MigrationVersionRow {
  version: number | null;
}
