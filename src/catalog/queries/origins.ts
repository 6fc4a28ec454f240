import type { CatalogQuery } from './catalogQuery.js';

/**
 * Replication origins and how far each has applied. PostgreSQL 14+.
 * pg_replication_origin is readable by PUBLIC; pg_replication_origin_status is not (superuser,
 * or an explicit grant), so a role without it gets the names with remote_lsn null.
 */
export function originsQuery(canReadStatus: boolean): CatalogQuery {
  return {
    text: canReadStatus
      ? `select o.roname::text as name,
       st.remote_lsn::text as "remoteLsn"
  from pg_catalog.pg_replication_origin o
  left join pg_catalog.pg_replication_origin_status st on st.local_id = o.roident`
      : `select o.roname::text as name,
       null::text as "remoteLsn"
  from pg_catalog.pg_replication_origin o`,
  };
}
