import { describe, expect, it } from 'vitest';
import type { ClusterState } from '../../../src/model/cluster.js';
import { withDatabaseTag } from '../../../src/model/databaseTag.js';
import { classifySlot, type SlotClass } from '../../../src/planner/subscriptions/slotKinds.js';
import { at, observe, observedSlot, publication, subscription, topology, unreachable } from './fixtures.js';

/** A slot steep named itself (a switchover's way back) for database `app`, left behind. */
const LEFTOVER = withDatabaseTag('steep_reverse_gone', 'app');

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
    // not PostgreSQL's name: an unused slot of a name steep never gives
    expect(classOf(t, state, 'pg_16390_sync_16384').kind).toBe('other');
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
      expect(classOf(t, state, LEFTOVER, { database })).toEqual({
        kind,
        subscription: null,
        preparedLsn: null,
        ...(otherDatabase ? { otherDatabase } : {}),
      });
    },
  );

  it('a slot nothing declares is orphaned, unless a node steep cannot read might use it', () => {
    const { t, state } = scene();
    expect(classOf(t, state, LEFTOVER)).toEqual({ kind: 'orphan', subscription: null, preparedLsn: null });
    state.nodes.west = unreachable('west');
    expect(classOf(t, state, LEFTOVER).kind).toBe('unknown');
    expect(classOf(t, state, 'west_orders')).toEqual({
      kind: 'unknown',
      subscription: 'west_orders',
      preparedLsn: null,
    });
  });

  describe('an unused slot is orphaned only when steep can show it made it; else another tool’s', () => {
    const gone = (sourceNode: string) => ({
      subscription: 'west_gone',
      initMethod: 'snapshot',
      state: 'synchronized' as const,
      sourceNode,
      startedAt: null,
      completedAt: null,
      updatedAt: '2026-01-01T00:00:00Z',
      error: null,
    });
    const prepared = {
      slot: 'west_kept',
      subscription: 'west_gone',
      lsn: '0/5000060',
      snapshotName: null,
      createdAt: '2026-01-01T00:00:00Z',
      expiresAt: null,
    };

    it.each([
      ['a name steep gives itself (the database tag), pgoutput', LEFTOVER, {}, 'orphan'],
      ['the same name decoded by another plugin', LEFTOVER, { plugin: 'test_decoding' }, 'other'],
      ['another tool’s test_decoding slot', 'other_tool', { plugin: 'test_decoding' }, 'other'],
      ['a pgoutput slot of a name steep never gave (a CDC connector’s)', 'cdc_orders', {}, 'other'],
      ['the tag of another database', withDatabaseTag('steep_reverse_gone', 'shop'), {}, 'other'],
    ])('%s → %s', (_, name, overrides, kind) => {
      const { t, state } = scene();
      expect(classOf(t, state, name, overrides).kind).toBe(kind);
    });

    it('a subscription from east that steep’s state on west records, dropped by hand: its slot is steep’s', () => {
      const { t, state } = scene();
      at(state, 'west').initState = { subscriptions: { west_gone: gone('east') }, slots: {} };
      expect(classOf(t, state, 'west_gone').kind).toBe('orphan');
      // recorded as reading from another publisher: not this slot
      at(state, 'west').initState = { subscriptions: { west_gone: gone('north') }, slots: {} };
      expect(classOf(t, state, 'west_gone').kind).toBe('other');
    });

    it('a slot steep’s state records for an init of a subscription from east', () => {
      const { t, state } = scene();
      at(state, 'west').initState = {
        subscriptions: { west_gone: gone('east') },
        slots: { west_gone: prepared },
      };
      expect(classOf(t, state, 'west_kept').kind).toBe('orphan');
    });

    it('settings.dropOrphanSlots names it: steep’s to drop, if it decodes with pgoutput', () => {
      const { t, state } = scene();
      t.settings.dropOrphanSlots = ['old_*'];
      expect(classOf(t, state, 'old_sub').kind).toBe('orphan');
      expect(classOf(t, state, 'old_tool', { plugin: 'wal2json' }).kind).toBe('other');
    });
  });
});
