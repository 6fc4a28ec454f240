import { describe, expect, it } from 'vitest';
import type { StatusReport, SubscriptionStatus } from '../../../src/model/statusReport.js';
import type { Topology } from '../../../src/model/topology.js';
import { checkStatus } from '../../../src/workflows/status.js';
import { subscriptionStatus as subscription } from '../../support/statusReport.js';

const report = (s: SubscriptionStatus): StatusReport => ({
  topology: 't',
  sampledAt: '2026-01-01T00:00:00.000Z',
  nodes: [],
  subscriptions: [s],
  slots: [],
});

const topology = { subscriptions: { west_items: { enabled: true } } } as unknown as Topology;

describe('status --check', () => {
  it('says when PostgreSQL cannot finish an init because a table-sync slot is gone', () => {
    expect(checkStatus(report(subscription({})), topology).problems).toEqual([
      'subscription.west_items on west: copying, not synchronized',
    ]);
    expect(checkStatus(report(subscription({ lostSyncSlots: ['public.items'] })), topology).problems).toEqual(
      [
        'subscription.west_items on west: copying, not synchronized, and PostgreSQL cannot finish public.items: its table-sync slot is gone from east (steep status says what ends it)',
      ],
    );
    // recorded failed: its error names the tables and the reinit already
    expect(
      checkStatus(
        report(subscription({ state: 'failed', error: 'lost it', lostSyncSlots: ['public.items'] })),
        topology,
      ).problems,
    ).toEqual(['subscription.west_items on west: init failed: lost it']);
  });

  it('a synchronized subscription with PostgreSQL 18 conflicts since its last verify is not healthy: which counters, and the verify that confirms it', () => {
    const synced = { state: 'synchronized' as const, tablesReady: 1, tablesTotal: 1 };
    expect(
      checkStatus(report(subscription({ ...synced, conflictsSinceVerify: {} })), topology).problems,
    ).toEqual([]);
    expect(
      checkStatus(
        report(
          subscription({
            ...synced,
            lastVerify: { at: '2026-01-01T00:00:00.000Z', verdict: 'equal' },
            conflictsSinceVerify: { update_origin_differs: 2, update_missing: 1 },
          }),
        ),
        topology,
      ).problems,
    ).toEqual([
      'subscription.west_items on west: 3 replication conflicts since its last verify (2026-01-01T00:00:00.000Z) (update_origin_differs 2, update_missing 1): the rows they touched may differ between west and its publisher; compare them with `steep verify west_items`',
    ]);
  });
});
