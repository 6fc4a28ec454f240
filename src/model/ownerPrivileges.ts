import { quoteIdent } from './sql.js';
import { PUBLISH_OPERATIONS, type PublishOperation } from './topology.js';

/**
 * What a subscription's workers need of its owner when they act as that owner (runAsOwner true,
 * PostgreSQL 16+; a superuser owner has every privilege): PostgreSQL checks the privilege of each
 * change it applies, INSERT, UPDATE, DELETE, TRUNCATE, and SELECT to find the row an UPDATE or
 * DELETE changes (033_run_as_table_owner.pl). A failing worker's error, "permission denied for
 * table …", is only in the subscriber's server log: status names what the owner lacks instead.
 */

/** The table privileges applying `publish`'s changes takes, in GRANT's order. */
export function applyPrivileges(publish: readonly PublishOperation[]): string[] {
  const out: string[] = [];
  if (publish.includes('update') || publish.includes('delete')) out.push('SELECT');
  for (const op of PUBLISH_OPERATIONS) if (publish.includes(op)) out.push(op.toUpperCase());
  return out;
}

/**
 * The tables the owner of `subscription` lacks privileges on (`schema.table` → the privileges),
 * as sentences with the GRANT that gives them, one per set of privileges lacked.
 */
export function privilegeDeniedText(
  subscription: string,
  node: string,
  d: { owner: string; denied: Record<string, string[]> },
): string[] {
  const bySet = new Map<string, string[]>();
  for (const [table, lacks] of Object.entries(d.denied))
    bySet.set(lacks.join(', '), [...(bySet.get(lacks.join(', ')) ?? []), table]);
  return [...bySet].map(
    ([lacks, tables]) =>
      `role ${d.owner}, the owner of subscription ${subscription}, lacks ${lacks} on ${tables.join(', ')}, ` +
      `and its workers apply as that owner (runAsOwner true): run GRANT ${lacks} ON ${tables.join(', ')} TO ${quoteIdent(d.owner)}; on ${node}, ` +
      `or set runAsOwner: false (its workers then apply as each table's owner, which ${d.owner} must be able to SET ROLE to)`,
  );
}
