/**
 * src/catalog on real PostgreSQL 14 and 18: objects made by hand with SQL, read back, checked
 * field by field. Each test makes uniquely named objects and drops them when it finishes.
 */
import net from 'node:net';
import { describe, expect, onTestFinished, test } from 'vitest';
import { readCluster } from '../../src/catalog/readCluster.js';
import { readNode } from '../../src/catalog/readNode.js';
import type {
  ObservedNode,
  ObservedPublication,
  ObservedSlot,
  ObservedSubscription,
  UnreachableNode,
} from '../../src/model/cluster.js';
import { UNKNOWN } from '../../src/model/cluster.js';
import { formatOwnership } from '../../src/model/ownership.js';
import type { ConnectionSpec, PublishOperation } from '../../src/model/topology.js';
import { findFreePort } from '../../src/sandbox/ports.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';

let counter = 0;
/** A name no other test uses: `prefix_<pid>_<n>`. */
function unique(prefix: string): string {
  counter += 1;
  return `${prefix}_${process.pid}_${counter}`;
}

/** Run `sql` (one statement per call) after the test, whatever its outcome; errors ignored. */
function cleanup(node: TestNode, ...sql: string[]): void {
  onTestFinished(async () => {
    for (const s of sql) await node.query(s).catch(() => {});
  });
}

async function read(
  node: TestNode,
  extra: Partial<Parameters<typeof readNode>[1]> = {},
): Promise<ObservedNode> {
  return readNode(node.connection, { node: node.name, stateSchema: 'steep', ...extra });
}

async function oidOf(node: TestNode, sql: string, params: unknown[]): Promise<number> {
  const [row] = await node.query<{ oid: number }>(sql, params);
  if (!row) throw new Error(`no oid for ${params.join(', ')}`);
  return row.oid;
}

function conninfoOf(node: TestNode): string {
  return `host=127.0.0.1 port=${node.port} dbname=app user=postgres password=${node.password}`;
}

describe.each(testVersions())('catalog on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['pub', 'sub'], version });
  const pg15 = version >= 15;
  const pg16 = version >= 16;
  /** what a role without grants may not call of what steep calls (revoked from PUBLIC) */
  const READER_GAPS = {
    pg_replication_origin_advance: 'pg_replication_origin_advance(text,pg_lsn)',
    pg_replication_origin_create: 'pg_replication_origin_create(text)',
    pg_replication_origin_drop: 'pg_replication_origin_drop(text)',
    pg_replication_origin_progress: 'pg_replication_origin_progress(text,boolean)',
    pg_replication_origin_session_is_setup: 'pg_replication_origin_session_is_setup()',
    pg_replication_origin_session_reset: 'pg_replication_origin_session_reset()',
    pg_replication_origin_session_setup: 'pg_replication_origin_session_setup(text)',
  };
  const pg17 = version >= 17;
  const pg18 = version >= 18;

  test('server, settings, role and state schema', async () => {
    const pub = cluster().node('pub');
    const n = await read(pub);
    expect(n.name).toBe('pub');
    expect(n.reachable).toBe(true);
    expect(n.serverVersion).toBe(pub.serverVersionNum);
    expect(n.serverVersionText).toMatch(new RegExp(`^${version}\\.\\d+`));
    expect(n.database).toBe('app');
    const [s] = await pub.query<Record<string, string>>(
      `select current_setting('max_replication_slots') as slots, current_setting('max_wal_senders') as senders,
              current_setting('max_worker_processes') as workers,
              current_setting('max_logical_replication_workers') as lworkers,
              current_setting('max_sync_workers_per_subscription') as syncs`,
    );
    expect(n.settings).toEqual({
      walLevel: 'logical',
      maxReplicationSlots: Number(s?.slots),
      maxWalSenders: Number(s?.senders),
      maxWorkerProcesses: Number(s?.workers),
      maxLogicalReplicationWorkers: Number(s?.lworkers),
      maxSyncWorkersPerSubscription: Number(s?.syncs),
    });
    expect(n.role).toEqual({
      name: 'postgres',
      superuser: true,
      replication: true,
      canCreateInDatabase: true,
      canCreateSubscription: true,
      canReadConninfo: true,
      memberOfCreateSubscription: pg16,
      gaps: { functions: {}, setLogMinErrorStatement: true, setSessionReplicationRole: true },
    });
    expect(n.rowFilters).toEqual({});
    expect(n.rowFilterErrors).toEqual({});

    // state schema: absent, present without migrations, present with migrations
    const schema = unique('steep_state');
    expect((await read(pub, { stateSchema: schema })).stateSchema).toEqual({
      exists: false,
      version: null,
      canCreateIn: false,
      owned: false,
      writable: false,
      notOwned: [],
    });
    cleanup(pub, `drop schema if exists ${schema} cascade`);
    await pub.query(`create schema ${schema}`);
    expect((await read(pub, { stateSchema: schema })).stateSchema).toEqual({
      exists: true,
      version: null,
      canCreateIn: true,
      owned: true,
      owner: 'postgres',
      writable: true,
      // a superuser owns everything (a role that does not: grantsScript.test)
      notOwned: [],
    });
    await pub.query(
      `create table ${schema}.migrations (version int primary key, applied_at timestamptz default now())`,
    );
    expect((await read(pub, { stateSchema: schema })).stateSchema).toEqual({
      exists: true,
      version: null,
      canCreateIn: true,
      owned: true,
      owner: 'postgres',
      writable: true,
      notOwned: [],
    });
    await pub.query(`insert into ${schema}.migrations (version) values (1), (3), (2)`);
    expect((await read(pub, { stateSchema: schema })).stateSchema).toEqual({
      exists: true,
      version: 3,
      canCreateIn: true,
      owned: true,
      owner: 'postgres',
      writable: true,
      notOwned: [],
    });
  });

  test('tables: kinds, replica identities, primary keys, quoted names', async () => {
    const pub = cluster().node('pub');
    const schema = unique('Sales Schema'); // needs quotes: a space and upper case
    const q = `"${schema}"`;
    cleanup(pub, `drop schema if exists ${q} cascade`);
    await pub.query(`create schema ${q}`);
    await pub.query(`create table ${q}."Order Items" (id int primary key, qty int)`);
    await pub.query(`create table ${q}.no_key (a int, b text)`);
    await pub.query(`create table ${q}.full_ident (a int, b text)`);
    await pub.query(`alter table ${q}.full_ident replica identity full`);
    await pub.query(`create table ${q}.by_index (a int not null, b text)`);
    await pub.query(`create unique index by_index_a on ${q}.by_index (a)`);
    await pub.query(`alter table ${q}.by_index replica identity using index by_index_a`);
    await pub.query(`create table ${q}.nothing (id int primary key)`);
    await pub.query(`alter table ${q}.nothing replica identity nothing`);
    await pub.query(`create table ${q}."UPPER" (id bigint primary key, v text)`);
    await pub.query(
      `create table ${q}.parted (id int, region text, primary key (id, region)) partition by list (region)`,
    );
    await pub.query(`create table ${q}.parted_eu partition of ${q}.parted for values in ('eu')`);
    await pub.query(`create table ${q}.child (c int) inherits (${q}.no_key)`);
    await pub.query(`create unlogged table ${q}.unlogged_t (a int primary key)`);
    await pub.query(`insert into ${q}."UPPER" select g, repeat('x', 100) from generate_series(1, 1000) g`);
    await pub.query(`vacuum analyze ${q}."UPPER"`);
    await pub.query(`create temp table not_listed (a int)`); // temporary: never listed

    const n = await read(pub);
    const oid = (name: string) =>
      oidOf(
        pub,
        'select c.oid from pg_class c join pg_namespace s on s.oid = c.relnamespace where s.nspname = $1 and c.relname = $2',
        [schema, name],
      );
    // never analysed: unknown, not 0
    const base = {
      schema,
      estimatedRows: null,
      sizeBytes: null,
      partitionOf: null,
      inherits: [],
      unlogged: false,
      virtualGenerated: false,
      owner: 'postgres',
      owned: true,
      canInsert: true,
      // 16+: may SET ROLE to the owner (absent before 16)
      ...(pub.version >= 16 ? { canSetRole: true } : {}),
    };
    const mine = Object.fromEntries(Object.entries(n.tables).filter(([, t]) => t.schema === schema));
    expect(Object.keys(mine)).toEqual(
      [
        'Order Items',
        'UPPER',
        'by_index',
        'child',
        'full_ident',
        'no_key',
        'nothing',
        'parted',
        'parted_eu',
        'unlogged_t',
      ].map((t) => `${schema}.${t}`),
    );
    const upper = mine[`${schema}.UPPER`]!;
    expect(upper.estimatedRows).toBe(1000);
    expect(upper.sizeBytes).toBeGreaterThan(8192);
    expect(mine).toEqual({
      [`${schema}.Order Items`]: {
        ...base,
        name: 'Order Items',
        oid: await oid('Order Items'),
        replicaIdentity: 'd',
        hasPrimaryKey: true,
        hasReplicaIdentity: true,
        kind: 'r',
        identityColumns: ['id'],
      },
      [`${schema}.UPPER`]: {
        ...upper,
        name: 'UPPER',
        oid: await oid('UPPER'),
        replicaIdentity: 'd',
        hasPrimaryKey: true,
        hasReplicaIdentity: true,
        kind: 'r',
        identityColumns: ['id'],
      },
      [`${schema}.by_index`]: {
        ...base,
        name: 'by_index',
        oid: await oid('by_index'),
        replicaIdentity: 'i',
        hasPrimaryKey: false,
        hasReplicaIdentity: true,
        kind: 'r',
        identityColumns: ['a'],
      },
      [`${schema}.full_ident`]: {
        ...base,
        name: 'full_ident',
        oid: await oid('full_ident'),
        replicaIdentity: 'f',
        hasPrimaryKey: false,
        hasReplicaIdentity: true,
        kind: 'r',
        identityColumns: ['a', 'b'],
      },
      [`${schema}.no_key`]: {
        ...base,
        name: 'no_key',
        oid: await oid('no_key'),
        replicaIdentity: 'd',
        hasPrimaryKey: false,
        hasReplicaIdentity: false,
        kind: 'r',
        identityColumns: [],
      },
      [`${schema}.nothing`]: {
        ...base,
        name: 'nothing',
        oid: await oid('nothing'),
        replicaIdentity: 'n',
        hasPrimaryKey: true,
        hasReplicaIdentity: false,
        kind: 'r',
        identityColumns: [],
      },
      [`${schema}.parted`]: {
        ...base,
        name: 'parted',
        oid: await oid('parted'),
        replicaIdentity: 'd',
        hasPrimaryKey: true,
        hasReplicaIdentity: true,
        kind: 'p',
        identityColumns: ['id', 'region'],
      },
      [`${schema}.parted_eu`]: {
        ...base,
        name: 'parted_eu',
        oid: await oid('parted_eu'),
        replicaIdentity: 'd',
        hasPrimaryKey: true,
        hasReplicaIdentity: true,
        kind: 'r',
        identityColumns: ['id', 'region'],
        partitionOf: `${schema}.parted`,
      },
      [`${schema}.child`]: {
        ...base,
        name: 'child',
        oid: await oid('child'),
        replicaIdentity: 'd',
        hasPrimaryKey: false,
        hasReplicaIdentity: false,
        kind: 'r',
        identityColumns: [],
        inherits: [`${schema}.no_key`],
      },
      [`${schema}.unlogged_t`]: {
        ...base,
        name: 'unlogged_t',
        oid: await oid('unlogged_t'),
        replicaIdentity: 'd',
        hasPrimaryKey: true,
        hasReplicaIdentity: true,
        kind: 'r',
        identityColumns: ['a'],
        unlogged: true,
      },
    });
    expect(
      Object.keys(n.tables).some((k) => k.startsWith('pg_') || k.startsWith('information_schema.')),
    ).toBe(false);
  });

  test('publications: all tables, lists, filters, column lists, schemas, publish, via root, ownership', async () => {
    const pub = cluster().node('pub');
    const schema = unique('PubSchema');
    const q = `"${schema}"`;
    const pAll = unique('p_all');
    const pList = unique('p_list');
    const pSchema = unique('p_schema');
    const pMixed = unique('P_Mixed'); // upper case: needs quotes
    cleanup(
      pub,
      `drop publication if exists ${pAll}`,
      `drop publication if exists ${pList}`,
      `drop publication if exists ${pSchema}`,
      `drop publication if exists "${pMixed}"`,
      `drop schema if exists ${q} cascade`,
    );
    await pub.query(`create schema ${q}`);
    await pub.query(
      `create table ${q}."Order Items" (id int primary key, "Region" text, qty int, note text)`,
    );
    await pub.query(`create table ${q}.customers (id int primary key, name text, region text)`);
    await pub.query(
      `create table ${q}.parted (id int, region text, primary key (id, region)) partition by list (region)`,
    );

    await pub.query(`create publication ${pAll} for all tables`);
    if (pg15) {
      await pub.query(
        `create publication ${pList} for table ${q}.customers (region, id, name) where (region = 'eu'),
           ${q}."Order Items" ("Region", id) where ("Region" in ('eu', 'uk') and id > 10), ${q}.parted
         with (publish = 'update, insert', publish_via_partition_root = true)`,
      );
      await pub.query(
        `create publication ${pSchema} for tables in schema ${q}, public with (publish = 'truncate')`,
      );
    } else {
      await pub.query(
        `create publication ${pList} for table ${q}.customers, ${q}."Order Items", ${q}.parted
         with (publish = 'update, insert', publish_via_partition_root = true)`,
      );
    }
    await pub.query(`create publication "${pMixed}" for table ${q}.customers with (publish = 'delete')`);
    await pub.query(`comment on publication ${pList} is '${formatOwnership({ topology: 'orders-eu' })}'`);
    await pub.query(`comment on publication "${pMixed}" is 'a hand-made publication'`);
    if (pg18) await pub.query(`alter publication "${pMixed}" set (publish_generated_columns = stored)`);

    const n = await read(pub);
    const pubOid = (name: string) => oidOf(pub, 'select oid from pg_publication where pubname = $1', [name]);
    // the publication's row version (model/continuity.ts: an ALTER of its options, name or owner)
    const pubVersion = async (name: string) =>
      (
        await pub.query<{ v: string }>('select xmin::text as v from pg_publication where pubname = $1', [
          name,
        ])
      )[0]!.v;
    // each membership's catalog row (model/continuity.ts): pg_publication_rel, pg_publication_namespace
    const relOid = (p: string, table: string) =>
      oidOf(
        pub,
        'select pr.oid from pg_publication_rel pr join pg_publication p on p.oid = pr.prpubid where p.pubname = $1 and pr.prrelid = $2::regclass',
        [p, `${q}.${table}`],
      );
    const nspOid = (p: string, nsp: string) =>
      oidOf(
        pub,
        'select pn.oid from pg_publication_namespace pn join pg_publication p on p.oid = pn.pnpubid where p.pubname = $1 and pn.pnnspid = $2::regnamespace',
        [p, nsp],
      );
    const all: PublishOperation[] = ['insert', 'update', 'delete', 'truncate'];
    const gencols = pg18 ? 'none' : null;

    expect(n.publications[pAll]).toEqual({
      name: pAll,
      node: 'pub',
      allTables: true,
      tables: [],
      schemas: [],
      publish: all,
      viaPartitionRoot: false,
      generatedColumns: gencols,
      oid: await pubOid(pAll),
      rowVersion: await pubVersion(pAll),
      owner: 'postgres',
      comment: null,
      managedBy: null,
    } satisfies ObservedPublication);

    expect(n.publications[pList]).toEqual({
      name: pList,
      node: 'pub',
      allTables: false,
      // sorted by schema then name ("Order Items" < customers < parted by code unit)
      tables: [
        {
          schema,
          name: 'Order Items',
          columns: pg15 ? ['Region', 'id'] : null,
          where: pg15 ? `(("Region" = ANY (ARRAY['eu'::text, 'uk'::text])) AND (id > 10))` : null,
        },
        {
          schema,
          name: 'customers',
          columns: pg15 ? ['id', 'name', 'region'] : null,
          where: pg15 ? `(region = 'eu'::text)` : null,
        },
        { schema, name: 'parted', columns: null, where: null },
      ],
      schemas: [],
      publish: ['insert', 'update'], // canonical order, whatever order it was written in
      viaPartitionRoot: true,
      generatedColumns: gencols,
      oid: await pubOid(pList),
      rowVersion: await pubVersion(pList),
      owner: 'postgres',
      comment: 'managed by steep: topology=orders-eu',
      managedBy: { topology: 'orders-eu' },
      members: {
        tables: {
          [`${schema}.Order Items`]: await relOid(pList, '"Order Items"'),
          [`${schema}.customers`]: await relOid(pList, 'customers'),
          [`${schema}.parted`]: await relOid(pList, 'parted'),
        },
        schemas: {},
      },
    } satisfies ObservedPublication);

    if (pg15) {
      expect(n.publications[pSchema]).toEqual({
        name: pSchema,
        node: 'pub',
        allTables: false,
        tables: [],
        schemas: [schema, 'public'].sort(),
        publish: ['truncate'],
        viaPartitionRoot: false,
        generatedColumns: gencols,
        oid: await pubOid(pSchema),
        rowVersion: await pubVersion(pSchema),
        owner: 'postgres',
        comment: null,
        managedBy: null,
        members: {
          tables: {},
          schemas: { [schema]: await nspOid(pSchema, q), public: await nspOid(pSchema, 'public') },
        },
      } satisfies ObservedPublication);
    }

    expect(n.publications[pMixed]).toEqual({
      name: pMixed,
      node: 'pub',
      allTables: false,
      tables: [{ schema, name: 'customers', columns: null, where: null }],
      schemas: [],
      publish: ['delete'],
      viaPartitionRoot: false,
      generatedColumns: pg18 ? 'stored' : null,
      oid: await pubOid(pMixed),
      rowVersion: await pubVersion(pMixed),
      owner: 'postgres',
      comment: 'a hand-made publication',
      managedBy: null,
      members: { tables: { [`${schema}.customers`]: await relOid(pMixed, 'customers') }, schemas: {} },
    } satisfies ObservedPublication);
  });

  test('subscriptions: every option the version has, tables, origin, slot, publisher', async () => {
    const { nodes } = cluster();
    const pub = cluster().node('pub');
    const sub = cluster().node('sub');
    const table = unique('sub_items');
    const p1 = unique('zz_pub');
    const p2 = unique('aa_pub');
    const s1 = unique('s_all_options');
    const s2 = unique('s_defaults');
    const slot = unique('slot_for');
    const orphan = unique('orphan');
    cleanup(
      sub,
      `alter subscription ${s1} disable`,
      `alter subscription ${s1} set (slot_name = none)`,
      `drop subscription if exists ${s1}`,
      `drop subscription if exists ${s2}`,
      `drop table if exists public.${table}`,
    );
    cleanup(
      pub,
      `select pg_drop_replication_slot('${slot}')`,
      `select pg_drop_replication_slot('${orphan}')`,
      `drop publication if exists ${p1}`,
      `drop publication if exists ${p2}`,
      `drop table if exists public.${table}`,
    );
    for (const node of [pub, sub])
      await node.query(`create table public.${table} (id int primary key, v text)`);
    await pub.query(`create publication ${p1} for table public.${table}`);
    await pub.query(`create publication ${p2} for table public.${table} with (publish = 'insert')`);

    // a non-default value for every option the version has
    const options = [
      'enabled = false',
      `slot_name = '${slot}'`,
      'binary = true',
      'streaming = on',
      "synchronous_commit = 'local'",
      ...(pg15 ? ['two_phase = true', 'disable_on_error = true'] : []),
      ...(pg16 ? ['origin = none', 'password_required = false', 'run_as_owner = true'] : []),
      ...(pg17 ? ['failover = true'] : []),
    ];
    await sub.query(
      `create subscription ${s1} connection '${conninfoOf(pub)}' publication ${p1}, ${p2} with (${options.join(', ')})`,
    );
    const connHash = 'ab'.repeat(32);
    await sub.query(
      `comment on subscription ${s1} is '${formatOwnership({ topology: 'orders-eu', connHash })}'`,
    );
    // every option left at the version's default, and no slot
    await sub.query(
      `create subscription ${s2} connection '${conninfoOf(pub)}' publication ${p1} with (connect = false, enabled = false, create_slot = false, slot_name = none)`,
    );
    const subOid = (name: string) => oidOf(sub, 'select oid from pg_subscription where subname = $1', [name]);
    const oid1 = await subOid(s1);
    await sub.query(`select pg_replication_origin_advance('pg_${oid1}', '0/1234ABC')`);
    // a transaction set to be skipped (15+), past what the origin applied
    if (pg15) await sub.query(`alter subscription ${s1} skip (lsn = '0/2000000')`);
    const rowVersion = async (oid: number) =>
      (
        await sub.query<{ v: string }>('select xmin::text as v from pg_subscription where oid = $1', [oid])
      )[0]!.v;
    await pub.query(`select pg_create_logical_replication_slot('${orphan}', 'pgoutput')`);

    const state = await readCluster(nodes.map((n) => ({ name: n.name, connection: n.connection })));
    const observed = state.nodes.sub as ObservedNode;
    expect(observed.reachable).toBe(true);

    expect(observed.subscriptions[s1]).toEqual({
      name: s1,
      node: 'sub',
      from: 'pub',
      publications: [p2, p1], // sorted
      slot,
      enabled: false,
      oid: oid1,
      owner: 'postgres',
      conninfo: conninfoOf(pub),
      options: {
        binary: true,
        streaming: 'on',
        synchronousCommit: 'local',
        ...(pg15 ? { twoPhase: true, disableOnError: true } : {}),
        ...(pg16 ? { origin: 'none', passwordRequired: false, runAsOwner: true } : {}),
        ...(pg17 ? { failover: true } : {}),
      },
      slotNone: false,
      comment: formatOwnership({ topology: 'orders-eu', connHash }),
      managedBy: { topology: 'orders-eu', connHash },
      tables: [{ schema: 'public', name: table, state: 'i', lsn: null }],
      originLsn: '0/1234ABC',
      // pg_stat_subscription_stats (15+): none yet
      errorsCounted: pg15 ? 0 : null,
      rowVersion: await rowVersion(oid1),
      workerRunning: false,
      skipLsn: pg15 ? '0/2000000' : null,
    } satisfies ObservedSubscription);

    expect(observed.subscriptions[s2]).toEqual({
      name: s2,
      node: 'sub',
      from: 'pub',
      publications: [p1],
      slot: '',
      enabled: false,
      oid: await subOid(s2),
      owner: 'postgres',
      conninfo: conninfoOf(pub),
      // PostgreSQL's own defaults for the version: streaming is parallel from 18
      options: {
        binary: false,
        streaming: pg18 ? 'parallel' : 'off',
        synchronousCommit: 'off',
        ...(pg15 ? { twoPhase: false, disableOnError: false } : {}),
        ...(pg16 ? { origin: 'any', passwordRequired: true, runAsOwner: false } : {}),
        ...(pg17 ? { failover: false } : {}),
      },
      slotNone: true,
      comment: null,
      managedBy: null,
      tables: [], // connect = false: no table list was fetched
      originLsn: null,
      errorsCounted: pg15 ? 0 : null,
      rowVersion: await rowVersion(await subOid(s2)),
      workerRunning: false,
      skipLsn: null,
    } satisfies ObservedSubscription);
    expect(observed.origins[`pg_${oid1}`]).toEqual({ name: `pg_${oid1}`, remoteLsn: '0/1234ABC' });

    // the publisher's slots: the subscription's, and an orphan nobody uses
    const publisher = state.nodes.pub as ObservedNode;
    const slotBase = {
      plugin: 'pgoutput',
      slotType: 'logical' as const,
      database: 'app',
      active: false,
      activePid: null,
      walStatus: 'reserved',
      safeWalSize: null, // max_slot_wal_keep_size = -1
      temporary: false,
    };
    const subSlot = publisher.slots[slot]!;
    expect(subSlot).toEqual({
      ...slotBase,
      name: slot,
      retainedWalBytes: expect.any(Number),
      confirmedFlushLsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/),
      restartLsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/),
      failover: pg17 ? true : null,
      // the transactions it decoded, counted since the statistics' last discard (and no reset)
      decodedTxns: expect.stringMatching(/^\d+$/),
      countedSince: expect.stringMatching(/^\d+(\.\d+)?$/),
      countReset: null,
    } satisfies ObservedSlot);
    expect(subSlot.retainedWalBytes).toBeGreaterThanOrEqual(0);
    await pub.query('create table if not exists public.wal_filler (v text)');
    cleanup(pub, 'drop table if exists public.wal_filler');
    await pub.query(`insert into public.wal_filler select repeat('x', 1000) from generate_series(1, 2000)`);
    const later = await read(pub);
    expect(later.slots[orphan]).toEqual({
      ...slotBase,
      name: orphan,
      retainedWalBytes: expect.any(Number),
      confirmedFlushLsn: expect.any(String),
      restartLsn: expect.any(String),
      failover: pg17 ? false : null,
      decodedTxns: '0',
      countedSince: expect.stringMatching(/^\d+(\.\d+)?$/),
      countReset: null,
    } satisfies ObservedSlot);
    // the orphan holds back the WAL written since it was created
    expect(later.slots[orphan]!.retainedWalBytes).toBeGreaterThan(2_000_000);
  });

  test('replication origins, with and without their status', async () => {
    const sub = cluster().node('sub');
    const origin = unique('steep_test_origin');
    cleanup(sub, `select pg_replication_origin_drop('${origin}')`);
    await sub.query(`select pg_replication_origin_create('${origin}')`);
    expect((await read(sub)).origins[origin]).toEqual({ name: origin, remoteLsn: null });
    await sub.query(`select pg_replication_origin_advance('${origin}', '1/FF')`);
    expect((await read(sub)).origins[origin]).toEqual({ name: origin, remoteLsn: '1/FF' });
  });

  test("steep's lock held by another role's session: a role that may not see its start still reads the node", async () => {
    const sub = cluster().node('sub');
    const watcher = unique('watcher');
    cleanup(sub, `drop role if exists ${watcher}`);
    await sub.query(`create role ${watcher} login password 'watcher-pw'`);
    const holder = await sub.client();
    onTestFinished(() => holder.end());
    await holder.query("set application_name = 'other steep'");
    await holder.query('select pg_advisory_lock(495474672)');
    const [{ pid }] = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows as [
      { pid: number },
    ];

    // pg_stat_activity hides another role's backend_start from a role without pg_read_all_stats
    const asWatcher: ConnectionSpec = { ...sub.connection, user: watcher, password: 'watcher-pw' };
    const seen = await readNode(asWatcher, { node: 'sub', stateSchema: 'steep' });
    expect(seen.steepLock).toEqual({ applicationName: 'other steep', pid, since: null });
    const all = await read(sub);
    expect(all.steepLock).toEqual({
      applicationName: 'other steep',
      pid,
      since: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]{12}Z$/),
    });
  });

  test('a role that is not superuser: conninfo and origin status unknown, privileges reported', async () => {
    const pub = cluster().node('pub');
    const sub = cluster().node('sub');
    const reader = unique('reader');
    const creator = unique('creator');
    const s = unique('s_hidden');
    const p = unique('p_hidden');
    cleanup(
      sub,
      `drop subscription if exists ${s}`,
      `drop owned by ${reader}`,
      `drop role if exists ${reader}`,
      `drop owned by ${creator}`,
      `drop role if exists ${creator}`,
    );
    cleanup(pub, `drop publication if exists ${p}`);
    await pub.query(`create publication ${p}`);
    await sub.query(
      `create subscription ${s} connection '${conninfoOf(pub)}' publication ${p} with (connect = false, enabled = false, create_slot = false, slot_name = none)`,
    );
    const oid = await oidOf(sub, 'select oid from pg_subscription where subname = $1', [s]);
    await sub.query(`select pg_replication_origin_advance('pg_${oid}', '0/ABC')`);
    await sub.query(`create role ${reader} login password 'reader-pw'`);
    await sub.query(`create role ${creator} login replication password 'creator-pw'`);
    await sub.query(`grant create on database app to ${creator}`);
    if (pg16) await sub.query(`grant pg_create_subscription to ${creator}`);

    const asReader: ConnectionSpec = { ...sub.connection, user: reader, password: 'reader-pw' };
    const n = await readNode(asReader, { node: 'sub', stateSchema: 'steep' });
    expect(n.role).toEqual({
      name: reader,
      superuser: false,
      replication: false,
      canCreateInDatabase: false,
      canCreateSubscription: false,
      canReadConninfo: false,
      memberOfCreateSubscription: false,
      gaps: { functions: READER_GAPS, setLogMinErrorStatement: false, setSessionReplicationRole: false },
    });
    const hidden = n.subscriptions[s]!;
    expect(hidden.conninfo).toEqual(UNKNOWN);
    expect(hidden.originLsn).toBeNull(); // pg_replication_origin_status is not readable
    expect(n.origins[`pg_${oid}`]).toEqual({ name: `pg_${oid}`, remoteLsn: null });
    expect(hidden.options.binary).toBe(false); // the other columns are readable

    const asCreator: ConnectionSpec = { ...sub.connection, user: creator, password: 'creator-pw' };
    const c = await readNode(asCreator, { node: 'sub', stateSchema: 'steep' });
    expect(c.role).toEqual({
      name: creator,
      superuser: false,
      replication: true,
      canCreateInDatabase: true,
      canCreateSubscription: pg16, // PG 16+: pg_create_subscription and CREATE on the database
      canReadConninfo: false,
      memberOfCreateSubscription: pg16,
      gaps: { functions: READER_GAPS, setLogMinErrorStatement: false, setSessionReplicationRole: false },
    });

    // readCluster with conninfo unknown still names the publisher, from the slot… which this
    // subscription has none of: it stays unknown ('')
    const state = await readCluster([
      { name: 'pub', connection: pub.connection },
      { name: 'sub', connection: asReader },
    ]);
    expect((state.nodes.sub as ObservedNode).subscriptions[s]!.from).toBe('');
  });

  test('row filters: normalised as PostgreSQL prints them, refusals with its message', async () => {
    const pub = cluster().node('pub');
    const schema = unique('Filters');
    const q = `"${schema}"`;
    const check = unique('p_check');
    cleanup(pub, `drop publication if exists ${check}`, `drop schema if exists ${q} cascade`);
    await pub.query(`create schema ${q}`);
    await pub.query(
      `create table ${q}."Order Items" (id int primary key, "Region" text, qty numeric, created date)`,
    );
    await pub.query(`create table ${q}.victim (id int primary key)`);
    await pub.query(
      `create function ${q}.my_fn(int) returns boolean language sql immutable as 'select $1 > 0'`,
    );

    const items = `${schema}.Order Items`;
    const hostile = `true); DROP TABLE ${q}.victim; --`;
    const good = [`"Region" = 'eu'`, `"Region" IN ('eu','uk') AND qty > 10.5`, `created >= '2024-01-01'`];
    const bad = [
      'nope > 1',
      'random() > 0.5',
      'ctid is not null',
      `${q}.my_fn(id)`,
      '"Region"',
      hostile,
      '(select true)',
    ];
    const n = await read(pub, {
      rowFilters: {
        [items]: [...good, ...bad, good[0]!],
        [`${schema}.missing`]: ['true'],
      },
    });

    if (!pg15) {
      // PG 14 has no row filters: nothing is normalised (the planner reports the version)
      expect(n.rowFilters).toEqual({});
      expect(n.rowFilterErrors).toEqual({});
      expect(
        await pub.query(`select 1 from pg_tables where schemaname = $1 and tablename = 'victim'`, [schema]),
      ).toHaveLength(1);
      return;
    }

    // the normalised form is exactly what pg_publication_rel holds for the same filter
    const printed: Record<string, string> = {};
    for (const f of good) {
      await pub.query(`drop publication if exists ${check}`);
      await pub.query(`create publication ${check} for table ${q}."Order Items" where (${f})`);
      const [row] = await pub.query<{ expr: string }>(
        `select pg_get_expr(prqual, prrelid) as expr from pg_publication_rel r join pg_publication p on p.oid = r.prpubid where p.pubname = $1`,
        [check],
      );
      printed[f] = row!.expr;
    }
    expect(n.rowFilters).toEqual({ [items]: printed });
    expect(printed[good[0]!]).toBe(`("Region" = 'eu'::text)`);

    expect(n.rowFilterErrors).toEqual({
      [items]: {
        'nope > 1': 'column "nope" does not exist',
        'random() > 0.5':
          'invalid publication WHERE expression: User-defined or built-in mutable functions are not allowed.',
        'ctid is not null': 'invalid publication WHERE expression: System columns are not allowed.',
        [`${q}.my_fn(id)`]:
          'invalid publication WHERE expression: User-defined or built-in mutable functions are not allowed.',
        '"Region"': 'argument of PUBLICATION WHERE must be type boolean, not type text',
        [hostile]: 'it holds more than one SQL statement, and a row filter is a single expression',
        '(select true)':
          'invalid publication WHERE expression: Only columns, constants, built-in operators, built-in data types, built-in collations, and immutable built-in functions are allowed.',
      },
      [`${schema}.missing`]: { true: `relation "${schema}.missing" does not exist` },
    });

    // the hostile filter ran nothing: the table is still there, and nothing was left behind
    expect(
      await pub.query(`select 1 from pg_tables where schemaname = $1 and tablename = 'victim'`, [schema]),
    ).toHaveLength(1);
    expect(
      await pub.query(`select 1 from pg_publication where pubname like 'steep_rowfilter%'`),
    ).toHaveLength(0);
    expect(await pub.query(`select 1 from pg_class where relname like 'steep_rowfilter%'`)).toHaveLength(0);
  });

  test.skipIf(!pg15)(
    'row filters as a role without CREATE on the database: checked without the probe publication',
    async () => {
      const pub = cluster().node('pub');
      const role = unique('filter_reader');
      const table = unique('filtered');
      cleanup(
        pub,
        `drop table if exists public.${table}`,
        `drop owned by ${role}`,
        `drop role if exists ${role}`,
      );
      await pub.query(`create table public.${table} (id int primary key, region text)`);
      await pub.query(`create role ${role} login password 'pw'`);
      await pub.query(`grant select on public.${table} to ${role}`);
      const n = await readNode(
        { ...pub.connection, user: role, password: 'pw' },
        { node: 'pub', rowFilters: { [`public.${table}`]: [`region = 'eu'`, 'nope'] } },
      );
      expect(n.role.canCreateInDatabase).toBe(false);
      expect(n.rowFilters).toEqual({ [`public.${table}`]: { "region = 'eu'": `(region = 'eu'::text)` } });
      expect(n.rowFilterErrors).toEqual({ [`public.${table}`]: { nope: 'column "nope" does not exist' } });
    },
  );

  test('unreachable nodes: refused, wrong password, wrong database, timeout; the others are read', async () => {
    const pub = cluster().node('pub');
    const refusedPort = await findFreePort();
    // a server that accepts connections and never answers
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          silent.close(() => resolve());
        }),
    );
    const silentPort = (silent.address() as net.AddressInfo).port;

    const connectTimeoutMs = 1_500;
    const started = Date.now();
    const state = await readCluster(
      [
        { name: 'pub', connection: pub.connection },
        { name: 'refused', connection: { ...pub.connection, port: refusedPort } },
        { name: 'badpw', connection: { ...pub.connection, password: 'wrong-password' } },
        { name: 'nodb', connection: { ...pub.connection, database: 'no_such_db' } },
        { name: 'silent', connection: { ...pub.connection, port: silentPort } },
      ],
      { connectTimeoutMs },
    );
    // a ceiling that only catches a hang (a silent server without the timeout waits forever);
    // the message below shows the 1.5 s timeout was the one applied
    const elapsed = Date.now() - started;
    expect(elapsed, `readCluster still waiting after ${elapsed} ms: a hang`).toBeLessThan(120_000);

    expect(state.nodes.pub?.reachable).toBe(true);
    const error = (name: string) => {
      const n = state.nodes[name] as UnreachableNode;
      expect(n).toMatchObject({ name, reachable: false });
      return n.error;
    };
    expect(error('refused')).toBe(
      `node refused: connection refused at 127.0.0.1:${refusedPort}/app as postgres; is the server running and listening there?`,
    );
    expect(error('badpw')).toMatch(/^node badpw: password authentication failed for user postgres/);
    expect(error('badpw')).not.toContain('wrong-password');
    expect(error('nodb')).toBe(
      `node nodb: database no_such_db does not exist on 127.0.0.1:${pub.port}; check the node's database`,
    );
    expect(error('silent')).toMatch(
      /^node silent: connection to 127\.0\.0\.1:\d+\/app as postgres timed out after 1\.5s;/,
    );
  });

  test('the publisher of a subscription is named from its connection string', async () => {
    const { nodes } = cluster();
    const pub = cluster().node('pub');
    const sub = cluster().node('sub');
    const s = unique('s_from');
    const p = unique('p_from');
    cleanup(sub, `drop subscription if exists ${s}`);
    cleanup(pub, `drop publication if exists ${p}`);
    await pub.query(`create publication ${p}`);
    // a URI with localhost instead of 127.0.0.1
    await sub.query(
      `create subscription ${s} connection 'postgresql://postgres:${pub.password}@localhost:${pub.port}/app' publication ${p}
       with (connect = false, enabled = false, create_slot = false, slot_name = none)`,
    );
    const state = await readCluster(nodes.map((n) => ({ name: n.name, connection: n.connection })));
    expect((state.nodes.sub as ObservedNode).subscriptions[s]!.from).toBe('pub');
    // a node list that does not hold the publisher: unknown
    const alone = await readCluster([{ name: 'sub', connection: sub.connection }]);
    expect((alone.nodes.sub as ObservedNode).subscriptions[s]!.from).toBe('');
  });
});
