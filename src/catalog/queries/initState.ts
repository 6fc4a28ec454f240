import { INIT_SLOT_COLUMNS, SUBSCRIPTION_STATE_COLUMNS } from '../../model/initStateRows.js';
import { quoteIdent } from '../../model/sql.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * What steep's state schema records about inits on this node: `subscription_state`,
 * `init_slots` and the tables steep's own copy loaded (`copy_chunks`), the node's own rows only
 * (docs/steep-yaml.md, On every node: rows an `allTables` publication brings from another node carry that node's name).
 * PostgreSQL 14+.
 *
 * The probe runs in the first round trip; the reads are sent only when it finds their tables
 * readable, so a node without them never aborts the snapshot transaction.
 */
export function initStateProbeQuery(schema: string): CatalogQuery {
  const s = quoteIdent(schema);
  return {
    name: 'init-state-probe',
    // to_regclass of a name in a schema the role may not use is an error before PostgreSQL 16
    text: `select case when u.usable
              then coalesce(has_table_privilege(to_regclass($1), 'SELECT'), false)
                   and coalesce(has_table_privilege(to_regclass($2), 'SELECT'), false)
              else false end as readable,
         case when u.usable then coalesce(has_table_privilege(to_regclass($3), 'SELECT'), false)
              else false end as chunks_readable
    from (select coalesce((select has_schema_privilege(n.oid, 'USAGE')
                             from pg_catalog.pg_namespace n where n.nspname = $4), false) as usable) u`,
    values: [`${s}.subscription_state`, `${s}.init_slots`, `${s}.copy_chunks`, schema],
  };
}

export interface InitStateProbeRow {
  readable: boolean;
  chunks_readable: boolean;
}

export function subscriptionStatesQuery(schema: string, node: string): CatalogQuery {
  return {
    name: 'init-subscription-states',
    text: `select ${SUBSCRIPTION_STATE_COLUMNS}
  from ${quoteIdent(schema)}.subscription_state
 where node_name = $1`,
    values: [node],
  };
}

export function initSlotsQuery(schema: string, node: string): CatalogQuery {
  return {
    name: 'init-slots',
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
    name: 'init-copied-tables',
    text: `select distinct subscription, table_schema as schema, table_name as name
  from ${quoteIdent(schema)}.copy_chunks
 where node_name = $1 and completed_at is not null
 order by 1, 2, 3`,
    values: [node],
  };
}
