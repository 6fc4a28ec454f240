import type { CatalogQuery } from './catalogQuery.js';

/**
 * The data fences of switchovers on this node (planner/switchover/dataFence.ts): each function
 * `switchover_fence_<subscription>` in steep's state schema (`$1`) with the tables whose trigger
 * `steep_fence_<subscription>` calls it, and the roles a role fence leaves — no login, and
 * `default_transaction_read_only = on` of their own in this database — that may write one of
 * those tables. PostgreSQL 14+; the catalogs are readable by every role, so it is always sent.
 */
export function switchoverFencesQuery(schema: string): CatalogQuery {
  return {
    text: `select substr(p.proname, length('switchover_fence_') + 1) as subscription,
       pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('schema', n.nspname, 'name', c.relname)
                            order by n.nspname, c.relname) as tables,
       array(select r.rolname::text
               from pg_catalog.pg_roles r
               join pg_catalog.pg_db_role_setting s on s.setrole = r.oid
                and s.setdatabase = (select d.oid from pg_catalog.pg_database d where d.datname = current_database())
              where not r.rolcanlogin and 'default_transaction_read_only=on' = any (s.setconfig)
                and exists (select 1 from pg_catalog.pg_trigger w
                             where w.tgfoid = p.oid
                               and pg_catalog.has_table_privilege(r.oid, w.tgrelid, 'INSERT, UPDATE, DELETE, TRUNCATE'))
              order by 1) as roles
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace pn on pn.oid = p.pronamespace
  join pg_catalog.pg_trigger t on t.tgfoid = p.oid and not t.tgisinternal
  join pg_catalog.pg_class c on c.oid = t.tgrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where pn.nspname = $1 and p.proname like 'switchover\\_fence\\_%'
   and t.tgname = 'steep_fence_' || substr(p.proname, length('switchover_fence_') + 1)
 group by p.oid, p.proname
 order by 1`,
    values: [schema],
  };
}

export interface SwitchoverFenceRow {
  subscription: string;
  /** the fenced tables, sorted */
  tables: Array<{ schema: string; name: string }>;
  roles: string[];
}
