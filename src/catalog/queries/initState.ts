import { quoteIdent } from '../../model/sql.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * What steep's state schema records about inits on this node: `subscription_state` and
 * `init_slots`, the node's own rows only (SPEC §8: rows an `allTables` publication brings from
 * another node carry that node's name). PostgreSQL 14+.
 *
 * The probe runs in the first round trip; the reads are sent only when it finds both tables
 * readable, so a node without them never aborts the snapshot transaction.
 */
export function initStateProbeQuery(schema: string): CatalogQuery {
  const s = quoteIdent(schema);
  return {
    name: 'init-state-probe',
    // to_regclass of a name in a schema the role may not use is an error before PostgreSQL 16
    text: `select case when coalesce((select has_schema_privilege(n.oid, 'USAGE') from pg_catalog.pg_namespace n where n.nspname = $3), false)
         then coalesce(has_table_privilege(to_regclass($1), 'SELECT'), false)
              and coalesce(has_table_privilege(to_regclass($2), 'SELECT'), false)
         else false end as readable`,
    values: [`${s}.subscription_state`, `${s}.init_slots`, schema],
  };
}

export interface InitStateProbeRow {
  readable: boolean;
}

export function subscriptionStatesQuery(schema: string, node: string): CatalogQuery {
  return {
    name: 'init-subscription-states',
    text: `select subscription, init_method, state, source_node, started_at, completed_at, updated_at, error
  from ${quoteIdent(schema)}.subscription_state
 where node_name = $1`,
    values: [node],
  };
}

export function initSlotsQuery(schema: string, node: string): CatalogQuery {
  return {
    name: 'init-slots',
    text: `select slot_name, subscription, lsn::text as lsn, snapshot_name, created_at, expires_at
  from ${quoteIdent(schema)}.init_slots
 where node_name = $1
 order by created_at`,
    values: [node],
  };
}
