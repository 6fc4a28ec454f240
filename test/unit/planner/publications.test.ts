import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import { gapsOfStep } from '../../../src/model/continuity.js';
import { parseOwnership } from '../../../src/model/ownership.js';
import type { TableColumn } from '../../../src/model/tableSchema.js';
import type { Topology } from '../../../src/model/topology.js';
import { publicationDigest } from '../../../src/planner/digest.js';
import {
  at,
  codes,
  deparse,
  observe,
  observedPublication,
  observedTable,
  PG14,
  PG15,
  PG17,
  PG18,
  publication,
  runPlan,
  sqlOf,
  stepAt,
  subscription,
  table,
  topology,
} from './fixtures.js';

function base(): Topology {
  return topology({
    publications: [
      publication('orders_pub', 'east', {
        tables: [
          'public.orders',
          { table: 'public.customers', columns: ['id', 'name', 'region'], where: "region = 'eu'" },
        ],
      }),
    ],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
}

const ADDR = 'publication.orders_pub';

describe('publications: create', () => {
  it('creates an absent publication with its tables, filters, columns, parameters and marker', () => {
    const t = base();
    const s = observe(t);
    at(s, 'east').publications = {};
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step).toMatchObject({
      node: 'east',
      kind: 'publication-create',
      action: 'create',
      reason: 'absent',
      hazards: [],
    });
    expect(step.reasonText).toBe('declared in steep.yaml, absent on east');
    expect(step.statements).toEqual([
      {
        sql:
          'CREATE PUBLICATION "orders_pub" FOR TABLE "public"."customers" ("id", "name", "region") WHERE (region = \'eu\'), ' +
          '"public"."orders" WITH (publish = \'insert, update, delete, truncate\', publish_via_partition_root = false, ' +
          "publish_generated_columns = 'none')",
        transactional: true,
      },
      {
        sql: 'COMMENT ON PUBLICATION "orders_pub" IS \'managed by steep: topology=orders-eu\'',
        transactional: true,
      },
    ]);
    expect(step.changes).toContainEqual({
      path: 'tables',
      before: null,
      after: ['public.customers', 'public.orders'],
    });
    expect(step.changes).toContainEqual({
      path: 'tables[public.customers].where',
      before: null,
      after: "region = 'eu'",
    });
    expect(p.drift).toEqual([]);
  });

  it('has no publish_generated_columns before 18', () => {
    const t = topology({ publications: [publication('orders_pub', 'east')] });
    const s = observe(t, { version: PG17 });
    at(s, 'east').publications = {};
    expect(sqlOf(runPlan(t, s), ADDR)[0]).toBe(
      'CREATE PUBLICATION "orders_pub" FOR TABLE "public"."orders" WITH (publish = \'insert, update, delete, truncate\', publish_via_partition_root = false)',
    );
  });

  it('creates FOR TABLES IN SCHEMA, FOR ALL TABLES, and tables with schemas together', () => {
    const t = topology({
      publications: [
        publication('sales_pub', 'east', { tables: [], schemas: ['sales', 'Billing'] }),
        publication('all_pub', 'east', { allTables: true, tables: [], publish: ['insert'] }),
        publication('mixed_pub', 'east', { tables: ['public.orders'], schemas: ['sales'] }),
      ],
    });
    const s = observe(t);
    at(s, 'east').publications = {};
    const p = runPlan(t, s);
    expect(sqlOf(p, 'publication.sales_pub')[0]).toBe(
      'CREATE PUBLICATION "sales_pub" FOR TABLES IN SCHEMA "Billing", "sales" WITH (publish = \'insert, update, delete, truncate\', publish_via_partition_root = false, publish_generated_columns = \'none\')',
    );
    expect(sqlOf(p, 'publication.all_pub')[0]).toBe(
      "CREATE PUBLICATION \"all_pub\" FOR ALL TABLES WITH (publish = 'insert', publish_via_partition_root = false, publish_generated_columns = 'none')",
    );
    expect(sqlOf(p, 'publication.mixed_pub')[0]).toMatch(
      /^CREATE PUBLICATION "mixed_pub" FOR TABLE "public"."orders", TABLES IN SCHEMA "sales" WITH/,
    );
  });

  it('quotes identifiers that need it: spaces, hyphens, upper case, embedded quotes', () => {
    const t = topology({
      publications: [
        publication('Orders-Pub', 'east', {
          tables: [
            { table: 'Sales.Order Items', columns: ['Item Id', 'qty'] },
            'public.my-table',
            'public.we"ird',
          ],
        }),
      ],
    });
    const s = observe(t);
    at(s, 'east').publications = {};
    const sql = sqlOf(runPlan(t, s), 'publication.Orders-Pub');
    expect(sql[0]).toBe(
      'CREATE PUBLICATION "Orders-Pub" FOR TABLE "Sales"."Order Items" ("Item Id", "qty"), "public"."my-table", "public"."we""ird" ' +
        "WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = false, publish_generated_columns = 'none')",
    );
    expect(sql[1]).toBe('COMMENT ON PUBLICATION "Orders-Pub" IS \'managed by steep: topology=orders-eu\'');
  });
});

describe('publications: in-place changes', () => {
  it('adds a table with one atomic SET TABLE and refreshes the subscriber', () => {
    const t = base();
    const s = observe(t);
    t.publications.orders_pub!.tables.push(table('public.returns'));
    at(s, 'east').tables['public.returns'] = observedTable('public.returns');
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step).toMatchObject({ kind: 'publication-alter', action: 'update', reason: 'drifted' });
    expect(step.changes).toEqual([
      {
        path: 'tables',
        before: ['public.customers', 'public.orders'],
        after: ['public.customers', 'public.orders', 'public.returns'],
      },
    ]);
    expect(step.statements).toEqual([
      {
        sql: 'ALTER PUBLICATION "orders_pub" SET TABLE "public"."customers" ("id", "name", "region") WHERE (region = \'eu\'), "public"."orders", "public"."returns"',
        transactional: true,
      },
    ]);
    expect(p.drift).toEqual([
      {
        address: ADDR,
        path: 'tables',
        expected: ['public.customers', 'public.orders', 'public.returns'],
        actual: ['public.customers', 'public.orders'],
      },
    ]);
    const refresh = stepAt(p, 'subscription.west_orders');
    expect(refresh).toMatchObject({ action: 'update', reason: 'config-changed', hazards: ['copies-data'] });
    expect(refresh.statements).toEqual([
      {
        sql: 'ALTER SUBSCRIPTION "west_orders" REFRESH PUBLICATION WITH (copy_data = true)',
        transactional: false,
      },
    ]);
    expect(refresh.dependsOn).toEqual([step.id]);
  });

  it('adds a table to the publication of a two-phase subscriber: the copying refresh PostgreSQL refuses is an error', () => {
    const t = base();
    const s = observe(t);
    t.subscriptions.west_orders!.options.twoPhase = true;
    at(s, 'west').subscriptions.west_orders!.options.twoPhase = true;
    t.publications.orders_pub!.tables.push(table('public.returns'));
    at(s, 'east').tables['public.returns'] = observedTable('public.returns');
    const p = runPlan(t, s);
    expect(p.errors).toContainEqual({
      code: 'subscription.two_phase_copy',
      address: 'subscription.west_orders',
      node: 'west',
      message:
        'subscription west_orders on west has two_phase on, and PostgreSQL refuses the refresh that copies the tables its publications gain ' +
        '(REFRESH PUBLICATION WITH (copy_data = true) is not allowed when two_phase is enabled): set options.twoPhase: false for west_orders in steep.yaml ' +
        '(steep apply turns it off in place on PostgreSQL 18, and replaces the subscription before 18), or leave its publications as they are',
    });
    expect(p.steps.flatMap((x) => x.statements.map((st) => st.sql))).not.toContain(
      'ALTER SUBSCRIPTION "west_orders" REFRESH PUBLICATION WITH (copy_data = true)',
    );
  });

  it('removes a table', () => {
    const t = base();
    const s = observe(t);
    t.publications.orders_pub!.tables = [table('public.orders')];
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.statements.map((x) => x.sql)).toEqual([
      'ALTER PUBLICATION "orders_pub" SET TABLE "public"."orders"',
    ]);
  });

  it('changes a row filter, compared in PostgreSQL normalised form, and warns to reinit', () => {
    const t = base();
    const s = observe(t);
    at(s, 'east').publications.orders_pub!.tables[0]!.where = "(region = 'eu'::text)";
    // equal after normalisation: no step
    at(s, 'east').rowFilters['public.customers'] = { "region = 'eu'": "(region = 'eu'::text)" };
    expect(runPlan(t, s).steps).toEqual([]);

    t.publications.orders_pub!.tables[0]!.where = "region in ('eu', 'uk')";
    at(s, 'east').rowFilters['public.customers']!["region in ('eu', 'uk')"] =
      "(region = ANY (ARRAY['eu'::text, 'uk'::text]))";
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step.changes.filter((c) => c.path !== 'gaps')).toEqual([
      {
        path: 'tables[public.customers].where',
        before: "(region = 'eu'::text)",
        after: "region in ('eu', 'uk')",
      },
    ]);
    expect(step.statements.map((x) => x.sql)).toEqual([
      'ALTER PUBLICATION "orders_pub" SET TABLE "public"."customers" ("id", "name", "region") WHERE (region in (\'eu\', \'uk\')), "public"."orders"',
    ]);
    // west_orders holds the table: the rows the new filter takes in are never copied, a gap
    expect(step.hazards).toEqual(['data-gap']);
    expect(gapsOfStep(step)).toEqual([
      expect.objectContaining({
        table: 'public.customers',
        subscription: 'west_orders',
        reason: expect.stringContaining(
          'changes what west_orders receives of public.customers; on west: rows its filters take in or leave out otherwise than before',
        ),
      }),
    ]);
    expect(p.warnings).toEqual([
      expect.objectContaining({
        code: 'data-gap',
        address: ADDR,
        message: expect.stringContaining('steep reinit west_orders --tables public.customers'),
      }),
    ]);
    // a filter change needs no refresh: the subscription is untouched
    expect(p.steps.map((x) => printAddress(x.address))).toEqual([ADDR]);
  });

  it('falls back to comparing the raw text when the catalog has no normalised form', () => {
    const t = base();
    const s = observe(t);
    at(s, 'east').rowFilters = {};
    at(s, 'east').publications.orders_pub!.tables[0]!.where = "region = 'eu'";
    expect(runPlan(t, s).steps).toEqual([]);
  });

  it('changes a column list, gated data-gap where a subscription holds the table', () => {
    const t = base();
    const s = observe(t);
    t.publications.orders_pub!.tables[0]!.columns = ['email', 'id', 'name', 'region'];
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step.changes.filter((c) => c.path !== 'gaps')).toEqual([
      {
        path: 'tables[public.customers].columns',
        before: ['id', 'name', 'region'],
        after: ['email', 'id', 'name', 'region'],
      },
    ]);
    expect(step.statements[0]!.sql).toBe(
      'ALTER PUBLICATION "orders_pub" SET TABLE "public"."customers" ("email", "id", "name", "region") WHERE (region = \'eu\'), "public"."orders"',
    );
    expect(codes(p.warnings)).toEqual(['data-gap']);
    expect(gapsOfStep(step).map((g) => [g.subscription, g.table])).toEqual([
      ['west_orders', 'public.customers'],
    ]);
  });

  it('a filter change opens no gap where no subscription holds the table yet', () => {
    const t = base();
    const s = observe(t);
    // the subscription not created yet: its create copies under the new filter
    at(s, 'west').subscriptions = {};
    t.publications.orders_pub!.tables[0]!.columns = ['email', 'id', 'name', 'region'];
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.hazards).toEqual([]);
    expect(gapsOfStep(step)).toEqual([]);
  });

  it('an action published from now on is a gap where it takes away a difference verify allowed', () => {
    const t = base();
    t.publications.orders_pub!.publish = ['insert'];
    t.publications.upd_pub = publication('upd_pub', 'east', {
      tables: ['public.orders'],
      publish: ['insert', 'update'],
    });
    t.subscriptions.west_orders!.publications = ['orders_pub', 'upd_pub'];
    const s = observe(t);
    const east = at(s, 'east');
    // truncate alone: rows deleted stay while delete is unsent, as verify allowed
    t.publications.orders_pub!.publish = ['insert', 'truncate'];
    expect(stepAt(runPlan(t, s), ADDR).hazards).toEqual([]);

    t.publications.orders_pub!.publish = ['insert', 'update', 'delete', 'truncate'];
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step.hazards).toEqual(['data-gap']);
    // upd_pub sent the updates of orders: only the rows it deleted are left there
    expect(
      gapsOfStep(step).map((g) => [g.table, g.reason.match(/verify allowed its ([a-z, ]+) rows/)?.[1]]),
    ).toEqual([
      ['public.customers', 'extra, different'],
      ['public.orders', 'extra'],
    ]);
    expect(p.warnings.find((w) => w.code === 'data-gap')?.message).toContain(
      'steep reinit west_orders --tables public.customers,public.orders',
    );
    // an action taken away opens none: what PostgreSQL leaves then, verify allows
    t.publications.orders_pub!.publish = ['insert'];
    east.publications.orders_pub!.publish = ['insert', 'update', 'delete', 'truncate'];
    expect(stepAt(runPlan(t, s), ADDR).hazards).toEqual([]);
  });

  it('a table it stops publishing that a filtered publication still sends: the rows filtered out stay, a gap', () => {
    const t = base();
    t.publications.all_pub = publication('all_pub', 'east', { tables: ['public.customers'] });
    t.subscriptions.west_orders!.publications = ['all_pub', 'orders_pub'];
    const s = observe(t);
    t.publications.all_pub!.tables = [];
    const step = stepAt(runPlan(t, s), 'publication.all_pub');
    expect(step.hazards).toEqual(['data-gap']);
    expect(gapsOfStep(step)).toEqual([
      expect.objectContaining({
        table: 'public.customers',
        reason: expect.stringContaining(
          'receives of public.customers; on west: rows it filters out now, which stay',
        ),
      }),
    ]);
  });

  it('a partition held on its own, its root then published via root with a filter: it leaves, no gap', () => {
    const t = topology({
      publications: [publication('part_pub', 'east', { tables: ['part.orders'] })],
      subscriptions: [subscription('west_orders', 'west', 'east', ['part_pub'])],
    });
    const s = observe(t);
    at(s, 'east').tables['part.orders_0'] = { ...observedTable('part.orders_0'), partitionOf: 'part.orders' };
    at(s, 'west').subscriptions.west_orders!.tables = [
      { schema: 'part', name: 'orders_0', state: 'r', lsn: null },
    ];
    t.publications.part_pub = publication('part_pub', 'east', {
      tables: [{ table: 'part.orders', where: 'id > 0' }],
      viaPartitionRoot: true,
    });
    const step = stepAt(runPlan(t, s), 'publication.part_pub');
    expect(gapsOfStep(step)).toEqual([]);
  });

  it('a filter change where no subscription is declared warns that nothing is copied again', () => {
    const t = base();
    t.subscriptions = {};
    const s = observe(t);
    t.publications.orders_pub!.tables[0]!.columns = ['email', 'id', 'name', 'region'];
    const p = runPlan(t, s);
    expect(stepAt(p, ADDR).hazards).toEqual([]);
    expect(codes(p.warnings)).toEqual(['no-recopy']);
  });

  it('changes schemas with SET TABLES IN SCHEMA, combined with tables on 15+', () => {
    const t = topology({
      publications: [publication('sales_pub', 'east', { tables: [], schemas: ['sales'] })],
    });
    const s = observe(t, { version: PG15 });
    t.publications.sales_pub!.schemas = ['billing', 'sales'];
    expect(sqlOf(runPlan(t, s), 'publication.sales_pub')).toEqual([
      'ALTER PUBLICATION "sales_pub" SET TABLES IN SCHEMA "billing", "sales"',
    ]);
    t.publications.sales_pub!.tables = [table('public.orders')];
    at(s, 'east').tables['public.orders'] = observedTable('public.orders');
    const step = stepAt(runPlan(t, s), 'publication.sales_pub');
    expect(step.statements.map((x) => x.sql)).toEqual([
      'ALTER PUBLICATION "sales_pub" SET TABLE "public"."orders", TABLES IN SCHEMA "billing", "sales"',
    ]);
    expect(step.changes.map((c) => c.path)).toEqual(['tables', 'schemas']);
  });

  it('empties a publication by dropping what it has (SET cannot take an empty list)', () => {
    const t = base();
    const s = observe(t);
    t.publications.orders_pub!.tables = [];
    expect(sqlOf(runPlan(t, s), ADDR)).toEqual([
      'ALTER PUBLICATION "orders_pub" DROP TABLE ONLY "public"."customers", ONLY "public"."orders"',
    ]);
  });

  it.each([
    [
      'publish',
      { publish: ['insert', 'update'] },
      'ALTER PUBLICATION "orders_pub" SET (publish = \'insert, update\')',
    ],
    [
      'viaPartitionRoot',
      { viaPartitionRoot: true },
      'ALTER PUBLICATION "orders_pub" SET (publish_via_partition_root = true)',
    ],
    [
      'generatedColumns',
      { generatedColumns: 'stored' },
      'ALTER PUBLICATION "orders_pub" SET (publish_generated_columns = \'stored\')',
    ],
  ] as const)('changes %s with SET (…) on 18', (path, change, sql) => {
    const t = base();
    const s = observe(t, { version: PG18 });
    Object.assign(t.publications.orders_pub!, change);
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.statements.map((x) => x.sql)).toEqual([sql]);
    // the tables' columns were not read: whether one has a stored generated column whose values
    // never came is unknown, so the switch is gated (the known cases below)
    expect(step.changes.map((c) => c.path)).toEqual(path === 'generatedColumns' ? [path, 'gaps'] : [path]);
  });

  it('generatedColumns: stored is a gap where a held table has a stored generated column, none where it has none', () => {
    const column = (name: string, generated: 'stored' | null): TableColumn => ({
      name,
      type: 'integer',
      default: generated ? '(id * 2)' : null,
      notNull: false,
      ordinal: name === 'id' ? 1 : 2,
      identity: null,
      generated,
      collation: null,
      baseType: { schema: 'pg_catalog', name: 'int4' },
      sequences: [],
    });
    const planned = (generated: 'stored' | null) => {
      const t = base();
      const s = observe(t, { version: PG18 });
      const columns = [column('id', null), column('g', generated)];
      at(s, 'east').tableSchemas = {
        scope: { all: true, schemas: [], tables: [] },
        tables: {
          'public.orders': {
            schema: 'public',
            name: 'orders',
            kind: 'r',
            partition: false,
            replicaIdentity: 'd',
            columns,
            primaryKey: ['id'],
            fingerprint: 'f',
          },
        },
        types: {},
        sequences: {},
        schemas: ['public'],
        extensions: [],
      };
      t.publications.orders_pub!.generatedColumns = 'stored';
      return stepAt(runPlan(t, s), ADDR);
    };
    const gated = planned('stored');
    expect(gated.hazards).toEqual(['data-gap']);
    expect(gapsOfStep(gated)).toEqual([
      expect.objectContaining({
        table: 'public.orders',
        subscription: 'west_orders',
        reason: expect.stringContaining(
          'values of its stored generated columns it did not send before, never copied',
        ),
      }),
    ]);
    expect(planned(null).hazards).toEqual([]);
  });

  it('puts several parameter changes in one SET (…): before the tables when via-root turns on, after them when it turns off', () => {
    // PostgreSQL refuses a filter on a partitioned table while publish_via_partition_root is
    // false, and refuses to turn it off while such a filter is there
    const t = base();
    const s = observe(t);
    t.publications.orders_pub!.publish = ['insert'];
    t.publications.orders_pub!.viaPartitionRoot = true;
    t.publications.orders_pub!.tables = [table('public.orders')];
    expect(sqlOf(runPlan(t, s), ADDR)).toEqual([
      'ALTER PUBLICATION "orders_pub" SET (publish = \'insert\', publish_via_partition_root = true)',
      'ALTER PUBLICATION "orders_pub" SET TABLE "public"."orders"',
    ]);
    const on = base();
    on.publications.orders_pub!.viaPartitionRoot = true;
    const off = base();
    off.publications.orders_pub!.tables = [table('public.orders')];
    off.publications.orders_pub!.publish = ['insert'];
    expect(sqlOf(runPlan(off, observe(on)), ADDR)).toEqual([
      'ALTER PUBLICATION "orders_pub" SET TABLE "public"."orders"',
      'ALTER PUBLICATION "orders_pub" SET (publish = \'insert\', publish_via_partition_root = false)',
    ]);
  });

  it('treats an unset generatedColumns as PostgreSQL 18 default none: a hand-made change is drift', () => {
    const t = base();
    const s = observe(t, { version: PG18 });
    at(s, 'east').publications.orders_pub!.generatedColumns = 'stored';
    const p = runPlan(t, s);
    expect(p.drift).toEqual([
      { address: ADDR, path: 'generatedColumns', expected: 'none', actual: 'stored' },
    ]);
    expect(sqlOf(p, ADDR)).toEqual([
      'ALTER PUBLICATION "orders_pub" SET (publish_generated_columns = \'none\')',
    ]);
  });
});

describe('publications: replace', () => {
  it('replaces allTables → a list (drop and create, hazard drops-object, reason cannot-alter)', () => {
    const t = base();
    const s = observe(t);
    const o = at(s, 'east').publications.orders_pub!;
    o.allTables = true;
    o.tables = [];
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step).toMatchObject({
      kind: 'publication-create',
      action: 'replace',
      reason: 'cannot-alter',
      hazards: ['drops-object'],
    });
    expect(step.statements.map((x) => x.sql)).toEqual([
      'DROP PUBLICATION "orders_pub"',
      expect.stringMatching(/^CREATE PUBLICATION "orders_pub" FOR TABLE "public"."customers"/),
      'COMMENT ON PUBLICATION "orders_pub" IS \'managed by steep: topology=orders-eu\'',
    ]);
    expect(step.changes[0]).toEqual({ path: 'allTables', before: true, after: false });
    // the subscriber receives the same tables before and after: no refresh
    expect(p.steps.filter((x) => printAddress(x.address) === 'subscription.west_orders')).toEqual([]);
    // one table fewer: the subscriber refreshes after the replace, copying nothing
    t.publications.orders_pub!.tables = [table('public.customers')];
    const fewer = runPlan(t, s);
    const refresh = stepAt(fewer, 'subscription.west_orders');
    expect(refresh.dependsOn).toEqual([stepAt(fewer, ADDR).id]);
    expect(refresh.statements.map((x) => x.sql)).toEqual([
      'ALTER SUBSCRIPTION "west_orders" REFRESH PUBLICATION WITH (copy_data = false)',
    ]);
  });

  it('replaces a list → allTables', () => {
    const t = base();
    const s = observe(t);
    Object.assign(t.publications.orders_pub!, { allTables: true, tables: [] });
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.action).toBe('replace');
    expect(step.statements[1]!.sql).toMatch(/^CREATE PUBLICATION "orders_pub" FOR ALL TABLES WITH/);
  });

  it('refuses to replace a protected publication', () => {
    const t = base();
    const s = observe(t);
    Object.assign(t.publications.orders_pub!, { allTables: true, tables: [], protect: true });
    const p = runPlan(t, s);
    expect(p.steps.filter((x) => printAddress(x.address) === ADDR)).toEqual([]);
    expect(p.errors).toEqual([
      expect.objectContaining({
        code: 'protected',
        address: ADDR,
        message: expect.stringContaining('protected, cannot replace'),
      }),
    ]);
  });

  it('alters a protected publication in place', () => {
    const t = base();
    const s = observe(t);
    Object.assign(t.publications.orders_pub!, { publish: ['insert'], protect: true });
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(stepAt(p, ADDR).action).toBe('update');
  });
});

describe('publications: ownership', () => {
  it('reports an unmarked publication that is not in the file as unmanaged, never touched', () => {
    const t = base();
    const s = observe(t);
    at(s, 'east').publications.legacy_pub = {
      ...observedPublication(t, publication('legacy_pub', 'east'), PG18),
      comment: 'made by hand',
      managedBy: null,
    };
    const p = runPlan(t, s);
    expect(p.unmanaged).toEqual([{ node: 'east', kind: 'publication', name: 'legacy_pub' }]);
    expect(p.steps).toEqual([]);
    expect(p.errors).toEqual([]);
  });

  it('refuses a publication the file declares that another topology marks; leaves one it does not declare alone', () => {
    const t = base();
    const s = observe(t);
    const east = at(s, 'east');
    east.publications.orders_pub!.managedBy = { topology: 'billing' };
    east.publications.orders_pub!.comment = 'managed by steep: topology=billing';
    east.publications.orders_pub!.publish = ['insert'];
    east.publications.other_pub = {
      ...observedPublication(t, publication('other_pub', 'east'), PG18),
      managedBy: { topology: 'billing' },
    };
    const p = runPlan(t, s);
    expect(p.errors.map((e) => [e.code, e.address])).toEqual([['foreign-owner', ADDR]]);
    expect(p.unmanaged).toEqual([
      { node: 'east', kind: 'publication', name: 'other_pub', topology: 'billing' },
    ]);
    expect(p.errors[0]!.message).toContain('managed by steep topology billing, not orders-eu');
    expect(p.steps.filter((x) => printAddress(x.address).startsWith('publication.'))).toEqual([]);
  });

  it('adopts an unmarked publication that the file declares: its own adopt step, each difference listed, not drift', () => {
    const t = base();
    const s = observe(t);
    const o = at(s, 'east').publications.orders_pub!;
    o.comment = null;
    o.managedBy = null;
    o.publish = ['insert', 'update', 'delete'];
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step).toMatchObject({ action: 'adopt', reason: 'unmarked' });
    expect(step.reasonText).toContain("without steep's marker: adopted");
    // truncate gained: what the publisher truncated before stays on west, a gap (verify allowed it)
    expect(step.changes.map((c) => c.path)).toEqual(['publish', 'comment', 'gaps']);
    expect(step.statements.map((x) => x.sql)).toEqual([
      'ALTER PUBLICATION "orders_pub" SET (publish = \'insert, update, delete, truncate\')',
      'COMMENT ON PUBLICATION "orders_pub" IS \'managed by steep: topology=orders-eu\'',
    ]);
    expect(p.summary.adopt).toBe(1);
    expect(codes(p.warnings)).toEqual(['data-gap']);
    expect(p.drift).toEqual([]);
  });

  it('adoption keeps the comment a DBA wrote, shows it, and appends the marker; the next plan is empty', () => {
    const t = base();
    const s = observe(t);
    const o = at(s, 'east').publications.orders_pub!;
    o.comment = 'orders for the EU warehouse (ticket DBA-12)';
    o.managedBy = null;
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.reasonText).toContain('keeping "orders for the EU warehouse (ticket DBA-12)"');
    const comment = 'orders for the EU warehouse (ticket DBA-12)\nmanaged by steep: topology=orders-eu';
    expect(step.changes).toEqual([{ path: 'comment', before: o.comment, after: comment }]);
    o.comment = comment;
    o.managedBy = parseOwnership(comment);
    expect(o.managedBy).toEqual({ topology: 'orders-eu' });
    expect(runPlan(t, s).steps).toEqual([]);
  });

  it('deletes a managed publication no longer in the file, after its subscribers let go', () => {
    const t = base();
    const s = observe(t);
    delete t.publications.orders_pub;
    delete t.subscriptions.west_orders;
    const p = runPlan(t, s);
    const drop = stepAt(p, ADDR);
    expect(drop).toMatchObject({
      kind: 'publication-drop',
      action: 'delete',
      reason: 'removed-from-config',
      hazards: ['drops-object'],
    });
    expect(drop.statements).toEqual([{ sql: 'DROP PUBLICATION "orders_pub"', transactional: true }]);
    const sub = stepAt(p, 'subscription.west_orders');
    expect(drop.dependsOn).toEqual([sub.id]);
    expect(p.steps.map((x) => printAddress(x.address))).toEqual(['subscription.west_orders', ADDR]);
  });

  it('records protect: true in the marker, and never drops a publication whose marker says so', () => {
    const t = base();
    t.publications.orders_pub!.protect = true;
    const marked = stepAt(runPlan(t, observe(base())), ADDR);
    expect(marked.statements.at(-1)?.sql).toBe(
      `COMMENT ON PUBLICATION "orders_pub" IS 'managed by steep: topology=orders-eu protect=true'`,
    );
    const s = observe(t);
    expect(at(s, 'east').publications.orders_pub!.managedBy).toEqual({
      topology: 'orders-eu',
      protect: true,
    });
    delete t.publications.orders_pub;
    delete t.subscriptions.west_orders;
    const p = runPlan(t, s);
    expect(p.steps.filter((x) => printAddress(x.address) === ADDR)).toEqual([]);
    expect(p.errors).toEqual([
      expect.objectContaining({
        code: 'protected',
        address: ADDR,
        message: expect.stringContaining('will not drop it'),
      }),
    ]);
  });

  it('warns when a dropped publication still has a subscriber that stays', () => {
    const t = base();
    const s = observe(t);
    delete t.publications.orders_pub;
    const p = runPlan(t, s);
    expect(codes(p.warnings)).toContain('publication-in-use');
  });
});

describe('publications: version gates and refused filters', () => {
  it.each([
    ['a column list', { tables: [{ table: 'public.orders', columns: ['id'] }] }],
    ['a row filter', { tables: [{ table: 'public.orders', where: 'id > 0' }] }],
    ['schemas', { tables: [], schemas: ['sales'] }],
  ])('%s on 14 is an error naming the version it needs', (_what, opts) => {
    const t = topology({ publications: [publication('orders_pub', 'east', opts)] });
    const s = observe(t, { version: PG14 });
    at(s, 'east').publications = {};
    const p = runPlan(t, s);
    expect(p.steps.filter((x) => printAddress(x.address) === ADDR)).toEqual([]);
    expect(p.errors).toEqual([
      expect.objectContaining({
        code: 'unsupported-option',
        node: 'east',
        message: expect.stringMatching(/needs? PostgreSQL 15 or later; east runs PostgreSQL 14\.12/),
      }),
    ]);
  });

  it('generatedColumns: stored before 18 is an error', () => {
    const t = topology({ publications: [publication('orders_pub', 'east', { generatedColumns: 'stored' })] });
    const p = runPlan(t, observe(t, { version: PG17 }));
    expect(p.errors[0]!.message).toMatch(
      /generatedColumns needs PostgreSQL 18 or later; east runs PostgreSQL 17/,
    );
  });

  it('a row filter PostgreSQL refuses is an error naming node, table and its message', () => {
    const t = base();
    const s = observe(t);
    t.publications.orders_pub!.tables[0]!.where = 'nosuch = 1';
    at(s, 'east').rowFilterErrors['public.customers'] = { 'nosuch = 1': 'column "nosuch" does not exist' };
    const p = runPlan(t, s);
    expect(p.errors).toEqual([
      {
        code: 'row-filter',
        address: ADDR,
        node: 'east',
        message:
          'east: PostgreSQL refuses the row filter of public.customers in publication orders_pub (nosuch = 1): column "nosuch" does not exist; write it as one boolean expression over the columns of the table',
      },
    ]);
    expect(p.steps.filter((x) => printAddress(x.address) === ADDR)).toEqual([]);
  });

  it('keeps the deparse helper of the fixtures honest', () => {
    expect(deparse('a = 1')).toBe('(a = 1)');
  });
});

describe('publications: drift', () => {
  it('tells a file change from drift by the digest the last apply recorded', () => {
    const t = base();
    const s = observe(t);
    const east = at(s, 'east');
    east.objectDigests = { [ADDR]: publicationDigest(east.publications.orders_pub!) };
    t.publications.orders_pub!.publish = ['insert'];
    const fileChange = runPlan(t, s);
    expect(stepAt(fileChange, ADDR)).toMatchObject({ reason: 'config-changed', action: 'update' });
    expect(stepAt(fileChange, ADDR).reasonText).toContain('steep.yaml changes publish');
    expect(fileChange.drift).toEqual([]);

    east.publications.orders_pub!.viaPartitionRoot = true; // and someone changed the node
    const drifted = runPlan(t, s);
    expect(stepAt(drifted, ADDR).reason).toBe('drifted');
    expect(drifted.drift.map((d) => d.path).sort()).toEqual(['publish', 'viaPartitionRoot']);
  });

  it('someone ran ALTER PUBLICATION … DROP TABLE: drift is reported and the step reverts it', () => {
    const t = base();
    const s = observe(t);
    at(s, 'east').publications.orders_pub!.tables = at(s, 'east').publications.orders_pub!.tables.filter(
      (x) => x.name !== 'orders',
    );
    const p = runPlan(t, s);
    expect(p.drift).toEqual([
      {
        address: ADDR,
        path: 'tables',
        expected: ['public.customers', 'public.orders'],
        actual: ['public.customers'],
      },
    ]);
    const step = stepAt(p, ADDR);
    expect(step).toMatchObject({ action: 'update', reason: 'drifted', hazards: ['data-gap'] });
    // west_orders still lists public.orders: putting it back leaves the rows written meanwhile missing
    expect(step.reasonText).toMatch(
      /^differs from steep\.yaml on east: tables; public\.orders rejoins publication orders_pub while subscription west_orders on west still lists it/,
    );
    expect(step.statements[0]!.sql).toMatch(
      /^ALTER PUBLICATION "orders_pub" SET TABLE "public"."customers" .*, "public"."orders"$/,
    );
  });

  it('moving a protected publication to another node is refused (it would drop the old one)', () => {
    const t = topology({
      publications: [publication('orders_pub', 'east', { protect: true })],
      nodes: ['east', 'west'],
    });
    const s = observe(t);
    t.publications.orders_pub!.node = 'west';
    at(s, 'west').tables['public.orders'] = at(s, 'east').tables['public.orders']!;
    const p = runPlan(t, s);
    expect(codes(p.errors)).toEqual(['protected']);
    expect(p.steps.map((x) => [x.node, x.action])).toEqual([['west', 'create']]);
  });
});

describe('publications: a table put back while a subscription still lists it (data-gap)', () => {
  it('the step carries the gate and names the reinit that copies the table', () => {
    const t = base();
    const s = observe(t);
    // out of orders_pub by hand; west_orders was not refreshed, so pg_subscription_rel still has it
    const pub = at(s, 'east').publications.orders_pub!;
    pub.tables = pub.tables.filter((x) => x.name !== 'orders');
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.hazards).toEqual(['data-gap']);
    expect(step.reasonText).toContain(
      'public.orders rejoins publication orders_pub while subscription west_orders on west still lists it: REFRESH will not copy it again',
    );
    expect(step.reasonText).toContain('`steep reinit west_orders --tables public.orders`');
  });

  it('no gate when the subscription no longer lists it (a refresh dropped it: joining copies it)', () => {
    const t = base();
    const s = observe(t);
    const pub = at(s, 'east').publications.orders_pub!;
    pub.tables = pub.tables.filter((x) => x.name !== 'orders');
    const sub = at(s, 'west').subscriptions.west_orders!;
    sub.tables = sub.tables.filter((x) => x.name !== 'orders');
    expect(stepAt(runPlan(t, s), ADDR).hazards).toEqual([]);
  });
});
