import type { ObservedOrigin } from '../../model/cluster.js';
import { compareText } from '../../model/order.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * Replication origins and how far each has applied. PostgreSQL 14+.
 * pg_replication_origin is readable by PUBLIC; pg_replication_origin_status is not (superuser,
 * or an explicit grant), so a role without it gets the names with remote_lsn null.
 */
export const ORIGINS: CatalogQuery = {
  name: 'origins',
  text: `select o.roname::text as name,
       st.remote_lsn::text as "remoteLsn"
  from pg_catalog.pg_replication_origin o
  left join pg_catalog.pg_replication_origin_status st on st.local_id = o.roident`,
};

/** PostgreSQL 14+, for a role that may not read pg_replication_origin_status. */
export const ORIGINS_WITHOUT_STATUS: CatalogQuery = {
  name: 'origins',
  text: `select o.roname::text as name,
       null::text as "remoteLsn"
  from pg_catalog.pg_replication_origin o`,
};

export function originsQuery(canReadStatus: boolean): CatalogQuery {
  return canReadStatus ? ORIGINS : ORIGINS_WITHOUT_STATUS;
}

/** The origins by name, in name order. */
export function toOrigins(rows: ObservedOrigin[]): Record<string, ObservedOrigin> {
  return Object.fromEntries([...rows].sort((a, b) => compareText(a.name, b.name)).map((r) => [r.name, r]));
}
