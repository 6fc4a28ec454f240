/**
 * The writers the switchover's data fence cannot stop because they may set
 * `session_replication_role = replica` (PostgreSQL 15+: SET granted on the parameter), in which a
 * session fires no ordinary trigger: refused by name before anything is fenced. Taking the grant
 * back takes a privilege away, so it is named as the DBA's call, with the GRANT that gives it back.
 */
import { regrantReplicaMode, revokeReplicaMode } from '../../model/replicaModeGrant.js';
import type { SwitchoverFacts } from '../../model/switchover.js';

/**
 * Each grant through which a role that may write the subscribed tables — one the fence makes
 * read-only (`fenced`), or any other the data fence alone stops — may set the parameter;
 * superusers (refused or left alone by the role fence) and steep's own role (which the fence lets
 * through) are not asked about.
 */
export function replicaModeProblems(
  facts: Pick<SwitchoverFacts, 'oldNode' | 'roles' | 'steepRole' | 'replicaModeGrants'>,
  fenced: readonly string[],
): string[] {
  const old = facts.oldNode;
  const writers = new Set(
    facts.roles
      .filter((r) => (fenced.includes(r.name) || r.writes) && !r.superuser && r.name !== facts.steepRole)
      .map((r) => r.name),
  );
  return (facts.replicaModeGrants ?? []).flatMap((g) => {
    const held = g.roles.filter((r) => writers.has(r));
    if (held.length === 0) return [];
    const members = held.filter((r) => r !== g.grantee);
    const through =
      g.grantee === 'PUBLIC' || members.length === 0
        ? `granted to ${g.grantee}`
        : `granted to ${g.grantee}, of which ${members.join(', ')} ${members.length === 1 ? 'is a member' : 'are members'}`;
    return [
      `${held.length === 1 ? 'role' : 'roles'} ${held.join(', ')} on ${old} may write the subscribed tables and set session_replication_role = replica ` +
        `(SET on parameter session_replication_role is ${through}): a session in replica mode fires no ordinary trigger, ` +
        `so the data fence cannot stop its writes after the fence. Taking the grant back for the switchover is yours to decide: ` +
        `${revokeReplicaMode(g)}; on ${old}, and ${regrantReplicaMode(g)}; there after the release; then run again`,
    ];
  });
}
