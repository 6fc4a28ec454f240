import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import type { Topology } from '../../../src/model/topology.js';
import { at, observe, publication, runPlan, subscription, topology } from './fixtures.js';

function twoWay(): Topology {
  return topology({
    publications: [
      publication('east_pub', 'east'),
      publication('west_pub', 'west', { tables: ['public.invoices'] }),
    ],
    subscriptions: [
      subscription('west_from_east', 'west', 'east', ['east_pub'], { options: { origin: 'none' } }),
      subscription('east_from_west', 'east', 'west', ['west_pub'], { options: { origin: 'none' } }),
    ],
  });
}

function empty(t: Topology) {
  const s = observe(t);
  for (const n of ['east', 'west']) {
    const node = at(s, n);
    node.publications = {};
    node.subscriptions = {};
    node.slots = {};
    node.stateSchema = { exists: false, version: null };
  }
  return s;
}

describe('ordering', () => {
  it('state schema → publications → subscriptions, ids in order, dependencies expressed', () => {
    const t = twoWay();
    const p = runPlan(t, empty(t));
    expect(p.steps.map((s) => [s.id, printAddress(s.address), s.action, s.dependsOn])).toEqual([
      ['s1', 'node.east', 'create', []],
      ['s2', 'node.west', 'create', []],
      ['s3', 'publication.east_pub', 'create', ['s1']],
      ['s4', 'publication.west_pub', 'create', ['s2']],
      // created in opposite directions at once, each CREATE SUBSCRIPTION making its slot would
      // wait for the other's transaction for ever: the slots are made by steps of their own
      ['s5', 'slot.east/west_from_east', 'create', ['s1', 's3']],
      ['s6', 'slot.west/east_from_west', 'create', ['s2', 's4']],
      ['s7', 'subscription.east_from_west', 'create', ['s1', 's2', 's4', 's6']],
      ['s8', 'subscription.west_from_east', 'create', ['s1', 's2', 's3', 's5']],
      // init: apply follows each new snapshot init until it is synchronized
      ['s9', 'subscription.east_from_west', 'init', ['s1', 's7']],
      ['s10', 'subscription.west_from_east', 'init', ['s2', 's8']],
    ]);
    expect(p.steps[7]!.statements[0]!.sql).toContain('create_slot = false');
    expect(p.steps[0]!.statements.every((x) => x.transactional)).toBe(true);
    expect(p.summary).toEqual({
      create: 8,
      update: 0,
      replace: 0,
      delete: 0,
      init: 2,
      syncSchema: 0,
      adopt: 0,
    });
  });

  it('migrates a state schema that is behind, with only the pending migrations', () => {
    const t = twoWay();
    const s = observe(t);
    at(s, 'east').stateSchema = { exists: true, version: 1 };
    const p = runPlan(t, s);
    expect(p.steps.map((x) => [printAddress(x.address), x.action, x.statements.map((y) => y.sql)])).toEqual([
      [
        'node.east',
        'update',
        [
          'CREATE TABLE "steep"."apply_log" (id bigserial primary key)',
          `INSERT INTO "steep".migrations (node_name, version) VALUES ('east', 2) ON CONFLICT DO NOTHING`,
          `INSERT INTO "steep".nodes (node_name, priority, topology) VALUES ('east', 100, 'orders-eu') ` +
            'ON CONFLICT (node_name) DO UPDATE SET priority = EXCLUDED.priority, topology = EXCLUDED.topology, last_seen = now()',
        ],
      ],
    ]);
    expect(p.steps[0]!.changes).toEqual([{ path: 'stateSchema.version', before: 1, after: 2 }]);
  });

  it('deletes in reverse: subscriptions before the publications they read', () => {
    const t = twoWay();
    const s = observe(t);
    t.publications = {};
    t.subscriptions = {};
    const p = runPlan(t, s);
    expect(p.steps.map((x) => [x.id, printAddress(x.address), x.action, x.dependsOn])).toEqual([
      ['s1', 'subscription.east_from_west', 'delete', []],
      ['s2', 'subscription.west_from_east', 'delete', []],
      ['s3', 'publication.east_pub', 'delete', ['s2']],
      ['s4', 'publication.west_pub', 'delete', ['s1']],
    ]);
    expect(p.steps.every((x) => x.hazards.includes('drops-object'))).toBe(true);
    expect(p.summary.delete).toBe(4);
  });

  it('a subscription moving to a new publication: create it, switch, then drop the old one', () => {
    const t = twoWay();
    const s = observe(t);
    delete t.publications.east_pub;
    t.publications.east_pub2 = publication('east_pub2', 'east');
    t.subscriptions.west_from_east!.publications = ['east_pub2'];
    const p = runPlan(t, s);
    expect(p.steps.map((x) => [x.id, printAddress(x.address), x.action, x.dependsOn])).toEqual([
      ['s1', 'publication.east_pub2', 'create', []],
      ['s2', 'subscription.west_from_east', 'update', ['s1']],
      ['s3', 'publication.east_pub', 'delete', ['s2']],
    ]);
  });
});

describe('--target', () => {
  it('keeps only the targeted steps and what they depend on, renumbered', () => {
    const t = twoWay();
    const p = runPlan(t, empty(t), { targets: ['subscription.west_from_east'] });
    expect(p.steps.map((s) => [s.id, printAddress(s.address), s.dependsOn])).toEqual([
      ['s1', 'node.east', []],
      ['s2', 'node.west', []],
      ['s3', 'publication.east_pub', ['s1']],
      ['s4', 'slot.east/west_from_east', ['s1', 's3']],
      ['s5', 'subscription.west_from_east', ['s1', 's2', 's3', 's4']],
      ['s6', 'subscription.west_from_east', ['s2', 's5']],
    ]);
    expect(p.summary.create).toBe(5);
    expect(p.summary.init).toBe(1);
  });

  it('several targets; a target with nothing to do selects nothing', () => {
    const t = twoWay();
    const p = runPlan(t, empty(t), { targets: ['publication.west_pub', 'node.east', 'slot.east/nothing'] });
    expect(p.steps.map((s) => [s.id, printAddress(s.address), s.dependsOn])).toEqual([
      ['s1', 'node.east', []],
      ['s2', 'node.west', []],
      ['s3', 'publication.west_pub', ['s2']],
    ]);
  });
});
