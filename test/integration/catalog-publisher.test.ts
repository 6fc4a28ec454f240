/**
 * How readCluster names a subscription's publisher from its connection string (no database
 * needed; the end-to-end case is in catalog.test.ts).
 */
import { describe, expect, test } from 'vitest';
import { conninfoTarget, publisherOf } from '../../src/catalog/publisherOf.js';
import { toSubscriptionOptions } from '../../src/catalog/queries/subscriptions.js';
import type { ObservedNode, ObservedSubscription } from '../../src/model/cluster.js';
import { UNKNOWN } from '../../src/model/cluster.js';
import type { ConnectionSpec } from '../../src/model/topology.js';

describe('conninfoTarget', () => {
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
    expect(conninfoTarget(conninfo)).toEqual(expected);
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
  const base = { oid: 1, name: 's', owner: 'o', comment: null, enabled: true, slot: 's', publications: [] };
  test('PG 14: streaming is a boolean; later options are absent', () => {
    expect(
      toSubscriptionOptions({ ...base, binary: false, streaming: 'true', synchronous_commit: 'off' }),
    ).toEqual({
      binary: false,
      streaming: 'on',
      synchronousCommit: 'off',
    });
  });
  test('PG 16+: streaming f/t/p', () => {
    for (const [code, value] of [
      ['f', 'off'],
      ['t', 'on'],
      ['p', 'parallel'],
    ] as const) {
      expect(
        toSubscriptionOptions({
          ...base,
          binary: true,
          streaming: code,
          synchronous_commit: 'local',
          two_phase: true,
          disable_on_error: false,
          origin: 'none',
          password_required: true,
          run_as_owner: false,
        }),
      ).toEqual({
        binary: true,
        streaming: value,
        synchronousCommit: 'local',
        twoPhase: true,
        disableOnError: false,
        origin: 'none',
        passwordRequired: true,
        runAsOwner: false,
      });
    }
  });
});
