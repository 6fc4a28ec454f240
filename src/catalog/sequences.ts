import type pg from 'pg';
import type { TableName } from '../model/topology.js';

/**
 * The sequences that go with a subscription's tables (logical replication does not carry
 * their values): those owned by a column of a subscribed table (serial, identity), those a
 * column default of one calls, and the standalone ones in the tables' schemas. PostgreSQL 14+.
 */
export interface SequenceValue {
  schema: string;
  name: string;
  /** pg_sequences.last_value: null when never used (or not readable) */
  value: string | null;
}

const SEQUENCES_SQL = `
WITH tables AS (
  SELECT t.oid FROM pg_catalog.pg_class t JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
   WHERE (tn.nspname, t.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))
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
SELECT n.nspname AS schema, c.relname AS name, s.last_value::text AS value
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_sequences s ON s.schemaname = n.nspname AND s.sequencename = c.relname
 WHERE c.relkind = 'S' AND c.oid IN (SELECT seq FROM owned UNION SELECT seq FROM used UNION SELECT seq FROM standalone)
 ORDER BY 1, 2`;

export async function readSequences(
  client: pg.Client,
  tables: readonly TableName[],
): Promise<SequenceValue[]> {
  const { rows } = await client.query<SequenceValue>(SEQUENCES_SQL, [
    tables.map((t) => t.schema),
    tables.map((t) => t.name),
  ]);
  return rows;
}

/** The current values of named sequences on a node (null: absent there, or never used). */
export async function readSequenceValues(
  client: pg.Client,
  seqs: readonly { schema: string; name: string }[],
): Promise<Map<string, string | null>> {
  const { rows } = await client.query<{ schema: string; name: string; value: string | null }>(
    `SELECT schemaname AS schema, sequencename AS name, last_value::text AS value FROM pg_catalog.pg_sequences
      WHERE (schemaname, sequencename) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [seqs.map((s) => s.schema), seqs.map((s) => s.name)],
  );
  return new Map(rows.map((r) => [`${r.schema}.${r.name}`, r.value]));
}

/** setval to `value` (is_called = true: the next nextval returns value + increment). */
export async function setSequence(
  client: pg.Client,
  seq: { schema: string; name: string },
  value: string,
): Promise<void> {
  await client.query('SELECT pg_catalog.setval(format($3, $1::text, $2::text)::regclass, $4::bigint, true)', [
    seq.schema,
    seq.name,
    '%I.%I',
    value,
  ]);
}
