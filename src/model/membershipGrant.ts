import { quoteIdent } from './sql.js';
import { PG16 } from './versions.js';

/**
 * The GRANT that gives `member` ADMIN OPTION on `role` (what ALTER ROLE needs from PostgreSQL 16)
 * and takes nothing away. From 16 a GRANT on a membership that exists (same grantor) changes the
 * options it names and keeps the others: naming INHERIT FALSE, SET FALSE there would take away
 * the privileges `member` uses through `role` (reading its tables). So a member is granted
 * ADMIN OPTION alone; a new membership is made INHERIT FALSE, SET FALSE, no more than ALTER
 * ROLE needs.
 */
export function adminOptionGrant(role: string, member: string, isMember: boolean): string {
  const grant = `GRANT ${quoteIdent(role)} TO ${quoteIdent(member)} WITH ADMIN OPTION`;
  return isMember ? `${grant};` : `${grant}, INHERIT FALSE, SET FALSE;`;
}

/**
 * A publication's or subscription's owner other than steep's role, as `ALTER … OWNER TO` steep's
 * role asks of whoever runs it as that owner: from 16 the SET option on steep's role (a CREATEROLE
 * admin that created the role holds ADMIN OPTION on it, INHERIT FALSE and SET FALSE), before 16
 * any membership in it. `member`: it holds a membership in steep's role already (any options,
 * any grantor).
 */
export interface OwnerToRole {
  canSetRole: boolean;
  member: boolean;
}

/**
 * The GRANT that lets `member` SET ROLE to `role`, taking nothing away: from 16 a member is
 * granted SET alone (its other options stay), a new membership is made INHERIT FALSE, SET TRUE,
 * no more than SET ROLE needs; before 16 a plain GRANT (no options there), for a role that is
 * no member yet.
 */
export function setOptionGrant(
  role: string,
  member: string,
  isMember: boolean,
  serverVersion: number,
): string {
  const grant = `GRANT ${quoteIdent(role)} TO ${quoteIdent(member)}`;
  if (serverVersion < PG16) return `${grant};`;
  return isMember ? `${grant} WITH SET TRUE;` : `${grant} WITH INHERIT FALSE, SET TRUE;`;
}
