import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import type { ClusterState } from '../../../src/model/cluster.js';
import { gapsOfStep } from '../../../src/model/continuity.js';
import type { Plan } from '../../../src/model/plan.js';
import {
  fingerprintText,
  type NodeTableSchemas,
  type SequenceDef,
  type TableColumn,
  type TableSchema,
  type UserType,
} from '../../../src/model/tableSchema.js';
import type { SchemaSyncMode, Topology } from '../../../src/model/topology.js';
import { compareTables } from '../../../src/planner/schema/schemaCompare.js';
import { columnRequests, receivedTables, subscribedScopes } from '../../../src/planner/schema/schemaScope.js';
import { addRewritesTable } from '../../../src/planner/schema/tableDdl.js';
import {
  at,
  codes,
  observe,
  observedTable,
  PG14,
  PG17,
  PG18,
  publication,
  runPlan,
  subscription,
  topology,
} from './fixtures.js';

/**
 * The schema sync planner (SPEC §7), table-driven: a publisher table and a subscriber table
 * (or none), a schemaSync mode, and what the plan must hold — comparison status, errors,
 * warnings, the sync step's SQL and hazards.
 */

type ColumnSpec = [name: string, type: string, extra?: Partial<TableColumn>];

function col([name, type, extra]: ColumnSpec, i: number): TableColumn {
  const base = type.replace(/\[\]$/, '').replace(/\(.*\)$/, '');
  const qualified = base.includes('.') ? base.split('.') : ['pg_catalog', base];
  return {
    name,
    type,
    default: null,
    notNull: false,
    ordinal: i + 1,
    identity: null,
    generated: null,
    collation: null,
    baseType: { schema: qualified[0]!, name: qualified[1]!.replace(/"/g, '') },
    sequences: [],
    ...extra,
  };
}

function table(qn: string, columns: ColumnSpec[], extra: Partial<TableSchema> = {}): TableSchema {
  const [schema, name] = qn.split('.') as [string, string];
  const cols = columns.map(col);
  return {
    schema,
    name,
    kind: 'r',
    partition: false,
    replicaIdentity: 'd',
    columns: cols,
    primaryKey: ['id'],
    fingerprint: createHash('sha256').update(fingerprintText(cols)).digest('hex'),
    ...extra,
  };
}

function schemas(tables: TableSchema[], extra: Partial<NodeTableSchemas> = {}): NodeTableSchemas {
  return {
    scope: { all: true, schemas: [], tables: [] },
    tables: Object.fromEntries(tables.map((t) => [`${t.schema}.${t.name}`, t])),
    types: {},
    sequences: {},
    schemas: ['public', 'steep'],
    extensions: ['plpgsql'],
    ...extra,
  };
}

const ID: ColumnSpec = ['id', 'bigint', { notNull: true }];

function world(
  mode: SchemaSyncMode,
  pub: TableSchema[],
  sub: TableSchema[],
  opts: {
    pubExtra?: Partial<NodeTableSchemas>;
    subExtra?: Partial<NodeTableSchemas>;
    tables?: string[];
    versions?: Record<string, number>;
    alter?: (t: Topology) => void;
  } = {},
): { t: Topology; state: ClusterState } {
  const names = opts.tables ?? [...new Set(pub.map((x) => `${x.schema}.${x.name}`))];
  const t = topology({
    publications: [publication('orders_pub', 'east', { tables: names })],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'], { schemaSync: mode })],
  });
  opts.alter?.(t);
  const state = observe(t, { versions: opts.versions });
  at(state, 'east').tableSchemas = schemas(pub, opts.pubExtra);
  at(state, 'west').tableSchemas = schemas(sub, opts.subExtra);
  return { t, state };
}

function planOf(w: { t: Topology; state: ClusterState }): Plan {
  return runPlan(w.t, w.state);
}

function syncSql(p: Plan, table = 'public.orders'): string {
  return p.steps
    .filter((s) => printAddress(s.address) === `table.west/${table}`)
    .flatMap((s) => s.statements.map((x) => x.sql))
    .join('\n');
}

const ORDERS = 'public.orders';

interface Case {
  name: string;
  pub: ColumnSpec[];
  sub: ColumnSpec[] | null;
  status: string;
  /** the auto step's SQL holds each of these */
  sql?: string[];
  hazards?: string[];
  /** auto cannot do it: a plan error holding this */
  autoError?: string;
  diff?: string;
  /** extra subscriber columns replicated rows fill: a warning, never an error */
  fillableExtra?: boolean;
  /** the auto step's SQL holds none of these */
  notSql?: string[];
}

const UNCLEAR = 'steep cannot tell a renamed column from a new one';

const CASES: Case[] = [
  { name: 'identical', pub: [ID, ['a', 'text']], sub: [ID, ['a', 'text']], status: 'MATCH' },
  {
    name: 'column order',
    pub: [ID, ['a', 'text'], ['b', 'int']],
    sub: [ID, ['b', 'int'], ['a', 'text']],
    status: 'ORDER_DIFFERS',
  },
  {
    name: 'added column',
    pub: [ID, ['a', 'text'], ['b', 'integer', { default: '0', notNull: true, missing: '0' }]],
    sub: [ID, ['a', 'text']],
    status: 'MISMATCH',
    diff: 'missing',
    sql: [
      'ALTER TABLE "public"."orders"\n  ADD COLUMN "b" integer DEFAULT \'0\'::integer NOT NULL',
      'ALTER TABLE "public"."orders"\n  ALTER COLUMN "b" SET DEFAULT 0',
    ],
    hazards: ['locks-table'],
  },
  {
    name: 'type change',
    pub: [ID, ['v', 'bigint']],
    sub: [ID, ['v', 'integer']],
    status: 'MISMATCH',
    diff: 'type',
    sql: ['ALTER COLUMN "v" TYPE bigint USING "v"::bigint'],
    hazards: ['rewrites-table', 'locks-table'],
  },
  {
    name: 'length change',
    pub: [ID, ['v', 'character varying(20)']],
    sub: [ID, ['v', 'character varying(10)']],
    status: 'MISMATCH',
    diff: 'type',
    sql: ['ALTER COLUMN "v" TYPE character varying(20) USING "v"::character varying(20)'],
  },
  {
    name: 'precision change',
    pub: [ID, ['v', 'numeric(12,2)']],
    sub: [ID, ['v', 'numeric(10,2)']],
    status: 'MISMATCH',
    diff: 'type',
    sql: ['TYPE numeric(12,2)'],
  },
  {
    name: 'default added',
    pub: [ID, ['v', 'integer', { default: '0' }]],
    sub: [ID, ['v', 'integer']],
    status: 'MISMATCH',
    diff: 'default',
    sql: ['ALTER COLUMN "v" SET DEFAULT 0'],
  },
  {
    name: 'default changed',
    pub: [ID, ['v', 'text', { default: "'new'::text" }]],
    sub: [ID, ['v', 'text', { default: "'old'::text" }]],
    status: 'MISMATCH',
    diff: 'default',
    sql: [`ALTER COLUMN "v" SET DEFAULT 'new'::text`],
  },
  {
    name: 'default dropped',
    pub: [ID, ['v', 'integer']],
    sub: [ID, ['v', 'integer', { default: '5' }]],
    status: 'MISMATCH',
    diff: 'default',
    sql: ['ALTER COLUMN "v" DROP DEFAULT'],
  },
  {
    name: 'type and default change together: the old default goes first',
    pub: [ID, ['v', 'integer', { default: '0' }]],
    sub: [ID, ['v', 'text', { default: "'x'::text" }]],
    status: 'MISMATCH',
    sql: [
      'ALTER COLUMN "v" DROP DEFAULT,\n  ALTER COLUMN "v" TYPE integer USING "v"::integer,\n  ALTER COLUMN "v" SET DEFAULT 0',
    ],
  },
  {
    name: 'NOT NULL added',
    pub: [ID, ['v', 'integer', { notNull: true }]],
    sub: [ID, ['v', 'integer']],
    status: 'MISMATCH',
    diff: 'nullability',
    sql: ['ALTER COLUMN "v" SET NOT NULL'],
    hazards: ['locks-table'],
  },
  {
    name: 'NOT NULL dropped',
    pub: [ID, ['v', 'integer']],
    sub: [ID, ['v', 'integer', { notNull: true }]],
    status: 'MISMATCH',
    diff: 'nullability',
    sql: ['ALTER COLUMN "v" DROP NOT NULL'],
  },
  {
    name: 'identity on the publisher, a plain default on the subscriber',
    pub: [ID, ['n', 'integer', { identity: 'always', notNull: true }]],
    sub: [ID, ['n', 'integer', { default: '0', notNull: true }]],
    status: 'MISMATCH',
    sql: ['ALTER COLUMN "n" DROP DEFAULT,\n  ALTER COLUMN "n" ADD GENERATED ALWAYS AS IDENTITY'],
  },
  {
    name: 'identity kind differs',
    pub: [ID, ['n', 'integer', { identity: 'by-default', notNull: true }]],
    sub: [ID, ['n', 'integer', { identity: 'always', notNull: true }]],
    status: 'MISMATCH',
    sql: ['ALTER COLUMN "n" SET GENERATED BY DEFAULT'],
  },
  {
    name: 'stored generated on the subscriber only',
    pub: [ID, ['g', 'integer']],
    sub: [ID, ['g', 'integer', { generated: 'stored', default: '(id * 2)' }]],
    status: 'MISMATCH',
    sql: ['ALTER COLUMN "g" DROP EXPRESSION'],
  },
  {
    name: 'generated on the publisher only: cannot become generated in place',
    pub: [ID, ['g', 'integer', { generated: 'stored', default: '(id * 2)' }]],
    sub: [ID, ['g', 'integer']],
    status: 'MISMATCH',
    autoError: 'cannot make a column generated in place',
  },
  {
    name: 'an extra nullable column is kept',
    pub: [ID],
    sub: [ID, ['note', 'text']],
    status: 'MISMATCH',
    diff: 'extra',
    fillableExtra: true,
  },
  {
    name: 'an extra NOT NULL column with a default is kept',
    pub: [ID],
    sub: [ID, ['note', 'text', { notNull: true, default: "'x'::text" }]],
    status: 'MISMATCH',
    diff: 'extra',
    fillableExtra: true,
  },
  {
    name: 'an extra NOT NULL column without default breaks replicated inserts',
    pub: [ID],
    sub: [ID, ['note', 'text', { notNull: true }]],
    status: 'MISMATCH',
    autoError: 'cannot fill it',
  },
  {
    name: 'missing table',
    pub: [ID, ['a', 'text', { default: "'x'::text", notNull: true }]],
    sub: null,
    status: 'LOCAL_ONLY',
    sql: [
      'CREATE TABLE "public"."orders" (\n  "id" bigint NOT NULL,\n  "a" text DEFAULT \'x\'::text NOT NULL,\n  PRIMARY KEY ("id")\n)',
    ],
  },
  // a rename: one column missing, one only on the subscriber, same definition at the same position
  {
    name: 'renamed column',
    pub: [ID, ['amount', 'integer', { default: '0', notNull: true }], ['note', 'text']],
    sub: [ID, ['qty', 'integer', { default: '0', notNull: true }], ['note', 'text']],
    status: 'MISMATCH',
    diff: 'missing',
    sql: ['ALTER TABLE "public"."orders" RENAME COLUMN "qty" TO "amount"'],
    notSql: ['ADD COLUMN', 'DROP COLUMN'],
    hazards: ['locks-table'],
  },
  {
    name: 'renamed and retyped: not taken for a rename',
    pub: [ID, ['amount', 'bigint'], ['note', 'text']],
    sub: [ID, ['qty', 'integer'], ['note', 'text']],
    status: 'MISMATCH',
    diff: 'missing',
    autoError: UNCLEAR,
  },
  {
    name: 'a new column and a subscriber-only one at another position: not taken for a rename',
    pub: [ID, ['note', 'text'], ['amount', 'integer']],
    sub: [ID, ['qty', 'integer'], ['note', 'text']],
    status: 'MISMATCH',
    diff: 'missing',
    autoError: UNCLEAR,
  },
  {
    name: 'two columns renamed: not taken for renames',
    pub: [ID, ['x', 'integer'], ['y', 'integer']],
    sub: [ID, ['p', 'integer'], ['q', 'integer']],
    status: 'MISMATCH',
    diff: 'missing',
    autoError: UNCLEAR,
  },
  {
    name: 'a rename beside another difference: not taken for a rename',
    pub: [ID, ['amount', 'integer'], ['note', 'character varying(20)']],
    sub: [ID, ['qty', 'integer'], ['note', 'character varying(10)']],
    status: 'MISMATCH',
    diff: 'missing',
    autoError: UNCLEAR,
  },
];

describe.each(CASES)('$name', (c) => {
  const pubT = table(ORDERS, c.pub);
  const subT = c.sub ? table(ORDERS, c.sub) : null;
  const subs = subT ? [subT] : [];

  it(`compares as ${c.status}`, () => {
    const cmp = compareTables(pubT, subT, ORDERS);
    expect(cmp.status).toBe(c.status);
    if (c.diff) expect(cmp.columns.map((x) => x.kind)).toContain(c.diff);
    if (c.status === 'MATCH') expect(pubT.fingerprint).toBe(subT!.fingerprint);
    else expect(pubT.fingerprint).not.toBe(subT?.fingerprint);
  });

  // PostgreSQL accepts extra subscriber columns that replicated rows fill: reported in every mode
  const differs = c.status !== 'MATCH' && c.status !== 'ORDER_DIFFERS' && !c.fillableExtra;

  it('strict: a plan error naming the table (and column), or nothing', () => {
    const p = planOf(world('strict', [pubT], subs));
    expect(p.schema).toEqual([
      expect.objectContaining({ table: ORDERS, status: c.status, subscription: 'west_orders' }),
    ]);
    const errors = p.errors.filter((e) => e.code === 'schema.mismatch');
    expect(codes(p.warnings).filter((x) => x === 'schema.extra-column')).toHaveLength(
      c.fillableExtra ? 1 : 0,
    );
    if (!differs) {
      expect(p.errors).toEqual([]);
      return;
    }
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain(`table ${ORDERS}`);
    if (subT)
      for (const x of compareTables(pubT, subT, ORDERS).columns)
        expect(errors[0]!.message).toContain(`column ${x.column}`);
    expect(p.steps.some((s) => s.kind === 'table-sync')).toBe(false);
  });

  // a publisher column the existing subscriber table lacks stops its apply worker: apply cannot just confirm
  const missing =
    subT !== null && compareTables(pubT, subT, ORDERS).columns.some((x) => x.kind === 'missing');

  it(missing ? 'manual: an error saying what to run, no step' : 'manual: a warning, no step', () => {
    const p = planOf(world('manual', [pubT], subs));
    expect(p.steps.some((s) => s.kind === 'table-sync')).toBe(false);
    if (missing) {
      expect(codes(p.errors)).toEqual(['schema.cannot-apply']);
      expect(p.errors[0]!.message).toContain('ALTER TABLE "public"."orders"');
      if (c.name === 'renamed column')
        expect(p.errors[0]!.message).toContain('RENAME COLUMN "qty" TO "amount"');
      expect(codes(p.warnings)).not.toContain('schema.manual');
      return;
    }
    expect(p.errors).toEqual([]);
    expect(codes(p.warnings).filter((x) => x === 'schema.manual')).toHaveLength(differs ? 1 : 0);
  });

  it('auto: the DDL, or an error and no step', () => {
    const p = planOf(world('auto', [pubT], subs));
    if (c.autoError) {
      expect(p.errors.map((e) => e.message).join('\n')).toContain(c.autoError);
      expect(codes(p.errors)).toContain('schema.cannot-sync');
      expect(syncSql(p)).toBe('');
      return;
    }
    expect(p.errors).toEqual([]);
    if (!c.sql) {
      expect(syncSql(p)).toBe('');
      return;
    }
    const step = p.steps.find((s) => printAddress(s.address) === `table.west/${ORDERS}`)!;
    expect(step).toMatchObject({
      kind: 'table-sync',
      action: 'sync-schema',
      reason: 'schema-mismatch',
      node: 'west',
    });
    for (const s of c.sql) expect(syncSql(p)).toContain(s);
    for (const s of c.notSql ?? []) expect(syncSql(p)).not.toContain(s);
    for (const h of c.hazards ?? []) expect(step.hazards).toContain(h);
    expect(step.statements.every((s) => s.transactional)).toBe(true);
  });
});

describe('auto mode, beyond one column', () => {
  const mood: UserType = {
    schema: 'public',
    name: 'mood',
    kind: 'enum',
    extension: null,
    labels: ['sad', 'happy'],
  };
  const seq: SequenceDef = {
    schema: 'public',
    name: 'orders_id_seq',
    dataType: 'bigint',
    start: '1',
    increment: '1',
    min: '1',
    max: '9223372036854775807',
    cache: '1',
    cycle: false,
    ownedBy: { table: 'public.orders', column: 'id' },
  };
  const serial: ColumnSpec = [
    'id',
    'bigint',
    {
      notNull: true,
      default: "nextval('public.orders_id_seq'::regclass)",
      sequences: ['public.orders_id_seq'],
    },
  ];

  it('creates a missing table with its sequence, its enum type, identity and generated columns', () => {
    const orders = table(ORDERS, [
      serial,
      ['m', 'public.mood'],
      ['n', 'integer', { identity: 'always', notNull: true }],
      ['g', 'integer', { generated: 'stored', default: '(n * 2)' }],
    ]);
    const p = planOf(
      world('auto', [orders], [], {
        pubExtra: { types: { 'public.mood': mood }, sequences: { 'public.orders_id_seq': seq } },
      }),
    );
    expect(p.errors).toEqual([]);
    const sql = p.steps
      .find((s) => printAddress(s.address) === 'table.west/public.orders')!
      .statements.map((s) => s.sql);
    expect(sql).toEqual([
      'CREATE SEQUENCE "public"."orders_id_seq" AS bigint INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1 NO CYCLE',
      `CREATE TYPE "public"."mood" AS ENUM ('sad', 'happy')`,
      'CREATE TABLE "public"."orders" (\n' +
        `  "id" bigint DEFAULT nextval('public.orders_id_seq'::regclass) NOT NULL,\n` +
        '  "m" public.mood,\n' +
        '  "n" integer GENERATED ALWAYS AS IDENTITY NOT NULL,\n' +
        '  "g" integer GENERATED ALWAYS AS ((n * 2)) STORED,\n' +
        '  PRIMARY KEY ("id")\n' +
        ')',
      'ALTER SEQUENCE "public"."orders_id_seq" OWNED BY "public"."orders"."id"',
    ]);
  });

  it('creates a missing schema, and uses types and sequences the subscriber already has', () => {
    const t = table('sales.orders', [serial, ['m', 'public.mood']]);
    const p = planOf(
      world('auto', [t], [], {
        pubExtra: { types: { 'public.mood': mood }, sequences: { 'public.orders_id_seq': seq } },
        subExtra: { types: { 'public.mood': mood }, sequences: { 'public.orders_id_seq': seq } },
      }),
    );
    const sql = syncSql(p, 'sales.orders');
    expect(sql).toMatch(/^CREATE SCHEMA "sales"\nCREATE TABLE "sales"."orders"/);
    expect(sql).not.toContain('CREATE TYPE');
    expect(sql).not.toContain('CREATE SEQUENCE');
  });

  it('creates an enum type once for two tables, the second step depending on the first', () => {
    const a = table('public.a', [ID, ['m', 'public.mood']]);
    const b = table('public.b', [ID, ['m', 'public.mood']]);
    const p = planOf(world('auto', [a, b], [], { pubExtra: { types: { 'public.mood': mood } } }));
    const sa = p.steps.find((s) => printAddress(s.address) === 'table.west/public.a')!;
    const sb = p.steps.find((s) => printAddress(s.address) === 'table.west/public.b')!;
    expect(sa.statements.map((s) => s.sql).join('\n')).toContain('CREATE TYPE');
    expect(sb.statements.map((s) => s.sql).join('\n')).not.toContain('CREATE TYPE');
    expect(sb.dependsOn).toContain(sa.id);
  });

  it('warns when an enum the subscriber has lacks labels', () => {
    const t = table(ORDERS, [ID, ['m', 'public.mood']]);
    const p = planOf(
      world('auto', [t], [table(ORDERS, [ID])], {
        pubExtra: { types: { 'public.mood': mood } },
        subExtra: { types: { 'public.mood': { ...mood, labels: ['sad'] } } },
      }),
    );
    expect(codes(p.warnings)).toContain('schema.enum-labels');
    expect(syncSql(p)).toContain('ADD COLUMN "m" public.mood');
  });

  it('refuses a type from an extension the subscriber lacks, naming type and extension', () => {
    const hstore: UserType = {
      schema: 'public',
      name: 'hstore',
      kind: 'base',
      extension: 'hstore',
      labels: null,
    };
    const p = planOf(
      world('auto', [table(ORDERS, [ID, ['h', 'public.hstore']])], [table(ORDERS, [ID])], {
        pubExtra: { types: { 'public.hstore': hstore }, extensions: ['hstore', 'plpgsql'] },
      }),
    );
    expect(p.errors).toHaveLength(1);
    expect(p.errors[0]!.message).toContain('public.hstore from extension hstore');
    expect(p.errors[0]!.message).toContain('CREATE EXTENSION hstore on west');
    expect(p.steps.some((s) => s.kind === 'table-sync')).toBe(false);
  });

  it('refuses a domain it cannot create', () => {
    const dom: UserType = { schema: 'public', name: 'posint', kind: 'domain', extension: null, labels: null };
    const p = planOf(
      world('auto', [table(ORDERS, [ID, ['v', 'public.posint']])], [table(ORDERS, [ID])], {
        pubExtra: { types: { 'public.posint': dom } },
      }),
    );
    expect(p.errors[0]!.message).toContain('public.posint (a domain type)');
  });

  it('refuses to create partitioned tables and partitions', () => {
    const parted = table(ORDERS, [ID], { kind: 'p' });
    expect(planOf(world('auto', [parted], [])).errors[0]!.message).toContain('a partitioned table');
    const part = table(ORDERS, [ID], { partition: true });
    expect(planOf(world('auto', [part], [])).errors[0]!.message).toContain('a partition');
  });

  it('refuses a virtual generated column on a subscriber before PostgreSQL 18', () => {
    const v = table(ORDERS, [ID, ['g', 'integer', { generated: 'virtual', default: '(id * 2)' }]]);
    const p = planOf(world('auto', [v], [], { versions: { east: PG18, west: PG17 } }));
    expect(p.errors[0]!.message).toContain('needs PostgreSQL 18');
    expect(planOf(world('auto', [v], [], { versions: { east: PG18, west: PG18 } })).errors).toEqual([]);
  });

  it('changes a generation expression in place from PostgreSQL 17, not before', () => {
    const pub = table(ORDERS, [ID, ['g', 'integer', { generated: 'stored', default: '(id * 3)' }]]);
    const sub = table(ORDERS, [ID, ['g', 'integer', { generated: 'stored', default: '(id * 2)' }]]);
    const p17 = planOf(world('auto', [pub], [sub], { versions: { east: PG17, west: PG17 } }));
    expect(syncSql(p17)).toContain('ALTER COLUMN "g" SET EXPRESSION AS ((id * 3))');
    const p14 = planOf(world('auto', [pub], [sub], { versions: { east: PG14, west: PG14 } }));
    expect(p14.errors[0]!.message).toContain('cannot change it in place (17 can)');
  });

  it('the subscription step runs after the table syncs, which run after the state schema', () => {
    const w = world('auto', [table(ORDERS, [ID, ['a', 'text']])], []);
    at(w.state, 'west').subscriptions = {};
    at(w.state, 'east').slots = {};
    at(w.state, 'west').stateSchema = { exists: false, version: null };
    const p = planOf(w);
    const ids = new Map(p.steps.map((s) => [printAddress(s.address), s.id]));
    const sync = p.steps.find((s) => s.kind === 'table-sync')!;
    const sub = p.steps.find(
      (s) => printAddress(s.address) === 'subscription.west_orders' && s.action === 'create',
    )!;
    expect(sync.dependsOn).toContain(ids.get('node.west'));
    expect(sub.dependsOn).toContain(sync.id);
    expect(Number(sync.id.slice(1))).toBeLessThan(Number(sub.id.slice(1)));
  });

  it('two subscriptions syncing one table both ways refuse a column both sides define differently', () => {
    const w = world('auto', [table(ORDERS, [ID, ['v', 'bigint']])], [table(ORDERS, [ID, ['v', 'integer']])], {
      alter: (t) => {
        t.publications.back_pub = publication('back_pub', 'west', { tables: [ORDERS] });
        t.subscriptions.east_back = subscription('east_back', 'east', 'west', ['back_pub'], {
          schemaSync: 'auto',
          options: { origin: 'none' },
        });
        t.subscriptions.west_orders!.options = { origin: 'none' };
      },
    });
    const p = planOf(w);
    expect(p.errors.some((e) => e.message.includes('both ways'))).toBe(true);
    expect(p.steps.some((s) => s.kind === 'table-sync')).toBe(false);
  });
});

describe('what a subscription receives', () => {
  it('a column list: unlisted publisher columns may be absent on the subscriber', () => {
    const pub = table(ORDERS, [ID, ['a', 'text'], ['secret', 'text']]);
    const sub = table(ORDERS, [ID, ['a', 'text']]);
    const w = world('strict', [pub], [sub], {
      alter: (t) => {
        t.publications.orders_pub!.tables = [
          { schema: 'public', name: 'orders', columns: ['a', 'id'], where: null },
        ];
      },
    });
    const p = planOf(w);
    expect(p.schema[0]!.status).toBe('MATCH');
    expect(p.errors).toEqual([]);
  });

  it("allTables and schemas expand to the publisher's tables, never steep's state schema", () => {
    const t = topology({
      publications: [publication('all_pub', 'east', { allTables: true, tables: [] })],
      subscriptions: [subscription('west_all', 'west', 'east', ['all_pub'])],
    });
    expect(subscribedScopes(t)).toEqual({
      east: { all: true, schemas: [], tables: [] },
      west: { all: true, schemas: [], tables: [] },
    });
    const pub = schemas([table('public.a', [ID]), table('sales.b', [ID]), table('steep.nodes', [ID])]);
    expect([
      ...receivedTables(t, t.subscriptions.west_all!, pub, 'steep', { tables: {}, serverVersion: 18 }).keys(),
    ]).toEqual(['public.a', 'sales.b']);
    t.publications.all_pub = publication('all_pub', 'east', { schemas: ['sales'], tables: [] });
    expect([
      ...receivedTables(t, t.subscriptions.west_all!, pub, 'steep', { tables: {}, serverVersion: 18 }).keys(),
    ]).toEqual(['sales.b']);
  });

  it('a partition another publication publishes via its root is not received on 16+ (PostgreSQL leaves it out)', () => {
    const t = topology({
      publications: [
        publication('root_pub', 'east', { tables: ['vr.d'], viaPartitionRoot: true }),
        publication('leaf_pub', 'east', { tables: ['vr.d_0'] }),
      ],
      subscriptions: [subscription('west_vr', 'west', 'east', ['leaf_pub', 'root_pub'])],
    });
    const pub = schemas([table('vr.d', [ID]), table('vr.d_0', [ID])]);
    const tables = {
      'vr.d': observedTable('vr.d', { kind: 'p' }),
      'vr.d_0': observedTable('vr.d_0', { partitionOf: 'vr.d' }),
    };
    const received = (serverVersion: number) => [
      ...receivedTables(t, t.subscriptions.west_vr!, pub, 'steep', { tables, serverVersion }).keys(),
    ];
    expect(received(PG18)).toEqual(['vr.d']);
    // before 16 the subscription lists the partition too (and copies it once on its own)
    expect(received(PG14)).toEqual(['vr.d', 'vr.d_0']);
  });

  it('nodes read without table definitions are not compared', () => {
    const t = topology({
      publications: [publication('orders_pub', 'east')],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    const p = runPlan(t, observe(t));
    expect(p.schema).toEqual([]);
  });

  it('scopes list the tables of every subscribed publication, on publisher and subscriber', () => {
    const t = topology({
      publications: [
        publication('orders_pub', 'east', { tables: ['public.orders', 'sales.items'] }),
        publication('idle_pub', 'east', { tables: ['public.idle'] }),
      ],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    const scope = {
      all: false,
      schemas: [],
      tables: [
        { schema: 'public', name: 'orders' },
        { schema: 'sales', name: 'items' },
      ],
    };
    expect(subscribedScopes(t)).toEqual({ east: scope, west: scope });
  });
});

describe("an added column gives the subscriber's rows the publisher's value, or is gated data-gap", () => {
  const added = (extra: Partial<TableColumn>, type = 'integer') =>
    planOf(
      world(
        'auto',
        [table(ORDERS, [ID, ['a', 'text'], ['b', type, extra]])],
        [table(ORDERS, [ID, ['a', 'text']])],
      ),
    );
  const step = (p: Plan) => p.steps.find((s) => printAddress(s.address) === `table.west/${ORDERS}`)!;

  it.each([
    ['no default: NULL on both sides', {}, ['ADD COLUMN "b" integer']],
    [
      'a stored generated column: computed on each',
      { generated: 'stored' as const, default: '(id * 2)' },
      ['STORED'],
    ],
  ])('%s: no data-gap', (_, extra, sql) => {
    const p = added(extra);
    for (const x of sql) expect(syncSql(p)).toContain(x);
    expect(step(p).hazards).not.toContain('data-gap');
    expect(p.warnings.filter((w) => w.code === 'data-gap')).toEqual([]);
  });

  it("the value PostgreSQL kept for the publisher's old rows (now()), then the publisher's default", () => {
    const p = added(
      { default: 'now()', notNull: true, missing: '2026-11-30T20:28:42.816845+00:00' },
      'timestamp with time zone',
    );
    expect(step(p).statements.map((x) => x.sql)).toEqual([
      'ALTER TABLE "public"."orders"\n  ADD COLUMN "b" timestamp with time zone DEFAULT \'2026-11-30T20:28:42.816845+00:00\'::timestamp with time zone NOT NULL',
      'ALTER TABLE "public"."orders"\n  ALTER COLUMN "b" SET DEFAULT now()',
    ]);
    expect(step(p).hazards).not.toContain('data-gap');
    expect(step(p).hazards).not.toContain('rewrites-table');
    // the default once the subscription has applied the inserts from before the publisher's ADD COLUMN
    expect(step(p).defaultsAfter).toEqual({
      node: 'east',
      subscription: 'west_orders',
      slots: ['west_orders'],
      table: ORDERS,
      columns: ['b'],
      from: 1,
    });
    expect(step(p).reasonText).toContain(
      'the default of b is set once west_orders has applied what east inserted before adding it',
    );
  });

  const kept = { default: 'now()', notNull: true, missing: '2026-11-30T20:28:42.816845+00:00' };
  const keptWorld = (
    bend: (w: { t: Topology; state: ClusterState }) => void,
    sub: ColumnSpec[] = [ID, ['a', 'text']],
  ) => {
    const w = world(
      'auto',
      [table(ORDERS, [ID, ['a', 'text'], ['b', 'timestamp with time zone', kept]])],
      [table(ORDERS, sub)],
    );
    bend(w);
    return planOf(w);
  };

  it('a subscription this plan creates: nothing from before is on its way, the default in the same run', () => {
    const p = keptWorld((w) => {
      delete at(w.state, 'west').subscriptions.west_orders;
      delete at(w.state, 'east').slots.west_orders;
    });
    expect(step(p).defaultsAfter).toBeUndefined();
    expect(syncSql(p)).toContain('ALTER COLUMN "b" SET DEFAULT now()');
    expect(step(p).hazards).not.toContain('data-gap');
  });

  it.each([
    [
      'disabled (its slot is read instead)',
      (w: { t: Topology; state: ClusterState }) => {
        at(w.state, 'west').subscriptions.west_orders!.enabled = false;
      },
    ],
    [
      'to be disabled (after this step)',
      (w: { t: Topology; state: ClusterState }) => {
        w.t.subscriptions.west_orders!.enabled = false;
      },
    ],
  ])('a subscription %s: the default after the wait, no data-gap', (_, bend) => {
    const p = keptWorld(bend);
    expect(step(p).defaultsAfter).toEqual(
      expect.objectContaining({ subscription: 'west_orders', columns: ['b'], from: 1 }),
    );
    expect(step(p).hazards).not.toContain('data-gap');
  });

  it('a subscription without a slot, which steep can neither wait on nor read: gated data-gap naming the default', () => {
    const p = keptWorld((w) => {
      const o = at(w.state, 'west').subscriptions.west_orders!;
      o.enabled = false;
      o.slotNone = true;
    });
    expect(step(p).defaultsAfter).toBeUndefined();
    expect(syncSql(p)).toContain('ALTER COLUMN "b" SET DEFAULT now()');
    expect(step(p).hazards).toContain('data-gap');
    expect(gapsOfStep(step(p))).toEqual([
      expect.objectContaining({ table: ORDERS, reason: expect.stringContaining('the default of column b') }),
    ]);
    expect(p.warnings.find((w) => w.code === 'data-gap')!.message).toContain(
      'steep reinit west_orders --tables public.orders',
    );
  });

  it('the default left for a later apply (the wait gave up): set alone, after the wait', () => {
    const p = keptWorld(() => {}, [
      ID,
      ['a', 'text'],
      [
        'b',
        'timestamp with time zone',
        { default: "'2026-11-30 20:28:42.816845+00'::timestamp with time zone", notNull: true },
      ],
    ]);
    expect(step(p).statements.map((x) => x.sql)).toEqual([
      'ALTER TABLE "public"."orders"\n  ALTER COLUMN "b" SET DEFAULT now()',
    ]);
    expect(step(p).defaultsAfter).toEqual(expect.objectContaining({ columns: ['b'], from: 0 }));
  });

  it('a default dropped after the ADD: its value for the old rows, then no default', () => {
    const p = added({ missing: "it's" }, 'text');
    expect(syncSql(p)).toContain("ADD COLUMN \"b\" text DEFAULT 'it''s'::text");
    expect(syncSql(p)).toContain('ALTER COLUMN "b" DROP DEFAULT');
  });

  it.each([
    ['a default with no kept value (set after the ADD, or a rewrite since)', { default: '0', notNull: true }],
    ['a volatile default', { default: 'random()' }],
    ['an identity', { identity: 'always' as const, notNull: true }],
  ])('%s: gated data-gap naming the column, with the copy that closes it', (_, extra) => {
    const p = added(extra);
    expect(step(p).hazards).toContain('data-gap');
    expect(gapsOfStep(step(p))).toEqual([
      expect.objectContaining({
        table: ORDERS,
        subscription: 'west_orders',
        reason: expect.stringContaining('column b'),
      }),
    ]);
    const warning = p.warnings.find((w) => w.code === 'data-gap')!.message;
    expect(warning).toContain('column b is added to public.orders on west');
    expect(warning).toContain('steep reinit west_orders --tables public.orders');
  });

  it('nullable: NULL in the old rows, then the default (a column given its default after its ADD), no rewrite', () => {
    const p = added({ default: 'random()' }, 'double precision');
    expect(step(p).statements.map((x) => x.sql)).toEqual([
      'ALTER TABLE "public"."orders"\n  ADD COLUMN "b" double precision',
      'ALTER TABLE "public"."orders"\n  ALTER COLUMN "b" SET DEFAULT random()',
    ]);
    expect(step(p).hazards).not.toContain('rewrites-table');
  });
});

describe("a type change converts the subscriber's rows with its own cast: gated data-gap", () => {
  it('names the column, the cast and the copy that closes it', () => {
    const p = planOf(
      world('auto', [table(ORDERS, [ID, ['v', 'numeric(12,2)']])], [table(ORDERS, [ID, ['v', 'integer']])]),
    );
    const step = p.steps.find((s) => printAddress(s.address) === `table.west/${ORDERS}`)!;
    expect(step.hazards).toEqual(expect.arrayContaining(['data-gap', 'rewrites-table']));
    expect(gapsOfStep(step)).toEqual([
      expect.objectContaining({
        table: ORDERS,
        subscription: 'west_orders',
        reason: expect.stringContaining('converted with v::numeric(12,2)'),
      }),
    ]);
    const warning = p.warnings.find((w) => w.code === 'data-gap')!.message;
    expect(warning).toContain(
      'the type of column v of public.orders is changed on west from integer to numeric(12,2)',
    );
    expect(warning).toContain('steep reinit west_orders --tables public.orders');
  });
});

describe('hazards of an added column', () => {
  it.each([
    [{ default: '0' }, false],
    [{ default: "'x'::character varying(20)" }, false],
    [{ default: "'0'::numeric(10,2)" }, false],
    [{ default: 'now()' }, true],
    [{ default: "nextval('public.s'::regclass)" }, true],
    [{ identity: 'always' as const }, true],
    [{ generated: 'stored' as const, default: '(a * 2)' }, true],
    [{}, false],
  ])('%o rewrites the table: %s', (extra, rewrites) => {
    expect(addRewritesTable(col(['c', 'integer', extra], 0))).toBe(rewrites);
  });
});

describe('one subscriber table, two auto subscriptions', () => {
  it('is synced by one step both subscriptions depend on, when their publishers agree', () => {
    const mood: UserType = { schema: 'public', name: 'mood', kind: 'enum', extension: null, labels: ['a'] };
    const orders = table(ORDERS, [ID, ['m', 'public.mood']]);
    const w = world('auto', [orders], [], {
      pubExtra: { types: { 'public.mood': mood } },
      alter: (t) => {
        t.publications.more_pub = publication('more_pub', 'east', { tables: [ORDERS] });
        t.subscriptions.west_more = subscription('west_more', 'west', 'east', ['more_pub'], {
          schemaSync: 'auto',
        });
      },
    });
    const p = planOf(w);
    expect(p.errors.filter((e) => e.code.startsWith('schema.'))).toEqual([]);
    const steps = p.steps.filter((s) => s.kind === 'table-sync');
    expect(steps).toHaveLength(1);
    expect(steps[0]!.statements.map((s) => s.sql).join('\n')).toContain('CREATE TYPE');
    expect(p.schema.map((s) => s.subscription)).toEqual(['west_more', 'west_orders']);
  });
});

describe('scopes for auto mode', () => {
  it('read types, sequences, schemas and extensions only where an auto subscription needs them', () => {
    const t = topology({
      publications: [
        publication('orders_pub', 'east'),
        publication('back_pub', 'west', { tables: ['public.b'] }),
      ],
      subscriptions: [
        subscription('west_orders', 'west', 'east', ['orders_pub'], { schemaSync: 'auto' }),
        subscription('north_back', 'north', 'west', ['back_pub']),
      ],
    });
    const scopes = subscribedScopes(t);
    expect(scopes.east!.objects).toBe(true);
    expect(scopes.west!.objects).toBe(true);
    expect(scopes.north!.objects).toBeUndefined();
  });
});

describe('columns read only where fingerprints differ', () => {
  it('asks for the columns of differing and one-sided tables only, and plans as with every column read', () => {
    const same = table('public.same', [ID, ['v', 'text']]);
    const pubChanged = table('public.changed', [ID, ['n', 'numeric(12,2)']]);
    const subChanged = table('public.changed', [ID, ['n', 'numeric(10,2)']]);
    const missing = table('public.missing', [ID]);
    const listed = table('public.listed', [ID, ['a', 'int'], ['b', 'int']]);
    const listedSub = table('public.listed', [ID, ['a', 'int']]);
    for (const mode of ['strict', 'manual', 'auto'] as const) {
      const full = world(mode, [same, pubChanged, missing, listed], [same, subChanged, listedSub], {
        alter: (t) => {
          t.publications.orders_pub!.tables.find((x) => x.name === 'listed')!.columns = ['id', 'a'];
        },
      });
      // the plan's read: fingerprints, no columns
      const quick = structuredClone(full.state);
      for (const node of ['east', 'west']) {
        const tables = at(quick, node).tableSchemas!.tables as Record<string, { columns: unknown }>;
        for (const t of Object.values(tables)) t.columns = null;
      }
      const requests = columnRequests(full.t, quick);
      expect([...requests.entries()], mode).toEqual([
        [
          'east',
          [
            { schema: 'public', name: 'changed' },
            { schema: 'public', name: 'listed' },
            { schema: 'public', name: 'missing' },
          ],
        ],
        [
          'west',
          [
            { schema: 'public', name: 'changed' },
            { schema: 'public', name: 'listed' },
          ],
        ],
      ]);
      // what readDifferingColumns then fills in gives the plan of the full read
      for (const [node, tables] of requests)
        for (const t of tables) {
          const qn = `${t.schema}.${t.name}`;
          at(quick, node).tableSchemas!.tables[qn] = at(full.state, node).tableSchemas!.tables[qn]!;
        }
      expect(columnRequests(full.t, quick).size).toBe(0);
      const expected = planOf(full);
      expect(planOf({ t: full.t, state: quick }), mode).toEqual(expected);
      expect(expected.schema.map((s) => s.status)).toEqual(['MISMATCH', 'MATCH', 'LOCAL_ONLY', 'MATCH']);
    }
  });
});

describe('a renamed column is renamed once the changes from before the rename are applied', () => {
  const renamed = () =>
    world('auto', [table(ORDERS, [ID, ['amount', 'integer']])], [table(ORDERS, [ID, ['qty', 'integer']])]);
  const stepOf = (p: Plan, address: string) => p.steps.find((s) => printAddress(s.address) === address)!;

  it('the step names what it waits for; the subscription’s own step (an ENABLE) goes first', () => {
    const w = renamed();
    at(w.state, 'west').subscriptions.west_orders!.enabled = false;
    const p = planOf(w);
    const rename = stepOf(p, 'table.west/public.orders');
    const enable = stepOf(p, 'subscription.west_orders');
    expect(rename.renamedAfter).toEqual({ subscription: 'west_orders', table: ORDERS, column: 'qty' });
    expect(rename.dependsOn).toContain(enable.id);
    expect(enable.dependsOn).not.toContain(rename.id);
    expect(rename.reasonText).toContain('(has it? not read)');
  });

  it.each([
    [
      { state: 'applied', upto: '0/5000000' },
      'has it? yes: no change still to apply names qty (read on east up to 0/5000000)',
    ],
    [
      { state: 'pending', upto: '0/5000000' },
      'has it? not yet: changes still to apply name qty (read on east up to 0/5000000)',
    ],
    [{ state: 'unknown', why: 'no slot free' }, 'has it? unknown: no slot free'],
  ] as const)('the reason says what plan read: %j', (read, text) => {
    const w = renamed();
    at(w.state, 'west').renamesApplied = { west_orders: { [ORDERS]: read } };
    expect(stepOf(planOf(w), 'table.west/public.orders').reasonText).toContain(text);
  });

  it('a subscription that does not exist yet has nothing to apply: no wait', () => {
    const w = renamed();
    delete at(w.state, 'west').subscriptions.west_orders;
    expect(stepOf(planOf(w), 'table.west/public.orders').renamedAfter).toBeUndefined();
  });
});

describe('a column given to another column on the publisher (model/columnIdentity.ts)', () => {
  const REASON = 'columns a and b of public.orders were swapped on east (each name is now the other column)';
  const broken = (mode: SchemaSyncMode, pub: ColumnSpec[], sub: ColumnSpec[]) => {
    const w = world(mode, [table(ORDERS, pub)], [table(ORDERS, sub)]);
    at(w.state, 'west').columnGaps = {
      west_orders: {
        [ORDERS]: {
          reason: REASON,
          wayOut: 'copy it again: `steep reinit west_orders --tables public.orders`',
        },
      },
    };
    return planOf(w);
  };

  it.each(['auto', 'manual', 'strict'] as const)(
    '%s: a plan error with the way out, never harmless',
    (mode) => {
      const p = broken(mode, [ID, ['b', 'text'], ['a', 'text']], [ID, ['a', 'text'], ['b', 'text']]);
      expect(codes(p.errors)).toEqual(['schema.column-identity']);
      expect(p.errors[0]!.message).toContain(REASON);
      expect(p.errors[0]!.message).toContain('steep reinit west_orders --tables public.orders');
      expect(p.schema).toEqual([
        expect.objectContaining({ status: 'ORDER_DIFFERS', identityChanged: REASON }),
      ]);
    },
  );

  it('auto: no column added with a default made up for the old rows', () => {
    const p = broken(
      'auto',
      [
        ID,
        ['c_old', 'text', { default: 'md5((random())::text)' }],
        ['c', 'text', { default: "'new'::text" }],
      ],
      [ID, ['c', 'text', { default: 'md5((random())::text)' }]],
    );
    expect(codes(p.errors)).toEqual(['schema.column-identity']);
    expect(syncSql(p)).toBe('');
  });
});

// PostgreSQL 18's 011_generated.pl: a generated column a publication sends (publish_generated_columns
// = stored, or named in its column list) lands in a plain subscriber column, and a generated
// subscriber column refuses it ("has incompatible generated column"); one it does not send is
// computed on each side
describe('generated columns a publication sends (18)', () => {
  const G = (expr: string): ColumnSpec => ['g', 'integer', { generated: 'stored', default: expr }];
  const A: ColumnSpec = ['a', 'integer'];
  /** east publishes `generatedColumns` (observed as `was`), or a column list naming `list` */
  const sends = (
    pub: ColumnSpec[],
    sub: ColumnSpec[],
    opts: {
      generated?: 'stored' | 'none';
      was?: 'stored' | 'none';
      list?: string[];
      versions?: Record<string, number>;
    } = {},
  ) => {
    const w = world('auto', [table(ORDERS, pub)], [table(ORDERS, sub)], {
      versions: opts.versions,
      alter: (t) => {
        const p = t.publications.orders_pub!;
        p.generatedColumns = opts.generated ?? 'stored';
        if (opts.list) p.tables = p.tables.map((x) => ({ ...x, columns: opts.list! }));
      },
    });
    const observed = at(w.state, 'east').publications.orders_pub!;
    observed.generatedColumns = opts.was ?? opts.generated ?? 'stored';
    return w;
  };

  it('switched to stored over a generated subscriber column: made plain first, then the publication', () => {
    const w = sends([ID, A, G('(a * 2)')], [ID, A, G('(a * 2)')], { was: 'none' });
    const p = planOf(w);
    expect(p.errors).toEqual([]);
    expect(syncSql(p)).toContain('ALTER COLUMN "g" DROP EXPRESSION');
    // what the publisher wrote before its change, applied after the column became plain, gets NULL
    const sync = p.steps.find((s) => printAddress(s.address) === 'table.west/public.orders')!;
    const publication = p.steps.find((s) => printAddress(s.address) === 'publication.orders_pub')!;
    expect(publication.statements[0]?.sql).toContain("publish_generated_columns = 'stored'");
    expect(publication.dependsOn).toContain(sync.id);
    expect(sync.hazards).toContain('data-gap');
    expect(p.warnings.map((x) => x.message).join('\n')).toMatch(
      /rows east writes before its publication sends g and west applies after get NULL \(/,
    );
  });

  it('named in a column list, sent whatever generatedColumns says', () => {
    const p = planOf(
      sends([ID, A, G('(a * 2)')], [ID, A, G('(a * 2)')], { generated: 'none', list: ['id', 'g'] }),
    );
    expect(p.errors).toEqual([]);
    expect(syncSql(p)).toContain('ALTER COLUMN "g" DROP EXPRESSION');
  });

  it('another expression on the subscriber: its rows keep their own values, gated data-gap', () => {
    const p = planOf(sends([ID, A, G('(a * 2)')], [ID, A, G('(a * 22)')]));
    expect(syncSql(p)).toContain('ALTER COLUMN "g" DROP EXPRESSION');
    const sync = p.steps.find((s) => printAddress(s.address) === 'table.west/public.orders')!;
    expect(sync.hazards).toContain('data-gap');
    expect(gapsOfStep(sync).map((g) => g.table)).toEqual([ORDERS]);
    expect(p.warnings.map((x) => x.message).join('\n')).toMatch(
      /keep what its own expression \(\(a \* 22\)\) computed, not east's \(\(a \* 2\)\)/,
    );
  });

  it('a plain subscriber column takes the values sent: no difference; not sent, it is one', () => {
    const sent = planOf(sends([ID, A, G('(a * 2)')], [ID, A, ['g', 'integer']]));
    expect(sent.errors).toEqual([]);
    expect(syncSql(sent)).toBe('');
    expect(sent.schema.map((c) => c.status)).toEqual(['MATCH']);
    const unsent = planOf(sends([ID, A, G('(a * 2)')], [ID, A, ['g', 'integer']], { generated: 'none' }));
    expect(codes(unsent.errors)).not.toEqual([]);
    // its way out names both: the column recreated generated, or the values sent into it
    expect(unsent.errors.map((e) => e.message).join('\n')).toContain(
      "cannot make a column generated in place; recreate it by hand, or have east's publication send its values into it (generatedColumns: stored)",
    );
  });

  it('not sent, both computed: nothing to do; the columns are read only where one may be sent', () => {
    const p = planOf(sends([ID, A, G('(a * 2)')], [ID, A, G('(a * 2)')], { generated: 'none' }));
    expect(p.errors).toEqual([]);
    expect(p.steps).toEqual([]);
    // no longer sent: another expression is set in place (its rows computed again), no gap
    const back = planOf(
      sends([ID, A, G('(a * 2)')], [ID, A, G('(a * 22)')], { generated: 'none', was: 'stored' }),
    );
    expect(syncSql(back)).toContain('SET EXPRESSION AS ((a * 2))');
    expect(back.steps.flatMap((s) => s.hazards)).not.toContain('data-gap');
    const fingerprintsOnly = (w: ReturnType<typeof sends>) => {
      for (const n of ['east', 'west'])
        for (const t of Object.values(at(w.state, n).tableSchemas!.tables)) t.columns = null;
      return columnRequests(w.t, w.state);
    };
    expect(
      fingerprintsOnly(sends([ID, A, G('(a * 2)')], [ID, A, G('(a * 2)')], { generated: 'none' })).size,
    ).toBe(0);
    // a column list names no generated column before 18: nothing read for it there
    const before18 = { east: PG17, west: PG17 };
    expect(
      fingerprintsOnly(sends([ID, A], [ID, A], { generated: 'none', list: ['id', 'a'], versions: before18 }))
        .size,
    ).toBe(0);
    expect(fingerprintsOnly(sends([ID, A], [ID, A], { generated: 'none', list: ['id', 'a'] })).size).toBe(2);
    expect([...fingerprintsOnly(sends([ID, A, G('(a * 2)')], [ID, A, G('(a * 2)')])).keys()]).toEqual([
      'east',
      'west',
    ]);
  });
});
