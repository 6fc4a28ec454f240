import { INIT_SLOT_COLUMNS, SUBSCRIPTION_STATE_COLUMNS } from '../../model/initStateRows.js';
import { quoteIdent } from '../../model/sql.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * What steep's state schema records about inits on this node: `subscription_state`,
 * `init_slots` and the tables steep's own copy loaded (`copy_chunks`), the node's own rows only
 * (docs/steep-yaml.md, On every node: rows an `allTables` publication brings from another node carry that node's name).
 * PostgreSQL 14+. Sent only when `stateSchemaQuery` finds the tables readable.
 */
export function subscriptionStatesQuery(schema: string, node: string): CatalogQuery {
  return {
    text: `select ${SUBSCRIPTION_STATE_COLUMNS}
  from ${quoteIdent(schema)}.subscription_state
 where node_name = $1`,
    values: [node],
  };
}

export function initSlotsQuery(schema: string, node: string): CatalogQuery {
  return {
    text: `select ${INIT_SLOT_COLUMNS}
  from ${quoteIdent(schema)}.init_slots
 where node_name = $1
 order by created_at`,
    values: [node],
  };
}

/** The tables of which steep's own copy of each subscription has finished chunks. */
export function copiedTablesQuery(schema: string, node: string): CatalogQuery {
  return {
    text: `select distinct subscription, table_schema as schema, table_name as name
  from ${quoteIdent(schema)}.copy_chunks
 where node_name = $1 and completed_at is not null
 order by 1, 2, 3`,
    values: [node],
  };
}
