import { describe, expect, it } from 'vitest';
import type { ClusterState } from '../../../src/model/cluster.js';
import { classifySlot, type SlotClass } from '../../../src/planner/subscriptions/slotKinds.js';
import { at, observe, observedSlot, publication, subscription, topology, unreachable } from './fixtures.js';

/** east publishes, west subscribes through slot west_orders; east also holds `slots`. */
function scene(opts: { method?: 'snapshot' | 'manual'; created?: boolean } = {}) {
  const t = topology({
    publications: [publication('orders_pub', 'east', { tables: ['public.orders'] })],
    subscriptions: [
      subscription('west_orders', 'west', 'east', ['orders_pub'], {
        init: { method: opts.method ?? 'snapshot', parallel: 4, existingData: 'fail' },
      }),
    ],
  });
  const state = observe(t);
  if (opts.created === false) delete at(state, 'west').subscriptions.west_orders;
  return { t, state };
}

function classOf(
  t: ReturnType<typeof topology>,
  state: ClusterState,
  slot: string,
  overrides = {},
): SlotClass {
  const s = observedSlot(slot, overrides);
  at(state, 'east').slots[slot] = s;
  return classifySlot(t, state, 'east', s);
}

describe('classifySlot (what steep status calls each slot)', () => {
  it('a slot a subscription streams from is that subscription’s', () => {
    const { t, state } = scene();
    expect(classOf(t, state, 'west_orders')).toEqual({
      kind: 'subscription',
      subscription: 'west_orders',
      preparedLsn: null,
    });
  });

  it('PostgreSQL’s table-sync slots and physical slots are named as such, whatever uses them', () => {
    const { t, state } = scene();
    expect(classOf(t, state, 'pg_16390_sync_16384_7400000000000000001').kind).toBe('tablesync');
    expect(classOf(t, state, 'pg_16390_sync_16384').kind).toBe('orphan');
    expect(classOf(t, state, 'standby_1', { slotType: 'physical' }).kind).toBe('physical');
  });

  it('a slot init prepare made for a declared subscription not created yet is prepared, with its LSN', () => {
    const { t, state } = scene({ method: 'manual', created: false });
    at(state, 'west').initState = {
      subscriptions: {},
      slots: {
        west_orders: {
          slot: 'west_orders',
          subscription: 'west_orders',
          lsn: '0/5000060',
          snapshotName: null,
          createdAt: '2026-01-01T00:00:00Z',
          expiresAt: null,
        },
      },
    };
    expect(classOf(t, state, 'west_orders')).toEqual({
      kind: 'prepared',
      subscription: 'west_orders',
      preparedLsn: '0/5000060',
    });
  });

  it('a declared subscription’s slot with no user and no prepare record is pending', () => {
    const { t, state } = scene({ created: false });
    expect(classOf(t, state, 'west_orders')).toEqual({
      kind: 'pending',
      subscription: 'west_orders',
      preparedLsn: null,
    });
  });

  it.each([
    { database: 'app', kind: 'orphan' },
    { database: 'other_db', kind: 'unknown', otherDatabase: { node: 'east', database: 'other_db' } },
  ])(
    'an unused slot in database $database of east’s server is $kind',
    ({ database, kind, otherDatabase }) => {
      const { t, state } = scene();
      at(state, 'east').database = 'app';
      expect(classOf(t, state, 'leftover', { database })).toEqual({
        kind,
        subscription: null,
        preparedLsn: null,
        ...(otherDatabase ? { otherDatabase } : {}),
      });
    },
  );

  it('a slot nothing declares is orphaned, unless a node steep cannot read might use it', () => {
    const { t, state } = scene();
    expect(classOf(t, state, 'leftover')).toEqual({ kind: 'orphan', subscription: null, preparedLsn: null });
    state.nodes.west = unreachable('west');
    expect(classOf(t, state, 'leftover').kind).toBe('unknown');
    expect(classOf(t, state, 'west_orders')).toEqual({
      kind: 'unknown',
      subscription: 'west_orders',
      preparedLsn: null,
    });
  });
});
