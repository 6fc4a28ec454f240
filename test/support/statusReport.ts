import type { SubscriptionStatus } from '../../src/model/statusReport.js';

/** A subscription as `steep status` reports it: west_items on west from east, copying, 1 of 2 tables ready. */
export function subscriptionStatus(over: Partial<SubscriptionStatus>): SubscriptionStatus {
  return {
    name: 'west_items',
    node: 'west',
    from: 'east',
    declared: true,
    exists: true,
    enabled: true,
    initMethod: 'snapshot',
    state: 'copying',
    verdict: null,
    errorsReading: null,
    walsender: 'streaming',
    unknown: null,
    error: null,
    since: null,
    tablesTotal: 2,
    tablesReady: 1,
    slot: 'west_items',
    lagBytes: 0,
    lagSeconds: 0,
    applyWorkerRunning: true,
    syncWorkers: 0,
    applyErrors: 0,
    syncErrors: 0,
    conflicts: null,
    lastVerify: null,
    conflictsSinceVerify: null,
    conflictsCountedFrom: null,
    divergedTables: [],
    lostSyncSlots: [],
    ...over,
  };
}
