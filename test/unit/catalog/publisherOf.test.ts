import { describe, expect, it } from 'vitest';
import { type NodeAddress, publisherOf } from '../../../src/catalog/publisherOf.js';
import type { ObservedNode, ObservedSubscription } from '../../../src/model/cluster.js';
import { observedNode, observedSlot } from '../planner/fixtures.js';

/** A node is its server plus its database (issue 81): which node a subscription's connection names. */

const EAST = { systemIdentifier: '7300000000000000001', startedAt: '1764400000.000001' };
const WEST = { systemIdentifier: '7300000000000000002', startedAt: '1764400000.000002' };

function address(name: string, host: string, port: number, database: string): NodeAddress {
  return { name, connection: { host, port, database, user: 'steep' } as NodeAddress['connection'] };
}

function sub(conninfo: string, slot = 'orders'): ObservedSubscription {
  return { name: 'orders', conninfo, slot, slotNone: false } as ObservedSubscription;
}

/** east (east:5432/app) and east3 (10.0.0.5:5432/d3, the same server), west the subscriber. */
const nodes = [
  address('east', 'east.internal', 5432, 'app'),
  address('east3', '10.0.0.5', 5432, 'd3'),
  address('west', 'west.internal', 5432, 'app'),
];

function observed(slotDatabase: string | null): Record<string, ObservedNode> {
  const slots: ObservedNode['slots'] = slotDatabase
    ? { orders: observedSlot('orders', { database: slotDatabase }) }
    : {};
  return {
    east: observedNode('east', undefined, { server: EAST, slots }),
    east3: observedNode('east3', undefined, { server: EAST, database: 'd3', slots }),
    west: observedNode('west', undefined, { server: WEST }),
  };
}

describe('publisherOf', () => {
  it.each([
    ['its own address and database', 'host=east.internal port=5432 dbname=app', 'app', 'east'],
    ['another address of its server, its database', 'host=10.0.0.5 port=5432 dbname=app', 'app', 'east'],
    ['its server, the other database', 'host=east.internal port=5432 dbname=d3', 'd3', 'east3'],
    ['its server, a database no node is', 'host=east.internal port=5432 dbname=d2', 'd2', ''],
    [
      'an address no node has: by the slot in a node’s own database',
      'host=east.alias dbname=d3',
      'd3',
      'east3',
    ],
    ['an address no node has, the slot of another database', 'host=east.alias dbname=d2', 'd2', ''],
  ])('%s', (_, conninfo, slotDatabase, expected) => {
    expect(publisherOf(sub(conninfo), 'west', nodes, observed(slotDatabase))).toBe(expected);
  });

  it('a file with one database of the server: a subscription from another database of it has no publisher', () => {
    // t2's file (east3, west) reading t1's subscription from east's database app (issue 81)
    const t2 = nodes.filter((n) => n.name !== 'east');
    const state = observed('app');
    delete state.east;
    expect(publisherOf(sub('host=10.0.0.5 port=5432 dbname=app'), 'west', t2, state)).toBe('');
    expect(publisherOf(sub('host=east.alias dbname=app'), 'west', t2, state)).toBe('');
  });
});
