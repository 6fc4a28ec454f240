import type { ObservedRole } from '../../model/cluster.js';
import { PG16 } from '../../model/versions.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * The role steep connects as and what it may do. PostgreSQL 14+: the query is the same on every
 * version; `pg_create_subscription` exists from 16 and is looked up by name, so on older
 * servers the membership is simply false. The version rule (who may create a subscription) is
 * applied in `toRole`.
 *
 * `can_read_origin_status` decides whether the origins query may join
 * `pg_replication_origin_status` (revoked from PUBLIC), `can_read_conninfo` whether the
 * subscriptions' connection strings may be read (the column is revoked from PUBLIC).
 */
export const ROLE: CatalogQuery = {
  name: 'role',
  text: `select current_user::text as name,
       r.rolsuper as superuser,
       r.rolreplication as replication,
       has_database_privilege(current_database(), 'CREATE') as can_create_in_database,
       has_column_privilege('pg_catalog.pg_subscription', 'subconninfo', 'SELECT') as can_read_conninfo,
       exists (select 1 from pg_catalog.pg_roles g
                where g.rolname = 'pg_create_subscription' and pg_has_role(current_user, g.oid, 'USAGE'))
         as member_of_pg_create_subscription,
       has_table_privilege('pg_catalog.pg_replication_origin_status', 'SELECT')
         and has_function_privilege('pg_catalog.pg_show_replication_origin_status()', 'EXECUTE')
         as can_read_origin_status
  from pg_catalog.pg_roles r
 where r.rolname = current_user`,
};

export interface RoleRow {
  name: string;
  superuser: boolean;
  replication: boolean;
  can_create_in_database: boolean;
  can_read_conninfo: boolean;
  member_of_pg_create_subscription: boolean;
  can_read_origin_status: boolean;
}

export function toRole(row: RoleRow, serverVersion: number): ObservedRole {
  // PG 14/15: only superusers create subscriptions. PG 16+: also members of
  // pg_create_subscription that have CREATE on the database.
  const delegated =
    serverVersion >= PG16 && row.member_of_pg_create_subscription && row.can_create_in_database;
  return {
    name: row.name,
    superuser: row.superuser,
    replication: row.replication,
    canCreateInDatabase: row.can_create_in_database,
    canCreateSubscription: row.superuser || delegated,
    canReadConninfo: row.can_read_conninfo,
  };
}
