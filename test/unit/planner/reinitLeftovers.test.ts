import { describe, expect, it } from 'vitest';
import { unfinishedReinits } from '../../../src/planner/init/reinitLeftovers.js';
import {
  at,
  codes,
  observe,
  observedPublication,
  publication,
  runPlan,
  subscription,
  topology,
} from './fixtures.js';

/** A reinit stopped before it dropped its temporary publications (planner/init/reinitLeftovers.ts). */
describe('unfinished reinits', () => {
  const t = topology({
    publications: [publication('orders_pub', 'east', { tables: ['public.orders', 'public.items'] })],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });

  it('none without temporary publications: the plan stays green', () => {
    const state = observe(t);
    expect(unfinishedReinits(t, state)).toEqual([]);
    expect(codes(runPlan(t, state).warnings)).not.toContain('reinit.unfinished');
  });

  it('a temporary publication left on the publisher names the tables it leaves out and the reinit that finishes it', () => {
    const state = observe(t);
    const temp = publication('steep_reinit_0_west_orders', 'east', { tables: ['public.items'] });
    at(state, 'east').publications[temp.name] = { ...observedPublication(t, temp, 180004), managedBy: null };
    const [u, ...more] = unfinishedReinits(t, state);
    expect(more).toEqual([]);
    expect(u).toMatchObject({
      subscription: 'west_orders',
      node: 'west',
      from: 'east',
      tables: ['public.orders'],
      publications: ['steep_reinit_0_west_orders'],
    });
    expect(u!.reason).toContain('`steep reinit west_orders --tables public.orders` finishes it');
    const plan = runPlan(t, state);
    expect(codes(plan.warnings)).toContain('reinit.unfinished');
    expect(plan.steps).toEqual([]);
    // the warning says what it is: not also listed as a publication nobody manages
    expect(plan.unmanaged).toEqual([]);
  });

  it('a reinit of tables replicated both ways, recorded reinitializing, names those tables and the reinit that finishes it', () => {
    const loop = topology({
      publications: [
        publication('orders_pub', 'east', { tables: ['public.orders', 'public.items'] }),
        publication('back_pub', 'west', { tables: ['public.orders'] }),
      ],
      subscriptions: [
        subscription('west_orders', 'west', 'east', ['orders_pub'], { options: { origin: 'none' } }),
        subscription('east_back', 'east', 'west', ['back_pub'], { options: { origin: 'none' } }),
      ],
    });
    const state = observe(loop);
    at(state, 'west').subscriptions.west_orders!.tables = ['orders', 'items'].map((name) => ({
      schema: 'public',
      name,
      state: 'r' as const,
      lsn: null,
    }));
    const recorded = (s: 'reinitializing' | 'synchronized') => {
      at(state, 'west').initState = {
        subscriptions: {
          west_orders: {
            subscription: 'west_orders',
            initMethod: 'snapshot',
            state: s,
            sourceNode: 'east',
            startedAt: '2026-01-01T00:00:00Z',
            completedAt: null,
            updatedAt: '2026-01-01T00:00:02Z',
            error: null,
          },
        },
        slots: {},
      };
    };
    recorded('synchronized');
    expect(unfinishedReinits(loop, state)).toEqual([]);
    recorded('reinitializing');
    const [u, ...more] = unfinishedReinits(loop, state);
    expect(more).toEqual([]);
    expect(u).toMatchObject({ subscription: 'west_orders', tables: ['public.orders'], publications: [] });
    expect(u!.reason).toContain('`steep reinit west_orders --tables public.orders` finishes it');
    expect(codes(runPlan(loop, state).warnings)).toContain('reinit.unfinished');
  });

  it('a publisher that cannot be read tells nothing', () => {
    const state = observe(t);
    const temp = publication('steep_reinit_0_west_orders', 'east', { tables: ['public.items'] });
    at(state, 'east').publications[temp.name] = observedPublication(t, temp, 180004);
    state.nodes.east = { name: 'east', reachable: false, error: 'connect ECONNREFUSED' } as never;
    expect(unfinishedReinits(t, state)).toEqual([]);
  });
});
