import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../../src/config/load.js';
import type { ServerIdentity } from '../../../src/model/serverIdentity.js';
import type { Topology } from '../../../src/model/topology.js';
import {
  at,
  codes,
  observe,
  publication,
  runPlan,
  sqlOf,
  stepAt,
  subscription,
  topology,
} from './fixtures.js';

/**
 * A subscriber database on its publisher's server: the slot is its own step on the publisher
 * before CREATE SUBSCRIPTION … create_slot = false. One server means one running postmaster: a
 * clone (pg_basebackup, promoted) keeps the system identifier but starts at another time.
 */

const PRIMARY: ServerIdentity = { systemIdentifier: '7301234567890123456', startedAt: '1763900000.123456' };
const CLONE: ServerIdentity = { ...PRIMARY, startedAt: '1763900410.654321' };

function base(): Topology {
  return topology({
    publications: [publication('orders_pub', 'east')],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
}

/** Nothing applied yet: the nodes are there, the objects are not. */
function fresh(t: Topology, east: ServerIdentity | undefined, west: ServerIdentity | undefined) {
  const s = observe(t);
  delete at(s, 'east').publications.orders_pub;
  delete at(s, 'east').slots.west_orders;
  delete at(s, 'west').subscriptions.west_orders;
  at(s, 'east').server = east;
  at(s, 'west').server = west;
  return s;
}

describe('same server: detection', () => {
  it.each([
    ['one server (same identifier, same postmaster)', PRIMARY, PRIMARY, true],
    ['a clone (same identifier, another postmaster start)', PRIMARY, CLONE, false],
    [
      'other servers',
      PRIMARY,
      { systemIdentifier: '7309999999999999999', startedAt: PRIMARY.startedAt },
      false,
    ],
    ['identity not read', PRIMARY, undefined, false],
  ] as const)('%s → separate slot step: %s', (_what, east, west, separate) => {
    const t = base();
    const p = runPlan(t, fresh(t, east, west));
    const create = stepAt(p, 'subscription.west_orders');
    expect(p.steps.some((s) => s.kind === 'slot-create')).toBe(separate);
    expect(sqlOf(p, 'subscription.west_orders')[0]).toContain(`create_slot = ${!separate}`);
    if (!separate) return;
    const slot = stepAt(p, 'slot.east/west_orders');
    expect(slot).toMatchObject({ node: 'east', kind: 'slot-create', action: 'create', hazards: [] });
    expect(slot.statements).toEqual([
      {
        sql: "SELECT pg_catalog.pg_create_logical_replication_slot('west_orders', 'pgoutput')",
        transactional: false,
      },
    ]);
    expect(slot.reasonText).toContain(
      'west and east are databases of one PostgreSQL server (system identifier 7301234567890123456',
    );
    expect(create.dependsOn).toContain(slot.id);
    // the slot waits for the publication it will stream
    expect(slot.dependsOn).toContain(stepAt(p, 'publication.orders_pub').id);
    expect(create.statements[0]!.transactional).toBe(true);
    expect(create.reasonText).toContain('so slot west_orders is made by its own step on east first');
  });

  it('a replace that drops the very slot it needs again is refused, naming both nodes and what to do', () => {
    // two_phase cannot be altered before 18: the subscription is dropped with its slot and made again
    const t = base();
    t.subscriptions.west_orders!.options.twoPhase = true;
    const s = observe(t, { version: 170000 });
    at(s, 'west').subscriptions.west_orders!.options.twoPhase = false;
    at(s, 'east').server = PRIMARY;
    at(s, 'west').server = PRIMARY;
    const p = runPlan(t, s);
    expect(codes(p.errors)).toEqual(['same-server-replace']);
    expect(p.errors[0]!.message).toBe(
      'subscription west_orders on west would be replaced (options.twoPhase (PostgreSQL 17 cannot alter two_phase; 18 can)), ' +
        'but west and east are databases of one PostgreSQL server (system identifier 7301234567890123456, one postmaster): ' +
        'its slot west_orders must be made again before the subscription, and the old one is dropped only with it; ' +
        'remove subscription west_orders from steep.yaml and run steep apply --allow-destroy, then declare it again and apply',
    );
  });

  const LINK = `version: 1
topology: orders-eu
nodes:
  eu: { url: "postgres://steep@db.internal:5432/eu" }
  us: { url: "postgres://steep@db.internal:5432/us" }
links:
  eu_us:
    nodes: [eu, us]
    tables: [public.orders]
    init: { method: METHOD }
`;

  function link(method: string) {
    const t = parseTopology(LINK.replace('METHOD', method), 'steep.yaml', {}).topology;
    const s = observe(t);
    for (const n of ['eu', 'us']) {
      const node = at(s, n);
      node.publications = {};
      node.subscriptions = {};
      node.slots = {};
      node.server = PRIMARY;
    }
    return runPlan(t, s);
  }

  it('a merge link on one server is planned like any pair: its merge step makes both slots before its write locks', () => {
    const p = link('merge, strategy: "prefer:eu"');
    expect(p.errors).toEqual([]);
    // no slot step of its own: the merge makes its slots, while steep holds nothing
    expect(p.steps.map((s) => s.kind)).toEqual(['publication-create', 'publication-create', 'merge-init']);
    const merge = p.steps.find((s) => s.kind === 'merge-init')!;
    const sql = merge.statements.map((s) => `${s.node}: ${s.sql.split(' WHERE')[0]}`);
    expect(
      sql.indexOf(
        "us: SELECT pg_catalog.pg_create_logical_replication_slot('eu_us_eu_79adb2a2', 'pgoutput')",
      ),
    ).toBeLessThan(sql.findIndex((x) => x.includes('LOCK TABLE')));
    expect(sql).toContain(
      "eu: SELECT pg_catalog.pg_create_logical_replication_slot('eu_us_us_4d028294', 'pgoutput')",
    );
    for (const c of merge.statements.filter((s) => s.sql.startsWith('CREATE SUBSCRIPTION')))
      expect(c.sql).toContain('create_slot = false');
  });

  it('a snapshot link on one server makes each slot on its own before its subscription', () => {
    const p = link('snapshot');
    expect(p.errors).toEqual([]);
    // each slot carries the tag of its publisher's database (sha256 of `us`, of `eu`)
    for (const [sub, pub, tag] of [
      ['eu', 'us', '79adb2a2'],
      ['us', 'eu', '4d028294'],
    ] as const) {
      const slot = stepAt(p, `slot.${pub}/eu_us_${sub}_${tag}`);
      expect(slot.node).toBe(pub);
      expect(stepAt(p, `subscription.eu_us_${sub}`).dependsOn).toContain(slot.id);
      expect(sqlOf(p, `subscription.eu_us_${sub}`)[0]).toContain('create_slot = false');
    }
  });
});
