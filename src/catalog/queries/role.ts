import type { ObservedRole } from '../../model/cluster.js';
import type { OwnerToRole } from '../../model/membershipGrant.js';
import {
  CLOUD_ADMIN_ROLES,
  isCloudAdminRole,
  RESTRICTED_FUNCTIONS,
  type RestrictedFunction,
  type RoleGaps,
} from '../../model/privileges.js';
import { PG15, PG16 } from '../../model/versions.js';
import type { CatalogQuery } from './catalogQuery.js';

/** JSON text: [{ name, signature }] of the restricted functions the current role may not execute. */
export const DENIED_FUNCTIONS = `(select coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('name', p.proname, 'signature', p.oid::regprocedure::text)), '[]')::text
          from pg_catalog.pg_proc p
         where p.pronamespace = 'pg_catalog'::regnamespace
           and p.proname in (${RESTRICTED_FUNCTIONS.map((f) => `'${f}'`).join(', ')})
           and not ('bytea'::regtype = any (p.proargtypes::oid[]::regtype[]))
           and not has_function_privilege(p.oid, 'EXECUTE'))`;

export function deniedFunctions(json: string): RoleGaps['functions'] {
  const functions: RoleGaps['functions'] = {};
  for (const f of JSON.parse(json ?? '[]') as { name: string; signature: string }[]) {
    if ((RESTRICTED_FUNCTIONS as readonly string[]).includes(f.name))
      functions[f.name as RestrictedFunction] = f.signature;
  }
  return functions;
}

/**
 * The role steep connects as and what it may do. PostgreSQL 14+: the query is the same on every
 * version; `pg_create_subscription` exists from 16 and is looked up by name, so on older
 * servers the membership is simply false. The version rule (who may create a subscription) is
 * applied in `toRole`.
 *
 * `can_read_origin_status` decides whether the origins query may join
 * `pg_replication_origin_status` (revoked from PUBLIC), `can_read_conninfo` whether the
 * subscriptions' connection strings may be read (the column is revoked from PUBLIC),
 * `can_read_row_version` whether their `xmin` may (PUBLIC is granted named columns only).
 * `denied_functions` lists the functions steep calls that PostgreSQL revokes from PUBLIC and the
 * role may not execute (the text forms: the bytea `pg_logical_emit_message` is never called).
 * `cloud_admin_role` is the managed service's admin role it is a member of (rds_superuser,
 * cloudsqlsuperuser, azure_pg_admin), looked up by name: null on vanilla PostgreSQL.
 */
export const ROLE: CatalogQuery = {
  text: `select current_user::text as name,
       r.rolsuper as superuser,
       r.rolreplication as replication,
       has_database_privilege(current_database(), 'CREATE') as can_create_in_database,
       has_column_privilege('pg_catalog.pg_subscription', 'subconninfo', 'SELECT') as can_read_conninfo,
       has_column_privilege('pg_catalog.pg_subscription', 'xmin', 'SELECT') as can_read_row_version,
       exists (select 1 from pg_catalog.pg_roles g
                where g.rolname = 'pg_create_subscription' and pg_has_role(current_user, g.oid, 'USAGE'))
         as member_of_pg_create_subscription,
       has_table_privilege('pg_catalog.pg_replication_origin_status', 'SELECT')
         and has_function_privilege('pg_catalog.pg_show_replication_origin_status()', 'EXECUTE')
         as can_read_origin_status,
       ${DENIED_FUNCTIONS} as denied_functions,
       (select g.rolname::text from pg_catalog.pg_roles g
         where g.rolname in (${Object.keys(CLOUD_ADMIN_ROLES)
           .map((r) => `'${r}'`)
           .join(', ')}) and pg_has_role(current_user, g.oid, 'MEMBER')
         order by 1 limit 1) as cloud_admin_role
  from pg_catalog.pg_roles r
 where r.rolname = current_user`,
};

export interface RoleRow {
  name: string;
  superuser: boolean;
  replication: boolean;
  can_create_in_database: boolean;
  can_read_conninfo: boolean;
  /** absent in rows of older captures and fixtures */
  can_read_row_version?: boolean;
  member_of_pg_create_subscription: boolean;
  can_read_origin_status: boolean;
  /** JSON: [{ name, signature }] */
  denied_functions: string;
  /** absent in rows of older captures and fixtures */
  cloud_admin_role?: string | null;
}

/**
 * PostgreSQL 15+: may a non-superuser SET session_replication_role, and log_min_error_statement
 * (GRANT SET ON PARAMETER)?
 * On 14 only a superuser may; the query is not sent there.
 */
export const SET_SESSION_REPLICATION_ROLE: CatalogQuery = {
  text: `select pg_catalog.has_parameter_privilege('session_replication_role', 'SET') as ok,
                pg_catalog.has_parameter_privilege('log_min_error_statement', 'SET') as log_ok`,
};

/** Whether to send SET_SESSION_REPLICATION_ROLE (otherwise the answer is `superuser`). */
export function asksSessionReplicationRole(row: RoleRow, serverVersion: number): boolean {
  return !row.superuser && serverVersion >= PG15;
}

export function toRole(
  row: RoleRow,
  serverVersion: number,
  setSessionReplicationRole?: boolean,
  setLogMinErrorStatement?: boolean,
): ObservedRole {
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
    memberOfCreateSubscription: row.member_of_pg_create_subscription,
    ...(row.cloud_admin_role && isCloudAdminRole(row.cloud_admin_role)
      ? { cloudAdminRole: row.cloud_admin_role }
      : {}),
    gaps: {
      functions: deniedFunctions(row.denied_functions),
      setSessionReplicationRole: row.superuser || setSessionReplicationRole === true,
      setLogMinErrorStatement: row.superuser || setLogMinErrorStatement === true,
    },
  };
}

/**
 * Columns of an object whose owner's oid is `owner` (a publication's, a subscription's): when
 * another role than the current one owns it (null otherwise), whether that owner may give it to
 * the current role — `ALTER … OWNER TO` asks the one who runs it for the SET option on the new
 * owner from 16, any membership in it before — and whether it is a member of the current role
 * already (a row of pg_auth_members, any options).
 */
export function ownerToRoleColumns(owner: string, serverVersion: number): string {
  const me = `(select r.oid from pg_catalog.pg_roles r where r.rolname = current_user)`;
  return `case when ${owner} = ${me} then null
            else pg_catalog.pg_has_role(${owner}, ${me}, '${serverVersion >= PG16 ? 'SET' : 'MEMBER'}') end as owner_can_set_role,
       exists (select 1 from pg_catalog.pg_auth_members m where m.member = ${owner} and m.roleid = ${me}) as owner_member`;
}

/** The columns of ownerToRoleColumns in a row (absent in rows of older captures and fixtures). */
export interface OwnerToRoleRow {
  owner_can_set_role?: boolean | null;
  owner_member?: boolean;
}

/** The owner's part, absent when the current role owns the object (or the row predates it). */
export function toOwnerToRole(row: OwnerToRoleRow): { ownerToRole?: OwnerToRole } {
  return row.owner_can_set_role == null
    ? {}
    : { ownerToRole: { canSetRole: row.owner_can_set_role, member: row.owner_member === true } };
}
