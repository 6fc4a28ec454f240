import type pg from 'pg';
import { withSession } from '../db/connect.js';
import type { ForeignKeyEdge, LoadFacts } from '../model/loadOrder.js';
import { quoteTable } from '../model/sql.js';
import type { ConnectionSpec, TableName } from '../model/topology.js';
import { PG15 } from '../model/versions.js';
import { SET_SESSION_REPLICATION_ROLE } from './queries/role.js';
import { openCatalogSession, serverVersionOf } from './session.js';

/**
 * What steep's own copy needs to know of a subscriber before it loads `tables` there
 * (model/loadOrder.ts): may the session's role SET session_replication_role (a superuser; from
 * PostgreSQL 15 a role granted SET ON PARAMETER), the tables' foreign keys (a partition's copies
 * of its parent's left out: the parent's stands for them), and their user triggers that fire in
 * origin mode (`tgenabled = 'O'`; `A` fires in every mode, `R` and `D` not in origin mode).
 * PostgreSQL 14+. A table that does not exist there is left out.
 */
export async function readLoadFacts(client: pg.Client, tables: readonly TableName[]): Promise<LoadFacts> {
  const version = await serverVersionOf(client);
  const names = tables.map(quoteTable);
  // one after another: the copy's sessions are not pipelined
  const role = await client.query<{ role: string; superuser: boolean }>(
    `select current_user::text as role, r.rolsuper as superuser
       from pg_catalog.pg_roles r where r.rolname = current_user`,
  );
  const { role: name, superuser } = role.rows[0]!;
  // the rule the cluster read applies (queries/role.ts): a superuser, or from 15 SET ON PARAMETER
  const allowed =
    superuser ||
    (version >= PG15 &&
      (await client.query<{ ok: boolean }>(SET_SESSION_REPLICATION_ROLE.text)).rows[0]?.ok === true);
  const fks = await client.query<ForeignKeyEdge>(
    `select c.conname::text as name,
              pg_catalog.format('%s.%s', tn.nspname, t.relname) as table,
              pg_catalog.format('%s.%s', rn.nspname, r.relname) as references,
              c.condeferrable as deferrable
         from pg_catalog.pg_constraint c
         join pg_catalog.pg_class t on t.oid = c.conrelid
         join pg_catalog.pg_namespace tn on tn.oid = t.relnamespace
         join pg_catalog.pg_class r on r.oid = c.confrelid
         join pg_catalog.pg_namespace rn on rn.oid = r.relnamespace
        where c.contype = 'f' and c.conparentid = 0
          and c.conrelid in (select to_regclass(q) from unnest($1::text[]) q)
        order by 2, 3, 1`,
    [names],
  );
  const triggers = await client.query<{ trigger: string }>(
    `select pg_catalog.format('%s.%s: %s', n.nspname, c.relname, g.tgname) as trigger
         from pg_catalog.pg_trigger g
         join pg_catalog.pg_class c on c.oid = g.tgrelid
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where not g.tgisinternal and g.tgenabled = 'O'
          and g.tgrelid in (select to_regclass(q) from unnest($1::text[]) q)
        order by 1`,
    [names],
  );
  return {
    role: name,
    replicaAllowed: allowed,
    foreignKeys: fks.rows,
    originTriggers: triggers.rows.map((r) => r.trigger),
  };
}

/** The same, on a session of its own (the plan's read). */
export async function readLoadFactsAt(
  conn: ConnectionSpec,
  opts: { node: string; tables: readonly TableName[]; connectTimeoutMs?: number },
): Promise<LoadFacts> {
  return withSession(openCatalogSession(conn, opts), (client) => readLoadFacts(client, opts.tables));
}
