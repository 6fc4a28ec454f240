/**
 * How readCluster names a subscription's publisher from its connection string (the end-to-end
 * case is in catalog.test.ts), and the subscription options the catalog
 * selects for each version, from rows of that version's pg_subscription columns.
 */
import { describe, expect, test } from 'vitest';
import { conninfoTargets, publisherOf } from '../../src/catalog/publisherOf.js';
import { subscriptionOptions } from '../../src/catalog/queries/subscriptions.js';
import type { ObservedNode, ObservedSubscription } from '../../src/model/cluster.js';
import { UNKNOWN } from '../../src/model/cluster.js';
import type { ConnectionSpec } from '../../src/model/topology.js';
import { MIN_SERVER_VERSION, PG16 } from '../../src/model/versions.js';
import { defaultVersion, useCluster } from '../support/cluster.js';

describe('conninfoTargets', () => {
  test.each([
    ['host=10.0.0.1 port=5433 dbname=app user=repl', { host: '10.0.0.1', port: 5433, dbname: 'app' }],
    [
      "host = 'east.internal' dbname='my \\'db\\'' password='a b'",
      { host: 'east.internal', port: 5432, dbname: "my 'db'" },
    ],
    ['hostaddr=10.0.0.2 user=steep', { host: '10.0.0.2', port: 5432, dbname: 'steep' }],
    [
      'postgres://repl:secret@east.internal:6432/app?sslmode=require',
      { host: 'east.internal', port: 6432, dbname: 'app' },
    ],
    ['postgresql://east.internal/app%20db', { host: 'east.internal', port: 5432, dbname: 'app db' }],
    ['postgresql:///app?host=10.0.0.3&port=5444', { host: '10.0.0.3', port: 5444, dbname: 'app' }],
    ['dbname=app', null],
  ])('%s', (conninfo, expected) => {
    expect(conninfoTargets(conninfo)[0] ?? null).toEqual(expected);
  });
  test('every host of a multi-host string, each with its port', () => {
    expect(conninfoTargets('host=a,b port=5433,5434 dbname=app')).toEqual([
      { host: 'a', port: 5433, dbname: 'app' },
      { host: 'b', port: 5434, dbname: 'app' },
    ]);
    expect(conninfoTargets('host=a,b port=5433 dbname=app').map((t) => t.port)).toEqual([5433, 5433]);
  });
});

describe('publisherOf', () => {
  const spec = (host: string, port: number, database = 'app'): ConnectionSpec => ({
    host,
    port,
    database,
    user: 'steep',
  });
  const nodes = [
    { name: 'east', connection: spec('east.internal', 5432), replicationConnection: spec('10.0.0.1', 5432) },
    { name: 'west', connection: spec('127.0.0.1', 5433) },
  ];
  const sub = (conninfo: ObservedSubscription['conninfo'], slot = 's1'): ObservedSubscription => ({
    name: 's1',
    node: 'west',
    from: '',
    publications: [],
    slot,
    enabled: true,
    oid: 1,
    owner: 'steep',
    conninfo,
    options: {},
    slotNone: slot === '',
    comment: null,
    managedBy: null,
    tables: [],
    originLsn: null,
  });
  const observed = (slots: string[]): Record<string, ObservedNode> => ({
    east: {
      reachable: true,
      slots: Object.fromEntries(slots.map((s) => [s, { slotType: 'logical' }])),
    } as unknown as ObservedNode,
  });

  test('matches the connection or the replication connection', () => {
    expect(publisherOf(sub('host=east.internal dbname=app'), 'west', nodes, {})).toBe('east');
    expect(publisherOf(sub('host=10.0.0.1 port=5432 dbname=app'), 'west', nodes, {})).toBe('east');
    expect(publisherOf(sub('host=localhost port=5433 dbname=app'), 'east', nodes, {})).toBe('west');
  });
  test('another database or port is another node', () => {
    expect(publisherOf(sub('host=east.internal dbname=other'), 'west', nodes, {})).toBe('');
    expect(publisherOf(sub('host=east.internal port=5999 dbname=app'), 'west', nodes, {})).toBe('');
  });
  test('an unreadable connection string falls back to the one node holding the slot', () => {
    expect(publisherOf(sub(UNKNOWN), 'west', nodes, observed(['s1']))).toBe('east');
    expect(publisherOf(sub(UNKNOWN), 'west', nodes, observed(['other']))).toBe('');
    expect(publisherOf(sub(UNKNOWN, ''), 'west', nodes, observed(['s1']))).toBe('');
  });
});

describe('subscription options by version', () => {
  const cluster = useCluster({ nodes: ['east'], version: defaultVersion() });
  /** The options subscriptionsQuery selects for `version`, from a row of its pg_subscription columns. */
  async function options(version: number, columns: string, values: string) {
    const rows = await cluster()
      .node('east')
      .query<{ o: object }>(
        `select ${subscriptionOptions(version)} as o from (values (${values})) s(${columns})`,
      );
    // entries: the keys' order too
    return Object.entries(rows[0]!.o);
  }
  test('PG 14: streaming is a boolean; later options are absent', async () => {
    expect(
      await options(MIN_SERVER_VERSION, 'subbinary, substream, subsynccommit', "false, true, 'off'"),
    ).toEqual(
      Object.entries({
        binary: false,
        streaming: 'on',
        synchronousCommit: 'off',
      }),
    );
  });
  test('PG 16+: streaming f/t/p', async () => {
    for (const [code, value] of [
      ['f', 'off'],
      ['t', 'on'],
      ['p', 'parallel'],
    ] as const) {
      expect(
        await options(
          PG16,
          'subbinary, substream, subsynccommit, subtwophasestate, subdisableonerr, suborigin, subpasswordrequired, subrunasowner',
          `true, '${code}'::"char", 'local', 'e'::"char", false, 'none', true, false`,
        ),
      ).toEqual(
        Object.entries({
          binary: true,
          streaming: value,
          synchronousCommit: 'local',
          twoPhase: true,
          disableOnError: false,
          origin: 'none',
          passwordRequired: true,
          runAsOwner: false,
        }),
      );
    }
  });
});
