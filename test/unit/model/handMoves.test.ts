import { describe, expect, it } from 'vitest';
import type { ObservedNode, ObservedSubscription } from '../../../src/model/cluster.js';
import { decodedCount } from '../../../src/model/handMoves.js';

/** The facts decodedCount reads, and only them. */
const sub = { slot: 'shop_sub', slotNone: false } as ObservedSubscription;
const node = (server: ObservedNode['server'], decodedTxns: string | null = '311') =>
  ({
    server,
    slots: {
      shop_sub: {
        name: 'shop_sub',
        slotType: 'logical',
        decodedTxns,
        countedSince: '1764590000.5',
        countReset: null,
      },
    },
  }) as unknown as ObservedNode;

describe("a slot's decoded count", () => {
  it('counts per server and timeline: a promoted standby (same system, new timeline) is not compared', () => {
    const primary = decodedCount(sub, node({ systemIdentifier: '7', startedAt: '1', timeline: 1 }));
    const promoted = decodedCount(sub, node({ systemIdentifier: '7', startedAt: '2', timeline: 2 }));
    expect(primary).toEqual({ slot: 'shop_sub', txns: '311', since: '7/1/1764590000.5', reset: null });
    expect(promoted?.since).not.toBe(primary?.since);
    // a restart keeps the server's statistics, the system and the timeline: the same counting
    expect(decodedCount(sub, node({ systemIdentifier: '7', startedAt: '9', timeline: 1 }))?.since).toBe(
      primary?.since,
    );
  });

  it('is not read without the server, a count, or a slot of its own', () => {
    expect(decodedCount(sub, node(undefined))).toBeUndefined();
    expect(
      decodedCount(sub, node({ systemIdentifier: '7', startedAt: '1', timeline: 1 }, null)),
    ).toBeUndefined();
    expect(
      decodedCount({ ...sub, slotNone: true }, node({ systemIdentifier: '7', startedAt: '1', timeline: 1 })),
    ).toBeUndefined();
  });
});
