import type pg from 'pg';
import { THIS_DATABASE_OID } from '../model/sql.js';
import type { TableName } from '../model/topology.js';
import { PG15, PG16 } from '../model/versions.js';

/**
 * One subscription of the node the session is on, read inside a command's own (locked)
 * session rather than from a cluster snapshot: `init cancel` decides on what holds while it
 * holds apply's lock. PostgreSQL 14+.
 */

export interface SubscriptionOnNode {
  /** null: slot_name = NONE */
  slot: string | null;
  enabled: boolean;
  owner: string;
  /** the session's role has its owner's privileges (a superuser has every role's): it may drop it */
  mayDrop: boolean;
}

/**
 * The subscription on this node: its slot (null: slot_name = NONE), whether it is enabled, its
 * owner and whether the session may drop it; null when it does not exist.
 */
export async function readSubscriptionSlot(
  client: pg.Client,
  name: string,
): Promise<SubscriptionOnNode | null> {
  const { rows } = await client.query<SubscriptionOnNode>(
    `SELECT subslotname::text AS slot, subenabled AS enabled, subowner::regrole::text AS owner,
            pg_catalog.pg_has_role(current_user, subowner, 'USAGE') AS "mayDrop"
       FROM pg_catalog.pg_subscription
      WHERE subname = $1 AND subdbid = ${THIS_DATABASE_OID}`,
    [name],
  );
  return rows[0] ?? null;
}

/**
 * 15+: whether two_phase is in force on subscription `name` (pg_subscription.subtwophasestate
 * `e`: PostgreSQL then refuses a refresh that copies, `copy_data = true`); pending (`p`, its
 * initial copy still running) or off: false, as before 15 (no two_phase).
 */
export async function readTwoPhaseEnabled(
  client: pg.Client,
  version: number,
  name: string,
): Promise<boolean> {
  if (version < PG15) return false;
  const { rows } = await client.query<{ twoPhase: boolean }>(
    `SELECT subtwophasestate = 'e' AS "twoPhase" FROM pg_catalog.pg_subscription WHERE subname = $1 AND subdbid = ${THIS_DATABASE_OID}`,
    [name],
  );
  return rows[0]?.twoPhase === true;
}

/** The tables in the subscription's pg_subscription_rel, by name. */
export async function readSubscribedTables(client: pg.Client, name: string): Promise<TableName[]> {
  const { rows } = await client.query<TableName>(
    `SELECT n.nspname::text AS schema, c.relname::text AS name
       FROM pg_catalog.pg_subscription s
       JOIN pg_catalog.pg_subscription_rel sr ON sr.srsubid = s.oid
       JOIN pg_catalog.pg_class c ON c.oid = sr.srrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE s.subname = $1 AND s.subdbid = ${THIS_DATABASE_OID}
      ORDER BY 1, 2`,
    [name],
  );
  return rows;
}

/** The session's role, and those of `tables` it may not TRUNCATE (only their owner, or a GRANT TRUNCATE, may). */
export async function readTruncateDenied(
  client: pg.Client,
  tables: readonly TableName[],
): Promise<{ role: string; truncateDenied: TableName[] }> {
  const { rows } = await client.query<{ role: string; denied: string }>(
    `SELECT current_user::text AS role,
            coalesce((SELECT pg_catalog.json_agg(pg_catalog.json_build_object('schema', n.nspname, 'name', c.relname) ORDER BY n.nspname, c.relname)
                        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                       WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))
                         AND NOT pg_catalog.has_table_privilege(c.oid, 'TRUNCATE')), '[]')::text AS denied`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  return { role: rows[0]!.role, truncateDenied: JSON.parse(rows[0]!.denied) as TableName[] };
}

/**
 * 16+, run_as_owner off: the apply and table-sync workers switch to each table's owner, which the
 * subscription's owner must be able to SET ROLE to. The tables of subscription `name` whose owner
 * it may not, by owner (empty before 16, or when none): PostgreSQL's reason for a worker that
 * fails on them, which it writes only to the server log.
 */
export async function readSetRoleDenied(
  client: pg.Client,
  serverVersion: number,
  name: string,
): Promise<{ owner: string; denied: Record<string, string[]> }> {
  if (serverVersion < PG16) return { owner: '', denied: {} };
  const { rows } = await client.query<{ sub_owner: string; owner: string; tables: string[] }>(
    `SELECT s.subowner::regrole::text AS sub_owner, c.relowner::regrole::text AS owner,
            array_agg(pg_catalog.format('%I.%I', n.nspname, c.relname) ORDER BY n.nspname, c.relname)::text[] AS tables
       FROM pg_catalog.pg_subscription s
       JOIN pg_catalog.pg_subscription_rel sr ON sr.srsubid = s.oid
       JOIN pg_catalog.pg_class c ON c.oid = sr.srrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE s.subname = $1 AND s.subdbid = ${THIS_DATABASE_OID}
        AND NOT s.subrunasowner
        AND NOT pg_catalog.pg_has_role(s.subowner, c.relowner, 'SET')
      GROUP BY 1, 2 ORDER BY 2`,
    [name],
  );
  return {
    owner: rows[0]?.sub_owner ?? '',
    denied: Object.fromEntries(rows.map((r) => [r.owner, r.tables])),
  };
}

/**
 * 16+, run_as_owner on: the apply and table-sync workers act as the subscription's owner, whose
 * privileges on each table PostgreSQL checks. The tables of subscription `name` its owner lacks
 * some of `privileges` on (`schema.table` → those it lacks; none for a superuser owner), empty
 * before 16 or when none.
 */
export async function readPrivilegeDenied(
  client: pg.Client,
  serverVersion: number,
  name: string,
  privileges: readonly string[],
): Promise<{ owner: string; denied: Record<string, string[]> }> {
  if (serverVersion < PG16 || privileges.length === 0) return { owner: '', denied: {} };
  const { rows } = await client.query<{ sub_owner: string; table: string; lacks: string[] }>(
    `SELECT s.subowner::regrole::text AS sub_owner, pg_catalog.format('%I.%I', n.nspname, c.relname) AS "table",
            ARRAY(SELECT u.p FROM unnest($2::text[]) WITH ORDINALITY AS u(p, i)
                   WHERE NOT pg_catalog.has_table_privilege(s.subowner, c.oid, u.p) ORDER BY u.i)::text[] AS lacks
       FROM pg_catalog.pg_subscription s
       JOIN pg_catalog.pg_subscription_rel sr ON sr.srsubid = s.oid
       JOIN pg_catalog.pg_class c ON c.oid = sr.srrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE s.subname = $1 AND s.subdbid = ${THIS_DATABASE_OID} AND s.subrunasowner
      ORDER BY 2`,
    [name, privileges],
  );
  return {
    owner: rows[0]?.sub_owner ?? '',
    denied: Object.fromEntries(rows.filter((r) => r.lacks.length > 0).map((r) => [r.table, r.lacks])),
  };
}

/** The subscription's pg_subscription oid on this node (one dropped and created again has another); null when absent. */
export async function readSubscriptionOid(client: pg.Client, name: string): Promise<number | null> {
  const { rows } = await client.query<{ oid: string }>(
    `SELECT oid::text AS oid FROM pg_catalog.pg_subscription WHERE subname = $1 AND subdbid = ${THIS_DATABASE_OID}`,
    [name],
  );
  return rows[0] ? Number(rows[0].oid) : null;
}

/** Does a worker of the subscription (apply, table sync, parallel apply) run on this node? */
export async function readWorkerRunning(client: pg.Client, name: string): Promise<boolean> {
  const { rows } = await client.query<{ running: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_subscription w JOIN pg_catalog.pg_subscription s ON s.oid = w.subid
                     WHERE s.subname = $1 AND s.subdbid = ${THIS_DATABASE_OID} AND w.pid IS NOT NULL) AS running`,
    [name],
  );
  return rows[0]?.running === true;
}
