import { quoteIdent, quoteTable } from './sql.js';
import { PG17 } from './versions.js';

/**
 * What a least-privileged (managed) role may lack that steep calls: functions PostgreSQL revokes
 * from PUBLIC (the replication-origin functions, `pg_logical_emit_message`) and the
 * superuser-only parameter `session_replication_role` (GRANT SET ON PARAMETER from 15). The
 * catalog reads which of them the connected role lacks; the planner and `steep grants` name the
 * exact GRANT that fixes each.
 */

/**
 * The functions steep calls that are not executable by PUBLIC, with their arguments (the
 * signatures steep calls, in the catalog's text form).
 */
const RESTRICTED_ARGS = {
  pg_replication_origin_advance: '(text, pg_lsn)',
  pg_replication_origin_create: '(text)',
  pg_replication_origin_drop: '(text)',
  pg_replication_origin_session_setup: '(text)',
  pg_replication_origin_session_reset: '()',
  pg_replication_origin_session_is_setup: '()',
  pg_replication_origin_progress: '(text, boolean)',
  pg_logical_emit_message: '(boolean, text, text)',
} as const;

export type RestrictedFunction = keyof typeof RESTRICTED_ARGS;

export const RESTRICTED_FUNCTIONS = Object.keys(RESTRICTED_ARGS) as readonly RestrictedFunction[];

/** What the connected role lacks of the above (empty for a superuser). */
export interface RoleGaps {
  /** function name → its signature as the catalog prints it, e.g. `pg_replication_origin_advance(text,pg_lsn)` */
  functions: Partial<Record<RestrictedFunction, string>>;
  /** may SET session_replication_role (superuser; from 15 also GRANT SET ON PARAMETER) */
  setSessionReplicationRole: boolean;
  /** may SET log_min_error_statement (superuser; from 15 also GRANT SET ON PARAMETER); absent in older captures */
  setLogMinErrorStatement?: boolean;
}

/** The signature steep calls of `fn` on a server of `serverVersion`. */
export function functionSignature(fn: RestrictedFunction, serverVersion: number): string {
  // 17 added the `flush` argument (with a default) in place of the three-argument form
  if (fn === 'pg_logical_emit_message' && serverVersion >= PG17)
    return 'pg_logical_emit_message(boolean, text, text, boolean)';
  return `${fn}${RESTRICTED_ARGS[fn]}`;
}

/**
 * Who may grant EXECUTE on a function PostgreSQL revokes from PUBLIC: its owner (the bootstrap
 * superuser) hands it on only to superusers; a managed service's admin role is refused unless
 * the service gave it EXECUTE WITH GRANT OPTION.
 */
export const FUNCTION_GRANTORS = 'only a superuser, or a role holding EXECUTE WITH GRANT OPTION,';

/** `GRANT EXECUTE ON FUNCTION pg_catalog.<signature> TO <role>;` */
export function grantFunction(signature: string, role: string): string {
  const spaced = signature.replace(/,(?! )/g, ', ');
  return `GRANT EXECUTE ON FUNCTION pg_catalog.${spaced} TO ${quoteIdent(role)};`;
}

/** The advice for a role that may not call a restricted function: the GRANT, where, and who may run it. */
export function functionGrantAdvice(signature: string, role: string, node: string): string {
  return `run ${grantFunction(signature, role)} on ${node}: ${FUNCTION_GRANTORS} may run it (a cloud admin role without that option is refused)`;
}

/** The restricted functions a statement calls. */
export function functionsCalled(sql: string): RestrictedFunction[] {
  return RESTRICTED_FUNCTIONS.filter((fn) => new RegExp(`\\b${fn}\\s*\\(`).test(sql));
}

/**
 * The admin roles of the managed services, whose members the service lets create subscriptions
 * before PostgreSQL 16 (it patches the server): vanilla PostgreSQL has no role of these names.
 */
export const CLOUD_ADMIN_ROLES = {
  rds_superuser: 'Amazon RDS',
  cloudsqlsuperuser: 'Cloud SQL',
  azure_pg_admin: 'Azure Database for PostgreSQL',
} as const;

export type CloudAdminRole = keyof typeof CLOUD_ADMIN_ROLES;

export function isCloudAdminRole(name: string): name is CloudAdminRole {
  return Object.hasOwn(CLOUD_ADMIN_ROLES, name);
}

/** `role admin is a member of rds_superuser, which Amazon RDS lets create subscriptions before PostgreSQL 16` */
export function cloudAdminNote(role: string, cloudRole: CloudAdminRole): string {
  return `role ${role} is a member of ${cloudRole}, which ${CLOUD_ADMIN_ROLES[cloudRole]} lets create subscriptions before PostgreSQL 16`;
}

/** `GRANT SELECT, UPDATE ON SEQUENCE "s"."a", "s"."b" TO "role";` */
export function grantOnSequences(
  privileges: readonly ('SELECT' | 'UPDATE')[],
  sequences: readonly { schema: string; name: string }[],
  role: string,
): string {
  return `GRANT ${privileges.join(', ')} ON SEQUENCE ${sequences.map(quoteTable).join(', ')} TO ${quoteIdent(role)};`;
}

/** `steep grants`: one node's role setup script. */
export interface NodeGrants {
  node: string;
  serverVersion: number;
  role: string;
  /** SQL statements and `--` comments, in order */
  lines: string[];
}

/**
 * What `statements` call that `denied` (the role's missing EXECUTE grants) forbids, each one
 * sentence ending with the GRANT: `east: role admin may not execute …, which <what> calls; run GRANT …`.
 */
export function deniedCalls(
  node: string,
  role: string,
  denied: RoleGaps['functions'],
  statements: readonly string[],
  what: string,
): string[] {
  return RESTRICTED_FUNCTIONS.filter(
    (fn) => denied[fn] && statements.some((sql) => functionsCalled(sql).includes(fn)),
  ).map(
    (fn) =>
      `${node}: role ${role} may not execute ${fn}, which ${what} calls; ${functionGrantAdvice(denied[fn]!, role, node)}`,
  );
}

/**
 * What the owner of steep's state schema (made by another role: an admin ran steep first) grants
 * `role` so that steep runs there as it: use it, create its new tables, read and write its tables
 * and their identity sequences. Grants only; the schema keeps its owner.
 */
export function stateSchemaGrants(schema: string, role: string): string[] {
  const s = quoteIdent(schema);
  const r = quoteIdent(role);
  return [
    `GRANT USAGE, CREATE ON SCHEMA ${s} TO ${r};`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${r};`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${s} TO ${r};`,
  ];
}
