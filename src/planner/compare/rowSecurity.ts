import { quoteIdent } from '../../model/sql.js';
import { qualifiedName, type TableName } from '../../model/topology.js';
import type { RowSecurity } from '../../model/verify.js';

/**
 * Whether a comparison reads every row of a table with row-level security (docs/repair.md). A
 * query sees only the rows a policy lets its role see — none at all without a policy — unless the
 * role is a superuser, has BYPASSRLS, or holds the table's owner's privileges on a table whose row
 * security is not forced. The apply workers read past policies (they run as the subscription's
 * owner, or as a table's owner); a comparison that does not would call rows a policy hides equal
 * on both sides, or missing on one. So such a table is not compared: never what a policy shows.
 */

/** The role reads every row of the table: none to hide (null), superuser, BYPASSRLS, or its owner when not forced. */
export function readsEveryRow(rs: RowSecurity | null): boolean {
  return rs === null || rs.superuser || rs.bypassRls || (rs.asOwner && !rs.forced);
}

/**
 * Why the table is not compared on `node` (one sentence naming its policies and what lets the
 * role see every row), or null when the role reads every row there.
 */
export function rowSecurityRefusal(table: TableName, node: string, rs: RowSecurity | null): string | null {
  if (rs === null || readsEveryRow(rs)) return null;
  const n = rs.policies.length;
  const policies =
    n === 0
      ? `no policy, so PostgreSQL shows ${rs.role} none of its rows`
      : `${n === 1 ? 'policy' : 'policies'} ${rs.policies.join(', ')}`;
  const what = rs.forced
    ? `row-level security forced (on its owner ${rs.owner} too)`
    : `row-level security that ${rs.role}, neither its owner ${rs.owner} nor a role inheriting its privileges, does not bypass`;
  const owner = rs.forced
    ? ''
    : `, or have steep connect to ${node} as ${rs.owner} or a role inheriting its privileges`;
  return (
    `${qualifiedName(table)} has ${what} on ${node} (${policies}): ${rs.role} reads only the rows a policy lets it see, ` +
    `and a comparison reads every row or none, so it is not compared; give ${rs.role} BYPASSRLS there ` +
    `(ALTER ROLE ${quoteIdent(rs.role)} BYPASSRLS; run by a superuser, or from PostgreSQL 16 by a CREATEROLE role that has BYPASSRLS itself)${owner}`
  );
}
