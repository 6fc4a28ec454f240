import { quoteIdent } from '../../model/sql.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * The errors counted when apply last disabled each subscription of this node
 * (`<schema>.disables`, migration 18, state/disables.ts), for those that are still the
 * subscription it disabled (same oid and name) with the same statistics (not reset since).
 * PostgreSQL 15+ (error counters); sent only when `stateSchemaQuery` finds the table readable.
 */
export function steepDisablesQuery(schema: string, node: string): CatalogQuery {
  return {
    text: `select d.subscription, d.errors::float8 as errors
  from ${quoteIdent(schema)}.disables d
  join pg_catalog.pg_subscription s on s.oid = d.subid and s.subname = d.subscription
  join pg_catalog.pg_stat_subscription_stats st on st.subid = s.oid
 where d.node_name = $1 and st.stats_reset is not distinct from d.stats_reset`,
    values: [node],
  };
}

export interface SteepDisableRow {
  subscription: string;
  errors: number;
}
