/**
 * Table definitions and fingerprints read from real PostgreSQL 14 and 18: what the catalog
 * reads per column, the fingerprint PostgreSQL computes equal to the one steep computes from
 * the columns, and equal across versions for the same DDL.
 */

import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { readNode } from '../../src/catalog/readNode.js';
import { readFingerprints, readTableColumns, readTableSchemas } from '../../src/catalog/tableSchemas.js';
import { fingerprintText, type ObservedTableSchema, withColumns } from '../../src/model/tableSchema.js';
import { tableSchemasDigest } from '../../src/planner/schema/schemaSync.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';

const DDL = `
  CREATE TYPE public."Mood" AS ENUM ('sad', 'ok', 'happy');
  CREATE SCHEMA "Sales Data";
  CREATE TABLE "Sales Data"."Order Lines" (
    id bigserial PRIMARY KEY,
    "Ident" int GENERATED ALWAYS AS IDENTITY,
    qty int NOT NULL DEFAULT 1,
    gone int,
    price numeric(10,2),
    total numeric GENERATED ALWAYS AS (qty * price) STORED,
    note varchar(20) DEFAULT 'n/a',
    mood public."Mood"[],
    tag text COLLATE "C",
    at timestamptz DEFAULT now()
  );
  ALTER TABLE "Sales Data"."Order Lines" DROP COLUMN gone;
  CREATE TABLE public.empty_one ();
  CREATE TABLE public.plain (a int, b text NOT NULL);
  CREATE DOMAIN public."pos:int|x" AS int CHECK (VALUE > 0);
  CREATE TABLE "Sales Data"."we|ird:näme""" (
    "a:b|c" public."pos:int|x"[] DEFAULT '{1}',
    "ключ" int NOT NULL,
    "x""y" text DEFAULT 'a|b:c' COLLATE "C",
    ts timestamp(3) with time zone,
    bits bit varying(7),
    iv interval day to second(2),
    PRIMARY KEY ("x""y", "ключ")
  );
  ALTER TABLE "Sales Data"."we|ird:näme""" REPLICA IDENTITY FULL;
  CREATE TABLE public.parted (k int, at date NOT NULL DEFAULT current_date, PRIMARY KEY (k, at)) PARTITION BY RANGE (at);
  CREATE TABLE public.parted_2026 PARTITION OF public.parted FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
`;

const ALL = { all: true, schemas: [], tables: [] };

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

async function fingerprints(node: TestNode) {
  const rows = await readFingerprints(node.connection, { node: node.name, scope: ALL, stateSchema: 'steep' });
  return Object.fromEntries(rows.map((r) => [`${r.schema}.${r.name}`, r]));
}

describe.each(testVersions())('table definitions on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['a'], version });

  test('columns, types, sequences and fingerprints', async () => {
    const node = cluster().node('a');
    await node.query(DDL);
    const defs = await readTableSchemas(node.connection, {
      node: 'a',
      scope: { ...ALL, objects: true },
      stateSchema: 'steep',
    });
    const t = defs.tables['Sales Data.Order Lines']!;
    expect(t.primaryKey).toEqual(['id']);
    expect(t.kind).toBe('r');
    const byName = Object.fromEntries(t.columns.map((c) => [c.name, c]));
    expect(t.columns.map((c) => c.name)).toEqual([
      'id',
      'Ident',
      'qty',
      'price',
      'total',
      'note',
      'mood',
      'tag',
      'at',
    ]);
    expect(byName.id).toMatchObject({
      type: 'bigint',
      default: `nextval('"Sales Data"."Order Lines_id_seq"'::regclass)`,
      notNull: true,
      sequences: ['Sales Data.Order Lines_id_seq'],
    });
    expect(byName.Ident).toMatchObject({ identity: 'always', default: null, notNull: true });
    expect(byName.total).toMatchObject({ generated: 'stored', default: '((qty)::numeric * price)' });
    expect(byName.note).toMatchObject({ type: 'character varying(20)', default: `'n/a'::character varying` });
    expect(byName.mood).toMatchObject({
      type: 'public."Mood"[]',
      baseType: { schema: 'public', name: 'Mood' },
    });
    expect(byName.tag!.collation).toBe('pg_catalog."C"');
    expect(byName.price).toMatchObject({ type: 'numeric(10,2)', default: null, notNull: false });
    expect(defs.types['public.Mood']).toEqual({
      schema: 'public',
      name: 'Mood',
      kind: 'enum',
      extension: null,
      labels: ['sad', 'ok', 'happy'],
    });
    expect(defs.sequences['Sales Data.Order Lines_id_seq']).toMatchObject({
      dataType: 'bigint',
      ownedBy: { table: 'Sales Data.Order Lines', column: 'id' },
    });
    // identity sequences are the column's own, not listed
    expect(Object.keys(defs.sequences).some((k) => k.includes('Ident'))).toBe(false);
    expect(defs.schemas).toContain('Sales Data');
    expect(defs.tables['public.empty_one']!.columns).toEqual([]);

    // PostgreSQL's fingerprint (schema fingerprint) equals steep's (plan)
    const sql = await fingerprints(node);
    for (const [qn, table] of Object.entries(defs.tables)) {
      expect(sql[qn]!.fingerprint, qn).toBe(table.fingerprint);
      expect(sha256(fingerprintText(table.columns))).toBe(table.fingerprint);
      expect(sql[qn]!.columnCount).toBe(table.columns.length);
    }
    expect(sql['public.plain']!.fingerprint).toBe(sha256('a:integer:NULL:YES|b:text:NULL:NO'));
  });

  test('the plan’s fingerprint-only read equals what steep computes from the columns', async () => {
    const node = cluster().node('a');
    for (const objects of [false, true]) {
      const scope = { ...ALL, objects };
      const full = await readTableSchemas(node.connection, { node: 'a', scope, stateSchema: 'steep' });
      const planRead = await readNode(node.connection, {
        node: 'a',
        stateSchema: 'steep',
        tableScope: scope,
        fingerprintsOnly: true,
      });
      const quick = planRead.tableSchemas!;
      expect(Object.keys(quick.tables)).toEqual(Object.keys(full.tables));
      expect(Object.keys(full.tables)).toContain('Sales Data.we|ird:näme"');
      for (const [qn, t] of Object.entries(full.tables)) {
        const { columns, ...rest } = t;
        // PostgreSQL's fingerprint is byte-identical to SHA-256 of steep's fingerprint text
        expect(quick.tables[qn], qn).toEqual({ ...rest, columns: null } satisfies ObservedTableSchema);
        expect(sha256(fingerprintText(columns))).toBe(quick.tables[qn]!.fingerprint);
      }
      expect(full.tables['Sales Data.we|ird:näme"']!.primaryKey).toEqual(objects ? ['x"y', 'ключ'] : null);
      expect(full.tables['public.parted']).toMatchObject({ kind: 'p', partition: false });
      expect(full.tables['public.parted_2026']).toMatchObject({ kind: 'r', partition: true });
      // the observed digest (plan's fingerprint mismatch detection) is the same either way
      expect(tableSchemasDigest(quick)).toBe(tableSchemasDigest(full));
      // the columns read after, for the tables that differ, are the full read's
      const some = [
        { schema: 'Sales Data', name: 'we|ird:näme"' },
        { schema: 'public', name: 'parted' },
        { schema: 'public', name: 'gone_since' },
      ];
      const read = await readTableColumns(node.connection, {
        node: 'a',
        tables: some,
        objects,
        stateSchema: 'steep',
      });
      expect(Object.keys(read)).toEqual(['Sales Data.we|ird:näme"', 'public.parted']);
      for (const [qn, t] of Object.entries(read)) expect(withColumns(t)).toEqual(full.tables[qn]);
    }
  });

  test('the plan read takes only the scope, never steep’s state schema', async () => {
    const node = cluster().node('a');
    await node.query('CREATE SCHEMA IF NOT EXISTS steep; CREATE TABLE IF NOT EXISTS steep.x (id int)');
    const observed = await readNode(node.connection, {
      node: 'a',
      stateSchema: 'steep',
      tableScope: { all: false, schemas: [], tables: [{ schema: 'public', name: 'plain' }] },
    });
    expect(Object.keys(observed.tableSchemas!.tables)).toEqual(['public.plain']);
    const all = await readNode(node.connection, { node: 'a', stateSchema: 'steep', tableScope: ALL });
    expect(Object.keys(all.tableSchemas!.tables).some((k) => k.startsWith('steep.'))).toBe(false);
    // types, sequences, schemas and extensions only for auto mode (`objects`)
    expect(all.tableSchemas!.types).toEqual({});
    const none = await readNode(node.connection, { node: 'a', stateSchema: 'steep' });
    expect(none.tableSchemas).toBeUndefined();
    // the other reads are unaffected by the qualified names of the table read
    expect(all.tables['public.plain']).toBeDefined();
  });
});

describe('fingerprints across PostgreSQL 14 and 18', () => {
  const old = useCluster({ nodes: ['v14'], version: 14 });
  const neu = useCluster({ nodes: ['v18'], version: 18 });

  test('the same DDL gives the same fingerprints', async () => {
    const a = old().node('v14');
    const b = neu().node('v18');
    await a.query(DDL);
    await b.query(DDL);
    const fa = await fingerprints(a);
    const fb = await fingerprints(b);
    expect(Object.keys(fa).sort()).toEqual(Object.keys(fb).sort());
    for (const qn of Object.keys(fa)) expect(fa[qn]!.fingerprint, qn).toBe(fb[qn]!.fingerprint);
  });
});
