import { describe, expect, it } from 'vitest';
import type { ObservedTable } from '../../../src/model/cluster.js';
import type { PublishOperation } from '../../../src/model/topology.js';
import { at, observe, observedTable, publication, runPlan, subscription, topology } from './fixtures.js';

/**
 * A row filter may name only columns of the replica identity when updates or deletes are
 * published (PostgreSQL's pub_rf_contains_invalid_column): otherwise PostgreSQL accepts the
 * publication and then refuses every UPDATE or DELETE of the table on the publisher. The cases
 * are those of src/test/regress/sql/publication.sql ("More row filter tests for validating
 * column references"); test/cli/rowFilterIdentity.test.ts replays them against PostgreSQL.
 */

const PK_AB = { identityColumns: ['a', 'b'] } satisfies Partial<ObservedTable>;

function planOf(opts: {
  where: string;
  columns: string[];
  table?: Partial<ObservedTable>;
  publish?: PublishOperation[];
}) {
  const t = topology({
    publications: [
      publication('rf_pub', 'east', {
        tables: [{ table: 'public.abcd', where: opts.where }],
        ...(opts.publish ? { publish: opts.publish } : {}),
      }),
    ],
    subscriptions: [subscription('rf_sub', 'west', 'east', ['rf_pub'])],
  });
  const s = observe(t);
  at(s, 'east').publications = {};
  at(s, 'east').slots = {};
  at(s, 'west').subscriptions = {};
  at(s, 'east').tables['public.abcd'] = observedTable('public.abcd', opts.table ?? PK_AB);
  at(s, 'east').rowFilterColumns = { 'public.abcd': { [opts.where]: opts.columns } };
  return { t, s, plan: runPlan(t, s) };
}

const messages = (xs: Array<{ message: string }>) => xs.map((x) => x.message);

describe('a row filter on columns outside the replica identity', () => {
  it.each<[string, string, string[], Partial<ObservedTable>]>([
    ['1a. a primary key column', 'a > 99', ['a'], PK_AB],
    ['1a. the other primary key column', 'b > 99', ['b'], PK_AB],
    ['1a. both key columns', 'a > b', ['a', 'b'], PK_AB],
    ['2. FULL: any column', 'c > 99', ['c'], { replicaIdentity: 'f', identityColumns: ['a', 'b', 'c', 'd'] }],
    ['4. an index identity on c', 'c > 99', ['c'], { replicaIdentity: 'i', identityColumns: ['c'] }],
    ['a filter on no column', 'true', [], PK_AB],
  ])('%s: accepted', (_, where, columns, table) => {
    const { plan } = planOf({ where, columns, table });
    expect(plan.errors).toEqual([]);
  });

  it('1a. a column outside the primary key → an error naming publication, table, columns and fix', () => {
    const { plan } = planOf({ where: 'c > 99 and d < 5 and a > 0', columns: ['a', 'c', 'd'] });
    expect(plan.errors).toEqual([
      {
        code: 'preflight.replica-identity',
        address: 'publication.rf_pub',
        node: 'east',
        message:
          'east: the row filter of public.abcd in publication rf_pub (c > 99 and d < 5 and a > 0) uses c and d, ' +
          'outside the replica identity of public.abcd (a, b), so every update and delete on it would fail; ' +
          'make the replica identity cover them (ALTER TABLE "public"."abcd" REPLICA IDENTITY FULL on east, or ' +
          'REPLICA IDENTITY USING INDEX of a unique index on them), or publish only insert and truncate',
      },
    ]);
  });

  it('4. an index identity on c, a filter on the primary key column a → error', () => {
    const { plan } = planOf({
      where: 'a > 99',
      columns: ['a'],
      table: { replicaIdentity: 'i', identityColumns: ['c'] },
    });
    expect(messages(plan.errors)).toEqual([
      expect.stringContaining('uses a, outside the replica identity of public.abcd (c)'),
    ]);
  });

  it('names that need quotes are printed as SQL quotes them', () => {
    const { plan } = planOf({
      where: '"Region" = 1',
      columns: ['Region'],
      table: { identityColumns: ['Id'] },
    });
    expect(messages(plan.errors)).toEqual([
      expect.stringContaining('uses "Region", outside the replica identity of public.abcd ("Id")'),
    ]);
  });

  it('an insert-only publication: accepted (PostgreSQL checks only updates and deletes)', () => {
    const { plan } = planOf({ where: 'c > 99', columns: ['c'], publish: ['insert', 'truncate'] });
    expect(plan.errors).toEqual([]);
  });

  it('updates but not deletes published: only updates fail, and the message says so', () => {
    const { plan } = planOf({ where: 'c > 99', columns: ['c'], publish: ['insert', 'update'] });
    expect(messages(plan.errors)).toEqual([expect.stringContaining('so every update on it would fail;')]);
  });

  it('1b/3. no replica identity at all: the one error that says so, not a second about the filter', () => {
    const { plan } = planOf({
      where: 'a > 99',
      columns: ['a'],
      table: { hasPrimaryKey: false, hasReplicaIdentity: false, identityColumns: [] },
    });
    expect(messages(plan.errors)).toEqual([expect.stringContaining('has no replica identity')]);
  });

  it('the live publication already has the filter: a warning, PostgreSQL refuses those changes today', () => {
    const { t, s } = planOf({ where: 'c > 99', columns: ['c'] });
    const live = observe(t);
    at(s, 'east').publications = at(live, 'east').publications;
    at(s, 'east').rowFilters = { 'public.abcd': { 'c > 99': '(c > 99)' } };
    at(s, 'east').publications.rf_pub!.tables = [
      { schema: 'public', name: 'abcd', columns: null, where: '(c > 99)' },
    ];
    const plan = runPlan(t, s);
    expect(plan.errors).toEqual([]);
    expect(messages(plan.warnings)).toEqual([
      expect.stringContaining(
        'publication rf_pub already publishes update and delete of it with this filter',
      ),
    ]);
  });

  it('the columns the filter uses were not read (an older capture): no verdict', () => {
    const { t, s } = planOf({ where: 'c > 99', columns: ['c'] });
    delete at(s, 'east').rowFilterColumns;
    expect(runPlan(t, s).errors).toEqual([]);
  });
});

describe('a row filter of a partition tree', () => {
  function partitioned(viaPartitionRoot: boolean, listed: { table: string; where: string }) {
    const t = topology({
      publications: [publication('rf_pub', 'east', { tables: [listed], viaPartitionRoot })],
      subscriptions: [subscription('rf_sub', 'west', 'east', ['rf_pub'])],
    });
    const s = observe(t);
    at(s, 'east').publications = {};
    at(s, 'east').slots = {};
    at(s, 'west').subscriptions = {};
    const east = at(s, 'east');
    east.tables = {
      'public.part': observedTable('public.part', { kind: 'p', identityColumns: ['a'] }),
      'public.part_1': observedTable('public.part_1', { partitionOf: 'public.part', identityColumns: ['a'] }),
    };
    east.rowFilterColumns = { [listed.table]: { [listed.where]: ['b'] } };
    return runPlan(t, s);
  }

  it('publish_via_partition_root: the root filter against each leaf partition identity', () => {
    const plan = partitioned(true, { table: 'public.part', where: 'b > 99' });
    expect(messages(plan.errors)).toEqual([
      expect.stringContaining(
        'the row filter of public.part in publication rf_pub (b > 99) uses b, outside the replica identity of public.part_1 (a partition of public.part) (a)',
      ),
    ]);
  });

  it('without it: a partition filter against its own identity', () => {
    const plan = partitioned(false, { table: 'public.part_1', where: 'b > 99' });
    expect(messages(plan.errors)).toEqual([
      expect.stringContaining('uses b, outside the replica identity of public.part_1 (a)'),
    ]);
  });
});

describe('a column list with REPLICA IDENTITY FULL', () => {
  function planWithList(columns: string[], publish?: PublishOperation[]) {
    const t = topology({
      publications: [
        publication('cl_pub', 'east', {
          tables: [{ table: 'public.abcd', columns }],
          ...(publish ? { publish } : {}),
        }),
      ],
    });
    const s = observe(t);
    at(s, 'east').publications = {};
    at(s, 'east').tables['public.abcd'] = observedTable('public.abcd', {
      replicaIdentity: 'f',
      identityColumns: ['a', 'b', 'c', 'd'],
    });
    return runPlan(t, s);
  }

  it('even one naming every column → error (PostgreSQL allows no column list with FULL)', () => {
    expect(messages(planWithList(['a', 'b', 'c', 'd']).errors)).toEqual([
      'east: table public.abcd has REPLICA IDENTITY FULL, which PostgreSQL lets no column list cover, so with the column ' +
        'list of public.abcd in publication cl_pub (a, b, c, d) every update and delete on it would fail; drop the column ' +
        'list, give the table a primary key or REPLICA IDENTITY USING INDEX the list covers, or publish only insert and truncate',
    ]);
  });

  it('an insert-only publication: accepted', () => {
    expect(planWithList(['a', 'b'], ['insert', 'truncate']).errors).toEqual([]);
  });
});
