import { quoteIdent } from '../../model/sql.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * The digests the last successful apply recorded for this node's managed objects
 * (`<schema>.object_digests`, migration 2), the node's own rows only. PostgreSQL 14+.
 * The probe runs in the first round trip; the read is sent only when the table is readable.
 */
export function objectDigestsProbeQuery(schema: string): CatalogQuery {
  return {
    name: 'object-digests-probe',
    // to_regclass of a name in a schema the role may not use is an error before PostgreSQL 16
    text: `select case when coalesce((select has_schema_privilege(n.oid, 'USAGE') from pg_catalog.pg_namespace n where n.nspname = $2), false)
         then coalesce(has_table_privilege(to_regclass($1), 'SELECT'), false) else false end as readable`,
    values: [`${quoteIdent(schema)}.object_digests`, schema],
  };
}

export interface ObjectDigestsProbeRow {
  readable: boolean;
}

export function objectDigestsQuery(schema: string, node: string): CatalogQuery {
  return {
    name: 'object-digests',
    text: `select address, digest from ${quoteIdent(schema)}.object_digests where node_name = $1`,
    values: [node],
  };
}

export interface ObjectDigestRow {
  address: string;
  digest: string;
}
