import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import type { ClusterState, ObservedSubscription } from '../../../src/model/cluster.js';
import type { Topology } from '../../../src/model/topology.js';
import {
  at,
  codes,
  observe,
  observedSlot,
  observedTable,
  publication,
  runPlan,
  subscription,
  topology,
} from './fixtures.js';

/**
 * Issue 81 item 2: a physical clone (west, of east) holds copies of east's own subscriptions.
 * Those steep does not manage (made by hand) are detached by apply once the clone is proven and
 * each is shown to be east's row (the same oid, slot and connection): DISABLE, SET (slot_name =
 * NONE), nothing dropped. Any other is warned, with the statements, as today.
 */

const ID = '7400000000000000001';
const UPSTREAM = 'host=up.example port=5432 dbname=app user=rep password=secret';

function file(): Topology {
  return topology({
    publications: [publication('orders_pub', 'east', { tables: ['public.orders'] })],
    subscriptions: [
      subscription('west_orders', 'west', 'east', ['orders_pub'], {
        init: { method: 'physical', parallel: 4, existingData: 'fail' },
      }),
    ],
  });
}

/** west a proven clone of east (forked after the slot), run with its workers off (the first apply) */
function cloned(t: Topology): ClusterState {
  const s = observe(t);
  at(s, 'west').subscriptions = {};
  at(s, 'west').tables = { 'public.orders': observedTable('public.orders') };
  at(s, 'east').slots.west_orders = observedSlot('west_orders', { confirmedFlushLsn: '0/3000000' });
  at(s, 'east').server = { systemIdentifier: ID, startedAt: '1700000000.000001' };
  at(s, 'west').server = { systemIdentifier: ID, startedAt: '1700000500.000001' };
  at(s, 'east').walHistory = { read: true, systemIdentifier: ID, timeline: 1, forks: [] };
  at(s, 'west').walHistory = {
    read: true,
    systemIdentifier: ID,
    timeline: 2,
    forks: [{ timeline: 1, switchLsn: '0/3500028' }],
  };
  at(s, 'west').settings = { ...at(s, 'west').settings, maxLogicalReplicationWorkers: 0 };
  return s;
}

/** a subscription made by hand on `node`, from a publisher outside the file */
function hand(s: ClusterState, node: string, name: string, o: Partial<ObservedSubscription> = {}): void {
  at(s, node).subscriptions[name] = {
    name,
    node,
    from: '',
    publications: ['up_pub'],
    slot: name,
    enabled: true,
    oid: 40001,
    owner: 'postgres',
    conninfo: UPSTREAM,
    options: {},
    slotNone: false,
    comment: null,
    managedBy: null,
    tables: [],
    originLsn: null,
    ...o,
  };
}

const detaching = (p: ReturnType<typeof runPlan>) =>
  p.steps
    .filter((x) => x.reason === 'clone-copy')
    .map((x) => [x.node, printAddress(x.address), x.action, x.statements.map((st) => st.sql)]);

describe("a physical clone's copies of subscriptions steep does not manage", () => {
  it("detaches each proven east's row (the same oid, slot and connection), enabled or not; drops nothing", () => {
    const t = file();
    const s = cloned(t);
    for (const n of ['east', 'west']) {
      hand(s, n, 'hand_a');
      hand(s, n, 'hand_off', { oid: 40002, enabled: false });
    }
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(detaching(p)).toEqual([
      [
        'west',
        'subscription.hand_a',
        'update',
        ['ALTER SUBSCRIPTION "hand_a" DISABLE', 'ALTER SUBSCRIPTION "hand_a" SET (slot_name = NONE)'],
      ],
      [
        'west',
        'subscription.hand_off',
        'update',
        ['ALTER SUBSCRIPTION "hand_off" DISABLE', 'ALTER SUBSCRIPTION "hand_off" SET (slot_name = NONE)'],
      ],
    ]);
    const step = p.steps.find((x) => x.reason === 'clone-copy')!;
    expect(step.hazards).toEqual([]);
    expect(step.changes).toEqual([
      { path: 'enabled', before: true, after: false },
      { path: 'slot', before: 'hand_a', after: null },
    ]);
    expect(step.reasonText).toContain(
      "subscription hand_a on west is east's, copied with it: its slot hand_a on its publisher is east's, which streams from it (the same oid 40001)",
    );
    expect(codes(p.warnings)).not.toContain('init-clone-copied-subscriptions');
    // east's own are never touched
    expect(p.steps.filter((x) => x.node === 'east')).toEqual([]);
    // detached, the next plan has nothing for them
    for (const name of ['hand_a', 'hand_off'])
      Object.assign(at(s, 'west').subscriptions[name]!, { enabled: false, slotNone: true, slot: '' });
    expect(detaching(runPlan(t, s))).toEqual([]);
  });

  it('warns of a copy it cannot show is east’s row or may not alter, with the statements and who may run them; leaves one made on the clone alone', () => {
    const t = file();
    const s = cloned(t);
    // made again on east since the fork: another oid there
    hand(s, 'east', 'remade', { oid: 40099 });
    hand(s, 'west', 'remade', { oid: 40003 });
    // another role's, and steep's role is no superuser
    for (const n of ['east', 'west']) hand(s, n, 'theirs', { oid: 40004, owner: 'cloudadmin' });
    at(s, 'west').role.superuser = false;
    // made on the clone alone
    hand(s, 'west', 'local', { oid: 40005 });
    const p = runPlan(t, s);
    expect(detaching(p)).toEqual([]);
    const warning = p.warnings.find((w) => w.code === 'init-clone-copied-subscriptions')!.message;
    expect(warning).toContain("west holds copies of east's remade, theirs, which steep does not manage here");
    expect(warning).toContain(
      'detach them on west before they run, as postgres, cloudadmin or a superuser: ' +
        'ALTER SUBSCRIPTION "remade" DISABLE; ALTER SUBSCRIPTION "remade" SET (slot_name = NONE); ' +
        'ALTER SUBSCRIPTION "theirs" DISABLE; ALTER SUBSCRIPTION "theirs" SET (slot_name = NONE);',
    );
    expect(warning).not.toContain('local');
    expect(p.steps.filter((x) => x.address.kind === 'subscription')).toEqual([]);
  });
});
