/**
 * Who may set `session_replication_role` on a node besides a superuser (PostgreSQL 15+:
 * `GRANT SET ON PARAMETER session_replication_role TO role`, recorded in `pg_parameter_acl`). A
 * session in `replica` mode fires no ordinary trigger, the switchover's data fence included.
 * Before 15 only a superuser may set it, and there is no such catalog.
 */
import type pg from 'pg';
import type { ReplicaModeGrant } from '../model/replicaModeGrant.js';
import { PG15 } from '../model/versions.js';

/**
 * Each grantee of SET on the parameter (`PUBLIC` for every role), whether it may grant it on,
 * and those of `roles` that hold it through it: the grantee itself or a role it is a member of
 * (any membership: one with INHERIT uses the privilege, one with SET may `SET ROLE` to the
 * grantee, set the parameter and `RESET ROLE`, and the setting stays).
 */
const REPLICA_MODE_GRANTS_SQL = `
SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE g.rolname::text END AS grantee,
       bool_or(a.is_grantable) AS grantable,
       coalesce(array_agg(DISTINCT r.rolname::text ORDER BY r.rolname::text) FILTER (WHERE r.rolname IS NOT NULL), '{}'::text[]) AS roles
  FROM pg_catalog.pg_parameter_acl p
 CROSS JOIN LATERAL pg_catalog.aclexplode(p.paracl) a
  LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
  LEFT JOIN pg_catalog.pg_roles r ON r.rolname = ANY($1::text[])
        AND (a.grantee = 0 OR pg_catalog.pg_has_role(r.oid, a.grantee, 'MEMBER'))
 WHERE p.parname = 'session_replication_role' AND a.privilege_type = 'SET'
 GROUP BY 1
 ORDER BY 1`;

/** Who holds SET on session_replication_role, and which of `roles` through each grant ([] before 15). */
export async function readReplicaModeGrants(
  client: pg.Client,
  version: number,
  roles: readonly string[],
): Promise<ReplicaModeGrant[]> {
  if (version < PG15) return [];
  const { rows } = await client.query<ReplicaModeGrant>(REPLICA_MODE_GRANTS_SQL, [roles]);
  return rows;
}
