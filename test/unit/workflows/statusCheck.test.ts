import { describe, expect, it } from 'vitest';
import type { StatusReport, SubscriptionStatus } from '../../../src/model/statusReport.js';
import type { Topology } from '../../../src/model/topology.js';
import { checkStatus, statusExitCode } from '../../../src/workflows/statusCheck.js';
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
    const problems = (rose: Record<string, number>, from: { at: string; rolling: boolean }) =>
      checkStatus(
        report(
          subscription({
            ...synced,
            lastVerify: { at: '2026-01-01T00:00:00.000Z', verdict: 'equal' },
            conflictsSinceVerify: rose,
            conflictsCountedFrom: from,
          }),
        ),
        topology,
      ).problems;
    expect(
      problems(
        { update_origin_differs: 2, update_missing: 1 },
        { at: '2026-01-01T00:00:00.000Z', rolling: false },
      ),
    ).toEqual([
      'subscription.west_items on west: 3 replication conflicts since its last verify (2026-01-01T00:00:00.000Z) (update_origin_differs 2, update_missing 1): the rows they touched may differ between west and its publisher; compare them with `steep verify west_items`',
    ]);
    // counted from the rolling verify's reading, which is later than the last verify's
    expect(problems({ delete_missing: 1 }, { at: '2026-01-02T00:00:00.000Z', rolling: true })).toEqual([
      'subscription.west_items on west: 1 replication conflict since the rolling verify compared every table (from 2026-01-02T00:00:00.000Z) (delete_missing 1): the rows they touched may differ between west and its publisher; compare them with `steep verify west_items`',
    ]);
  });

  it('failing names the subscription and the evidence (exit 2); stopped is healthy only when the file disables it; an unprovable lag is unknown (exit 1), never healthy', () => {
    const failing = report(
      subscription({
        state: 'failing',
        tablesReady: 2,
        verdict: {
          verdict: 'failing',
          reasons: ['apply worker not running on west, its slot west_items on east is inactive'],
        },
      }),
    );
    const c = checkStatus(failing, topology, { seconds: 30 });
    expect(c).toEqual({
      unknown: false,
      unhealthy: true,
      problems: [
        'subscription.west_items on west: failing, not synchronized: apply worker not running on west, its slot west_items on east is inactive',
      ],
    });
    expect(statusExitCode(failing, c)).toBe(2);

    const stopped = (reasons: string[]) =>
      report(
        subscription({
          state: 'stopped',
          enabled: false,
          tablesReady: 2,
          verdict: { verdict: 'stopped', reasons },
        }),
      );
    const byFile = { subscriptions: { west_items: { enabled: false } } } as unknown as Topology;
    expect(checkStatus(stopped(['disabled: no apply worker runs']), byFile).problems).toEqual([]);
    expect(checkStatus(stopped(['disabled: no apply worker runs']), topology).problems).toEqual([
      'subscription.west_items on west: disabled',
    ]);
    const gone = [
      'disabled: no apply worker runs',
      'its slot is gone from east: enabling the subscription cannot resume it',
    ];
    expect(checkStatus(stopped(gone), byFile).problems).toEqual([
      'subscription.west_items on west: its slot is gone from east: enabling the subscription cannot resume it',
    ]);

    const hidden = report(
      subscription({ state: 'synchronized', tablesReady: 2, lagSeconds: null, walsender: 'hidden' }),
    );
    const h = checkStatus(hidden, topology, { seconds: 30 });
    expect(h.unknown).toBe(true);
    expect(h.unhealthy).toBe(false);
    expect(h.problems[0]).toMatch(/lag in seconds unknown: .*pg_read_all_stats/);
    expect(statusExitCode(hidden, h)).toBe(1);
    // a size needs no walsender figure; healthy
    const b = checkStatus(hidden, topology, { bytes: 64 * 1024 * 1024 });
    expect(b.problems).toEqual([]);
    expect(statusExitCode(hidden, b)).toBe(0);
  });
});
