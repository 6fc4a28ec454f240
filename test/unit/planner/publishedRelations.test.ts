import { describe, expect, it } from 'vitest';
import type { ObservedTable } from '../../../src/model/cluster.js';
import { rowPresenceRequests } from '../../../src/planner/init/initCopy.js';
import {
  alreadyHeld,
  publishedBy,
  receivedFrom,
  storedTables,
} from '../../../src/planner/publications/publishedRelations.js';
import {
  at,
  codes,
  observe,
  observedTable,
  publication,
  runPlan,
  stepAt,
  subscription,
  table,
  topology,
} from './fixtures.js';

/**
 * What PostgreSQL stores and publishes for a publication (pg_publication.c): the answers below
 * are PostgreSQL's own on 18, as test/cli/pgSemantics.test.ts replays them on real nodes.
 */

const TABLES: Record<string, ObservedTable> = Object.fromEntries(
  (
    [
      ['part.tab1', { kind: 'p' }],
      ['part.tab1_1', { partitionOf: 'part.tab1' }],
      ['part.tab1_2', { kind: 'p', partitionOf: 'part.tab1' }],
      ['part.tab1_2_1', { partitionOf: 'part.tab1_2' }],
      ['inh.parent', {}],
      ['inh.child', { inherits: ['inh.parent'] }],
      ['inh.grandchild', { inherits: ['inh.child'] }],
      ['s.plain', {}],
      ['s.log', { unlogged: true }],
    ] as Array<[string, Partial<ObservedTable>]>
  ).map(([qn, o]) => [qn, observedTable(qn, o)]),
);

const shape = (o: Partial<Parameters<typeof publishedBy>[0]>) => ({
  allTables: false,
  tables: [],
  schemas: [],
  viaPartitionRoot: false,
  ...o,
});

describe('publications as PostgreSQL stores and publishes them', () => {
  it('FOR TABLE parent stores its inheritance descendants with its filter; ONLY stores the parent alone', () => {
    const parent = { ...table({ table: 'inh.parent', where: 'a > 1', columns: ['a'] }) };
    expect(storedTables([parent], TABLES).map((t) => [`${t.schema}.${t.name}`, t.where, t.columns])).toEqual([
      ['inh.child', 'a > 1', ['a']],
      ['inh.grandchild', 'a > 1', ['a']],
      ['inh.parent', 'a > 1', ['a']],
    ]);
    expect(storedTables([{ ...parent, only: true }], TABLES).map((t) => t.name)).toEqual(['parent']);
    // a partitioned table's partitions are never stored
    expect(storedTables([table('part.tab1')], TABLES).map((t) => t.name)).toEqual(['tab1']);
  });

  it('a partitioned table publishes its leaves, or itself via the root; never an unlogged table', () => {
    const tab1 = [table('part.tab1')];
    expect([...publishedBy(shape({ tables: tab1 }), TABLES)].sort()).toEqual([
      'part.tab1_1',
      'part.tab1_2_1',
    ]);
    expect([...publishedBy(shape({ tables: tab1, viaPartitionRoot: true }), TABLES)]).toEqual(['part.tab1']);
    expect([...publishedBy(shape({ schemas: ['s'] }), TABLES)]).toEqual(['s.plain']);
    const all = [...publishedBy(shape({ allTables: true, viaPartitionRoot: true }), TABLES)].sort();
    expect(all).toEqual(['inh.child', 'inh.grandchild', 'inh.parent', 'part.tab1', 's.plain']);
  });

  it('a subscription of several publications: 16+ leaves out the partitions of a root published via it', () => {
    const leaves = shape({ tables: [table('part.tab1_1')] });
    const root = shape({ tables: [table('part.tab1')], viaPartitionRoot: true });
    expect(receivedFrom([leaves, root], TABLES, 160000)).toEqual(['part.tab1']);
    expect(receivedFrom([leaves, root], TABLES, 150000)).toEqual(['part.tab1', 'part.tab1_1']);
  });

  it('rows already held: a root whose leaves were received, a leaf whose root was', () => {
    const leaves = new Set(['part.tab1_1', 'part.tab1_2_1']);
    expect(alreadyHeld(['part.tab1', 's.plain'], leaves, TABLES)).toEqual(['part.tab1']);
    expect(alreadyHeld(['part.tab1'], new Set(['part.tab1_1']), TABLES)).toEqual([]);
    expect(alreadyHeld(['part.tab1_1', 'part.tab1_2_1'], new Set(['part.tab1']), TABLES)).toEqual([
      'part.tab1_1',
      'part.tab1_2_1',
    ]);
  });
});

describe('a subscription follows what its publications publish', () => {
  /** part.tab1 partitioned into two leaves on east, published by its leaves; west receives them */
  function world() {
    const t = topology({
      publications: [publication('part_pub', 'east', { tables: ['part.tab1'] })],
      subscriptions: [subscription('west_part', 'west', 'east', ['part_pub'])],
    });
    const s = observe(t);
    const east = at(s, 'east');
    east.tables['part.tab1'] = observedTable('part.tab1', { kind: 'p' });
    for (const leaf of ['part.tab1_1', 'part.tab1_2'])
      east.tables[leaf] = observedTable(leaf, { partitionOf: 'part.tab1' });
    east.tables['s.plain'] = observedTable('s.plain');
    // the same tree on west, as many rows on both sides: what shows the rows are held
    const west = at(s, 'west');
    west.tables['part.tab1'] = observedTable('part.tab1', { kind: 'p' });
    for (const leaf of ['part.tab1_1', 'part.tab1_2']) {
      west.tables[leaf] = { ...observedTable(leaf, { partitionOf: 'part.tab1' }), rowCount: 10 };
      east.tables[leaf]!.rowCount = 10;
    }
    at(s, 'west').subscriptions.west_part!.tables = ['tab1_1', 'tab1_2'].map((name) => ({
      schema: 'part',
      name,
      state: 'r' as const,
      lsn: null,
    }));
    return { t, s };
  }

  it('converged: no refresh, no drift', () => {
    const { t, s } = world();
    const p = runPlan(t, s);
    expect(p.steps).toEqual([]);
    expect(p.drift).toEqual([]);
  });

  it('viaPartitionRoot on: a refresh that copies nothing, the rows are there already; gated, for writes in between are lost', () => {
    const { t, s } = world();
    t.publications.part_pub!.viaPartitionRoot = true;
    const p = runPlan(t, s);
    expect(stepAt(p, 'subscription.west_part').statements.map((x) => x.sql)).toEqual([
      'ALTER SUBSCRIPTION "west_part" REFRESH PUBLICATION WITH (copy_data = false)',
    ]);
    // from the ALTER PUBLICATION to the refresh, the root's changes reach a subscriber that does
    // not receive the root yet, and its apply worker drops them (test/cli/viaRootOff.test.ts)
    expect(stepAt(p, 'subscription.west_part').hazards).toEqual(['data-gap']);
    const warning = p.warnings.find((w) => w.code === 'data-gap')?.message ?? '';
    expect(warning).toContain(
      'receives part.tab1 instead of part.tab1_1 and part.tab1_2 (the same partition tree)',
    );
    expect(warning).toContain(
      'stop the writes to the tree on east until the apply has run, then apply with --allow-hazard data-gap',
    );
  });

  it('viaPartitionRoot off with the rows not shown held: the leaves holding rows are probed, and their copy refused', () => {
    // the subscription receives the root; a writer between the two counts keeps them apart
    const { t, s } = world();
    at(s, 'east').publications.part_pub!.viaPartitionRoot = true;
    at(s, 'west').subscriptions.west_part!.tables = [{ schema: 'part', name: 'tab1', state: 'r', lsn: null }];
    at(s, 'east').tables['part.tab1_1']!.rowCount = 11;
    // the probe asks for the leaves that join it (the declared root is received already)
    expect(
      rowPresenceRequests(t, s)
        .get('west')
        ?.map((x) => `${x.schema}.${x.name}`),
    ).toEqual(['part.tab1_1', 'part.tab1_2']);
    for (const leaf of ['part.tab1_1', 'part.tab1_2']) at(s, 'west').tables[leaf]!.hasRows = true;
    const p = runPlan(t, s);
    // a copy over them would fail on their keys (the table syncs looping on duplicates): refused
    expect(codes(p.errors)).toEqual(['existing-data']);
    expect(p.errors[0]!.message).toContain('would copy part.tab1_1 and part.tab1_2, which join it');
  });

  it('viaPartitionRoot on over a subscriber emptied by hand (or another tree there): copied, never trusted from the tree', () => {
    for (const change of ['emptied', 'separate'] as const) {
      const { t, s } = world();
      t.publications.part_pub!.viaPartitionRoot = true;
      const west = at(s, 'west');
      if (change === 'emptied') west.tables['part.tab1_1']!.rowCount = 0;
      else west.tables['part.tab1_2']!.partitionOf = null;
      const p = runPlan(t, s);
      const step = stepAt(p, 'subscription.west_part');
      expect(step.statements.map((x) => x.sql)).toEqual([
        'ALTER SUBSCRIPTION "west_part" REFRESH PUBLICATION WITH (copy_data = true)',
      ]);
      expect(step.reasonText).toContain('steep cannot show the subscriber holds the rows of part.tab1');
      // a change to a leaf sent before the ALTER PUBLICATION and applied after the emptying
      // would be copied again: the step first waits for the slot to pass it
      expect(step.catchUpBefore).toEqual({
        node: 'east',
        publications: [],
        slots: ['west_part'],
        reshaped: ['part.tab1'],
      });
      expect(step.reasonText).toContain(
        'first waits until slot west_part on east has confirmed a position past now, since part.tab1 is copied in another shape of its partition tree',
      );
    }
  });

  it('a partition the subscription lacks: drift, and a refresh that copies it', () => {
    const { t, s } = world();
    at(s, 'east').tables['part.tab1_3'] = observedTable('part.tab1_3', { partitionOf: 'part.tab1' });
    const p = runPlan(t, s);
    expect(p.drift).toEqual([
      {
        address: 'subscription.west_part',
        path: 'tables',
        expected: ['part.tab1_1', 'part.tab1_2', 'part.tab1_3'],
        actual: ['part.tab1_1', 'part.tab1_2'],
      },
    ]);
    expect(stepAt(p, 'subscription.west_part').statements.map((x) => x.sql)).toEqual([
      'ALTER SUBSCRIPTION "west_part" REFRESH PUBLICATION WITH (copy_data = true)',
    ]);
    // a new table, not a tree in another shape: nothing of it is on its way under another name
    expect(stepAt(p, 'subscription.west_part').catchUpBefore).toBeUndefined();
  });

  it('the root and a new table in one change: one refresh cannot copy one and not the other, a plan error', () => {
    const { t, s } = world();
    t.publications.part_pub!.viaPartitionRoot = true;
    t.publications.part_pub!.tables = [table('part.tab1'), table('s.plain')];
    const p = runPlan(t, s);
    expect(codes(p.errors)).toEqual(['refresh-mixed']);
    expect(p.errors[0]!.message).toContain(
      'apply the partition change (viaPartitionRoot or the partitioned tables) first',
    );
  });
});
