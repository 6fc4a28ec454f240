import { describe, expect, it } from 'vitest';
import { at, observe, observedTable, publication, runPlan, subscription, topology } from './fixtures.js';

/**
 * `init.existingData: truncate` over a table joining a subscription that is disabled on its
 * subscriber (after a switchover the subscriber is the primary: its rows may be the only copy):
 * no TRUNCATE is planned; a plan error says why and the ways out (issue 65).
 */
function scene(observedEnabled: boolean) {
  const t = topology({
    publications: [publication('orders_pub', 'east', { tables: ['public.orders', 'public.items'] })],
    subscriptions: [
      subscription('west_orders', 'west', 'east', ['orders_pub'], {
        init: { method: 'snapshot', parallel: 4, existingData: 'truncate' },
      }),
    ],
  });
  const s = observe(t);
  const o = at(s, 'west').subscriptions.west_orders!;
  // public.items joins it: not yet among the subscription's tables, and holding rows on west
  o.tables = o.tables.filter((x) => x.name !== 'items');
  o.enabled = observedEnabled;
  at(s, 'west').tables['public.orders'] = observedTable('public.orders');
  at(s, 'west').tables['public.items'] = { ...observedTable('public.items'), hasRows: true };
  return runPlan(t, s);
}

describe('existingData: truncate where the rows may be the only copy', () => {
  it('the subscription disabled on west: refused with why, no TRUNCATE', () => {
    const p = scene(false);
    const sql = p.steps.flatMap((x) => x.statements.map((st) => st.sql));
    expect(sql.filter((x) => x.startsWith('TRUNCATE'))).toEqual([]);
    const e = p.errors.find((x) => x.code === 'existing-data');
    expect(e?.message).toMatch(
      /^subscription west_orders would empty public\.items on west \(init\.existingData: truncate\) before copying them from east, but subscription west_orders is disabled .*may be the only copy: steep suggests no repair .*steep verify west_orders.*; once east holds what west must keep, empty them yourself and apply again, or set init\.existingData: keep if they hold east's rows already$/,
    );
  });

  it('enabled: the TRUNCATE of just that table, gated truncates-data, as before', () => {
    const p = scene(true);
    expect(p.errors.filter((x) => x.code === 'existing-data')).toEqual([]);
    const step = p.steps.find((x) => x.statements.some((st) => st.sql.startsWith('TRUNCATE')));
    expect(step?.statements.find((st) => st.sql.startsWith('TRUNCATE'))?.sql).toBe(
      'TRUNCATE TABLE "public"."items"',
    );
    expect(step?.hazards).toContain('truncates-data');
  });
});
