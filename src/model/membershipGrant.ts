import { quoteIdent } from './sql.js';

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
