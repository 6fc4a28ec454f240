import type pg from 'pg';
import { THIS_DATABASE_OID } from '../model/sql.js';
import type { SubscriptionSpec, TableName, Topology } from '../model/topology.js';
import { fedUpstream, type PublishedScope, type TableShape } from '../model/verify.js';
import { PG15 } from '../model/versions.js';

/**
 * What a data comparison (docs/repair.md and docs/steep-yaml.md's merge) compares, read from the catalogs: a live
 * subscription and its publications' tables (row filters, column lists), each table's columns
 * and key, the tables of a schema, and the WAL positions a re-check waits on. The row hashes
 * themselves are rowHashes.ts.
 */

export interface SubscriptionInfo {
  publications: string[];
  slot: string | null;
  enabled: boolean;
  /** `schema.table` → pg_subscription_rel state */
  tables: Map<string, string>;
  /** `schema.table` → the other subscriptions of this database that apply into it too (only tables that have some) */
  alsoFedBy: Map<string, string[]>;
}

/** The live subscription on the subscriber: its publications, slot and tables; null when absent. */
export async function readSubscriptionInfo(
  client: pg.Client,
  name: string,
): Promise<SubscriptionInfo | null> {
  const { rows } = await client.query<{
    publications: string[];
    slot: string | null;
    enabled: boolean;
    tables: Array<{ s: string; n: string; st: string; o: string[] | null }> | null;
  }>(
    `SELECT s.subpublications::text[] AS publications, s.subslotname::text AS slot, s.subenabled AS enabled,
            (SELECT json_agg(json_build_object('s', n.nspname, 'n', c.relname, 'st', sr.srsubstate::text,
                    'o', (SELECT array_agg(o.subname::text ORDER BY o.subname)
                            FROM pg_catalog.pg_subscription_rel osr JOIN pg_catalog.pg_subscription o ON o.oid = osr.srsubid
                           WHERE osr.srrelid = sr.srrelid AND o.oid <> s.oid)))
               FROM pg_catalog.pg_subscription_rel sr
               JOIN pg_catalog.pg_class c ON c.oid = sr.srrelid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE sr.srsubid = s.oid) AS tables
       FROM pg_catalog.pg_subscription s
      WHERE s.subname = $1 AND s.subdbid = ${THIS_DATABASE_OID}`,
    [name],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    publications: r.publications,
    slot: r.slot,
    enabled: r.enabled,
    tables: new Map((r.tables ?? []).map((t) => [`${t.s}.${t.n}`, t.st])),
    alsoFedBy: new Map((r.tables ?? []).filter((t) => t.o !== null).map((t) => [`${t.s}.${t.n}`, t.o!])),
  };
}

/**
 * On `d`'s publisher (`pub`), the tables it also receives from a node other than `d`'s subscriber,
 * with `origin = none` (model/verify.ts, fedUpstream): its subscriptions of this database and
 * their tables, each from the node steep.yaml declares it from (null for one it does not declare).
 */
export async function readFedUpstream(
  pub: pg.Client,
  topology: Topology,
  d: SubscriptionSpec,
): Promise<Map<string, string[]>> {
  if (d.options.origin !== 'none') return new Map();
  const { rows } = await pub.query<{ name: string; tables: string[] }>(
    `SELECT s.subname::text AS name, array_agg(n.nspname || '.' || c.relname ORDER BY 1) AS tables
       FROM pg_catalog.pg_subscription_rel sr
       JOIN pg_catalog.pg_subscription s ON s.oid = sr.srsubid AND s.subdbid = ${THIS_DATABASE_OID}
       JOIN pg_catalog.pg_class c ON c.oid = sr.srrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      GROUP BY 1`,
  );
  const declaredFrom = (name: string) => {
    const s = topology.subscriptions[name];
    return s?.node === d.from ? s.from : null;
  };
  return fedUpstream(
    d,
    rows.map((r) => ({ ...r, from: declaredFrom(r.name) })),
  );
}

/**
 * The actions (insert, update, delete, truncate) none of the publications publishes for the table of `p`,
 * in that order (null when each is published): what PostgreSQL never sends to the subscriber.
 */
const NOT_REPLICATED = `(SELECT array_agg(x.a ORDER BY x.n) FROM unnest(ARRAY['insert', 'update', 'delete', 'truncate']) WITH ORDINALITY AS x(a, n)
                  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables q JOIN pg_catalog.pg_publication pp ON pp.pubname = q.pubname
                                     WHERE q.pubname = ANY($1) AND q.schemaname = p.schemaname AND q.tablename = p.tablename
                                       AND CASE x.a WHEN 'insert' THEN pp.pubinsert WHEN 'update' THEN pp.pubupdate WHEN 'delete' THEN pp.pubdelete ELSE pp.pubtruncate END))::text[] AS "notReplicated"`;

/**
 * The partition ancestors of the relation `schema`.`table` (SQL expressions), nearest first, as a
 * text[] of `schema.table`; NULL for a relation that is no partition.
 */
export function partitionAncestorsSql(schema: string, table: string): string {
  return `(SELECT array_agg(an.nspname || '.' || ac.relname ORDER BY a.n)
             FROM pg_catalog.pg_partition_ancestors((SELECT c.oid FROM pg_catalog.pg_class c
                    JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
                   WHERE cn.nspname = ${schema} AND c.relname = ${table})) WITH ORDINALITY AS a(relid, n)
             JOIN pg_catalog.pg_class ac ON ac.oid = a.relid
             JOIN pg_catalog.pg_namespace an ON an.oid = ac.relnamespace
            WHERE a.n > 1)::text[]`;
}

const SCOPE_PUBLICATIONS = `array_agg(DISTINCT p.pubname::text ORDER BY p.pubname::text) AS publications,
                ${partitionAncestorsSql('p.schemaname', 'p.tablename')} AS ancestors`;

/**
 * The tables the publications publish, with their row filter and column list (15+). A table in
 * several publications: its rows pass when any filter passes (PostgreSQL ORs them), and none
 * applies when one publication has no filter. steep's state schema (`stateSchema`), which an
 * `allTables` or `schemas` publication publishes too, is left out: its rows are each node's own
 * (docs/state-schema.md), never compared, copied or fenced as the application's. Each with the
 * publications that publish it and, for a partition, its partition ancestors.
 */
export async function readPublishedScope(
  client: pg.Client,
  version: number,
  publications: string[],
  stateSchema: string,
): Promise<PublishedScope[]> {
  const { rows } = await client.query<PublishedScope>(
    version >= PG15
      ? `SELECT json_build_object('schema', schemaname::text, 'name', tablename::text) AS "table",
                (SELECT array_agg(DISTINCT a) FROM pg_catalog.pg_publication_tables q, unnest(q.attnames) a
                  WHERE q.pubname = ANY($1) AND q.schemaname = p.schemaname AND q.tablename = p.tablename)::text[] AS columns,
                CASE WHEN NOT bool_or(rowfilter IS NULL) THEN string_agg('(' || rowfilter || ')', ' OR ' ORDER BY pubname) END AS filter,
                ${NOT_REPLICATED}, ${SCOPE_PUBLICATIONS}
           FROM pg_catalog.pg_publication_tables p WHERE pubname = ANY($1) AND schemaname <> $2
          GROUP BY p.schemaname, p.tablename ORDER BY p.schemaname::text, p.tablename::text`
      : `SELECT json_build_object('schema', schemaname::text, 'name', tablename::text) AS "table",
                NULL::text[] AS columns, NULL::text AS filter, ${NOT_REPLICATED}, ${SCOPE_PUBLICATIONS}
           FROM pg_catalog.pg_publication_tables p WHERE pubname = ANY($1) AND schemaname <> $2
          GROUP BY p.schemaname, p.tablename ORDER BY p.schemaname::text, p.tablename::text`,
    [publications, stateSchema],
  );
  return rows;
}

/**
 * The shapes of `tables` on a node; a table absent there is absent from the result. A
 * partitioned table's estimated rows are its leaves' (autovacuum analyses them, never the root,
 * whose reltuples stays unknown until an ANALYZE names it). A table with row-level security
 * enabled carries what decides whether the connected role reads past its policies: PostgreSQL
 * applies the policies of the table a query names (a partitioned root's, not its partitions'),
 * skipped for a superuser, a BYPASSRLS role, and one holding the owner's privileges
 * (pg_has_role … USAGE) unless FORCE ROW LEVEL SECURITY.
 */
export async function readTableShapes(
  client: pg.Client,
  tables: TableName[],
): Promise<Map<string, TableShape>> {
  const { rows } = await client.query<TableShape>(
    `SELECT json_build_object('schema', n.nspname::text, 'name', c.relname::text) AS "table",
            coalesce((SELECT json_agg(json_build_object('name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
                                               'collatable', a.attcollation <> 0, 'integer', a.atttypid IN (20, 21, 23),
                                               'generated', a.attgenerated <> '') ORDER BY a.attnum)
               FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns,
            (SELECT json_build_object('source', CASE WHEN i.indisprimary THEN 'primary key' ELSE 'replica identity index ' || ic.relname END,
                                      'columns', (SELECT json_agg(a.attname ORDER BY k.ord)
                                                    FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                                                    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum))
               FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
              WHERE i.indrelid = c.oid AND (i.indisprimary OR (i.indisreplident AND c.relreplident = 'i'))
              ORDER BY i.indisprimary DESC LIMIT 1) AS key,
            CASE WHEN c.relkind = 'p'
                 THEN (SELECT coalesce(sum(greatest(l.reltuples::float8, 0)), 0)
                         FROM pg_catalog.pg_partition_tree(c.oid) pt JOIN pg_catalog.pg_class l ON l.oid = pt.relid
                        WHERE pt.isleaf)
                 ELSE greatest(c.reltuples::float8, 0) END AS "estimatedRows",
            c.relkind = 'p' AS partitioned,
            CASE WHEN c.relrowsecurity
                 THEN json_build_object('forced', c.relforcerowsecurity, 'owner', pg_catalog.pg_get_userbyid(c.relowner),
                        'policies', coalesce((SELECT json_agg(p.polname::text ORDER BY p.polname::text COLLATE "C")
                                                FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid), '[]'),
                        'role', current_user::text, 'superuser', me.rolsuper, 'bypassRls', me.rolbypassrls,
                        'asOwner', pg_catalog.pg_has_role(c.relowner, 'USAGE')) END AS "rowSecurity"
       FROM unnest($1::text[], $2::text[]) AS t(s, r)
       JOIN pg_catalog.pg_roles me ON me.rolname = current_user
       JOIN pg_catalog.pg_namespace n ON n.nspname = t.s
       JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.r AND c.relkind IN ('r', 'p')`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  return new Map(rows.map((r) => [`${r.table.schema}.${r.table.name}`, r]));
}

/** Has the subscriber confirmed (applied and flushed) everything up to `lsn`? null: the slot is gone. */
export async function slotConfirmedPast(
  client: pg.Client,
  slot: string,
  lsn: string,
): Promise<boolean | null> {
  const { rows } = await client.query<{ ok: boolean | null }>(
    'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
    [slot, lsn],
  );
  return rows[0] ? rows[0].ok === true : null;
}

/**
 * The tables of `schemas` (all schemas but the system ones and `exclude` when null) on a node:
 * ordinary and partitioned tables, never a partition (compared through its root), sorted.
 */
export async function readTablesOfSchemas(
  client: pg.Client,
  schemas: string[] | null,
  exclude: string,
): Promise<TableName[]> {
  const { rows } = await client.query<TableName>(
    `SELECT n.nspname::text AS schema, c.relname::text AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
        AND (CASE WHEN $1::text[] IS NULL
                  THEN n.nspname NOT IN ('pg_catalog', 'information_schema', $2) AND n.nspname NOT LIKE 'pg\\_%'
                  ELSE n.nspname = ANY($1::text[]) END)
      ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`,
    [schemas, exclude],
  );
  return rows;
}
