import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import { withDatabaseTag } from '../../../src/model/databaseTag.js';
import type { Topology } from '../../../src/model/topology.js';
import {
  at,
  codes,
  nodeSpec,
  observe,
  observedNode,
  observedSlot,
  observedSubscription,
  PG18,
  publication,
  runPlan,
  stepAt,
  subscription,
  topology,
} from './fixtures.js';

function base(): Topology {
  return topology({
    publications: [publication('orders_pub', 'east')],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
}

describe('slots: orphans', () => {
  it('reports a logical slot nothing uses, with the WAL it retains; the drop only for one steep made', () => {
    const t = base();
    const s = observe(t);
    const own = withDatabaseTag('steep_reverse_old', 'app');
    at(s, 'east').slots[own] = observedSlot(own, { retainedWalBytes: 987654321, walStatus: 'extended' });
    at(s, 'east').slots.other_tool = observedSlot('other_tool', {
      plugin: 'test_decoding',
      retainedWalBytes: 4096,
    });
    const p = runPlan(t, s);
    expect(p.orphanSlots).toEqual([
      {
        node: 'east',
        slot: 'other_tool',
        plugin: 'test_decoding',
        retainedWalBytes: 4096,
        walStatus: 'reserved',
        madeBySteep: false,
      },
      {
        node: 'east',
        slot: own,
        plugin: 'pgoutput',
        retainedWalBytes: 987654321,
        walStatus: 'extended',
        madeBySteep: true,
        dropSql: `SELECT pg_catalog.pg_drop_replication_slot('${own}')`,
      },
    ]);
    expect(p.steps).toEqual([]);
  });

  it('dropOrphanSlots never drops a slot of another plugin it names', () => {
    const t = base();
    t.settings.dropOrphanSlots = ['*'];
    const s = observe(t);
    at(s, 'east').slots.old_sub = observedSlot('old_sub');
    at(s, 'east').slots.other_tool = observedSlot('other_tool', { plugin: 'test_decoding' });
    const p = runPlan(t, s);
    expect(p.steps.map((x) => printAddress(x.address))).toEqual(['slot.east/old_sub']);
  });

  it('does not report physical, temporary, active or table-sync slots, nor those an observed subscription uses', () => {
    const t = base();
    const s = observe(t);
    const east = at(s, 'east');
    east.slots.replica = observedSlot('replica', { slotType: 'physical', plugin: null });
    east.slots.tmp = observedSlot('tmp', { temporary: true });
    east.slots.debezium = observedSlot('debezium', { active: true, activePid: 77 });
    east.slots.pg_16400_sync_16384_7301234567890123456 = observedSlot(
      'pg_16400_sync_16384_7301234567890123456',
    );
    east.slots.by_hand = observedSlot('by_hand');
    at(s, 'west').subscriptions.by_hand = {
      ...observedSubscription(t, subscription('by_hand', 'west', 'east', ['orders_pub']), PG18),
      comment: null,
      managedBy: null,
    };
    expect(runPlan(t, s).orphanSlots).toEqual([]);
  });

  it.each([
    { case: 'a slot of the node database is reported', database: 'DB', reported: true },
    { case: "a slot of another database of the node's server is not", database: 'other_db', reported: false },
    {
      case: 'even with dropOrphanSlots naming it, no drop step',
      database: 'other_db',
      reported: false,
      drop: true,
    },
  ])('$case', ({ database, reported, drop }) => {
    const t = base();
    if (drop) t.settings.dropOrphanSlots = ['*'];
    const s = observe(t);
    const east = at(s, 'east');
    east.slots.leftover = observedSlot('leftover', {
      database: database === 'DB' ? east.database : database,
    });
    const p = runPlan(t, s);
    expect(p.orphanSlots.map((o) => o.slot)).toEqual(reported ? ['leftover'] : []);
    expect(p.steps.filter((x) => x.kind === 'slot-drop')).toEqual([]);
  });

  it('does not report the slot a declared subscription on an unreachable subscriber uses', () => {
    const t = base();
    const s = observe(t);
    s.nodes.west = { name: 'west', reachable: false, error: 'timeout' };
    at(s, 'east').slots.west_orders!.active = false;
    expect(runPlan(t, s).orphanSlots).toEqual([]);
  });
});

describe('slots: a leftover slot where a subscription will be created', () => {
  it('plans a slot drop before the create, hazard drops-slot, with the reason', () => {
    const t = base();
    const s = observe(t);
    at(s, 'west').subscriptions = {};
    at(s, 'east').slots.west_orders!.active = false;
    const p = runPlan(t, s);
    const drop = stepAt(p, 'slot.east/west_orders');
    expect(drop).toMatchObject({
      node: 'east',
      kind: 'slot-drop',
      action: 'delete',
      reason: 'drifted',
      hazards: ['drops-slot'],
      statements: [{ sql: "SELECT pg_catalog.pg_drop_replication_slot('west_orders')", transactional: true }],
    });
    expect(drop.reasonText).toContain('no subscription uses it');
    const create = stepAt(p, 'subscription.west_orders');
    expect(create.dependsOn).toEqual([drop.id]);
    expect(p.steps.map((x) => [printAddress(x.address), x.action])).toEqual([
      ['slot.east/west_orders', 'delete'],
      ['subscription.west_orders', 'create'],
      ['subscription.west_orders', 'init'],
    ]);
    expect(p.orphanSlots).toEqual([]);
  });

  it('an active leftover slot is an error, not a drop', () => {
    const t = base();
    const s = observe(t);
    at(s, 'west').subscriptions = {};
    const p = runPlan(t, s);
    expect(codes(p.errors)).toEqual(['slot-in-use']);
    expect(p.steps).toEqual([]);
  });

  it('a slot another subscription uses is an error naming it', () => {
    const t = base();
    const s = observe(t);
    at(s, 'west').subscriptions = {};
    s.nodes.north = observedNode('north');
    at(s, 'north').subscriptions.other = {
      ...observedSubscription(
        t,
        subscription('other', 'north', 'east', ['orders_pub'], { slot: 'west_orders' }),
        PG18,
      ),
      managedBy: null,
      comment: null,
    };
    const p = runPlan(t, s);
    expect(p.errors).toEqual([
      expect.objectContaining({
        code: 'slot-in-use',
        message: expect.stringContaining('subscription other on north uses it'),
      }),
    ]);
  });

  it("a subscription that reads the same publications on the old one's slot is renamed in place (issue 35)", () => {
    const t = base();
    const s = observe(t);
    delete t.subscriptions.west_orders;
    t.subscriptions.west_orders2 = subscription('west_orders2', 'west', 'east', ['orders_pub'], {
      slot: 'west_orders',
    });
    const p = runPlan(t, s);
    expect(p.steps.map((x) => [printAddress(x.address), x.action, x.statements[0]?.sql])).toEqual([
      ['subscription.west_orders2', 'update', 'ALTER SUBSCRIPTION "west_orders" RENAME TO "west_orders2"'],
    ]);
    expect(p.errors).toEqual([]);
  });

  it('a new subscription reuses the slot name after the old one is dropped', () => {
    const t = base();
    t.publications.other_pub = publication('other_pub', 'east', { tables: ['public.other'] });
    const s = observe(t);
    delete t.subscriptions.west_orders;
    t.subscriptions.west_orders2 = subscription('west_orders2', 'west', 'east', ['other_pub'], {
      slot: 'west_orders',
    });
    const p = runPlan(t, s);
    const drop = stepAt(p, 'subscription.west_orders');
    const create = stepAt(p, 'subscription.west_orders2');
    expect(create.dependsOn).toEqual([drop.id]);
    expect(p.steps.map((x) => [printAddress(x.address), x.action])).toEqual([
      ['subscription.west_orders', 'delete'],
      ['subscription.west_orders2', 'create'],
      ['subscription.west_orders2', 'init'],
    ]);
    expect(p.errors).toEqual([]);
  });
});

describe('slots: never dropped on a guess', () => {
  it('a subscription whose publisher the catalog could not tell, with the same slot name, blocks the drop', () => {
    const t = base();
    t.subscriptions.north_orders = subscription('north_orders', 'north', 'east', ['orders_pub'], {
      slot: 'shared',
    });
    t.nodes.north = nodeSpec('north');
    const s = observe(t);
    at(s, 'north').subscriptions = {};
    at(s, 'east').slots.shared = observedSlot('shared');
    at(s, 'west').subscriptions.mystery = {
      ...observedSubscription(
        t,
        subscription('mystery', 'west', 'east', ['orders_pub'], { slot: 'shared' }),
        PG18,
      ),
      from: '',
      enabled: false,
      managedBy: null,
      comment: null,
    };
    const p = runPlan(t, s);
    expect(p.steps.filter((x) => x.kind === 'slot-drop')).toEqual([]);
    expect(p.errors).toEqual([
      expect.objectContaining({ code: 'slot-in-use', message: expect.stringContaining('may use it') }),
    ]);
  });
});
