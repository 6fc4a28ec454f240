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
       st.remote_lsn::text as remote_lsn
  from pg_catalog.pg_replication_origin o
  left join pg_catalog.pg_replication_origin_status st on st.local_id = o.roident`,
};

/** PostgreSQL 14+, for a role that may not read pg_replication_origin_status. */
export const ORIGINS_WITHOUT_STATUS: CatalogQuery = {
  name: 'origins',
  text: `select o.roname::text as name,
       null::text as remote_lsn
  from pg_catalog.pg_replication_origin o`,
};

export function originsQuery(canReadStatus: boolean): CatalogQuery {
  return canReadStatus ? ORIGINS : ORIGINS_WITHOUT_STATUS;
}

export interface OriginRow {
  name: string;
  remote_lsn: string | null;
}

export function toOrigins(rows: OriginRow[]): Record<string, ObservedOrigin> {
  const out: Record<string, ObservedOrigin> = {};
  for (const r of [...rows].sort((a, b) => compareText(a.name, b.name))) {
    out[r.name] = { name: r.name, remoteLsn: r.remote_lsn };
  }
  return out;
}
