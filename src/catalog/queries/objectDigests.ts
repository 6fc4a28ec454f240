import { quoteIdent } from '../../model/sql.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * The digests the last successful apply recorded for this node's managed objects
 * (`<schema>.object_digests`, migration 2), the node's own rows only. PostgreSQL 14+.
 * Sent only when `stateSchemaQuery` finds the table readable.
 */
export function objectDigestsQuery(schema: string, node: string): CatalogQuery {
  return {
    text: `select address, digest from ${quoteIdent(schema)}.object_digests where node_name = $1`,
    values: [node],
  };
}

export interface ObjectDigestRow {
  address: string;
  digest: string;
}
