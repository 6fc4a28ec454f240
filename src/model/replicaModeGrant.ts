/**
 * What lets a session pass an ordinary trigger on purpose: `session_replication_role = replica`,
 * which a superuser may set, and from PostgreSQL 15 any role granted SET on the parameter
 * (`GRANT SET ON PARAMETER session_replication_role TO role`), or a member of such a role. The
 * switchover's data fence is an ordinary trigger: it cannot hold against either.
 */
import { quoteIdent } from './sql.js';

/** One grantee of SET on session_replication_role (catalog/replicaModeGrants.ts). */
export interface ReplicaModeGrant {
  /** the role granted it, `PUBLIC` for every role */
  grantee: string;
  /** granted WITH GRANT OPTION */
  grantable: boolean;
  /** the roles asked about that hold it through this grant: the grantee, or a member of it */
  roles: string[];
}

const PARAMETER = 'SET ON PARAMETER session_replication_role';

const granteeSql = (g: Pick<ReplicaModeGrant, 'grantee'>): string =>
  g.grantee === 'PUBLIC' ? 'PUBLIC' : quoteIdent(g.grantee);

/** The statement that takes the grant back. */
export function revokeReplicaMode(g: Pick<ReplicaModeGrant, 'grantee'>): string {
  return `REVOKE ${PARAMETER} FROM ${granteeSql(g)}`;
}

/** The statement that gives the grant back as it was. */
export function regrantReplicaMode(g: Pick<ReplicaModeGrant, 'grantee' | 'grantable'>): string {
  return `GRANT ${PARAMETER} TO ${granteeSql(g)}${g.grantable ? ' WITH GRANT OPTION' : ''}`;
}

/**
 * Who may have written past the data fence on purpose, for the release's text: a superuser, or
 * a role granted SET on the parameter, named when known (`grantees`: as the node holds them now).
 */
export function replicaModeWriters(grantees?: readonly string[]): string {
  const known = grantees && grantees.length > 0 ? ` (granted to ${grantees.join(', ')})` : '';
  return `a superuser, or a role granted SET on session_replication_role${known}, with session_replication_role = replica`;
}
