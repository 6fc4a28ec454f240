import type pg from 'pg';
import type { SequenceAccess, SequenceState } from '../model/sequences.js';
import { quoteTable } from '../model/sql.js';
import type { TableName } from '../model/topology.js';

const SEQUENCES_SQL = `
WITH listed AS (
  SELECT t.oid FROM pg_catalog.pg_class t JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
   WHERE (tn.nspname, t.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))
), tables AS (
  -- a publication lists partitions; an identity or serial column is declared on their root
  SELECT oid FROM listed UNION SELECT a.relid FROM listed, pg_catalog.pg_partition_ancestors(listed.oid) a
), owned AS (
  SELECT d.objid AS seq FROM pg_catalog.pg_depend d
   WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
     AND d.deptype IN ('a', 'i') AND d.refobjid IN (SELECT oid FROM tables)
), used AS (
  SELECT d.refobjid AS seq FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
   WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
     AND ad.adrelid IN (SELECT oid FROM tables)
), standalone AS (
  SELECT c.oid AS seq FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'S' AND n.nspname = ANY($1::text[])
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = c.oid
                       AND d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
                       AND d.deptype IN ('a', 'i'))
)
SELECT n.nspname AS schema, c.relname AS name
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S' AND c.oid IN (SELECT seq FROM owned UNION SELECT seq FROM used UNION SELECT seq FROM standalone)
 ORDER BY 1, 2`;

/**
 * The sequences that go with a subscription's tables (logical replication does not carry
 * their values): those owned by a column of a subscribed table (serial, identity), those a
 * column default of one calls, and the standalone ones in the tables' schemas. PostgreSQL 14+.
 */
export async function readSequences(client: pg.Client, tables: readonly TableName[]): Promise<TableName[]> {
  const { rows } = await client.query<TableName>(SEQUENCES_SQL, [
    tables.map((t) => t.schema),
    tables.map((t) => t.name),
  ]);
  return rows;
}

/**
 * Where each of `seqs` stands on a node (absent ones are left out): the last value handed out
 * read from the sequence itself (`last_value`, `is_called`: pg_sequences hides a value set
 * with `setval(…, false)`), and its increment and bounds.
 */
export async function readSequenceStates(
  client: pg.Client,
  seqs: readonly { schema: string; name: string }[],
): Promise<Map<string, SequenceState>> {
  const { rows: defs } = await client.query<Omit<SequenceState, 'last'>>(
    `SELECT n.nspname AS schema, c.relname AS name, s.seqincrement::text AS increment,
            s.seqmin::text AS min, s.seqmax::text AS max
       FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [seqs.map((s) => s.schema), seqs.map((s) => s.name)],
  );
  const states = new Map<string, SequenceState>();
  if (defs.length === 0) return states;
  // one relation per sequence: their names are identifiers in the statement, not parameters
  const { rows: values } = await client.query<{ i: number; last: string; called: boolean }>(
    defs
      .map((d, i) => `SELECT ${i} AS i, last_value::text AS last, is_called AS called FROM ${quoteTable(d)}`)
      .join(' UNION ALL '),
  );
  for (const v of values) {
    const d = defs[v.i]!;
    // not called: nextval returns last_value itself, so the last handed out is one step before
    const last = v.called ? BigInt(v.last) : BigInt(v.last) - BigInt(d.increment);
    const handedOut = last >= BigInt(d.min) && last <= BigInt(d.max);
    states.set(`${d.schema}.${d.name}`, { ...d, last: handedOut ? last.toString() : null });
  }
  return states;
}

/** What the connected role may do with each of `seqs` on a node (absent ones are left out). */
export async function readSequencePrivileges(
  client: pg.Client,
  seqs: readonly { schema: string; name: string }[],
): Promise<Omit<SequenceAccess, 'node'>> {
  const { rows } = await client.query<{
    role: string;
    schema: string | null;
    name: string | null;
    select: boolean | null;
    update: boolean | null;
  }>(
    `SELECT current_user::text AS role, n.nspname AS schema, c.relname AS name,
            pg_catalog.has_sequence_privilege(c.oid, 'SELECT') AS select,
            pg_catalog.has_sequence_privilege(c.oid, 'UPDATE') AS update
       FROM (SELECT 1) one
       LEFT JOIN (pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace)
         ON c.relkind = 'S' AND (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [seqs.map((s) => s.schema), seqs.map((s) => s.name)],
  );
  const sequences = new Map<string, { select: boolean; update: boolean }>();
  for (const r of rows)
    if (r.schema !== null && r.name !== null)
      sequences.set(`${r.schema}.${r.name}`, { select: r.select === true, update: r.update === true });
  return { role: rows[0]?.role ?? '', sequences };
}
