import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import type { ClusterState } from '../../../src/model/cluster.js';
import type { Plan } from '../../../src/model/plan.js';
import type { TableObject } from '../../../src/model/tableObjects.js';
import { fingerprintText, type NodeTableSchemas, type TableSchema } from '../../../src/model/tableSchema.js';
import type { SchemaSyncMode, Topology } from '../../../src/model/topology.js';
import { objectChecks } from '../../../src/planner/switchover/objectChecks.js';
import { at, codes, observe, publication, runPlan, subscription, topology } from './fixtures.js';

/**
 * schemaSync: auto carries indexes and constraints (planner/schema/objectSync.ts), and
 * switchover's preflight compares them (planner/switchover/objectChecks.ts).
 */

function tbl(qn: string): TableSchema {
  const [schema, name] = qn.split('.') as [string, string];
  const columns = ['id', 'v', 'parent_id'].map((c, i) => ({
    name: c,
    type: c === 'v' ? 'text' : 'bigint',
    default: null,
    notNull: c === 'id',
    ordinal: i + 1,
    identity: null,
    generated: null,
    collation: null,
    baseType: { schema: 'pg_catalog', name: c === 'v' ? 'text' : 'int8' },
    sequences: [],
  }));
  return {
    schema,
    name,
    kind: 'r',
    partition: false,
    replicaIdentity: 'd',
    columns,
    primaryKey: ['id'],
    fingerprint: createHash('sha256').update(fingerprintText(columns)).digest('hex'),
  };
}

const PK = (t: string): TableObject => ({
  name: `${t}_pkey`,
  kind: 'p',
  definition: 'PRIMARY KEY (id)',
  references: null,
});
const UNIQUE: TableObject = { name: 'child_v_key', kind: 'u', definition: 'UNIQUE (v)', references: null };
const INDEX: TableObject = {
  name: 'child_v_idx',
  kind: 'index',
  definition: 'CREATE INDEX child_v_idx ON public.child USING btree (v)',
  references: null,
};
const FK = (to: string): TableObject => ({
  name: 'child_parent_id_fkey',
  kind: 'f',
  definition: `FOREIGN KEY (parent_id) REFERENCES ${to}(id)`,
  references: to,
});

function schemas(tables: TableSchema[], objects: Record<string, TableObject[]>): NodeTableSchemas {
  return {
    scope: { all: false, schemas: [], tables: [], objects: true },
    tables: Object.fromEntries(tables.map((t) => [`${t.schema}.${t.name}`, t])),
    types: {},
    sequences: {},
    schemas: ['public', 'steep'],
    extensions: ['plpgsql'],
    objects,
  };
}

function planWith(
  mode: SchemaSyncMode,
  pub: Record<string, TableObject[]>,
  sub: { tables: string[]; objects: Record<string, TableObject[]> },
  opts: {
    published?: Array<string | { table: string; where?: string; columns?: string[] }>;
    pubTables?: string[];
  } = {},
): Plan {
  const published = opts.published ?? ['public.child', 'public.parent'];
  const t: Topology = topology({
    publications: [publication('pub', 'east', { tables: published })],
    subscriptions: [subscription('west_sub', 'west', 'east', ['pub'], { schemaSync: mode })],
  });
  const state: ClusterState = observe(t);
  at(state, 'east').tableSchemas = schemas((opts.pubTables ?? Object.keys(pub)).map(tbl), pub);
  at(state, 'west').tableSchemas = schemas(sub.tables.map(tbl), sub.objects);
  return runPlan(t, state);
}

const stepOf = (p: Plan, table: string) =>
  p.steps.find((s) => printAddress(s.address) === `table.west/${table}`);
const sqlOf = (p: Plan, table: string) => stepOf(p, table)?.statements.map((s) => s.sql) ?? [];

const PUB = {
  'public.child': [PK('child'), UNIQUE, INDEX, FK('public.parent')],
  'public.parent': [PK('parent')],
};

describe('schemaSync: auto carries indexes and constraints', () => {
  it('builds them on a table it creates, after its columns, the foreign key once its table exists', () => {
    const p = planWith('auto', PUB, { tables: [], objects: {} });
    expect(p.errors).toEqual([]);
    const sql = sqlOf(p, 'public.child');
    expect(sql[0]).toMatch(/^CREATE TABLE "public"."child"/);
    expect(sql.slice(1)).toEqual([
      'ALTER TABLE ONLY "public"."child" ADD CONSTRAINT "child_v_key" UNIQUE (v)',
      'CREATE INDEX child_v_idx ON public.child USING btree (v)',
      'ALTER TABLE ONLY "public"."child" ADD CONSTRAINT "child_parent_id_fkey" FOREIGN KEY (parent_id) REFERENCES public.parent(id)',
    ]);
    // the primary key comes with CREATE TABLE, not twice
    expect(sql.join('\n')).not.toContain('child_pkey');
    expect(stepOf(p, 'public.child')!.dependsOn).toContain(stepOf(p, 'public.parent')!.id);
    expect(stepOf(p, 'public.child')!.reasonText).toContain('primary key, indexes and constraints');
  });

  it('adds what an existing table lacks, with its lock; the same object under another name is had', () => {
    const renamed = {
      ...INDEX,
      name: 'other_idx',
      definition: 'CREATE INDEX other_idx ON public.child USING btree (v)',
    };
    const p = planWith('auto', PUB, {
      tables: ['public.child', 'public.parent'],
      objects: {
        'public.child': [PK('child'), renamed, FK('public.parent')],
        'public.parent': [PK('parent')],
      },
    });
    expect(sqlOf(p, 'public.child')).toEqual([
      'ALTER TABLE ONLY "public"."child" ADD CONSTRAINT "child_v_key" UNIQUE (v)',
    ]);
    expect(stepOf(p, 'public.child')!.hazards).toContain('locks-table');
    expect(stepOf(p, 'public.child')!.reasonText).toBe(
      'public.child on west lacks what east has: unique constraint child_v_key',
    );
    expect(stepOf(p, 'public.parent')).toBeUndefined();
  });

  it('leaves out a foreign key to a table the subscription does not receive, or through a row filter, and says so', () => {
    const notReceived = planWith(
      'auto',
      PUB,
      { tables: [], objects: {} },
      {
        published: ['public.child'],
        pubTables: ['public.child', 'public.parent'],
      },
    );
    expect(sqlOf(notReceived, 'public.child').join('\n')).not.toContain('FOREIGN KEY');
    expect(codes(notReceived.warnings)).toContain('objects.left-out');
    expect(notReceived.warnings.find((w) => w.code === 'objects.left-out')!.message).toContain(
      'foreign key child_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES public.parent(id) (it references public.parent, which subscription west_sub does not receive',
    );
    const filtered = planWith(
      'auto',
      PUB,
      { tables: [], objects: {} },
      {
        published: [{ table: 'public.child', where: 'id > 0' }, 'public.parent'],
      },
    );
    expect(sqlOf(filtered, 'public.child').join('\n')).not.toContain('FOREIGN KEY');
    expect(filtered.warnings.map((w) => w.message).join('\n')).toContain('through a row filter');
  });

  it('leaves every object out of a table received through a column list', () => {
    const p = planWith(
      'auto',
      PUB,
      { tables: ['public.child', 'public.parent'], objects: {} },
      {
        published: [{ table: 'public.child', columns: ['id', 'v', 'parent_id'] }, 'public.parent'],
      },
    );
    expect(sqlOf(p, 'public.child')).toEqual([]);
    expect(p.warnings.map((w) => w.message).join('\n')).toContain('through a column list');
  });

  it('manual and strict compare columns only', () => {
    for (const mode of ['manual', 'strict'] as const) {
      const p = planWith(mode, PUB, {
        tables: ['public.child', 'public.parent'],
        objects: { 'public.child': [PK('child')], 'public.parent': [PK('parent')] },
      });
      expect(stepOf(p, 'public.child')).toBeUndefined();
      expect([...p.errors, ...p.warnings].filter((m) => /child_v_key/.test(m.message))).toEqual([]);
    }
  });
});

describe('switchover compares indexes and constraints', () => {
  const facts = (n: Record<string, TableObject[]>) => ({
    subscription: 'west_sub',
    oldNode: 'east',
    newNode: 'west',
    objects: { schemaSync: 'strict', old: PUB, new: n },
  });

  it('refuses a missing constraint with the statement that builds it, warns of a missing plain index', () => {
    const r = objectChecks(
      facts({ 'public.child': [PK('child'), FK('public.parent')], 'public.parent': [PK('parent')] }),
      {},
    );
    expect(r.problems).toEqual([
      'unique constraint child_v_key UNIQUE (v) of public.child on east is missing on west, which would take the writes ' +
        'without enforcing it: create it on west (ALTER TABLE ONLY "public"."child" ADD CONSTRAINT "child_v_key" UNIQUE (v); ' +
        'with schemaSync: auto on west_sub, steep apply builds it), or pass --accept-missing-constraints to switch over without it',
    ]);
    expect(r.warnings).toEqual([
      'public.child on west lacks the index child_v_idx of east: queries that use it slow down on west (with schemaSync: auto on west_sub, steep apply builds it)',
    ]);
  });

  it('switches over without it when told (--accept-missing-constraints), and finds nothing when both match', () => {
    const r = objectChecks(facts({}), { acceptMissingConstraints: true });
    expect(r.problems).toEqual([]);
    expect(r.warnings.filter((w) => w.includes('--accept-missing-constraints'))).toHaveLength(4);
    expect(objectChecks(facts(PUB), {})).toEqual({ problems: [], warnings: [] });
  });
});
