/**
 * What `steep switchover` reads (PostgreSQL 14+): the roles that write the subscribed tables on
 * the old primary, the slot's lag and confirmed position, the subscription's replication
 * origin on the new primary, the fenced roles' sessions, and whether the reverse direction's
 * objects already exist. The statements that change anything come from planner/switchover/switchover.ts.
 */
import type pg from 'pg';
import { quietly } from '../db/quietErrors.js';
import { type Inbound, inboundSubscriptionsSql } from '../model/inboundSubscriptions.js';
import { quoteIdent, quoteLiteral, THIS_DATABASE_OID } from '../model/sql.js';
import type { NewLogin, RoleFacts } from '../model/switchover.js';
import { PG16 } from '../model/versions.js';

/**
 * Login roles (and the roles named by `named`, login or not, and those with a
 * `default_transaction_read_only` of their own in this database: a fence an interrupted
 * switchover left is NOLOGIN) with whether each may write one of `tables` (quoted `schema.table`):
 * INSERT, UPDATE, DELETE or TRUNCATE held by a role it may become, `writers` — itself (its own
 * grants, ownership, PUBLIC's, what it inherits: has_table_privilege), or any role it may SET ROLE
 * to (from 16 a membership WITH SET, even INHERIT FALSE; before 16 every membership), predefined
 * roles such as pg_write_all_data included — and
 * its `default_transaction_read_only` for this database, and whether steep's role may ALTER it
 * (a superuser; CREATEROLE on a non-superuser before 16; from 16 CREATEROLE and ADMIN OPTION on it),
 * and whether steep's role is a member of it already (the GRANT that adds ADMIN OPTION then names no other option),
 * and whether steep's role may end its sessions (pg_terminate_backend: a superuser, one that has
 * the role's privileges — a member with INHERIT — or pg_signal_backend's, on a role that is no superuser).
 */
const ROLES_SQL = `
WITH writers AS (
  SELECT w.oid FROM pg_catalog.pg_roles w
   WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS t(name)
                  WHERE pg_catalog.to_regclass(t.name) IS NOT NULL
                    AND pg_catalog.has_table_privilege(w.oid, pg_catalog.to_regclass(t.name), 'INSERT, UPDATE, DELETE, TRUNCATE')))
SELECT name, login, superuser, replication, writes, "databaseSetting", alterable, "steepMember", "steepCanSignal" FROM (
SELECT r.rolname AS name, r.rolcanlogin AS login, r.rolsuper AS superuser, r.rolreplication AS replication,
       (me.rolsuper OR (me.rolcreaterole AND NOT r.rolsuper
          AND (current_setting('server_version_num')::int < ${PG16}
               OR pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION')))) AS alterable,
       EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m WHERE m.roleid = r.oid AND m.member = me.oid) AS "steepMember",
       (me.rolsuper OR (NOT r.rolsuper AND (pg_catalog.pg_has_role(current_user, r.oid, 'USAGE')
          OR pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE')))) AS "steepCanSignal",
       EXISTS (SELECT 1 FROM writers w
                WHERE pg_catalog.pg_has_role(r.oid, w.oid,
                        CASE WHEN current_setting('server_version_num')::int < ${PG16} THEN 'MEMBER' ELSE 'SET' END)) AS writes,
       (SELECT substr(c, length('default_transaction_read_only=') + 1)
          FROM pg_catalog.pg_db_role_setting s, unnest(s.setconfig) AS c
         WHERE s.setrole = r.oid
           AND s.setdatabase = ${THIS_DATABASE_OID}
           AND c LIKE 'default_transaction_read_only=%') AS "databaseSetting"
  FROM pg_catalog.pg_roles r, pg_catalog.pg_roles me
 WHERE r.rolname !~ '^pg_' AND me.rolname = current_user) AS roles
 WHERE login OR name = ANY($2::text[]) OR "databaseSetting" IS NOT NULL
 ORDER BY 1`;

export async function readRoleFacts(
  client: pg.Client,
  quotedTables: readonly string[],
  named: readonly string[],
): Promise<RoleFacts[]> {
  const { rows } = await client.query<RoleFacts>(ROLES_SQL, [quotedTables, named]);
  return rows;
}

export interface FencePrivileges {
  database: string;
  role: string;
  /** may ALTER ROLE other roles: superuser or CREATEROLE */
  canFence: boolean;
  /** may run pg_logical_emit_message (the fence's LSN): revoked from PUBLIC nowhere by default, but a DBA may */
  canEmit: boolean;
  /** may create a subscription: superuser, or pg_create_subscription (16+) */
  canSubscribe: boolean;
}

export async function readFencePrivileges(client: pg.Client): Promise<FencePrivileges> {
  const { rows } = await client.query<FencePrivileges>(
    `SELECT current_database() AS database, current_user AS role,
            (r.rolsuper OR r.rolcreaterole) AS "canFence",
            coalesce(pg_catalog.has_function_privilege(coalesce(
              pg_catalog.to_regprocedure('pg_catalog.pg_logical_emit_message(boolean,text,text,boolean)'),
              pg_catalog.to_regprocedure('pg_catalog.pg_logical_emit_message(boolean,text,text)')), 'EXECUTE'), false) AS "canEmit",
            (r.rolsuper OR (current_setting('server_version_num')::int >= ${PG16}
               AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname = 'pg_create_subscription')
               AND pg_catalog.pg_has_role(current_user, 'pg_create_subscription', 'MEMBER'))) AS "canSubscribe"
       FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`,
  );
  return rows[0]!;
}

export interface SlotPosition {
  active: boolean;
  confirmed: string | null;
  /** bytes of WAL inserted since the confirmed position (asynchronous commits not yet written included) */
  lagBytes: number | null;
}

/** The slot on the publisher: active, its confirmed position and the lag behind the WAL now; null when absent. */
export async function readSlotPosition(client: pg.Client, slot: string): Promise<SlotPosition | null> {
  const { rows } = await client.query<{ active: boolean; confirmed: string | null; lag: string | null }>(
    `SELECT active, confirmed_flush_lsn::text AS confirmed,
            (pg_catalog.pg_current_wal_insert_lsn() - confirmed_flush_lsn)::bigint::text AS lag
       FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const r = rows[0];
  if (!r) return null;
  return { active: r.active, confirmed: r.confirmed, lagBytes: r.lag === null ? null : Number(r.lag) };
}

/** The SQL that reads a subscription's replication origin progress (shown by the dry run). */
export const ORIGIN_PROGRESS_SQL = `SELECT pg_catalog.pg_replication_origin_progress('pg_' || s.oid, true)::text AS lsn
  FROM pg_catalog.pg_subscription s
 WHERE s.subname = $1 AND s.subdbid = ${THIS_DATABASE_OID}`;

/**
 * Where the subscription's replication origin stands: the end of the last transaction it applied
 * (null: none yet, or the role may not execute pg_replication_origin_progress, as a managed one:
 * the drain is then proven by the slot's confirmed position, model/switchover.ts drainProven).
 */
export async function readOriginProgress(client: pg.Client, subscription: string): Promise<string | null> {
  // PostgreSQL checks EXECUTE when it plans the call, whatever CASE surrounds it
  const { rows: may } = await client.query<{ ok: boolean }>(
    `SELECT pg_catalog.has_function_privilege('pg_catalog.pg_replication_origin_progress(text, boolean)', 'EXECUTE') AS ok`,
  );
  if (may[0]?.ok !== true) return null;
  const { rows } = await client.query<{ lsn: string | null }>(ORIGIN_PROGRESS_SQL, [subscription]);
  return rows[0]?.lsn ?? null;
}

/** Sessions of `roles` in this database that started by `since` (not counting this one). */
export async function countRoleSessions(
  client: pg.Client,
  roles: readonly string[],
  since: string,
): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity
      WHERE datname = current_database() AND usename = ANY($1::text[]) AND backend_start <= $2::timestamptz
        AND pid <> pg_catalog.pg_backend_pid()`,
    [roles, since],
  );
  return rows[0]!.n;
}

/** The server's clock now (the time a fence took effect), as text. */
export async function serverNow(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ now: string }>('SELECT now()::text AS now');
  return rows[0]!.now;
}

/**
 * Whether a publication of this name exists in this database, and the slot of this name on the
 * server (slots are the server's, not a database's): the database it belongs to, whether this is
 * it, and the application_name of the session streaming from it (null: nobody does).
 */
export async function readPublicationAndSlot(
  client: pg.Client,
  name: string,
  slotName: string = name,
): Promise<{
  publication: boolean;
  /** the publication's comment (null: none, or no publication) */
  publicationComment: string | null;
  slot: { database: string | null; here: boolean; streamedBy: string | null; active: boolean } | null;
}> {
  const { rows } = await client.query<{ comment: string | null }>(
    "SELECT pg_catalog.obj_description(oid, 'pg_publication') AS comment FROM pg_catalog.pg_publication WHERE pubname = $1",
    [name],
  );
  const { rows: slots } = await client.query<{
    database: string | null;
    here: boolean;
    streamedBy: string | null;
    active: boolean;
  }>(
    `SELECT s.database::text AS database, s.database IS NOT DISTINCT FROM current_database() AS here,
            s.active, a.application_name AS "streamedBy"
       FROM pg_catalog.pg_replication_slots s LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = s.active_pid
      WHERE s.slot_name = $1`,
    [slotName],
  );
  return {
    publication: rows.length > 0,
    publicationComment: rows[0]?.comment ?? null,
    slot: slots[0] ?? null,
  };
}

/** The subscription of this name in this database, with its comment (in pg_description: catalog/queries/subscriptions.ts); null when there is none. */
export async function readSubscriptionComment(
  client: pg.Client,
  name: string,
): Promise<{ comment: string | null } | null> {
  const { rows } = await client.query<{ comment: string | null }>(
    `SELECT pg_catalog.obj_description(s.oid, 'pg_subscription') AS comment FROM pg_catalog.pg_subscription s
      WHERE s.subname = $1 AND s.subdbid = ${THIS_DATABASE_OID}`,
    [name],
  );
  return rows[0] ?? null;
}

/**
 * Whether this node can subscribe to a publisher with `conninfo` (masked; `fill` puts the
 * password in): CREATE SUBSCRIPTION `name` with connect = true (which opens the replication
 * connection, as the real one would) but no slot, in a transaction rolled back, so nothing is
 * left; the publications need not exist yet (PostgreSQL only warns). null when it connected;
 * else PostgreSQL's message and SQLSTATE (class 08: the connection itself). The statement
 * carries the password: it runs with log_min_error_statement at panic where the role may set it
 * (plan warns where it may not). `lockTimeoutMs`: how long it may wait for a lock.
 */
export async function probeSubscription(
  client: pg.Client,
  name: string,
  conninfo: string,
  fill: (sql: string) => string,
  publications: readonly string[] = [name],
  lockTimeoutMs?: number,
): Promise<{ message: string; code: string } | null> {
  const create = `CREATE SUBSCRIPTION ${quoteIdent(name)} CONNECTION ${quoteLiteral(conninfo)} PUBLICATION ${publications.map(quoteIdent).join(', ')}
    WITH (connect = true, enabled = false, create_slot = false, slot_name = NONE, copy_data = false)`;
  return quietly(client, async () => {
    await client.query('BEGIN');
    try {
      if (lockTimeoutMs !== undefined)
        await client.query(`select pg_catalog.set_config('lock_timeout', $1, true)`, [`${lockTimeoutMs}ms`]);
      await client.query(fill(create));
      return null;
    } catch (err) {
      // libpq's hint comes on a line of its own
      const message = (err as Error).message.replace(/\s+/g, ' ').trim();
      return { message, code: (err as { code?: string }).code ?? '' };
    } finally {
      await client.query('ROLLBACK');
    }
  });
}

/** The WAL position flushed now: a walsender can send up to it. */
export async function readFlushLsn(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ lsn: string }>(
    'SELECT pg_catalog.pg_current_wal_flush_lsn()::text AS lsn',
  );
  return rows[0]!.lsn;
}

/**
 * Hash up to `rows` rows of `table` (quoted), each row as text, and return how many: timed by
 * the caller, the pace of a verify scan on this server and this row width.
 */
export async function hashSample(client: pg.Client, quotedTable: string, rows: number): Promise<number> {
  const { rows: r } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n, bit_xor(pg_catalog.hashtextextended(t::text, 0)) AS x FROM (SELECT * FROM ${quotedTable} LIMIT ${Math.floor(rows)}) t`,
  );
  return r[0]?.n ?? 0;
}

/**
 * The tables `$1` (quoted names; those that do not exist left out), the partitioned tables above
 * them and the partitions below them (a root published via root: a write straight into one of
 * its partitions fires no trigger of the root), as `c` in `n`.
 */
const FENCED_RELATIONS = `FROM (SELECT pg_catalog.to_regclass(name) AS rel FROM unnest($1::text[]) AS t(name)) AS t,
            LATERAL (SELECT t.rel UNION SELECT relid FROM pg_catalog.pg_partition_ancestors(t.rel)
                     UNION SELECT relid FROM pg_catalog.pg_partition_tree(t.rel)) AS a(relid)
            JOIN pg_catalog.pg_class c ON c.oid = a.relid
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`;

export interface FenceScope {
  /** each published table, the partitioned tables above it (a write through them fires theirs) and its partitions */
  tables: Array<{ table: string; trigger: boolean }>;
  /** steep's state schema exists on the node, and steep's role may create the fence's function in it */
  schemaExists: boolean;
  schemaCreate: boolean;
}

/**
 * The data fence's scope on a node: `tables` (quoted `schema.table`), their partition ancestors
 * and their partitions, each with whether steep's role holds TRIGGER on it (its own, an owner's
 * it inherits, PUBLIC's), and whether it may create a function in the state schema.
 */
export async function readFenceScope(
  client: pg.Client,
  quotedTables: readonly string[],
  stateSchema: string,
): Promise<FenceScope> {
  const { rows } = await client.query<{ table: string; trigger: boolean }>(
    `SELECT DISTINCT pg_catalog.format('%I.%I', n.nspname, c.relname) AS table,
            pg_catalog.has_table_privilege(c.oid, 'TRIGGER') AS trigger
${FENCED_RELATIONS}
      WHERE t.rel IS NOT NULL
      ORDER BY 1`,
    [quotedTables],
  );
  const { rows: schema } = await client.query<{ exists: boolean; create: boolean }>(
    `SELECT true AS exists, pg_catalog.has_schema_privilege(oid, 'CREATE') AS create
       FROM pg_catalog.pg_namespace WHERE nspname = $1`,
    [stateSchema],
  );
  return { tables: rows, schemaExists: schema[0]?.exists === true, schemaCreate: schema[0]?.create === true };
}

/**
 * Of `quotedTables` (and the partitioned tables above and below them), those carrying the trigger
 * `trigger`: the data fence a rollback put on the node that is now to become primary again.
 */
export async function readFencedTables(
  client: pg.Client,
  quotedTables: readonly string[],
  trigger: string,
): Promise<string[]> {
  const { rows } = await client.query<{ table: string }>(
    `SELECT DISTINCT pg_catalog.format('%I.%I', n.nspname, c.relname) AS table
${FENCED_RELATIONS}
            JOIN pg_catalog.pg_trigger g ON g.tgrelid = c.oid AND g.tgname = $2
      WHERE t.rel IS NOT NULL
      ORDER BY 1`,
    [quotedTables, trigger],
  );
  return rows.map((r) => r.table);
}

/** A prepared transaction in this database: its COMMIT PREPARED runs no trigger and needs no login. */
export interface PreparedXact {
  gid: string;
  owner: string;
  prepared: string;
}

export async function readPreparedXacts(client: pg.Client): Promise<PreparedXact[]> {
  const { rows } = await client.query<PreparedXact>(
    `SELECT gid, owner, prepared::text AS prepared FROM pg_catalog.pg_prepared_xacts
      WHERE database = current_database() ORDER BY prepared, gid`,
  );
  return rows;
}

/**
 * The enabled subscriptions of this database that write into one of `tables` (quoted), or fire
 * a trigger as they apply, but `except` (steep's own way back): their apply workers fire no
 * ordinary trigger.
 */
export async function readInboundSubscriptions(
  client: pg.Client,
  quotedTables: readonly string[],
  except: string | null,
): Promise<Inbound[]> {
  const { rows } = await client.query<Inbound>(inboundSubscriptionsSql('$1::text[]', '$2'), [
    quotedTables,
    except,
  ]);
  return rows;
}

/** What a node has left of what the switchover creates there (each a count, null: not readable). */
export interface Capacity {
  /** replication slots free (max_replication_slots less those that exist) */
  slots: number;
  /** replication origins that may still be tracked (18: max_active_replication_origins; before, max_replication_slots) */
  origins: number;
  /** logical replication workers free (max_logical_replication_workers less those running) */
  workers: number;
  /** walsenders free (max_wal_senders less those running) */
  walsenders: number;
}

export async function readCapacity(client: pg.Client): Promise<Capacity> {
  const { rows } = await client.query<Capacity>(
    `SELECT (current_setting('max_replication_slots')::int
              - (SELECT count(*) FROM pg_catalog.pg_replication_slots))::int AS slots,
            (coalesce(current_setting('max_active_replication_origins', true), current_setting('max_replication_slots'))::int
              - (SELECT count(*) FROM pg_catalog.pg_replication_origin))::int AS origins,
            (current_setting('max_logical_replication_workers')::int
              - (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type IN
                  ('logical replication worker', 'logical replication apply worker',
                   'logical replication tablesync worker', 'logical replication parallel worker')))::int AS workers,
            (current_setting('max_wal_senders')::int
              - (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walsender'))::int AS walsenders`,
  );
  return rows[0]!;
}

/** Whether each of `roles` can log in to this database: it exists, LOGIN, and CONNECT on the database. */
export async function readLogins(client: pg.Client, roles: readonly string[]): Promise<NewLogin[]> {
  const { rows } = await client.query<NewLogin>(
    `SELECT t.name, r.oid IS NOT NULL AS exists, coalesce(r.rolcanlogin, false) AS login,
            coalesce(pg_catalog.has_database_privilege(r.oid, current_database(), 'CONNECT'), false) AS connect,
            EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s, unnest(s.setconfig) AS c
                     WHERE s.setrole = r.oid AND s.setdatabase = ${THIS_DATABASE_OID}
                       AND c = 'default_transaction_read_only=on') AS "readOnly"
       FROM unnest($1::text[]) AS t(name) LEFT JOIN pg_catalog.pg_roles r ON r.rolname = t.name
      ORDER BY 1`,
    [roles],
  );
  return rows;
}

/** The subscription's origin setting (16+: `none` or `any`); null before 16 or when absent. */
export async function readSubscriptionOrigin(
  client: pg.Client,
  subscription: string,
): Promise<string | null> {
  const { rows: v } = await client.query<{ v: number }>(
    "SELECT current_setting('server_version_num')::int AS v",
  );
  if (v[0]!.v < PG16) return null;
  // suborigin is among the columns PUBLIC may read (subconninfo is not)
  const { rows } = await client.query<{ origin: string | null }>(
    `SELECT s.suborigin AS origin FROM pg_catalog.pg_subscription s
      WHERE s.subname = $1 AND s.subdbid = ${THIS_DATABASE_OID}`,
    [subscription],
  );
  return rows[0]?.origin ?? null;
}
