import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import type { ClusterState } from '../../../src/model/cluster.js';
import type { Topology } from '../../../src/model/topology.js';
import { nodeCatalogDigest } from '../../../src/planner/nodeDigest.js';
import {
  at,
  MIGRATIONS,
  NOW,
  observe,
  PG14,
  PG18,
  publication,
  runPlan,
  subscription,
  topology,
} from './fixtures.js';

/** A full topology: filters and column lists (15+), a schema publication, both directions. */
function full(version: number): Topology {
  const modern = version >= 150000;
  return topology({
    publications: [
      publication('orders_pub', 'east', {
        tables: [
          'public.orders',
          modern
            ? { table: 'public.customers', columns: ['id', 'name', 'region'], where: "region = 'eu'" }
            : 'public.customers',
        ],
      }),
      publication('west_pub', 'west', { tables: ['public.invoices'], publish: ['insert', 'update'] }),
    ],
    subscriptions: [
      subscription('west_orders', 'west', 'east', ['orders_pub'], {
        options: modern ? { origin: version >= 160000 ? 'none' : undefined, binary: true } : { binary: true },
      }),
      subscription('east_invoices', 'east', 'west', ['west_pub'], {
        options: version >= 160000 ? { origin: 'none' } : {},
      }),
    ],
  });
}

describe('plan: converged', () => {
  it.each([
    ['14', PG14],
    ['18', PG18],
  ])('observed equals desired on PostgreSQL %s with its defaults → zero steps', (_label, version) => {
    const t = full(version);
    // a bidirectional topology needs origin none, which 14 lacks: drop one direction there
    if (version < 160000) delete t.subscriptions.east_invoices;
    const p = runPlan(t, observe(t, { version }));
    expect(p.errors).toEqual([]);
    expect(p.steps).toEqual([]);
    expect(p.drift).toEqual([]);
    expect(p.warnings).toEqual([]);
    expect(p.unmanaged).toEqual([]);
    expect(p.orphanSlots).toEqual([]);
    expect(p.summary).toEqual({
      create: 0,
      update: 0,
      replace: 0,
      delete: 0,
      init: 0,
      syncSchema: 0,
      adopt: 0,
    });
  });

  it('fills the plan header from the inputs', () => {
    const t = full(PG18);
    const p = runPlan(t, observe(t));
    expect(p.formatVersion).toBe(2);
    expect(p.inputs).toEqual({ targets: [], lsn: {}, allowHazards: [] });
    expect(p.steepVersion).toBe('0.1.0');
    expect(p.createdAt).toBe('2026-01-01T00:00:00Z');
    expect(p.config).toEqual({ path: 'steep.yaml', digest: `sha256:${'fe'.repeat(32)}` });
    expect(p.observed.nodes).toEqual({ east: { serverVersion: PG18 }, west: { serverVersion: PG18 } });
    expect(p.observed.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(p.schema).toEqual([]);
  });

  it('records the --target, --lsn and --allow-hazard it was made with, for apply PLAN to plan again with', () => {
    const t = full(PG18);
    const p = runPlan(t, observe(t), {
      targets: ['subscription.b', 'publication.a'],
      initLsn: { z_sub: '0/30', a_sub: '0/10' },
      allowHazards: ['truncates-data', 'data-gap', 'truncates-data'],
    });
    expect(p.inputs).toEqual({
      targets: ['subscription.b', 'publication.a'],
      lsn: { a_sub: '0/10', z_sub: '0/30' },
      allowHazards: ['data-gap', 'truncates-data'],
    });
    expect(Object.keys(p.inputs.lsn)).toEqual(['a_sub', 'z_sub']);
  });
});

/** Rebuild every record with its keys in reverse order. */
function reversedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reversedKeys) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).reverse())
      out[k] = reversedKeys((value as Record<string, unknown>)[k]);
    return out as T;
  }
  return value;
}

describe('plan: determinism', () => {
  it('the same inputs give the same plan, whatever the key order of the records', () => {
    const t = full(PG18);
    const s: ClusterState = { nodes: { east: at(observe(t), 'east') } };
    const west = at(observe(t), 'west');
    s.nodes.west = {
      ...west,
      subscriptions: {},
      publications: {},
      stateSchema: { exists: false, version: null },
    };
    // and east's subscription has not received west's tables yet: it refreshes
    at(s, 'east').subscriptions.east_invoices!.tables = [];
    const a = runPlan(t, s);
    const b = runPlan(reversedKeys(t), reversedKeys(s));
    expect(a.steps.length).toBeGreaterThan(2);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(JSON.stringify(runPlan(t, s))).toBe(JSON.stringify(a));
  });

  it('the observed digest never contains nor depends on a password', () => {
    const t = full(PG18);
    const s1 = observe(t);
    const s2 = observe(t);
    at(s2, 'west').subscriptions.west_orders!.conninfo = String(
      at(s2, 'west').subscriptions.west_orders!.conninfo,
    ).replace('secret-east', 'other-secret');
    const p1 = runPlan(t, s1);
    expect(runPlan(t, s2).observed.digest).toBe(p1.observed.digest);
    expect(JSON.stringify(p1)).not.toContain('secret-east');
  });

  it('a step digest changes with its catalog rows but not with replication progress', () => {
    const t = full(PG18);
    t.publications.orders_pub!.publish = ['insert'];
    const s = observe(t);
    t.publications.orders_pub!.publish = ['insert', 'update'];
    const base = runPlan(t, s).steps[0]!.catalogDigest;
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    const moved = observe(t);
    at(moved, 'east').publications.orders_pub!.publish = ['insert'];
    at(moved, 'east').slots.west_orders!.confirmedFlushLsn = '0/9000000';
    at(moved, 'west').subscriptions.west_orders!.originLsn = '0/9000000';
    expect(runPlan(t, moved).steps[0]!.catalogDigest).toBe(base);
    const changed = observe(t);
    at(changed, 'east').publications.orders_pub!.publish = ['insert'];
    at(changed, 'east').publications.orders_pub!.viaPartitionRoot = true;
    expect(runPlan(t, changed).steps[0]!.catalogDigest).not.toBe(base);
  });

  it("a step digest and the node's catalog digest do not move while a failing worker's errors rise", () => {
    // 033_run_as_table_owner: a subscription whose worker fails every wal_retrieve_retry_interval
    // is altered (runAsOwner: false) to fix it; its error counter rising between plan and step
    // made apply refuse the step as "the catalog rows it depends on changed"
    const t = full(PG18);
    const erring = (n: number) => {
      const s = observe(t);
      const o = at(s, 'west').subscriptions.west_orders!;
      o.options = { ...o.options, runAsOwner: true };
      o.errorsCounted = n;
      return s;
    };
    const sub = t.subscriptions.west_orders!;
    sub.options = { ...sub.options, runAsOwner: false };
    const step = (s: ClusterState) =>
      runPlan(t, s).steps.find((x) => printAddress(x.address) === 'subscription.west_orders')!;
    expect(step(erring(40)).catalogDigest).toBe(step(erring(3)).catalogDigest);
    expect(nodeCatalogDigest(at(erring(40), 'west'))).toBe(nodeCatalogDigest(at(erring(3), 'west')));
    // the disable_on_error rule reads whether any error was counted: that still moves them
    expect(step(erring(3)).catalogDigest).not.toBe(step(erring(0)).catalogDigest);
  });

  it('disable_on_error: a subscription disabled with errors counted since steep last disabled it is not enabled; one whose errors all predate its own DISABLE is; a file disable records itself', () => {
    const t = full(PG18);
    const sub = t.subscriptions.west_orders!;
    sub.options = { ...sub.options, disableOnError: true };
    const disabled = (errors: number, steepDisabledAt?: number) => {
      const s = observe(t);
      const o = at(s, 'west').subscriptions.west_orders!;
      o.options = { ...o.options, disableOnError: true };
      o.enabled = false;
      o.errorsCounted = errors;
      if (steepDisabledAt !== undefined) o.steepDisabledAt = steepDisabledAt;
      return s;
    };
    const step = (p: ReturnType<typeof runPlan>) =>
      p.steps.find((x) => printAddress(x.address) === 'subscription.west_orders');
    const sqlOf = (p: ReturnType<typeof runPlan>) => step(p)?.statements.map((x) => x.sql) ?? [];
    // PostgreSQL's: no ENABLE, a warning that says what to do
    const byPostgres = runPlan(t, disabled(2));
    expect(sqlOf(byPostgres)).not.toContain('ALTER SUBSCRIPTION "west_orders" ENABLE');
    expect(byPostgres.warnings.map((w) => w.code)).toContain('subscription.disabled-on-error');
    // steep's own DISABLE after an incident (2 errors then): enabled as the file says
    const bySteep = runPlan(t, disabled(2, 2));
    expect(sqlOf(bySteep)).toContain('ALTER SUBSCRIPTION "west_orders" ENABLE');
    expect(bySteep.warnings.map((w) => w.code)).not.toContain('subscription.disabled-on-error');
    // an error after it (enabled by hand, disabled at an error): PostgreSQL's again
    expect(sqlOf(runPlan(t, disabled(3, 2)))).not.toContain('ALTER SUBSCRIPTION "west_orders" ENABLE');
    // the file disables an enabled one: the step names it, for apply to record the counters then
    const live = observe(t);
    sub.enabled = false;
    const disabling = step(runPlan(t, live))!;
    expect(disabling.statements.map((x) => x.sql)).toContain('ALTER SUBSCRIPTION "west_orders" DISABLE');
    expect(disabling.disables).toBe('west_orders');
    expect(step(runPlan(t, disabled(0)))).toBeUndefined();
  });

  it('uses the migrations and the clock it is given', () => {
    const t = full(PG18);
    const p = runPlan(t, observe(t), { now: new Date(NOW.getTime() + 1500), stateMigrations: MIGRATIONS });
    expect(p.createdAt).toBe('2026-01-01T00:00:01Z');
  });
});
