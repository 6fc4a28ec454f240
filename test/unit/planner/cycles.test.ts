import { describe, expect, it } from 'vitest';
import { findCycles } from '../../../src/planner/subscriptions/cycles.js';
import {
  at,
  codes,
  observe,
  observedTable,
  PG15,
  publication,
  runPlan,
  sqlOf,
  subscription,
  table,
  topology,
} from './fixtures.js';

/** Each node publishes public.shared (and a table of its own) and subscribes to the one before it. */
function ring(names: string[], origin: 'any' | 'none' | undefined) {
  return topology({
    publications: names.map((n) =>
      publication(`${n}_pub`, n, { tables: ['public.shared', `public.${n}_data`] }),
    ),
    subscriptions: names.map((n, i) => {
      const from = names[(i + names.length - 1) % names.length]!;
      return subscription(`${n}_from_${from}`, n, from, [`${from}_pub`], {
        options: origin ? { origin } : {},
      });
    }),
  });
}

describe('cycles', () => {
  it('finds every elementary cycle once, from its smallest node', () => {
    expect(
      findCycles([
        { from: 'east', to: 'west' },
        { from: 'west', to: 'east' },
        { from: 'west', to: 'north' },
        { from: 'north', to: 'east' },
      ]),
    ).toEqual([
      ['east', 'west'],
      ['east', 'west', 'north'],
    ]);
  });

  it('two nodes subscribing to each other with origin any → error naming the loop', () => {
    const t = ring(['east', 'west'], 'any');
    const p = runPlan(t, observe(t));
    expect(codes(p.errors)).toEqual(['cycle']);
    expect(p.errors[0]!.message).toContain('loop east → west → east');
    expect(p.errors[0]!.message).toContain('set options.origin: none');
  });

  it('a disabled subscription carries nothing: no loop through it until it is enabled (after a switchover)', () => {
    const t = ring(['east', 'west'], 'any');
    t.subscriptions.west_from_east!.enabled = false;
    expect(runPlan(t, observe(t)).errors).toEqual([]);
  });

  it("another topology's subscription closes a loop only through a table both carry (a switchover's way back beside a new one-way subscription)", () => {
    // steep.yaml: west subscribes to east's orders, origin any
    const t = topology({
      publications: [publication('orders_pub', 'east', { tables: ['public.orders'] })],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    // east subscribes to west outside this file (another topology's way back), carrying `carried`
    const withReverse = (carried: string) => {
      const other = topology({
        publications: [publication('back_pub', 'west', { tables: [carried] })],
        subscriptions: [subscription('east_back', 'east', 'west', ['back_pub'])],
      });
      other.topology = 'other';
      const state = observe(t);
      const back = observe(other).nodes.east!;
      if (!back.reachable) throw new Error('fixture');
      at(state, 'east').subscriptions.east_back = back.subscriptions.east_back!;
      return state;
    };
    expect(runPlan(t, withReverse('public.items')).errors).toEqual([]);
    const p = runPlan(t, withReverse('public.orders'));
    expect(codes(p.errors)).toEqual(['cycle']);
    expect(p.errors[0]!.message).toContain('east_back (not managed by');
  });

  it('origin left to the default (any) is an error too', () => {
    const t = ring(['east', 'west'], undefined);
    expect(codes(runPlan(t, observe(t)).errors)).toEqual(['cycle']);
  });

  it('three nodes in a ring with origin any → error naming the three-node loop', () => {
    const t = ring(['east', 'north', 'west'], 'any');
    const p = runPlan(t, observe(t));
    expect(p.errors.map((e) => e.code)).toEqual(['cycle']);
    expect(p.errors[0]!.message).toContain('loop east → north → west → east');
  });

  it('one subscription with origin any is enough to make the loop an error', () => {
    const t = ring(['east', 'west'], 'none');
    t.subscriptions.east_from_west!.options = {};
    const p = runPlan(t, observe(t));
    expect(codes(p.errors)).toEqual(['cycle']);
    expect(p.errors[0]!.message).toContain('origin any on east_from_west');
  });

  it('a loop counts per table: subscriptions on other tables each way are no loop; one table round is', () => {
    // east → west carries orders, west → east (origin any) carries invoices: nothing goes round
    const t = topology({
      publications: [
        publication('east_pub', 'east', { tables: ['public.orders'] }),
        publication('west_pub', 'west', { tables: ['public.invoices'] }),
      ],
      subscriptions: [
        subscription('west_from_east', 'west', 'east', ['east_pub'], { options: { origin: 'none' } }),
        subscription('east_from_west', 'east', 'west', ['west_pub'], { options: { origin: 'any' } }),
      ],
    });
    expect(runPlan(t, observe(t)).errors).toEqual([]);
    // a whole schema on one side covers the other side's table in it: a loop
    t.publications.west_pub!.tables = [];
    t.publications.west_pub!.schemas = ['public'];
    const p = runPlan(t, observe(t));
    expect(codes(p.errors)).toEqual(['cycle']);
    expect(p.errors[0]!.message).toContain('origin any on east_from_west');
  });

  it('a one-way origin any subscription beside a two-way pair on other tables is no loop; a third node closing a ring on a shared table is', () => {
    const t = topology({
      publications: [
        publication('east_pub', 'east', { tables: ['public.orders'] }),
        publication('west_pub', 'west', { tables: ['public.orders'] }),
        publication('east_ref', 'east', { tables: ['public.countries'] }),
      ],
      subscriptions: [
        subscription('west_from_east', 'west', 'east', ['east_pub'], { options: { origin: 'none' } }),
        subscription('east_from_west', 'east', 'west', ['west_pub'], { options: { origin: 'none' } }),
        subscription('west_ref', 'west', 'east', ['east_ref'], { options: { origin: 'any' } }),
      ],
    });
    expect(runPlan(t, observe(t)).errors).toEqual([]);
    // north takes orders from west (origin any) and east takes them from north: orders go round
    t.publications.north_pub = publication('north_pub', 'north', { tables: ['public.orders'] });
    t.subscriptions.north_from_west = subscription('north_from_west', 'north', 'west', ['west_pub'], {
      options: { origin: 'any' },
    });
    t.subscriptions.east_from_north = subscription('east_from_north', 'east', 'north', ['north_pub'], {
      options: { origin: 'none' },
    });
    t.nodes.north = { ...t.nodes.east!, name: 'north' };
    const p = runPlan(t, observe(t));
    expect(codes(p.errors)).toEqual(['cycle']);
    expect(p.errors[0]!.message).toContain('loop east → west → north → east');
    expect(p.errors[0]!.message).toContain('origin any on north_from_west');
  });

  it.each([2, 3])('%i nodes with origin none everywhere → fine', (n) => {
    const t = ring(['east', 'north', 'west'].slice(0, n), 'none');
    const p = runPlan(t, observe(t));
    expect(p.errors).toEqual([]);
    expect(p.steps).toEqual([]);
  });

  it('before 16 there is no origin option: a loop there is always an error', () => {
    const t = ring(['east', 'west'], undefined);
    expect(codes(runPlan(t, observe(t, { version: PG15 })).errors)).toEqual(['cycle']);
  });

  it('copy_data with origin none from a publisher that itself subscribes → warning', () => {
    const t = ring(['east', 'west'], 'none');
    const s = observe(t);
    at(s, 'west').subscriptions = {};
    at(s, 'east').slots = {};
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(p.warnings).toEqual([
      expect.objectContaining({
        code: 'origin-copy',
        address: 'subscription.west_from_east',
        message: expect.stringContaining('east itself subscribes (east_from_west from west)'),
      }),
    ]);
  });

  it("a refresh copying a table its publisher itself receives, with origin none → the same warning, naming the table (030_origin's second)", () => {
    const t = ring(['east', 'west'], 'none');
    t.publications.west_pub!.tables.push(table('public.extra'));
    // converged while only west published public.extra (east receives it from west)
    const s = observe(t);
    for (const n of ['east', 'west']) at(s, n).tables['public.extra'] = observedTable('public.extra');
    t.publications.east_pub!.tables.push(table('public.extra'), table('public.lone'));
    for (const n of ['east', 'west']) at(s, n).tables['public.lone'] = observedTable('public.lone');
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(sqlOf(p, 'subscription.west_from_east')).toEqual([
      'ALTER SUBSCRIPTION "west_from_east" REFRESH PUBLICATION WITH (copy_data = true)',
    ]);
    // public.lone is copied too, but east receives it from nobody: not named
    expect(p.warnings).toEqual([
      {
        code: 'origin-copy',
        address: 'subscription.west_from_east',
        node: 'west',
        message:
          "subscription west_from_east's refresh copies data from east with origin: none, but east itself receives " +
          'public.extra (east_from_west from west) through a subscription: origin: none does not filter the copy, so copied rows may have come from another node',
      },
    ]);
  });
});
