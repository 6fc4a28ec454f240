import { beforeAll, describe, expect, it } from 'vitest';
import { jsonText } from '../../../src/cli/jsonText.js';
import { printAddress } from '../../../src/model/address.js';
import type { DriftReport } from '../../../src/model/driftReport.js';
import type { InitProgress } from '../../../src/model/initState.js';
import type { Hazard } from '../../../src/model/plan.js';
import { toPlanFile } from '../../../src/model/planFile.js';
import type { PlanCheck, ShownPlan } from '../../../src/model/shownPlan.js';
import type { StatusReport } from '../../../src/model/statusReport.js';
import { useColour } from '../../../src/render/colour.js';
import { renderDriftMarkdown } from '../../../src/render/driftMarkdown.js';
import { renderDriftText } from '../../../src/render/driftText.js';
import { progressLine, renderInitStatus } from '../../../src/render/initProgress.js';
import { renderPlanMarkdown } from '../../../src/render/planMarkdown.js';
import { renderPlanText } from '../../../src/render/planText.js';
import { renderShownPlanMarkdown, renderShownPlanText } from '../../../src/render/shownPlan.js';
import { renderCheck, renderStatus, statusDocument } from '../../../src/render/status.js';
import { listLines } from '../../../src/render/values.js';
import { subscriptionStatus } from '../../support/statusReport.js';
import {
  at,
  observe,
  observedPublication,
  observedTable,
  publication,
  runPlan,
  subscription,
  topology,
} from '../planner/fixtures.js';

/**
 * Golden output of the renderers (text, JSON, Markdown) for fixed values: plans from the
 * planner's fixtures (one that creates, changes and initialises; one that replaces and deletes;
 * one with a gated hazard, held and allowed; one that failed; one with no changes), `show` of a saved plan, a drift report, a status report (text, JSON, --check)
 * and an init's progress. No PostgreSQL. A renderer change
 * shows as a diff of these files; review it, then refresh them with `npx vitest run -u FILE`.
 */

beforeAll(() => {
  useColour(false);
});

function samplePlan(targets: string[] = []) {
  const t = topology({
    publications: [
      publication('orders_pub', 'east', { tables: ['public.orders', 'public.customers'] }),
      publication('audit_pub', 'east', { tables: ['public.audit'] }),
    ],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
  // each step's own timeouts: the publication's ALTER at most 1 min, the create and the init none
  t.settings.lockTimeout = 2_000;
  t.settings.statementTimeout = 60_000;
  const s = observe(t);
  // the subscription is new; audit_pub drifted (publish changed by hand); an old subscription is gone from the file
  at(s, 'west').subscriptions = {};
  at(s, 'east').slots = {};
  at(s, 'east').publications.audit_pub!.publish = ['insert'];
  return runPlan(t, s, { targets });
}

/** One subscription from east to west, converged (`observe`): each case bends the nodes. */
function ordersTopology() {
  return topology({
    publications: [publication('orders_pub', 'east', { tables: ['public.orders'] })],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
}

/**
 * Destructive steps and their hazards: the subscription's slot was renamed by hand (a replace
 * that copies again, with the cheaper fix as a warning), and a publication steep made is gone
 * from the file (a delete).
 */
function destructivePlan() {
  const t = ordersTopology();
  const s = observe(t);
  const old = topology({ publications: [publication('old_pub', 'east', { tables: ['public.orders'] })] });
  at(s, 'east').publications.old_pub = observedPublication(
    old,
    old.publications.old_pub!,
    at(s, 'east').serverVersion,
  );
  at(s, 'west').subscriptions.west_orders!.slot = 'west_orders_v1';
  const slots = at(s, 'east').slots;
  slots.west_orders_v1 = { ...slots.west_orders!, name: 'west_orders_v1' };
  delete slots.west_orders;
  return runPlan(t, s);
}

/**
 * A gate: the new subscription's target table holds rows and `existingData: truncate` empties it
 * before the copy (hazard truncates-data), planned without and with `--allow-hazard truncates-data`.
 */
function truncatingPlan(allowHazards: Hazard[]) {
  const t = topology({
    publications: [publication('orders_pub', 'east', { tables: ['public.orders'] })],
    subscriptions: [
      subscription('west_orders', 'west', 'east', ['orders_pub'], {
        init: { method: 'snapshot', parallel: 4, existingData: 'truncate' },
      }),
    ],
  });
  const s = observe(t);
  at(s, 'west').subscriptions = {};
  at(s, 'east').slots = {};
  at(s, 'west').tables = { 'public.orders': observedTable('public.orders', { hasRows: true }) };
  return runPlan(t, s, { allowHazards });
}

/** A plan error: the slot the subscription needs is held by a consumer outside the topology. */
function failedPlan() {
  const t = ordersTopology();
  const s = observe(t);
  at(s, 'west').subscriptions.west_orders!.slot = 'west_orders_v1';
  const slots = at(s, 'east').slots;
  slots.west_orders_v1 = { ...slots.west_orders!, name: 'west_orders_v1' };
  return runPlan(t, s);
}

const DRIFT: DriftReport = {
  formatVersion: 1,
  steepVersion: '0.1.0',
  createdAt: '2026-01-01T00:00:00.000Z',
  config: { path: 'steep.yaml', digest: 'sha256:0123456789abcdef' },
  drifted: true,
  objects: [
    { address: 'publication.audit_pub', path: 'publish', expected: ['insert', 'update'], actual: ['insert'] },
  ],
  changes: [
    {
      address: 'publication.audit_pub',
      node: 'east',
      action: 'update',
      reasonText: 'publish differs from steep.yaml',
    },
  ],
  schema: [],
  schemaProblems: [],
  fingerprints: [
    {
      node: 'west',
      table: 'public.orders',
      change: 'changed',
      saved: 'sha256:aaaa',
      current: 'sha256:bbbb',
      savedColumns: 3,
      currentColumns: 4,
      capturedAt: '2025-12-31T00:00:00.000Z',
    },
  ],
  orphanSlots: [
    {
      node: 'east',
      slot: 'cdc_slot',
      plugin: 'test_decoding',
      retainedWalBytes: 4_096,
      walStatus: 'reserved',
      madeBySteep: false,
    },
    {
      node: 'east',
      slot: 'old_slot',
      plugin: 'pgoutput',
      retainedWalBytes: 123_456_789,
      walStatus: 'reserved',
      madeBySteep: true,
      dropSql: "SELECT pg_catalog.pg_drop_replication_slot('old_slot')",
    },
  ],
  dataGaps: [{ subscription: 'west_orders', node: 'west', from: 'east', table: 'public.notes' }],
  conflicts: [
    {
      subscription: 'west_orders',
      node: 'west',
      verifiedAt: '2025-12-31T12:00:00.000Z',
      rose: { update_origin_differs: 2, update_missing: 1 },
    },
  ],
  failing: [
    {
      subscription: 'west_orders',
      node: 'west',
      from: 'east',
      reasons: [
        'apply worker not running on west, its slot west_orders on east is inactive',
        'public.notes on west lacks column note, which east publishes: the apply worker cannot apply its changes',
      ],
    },
  ],
  errors: [],
  warnings: [{ code: 'slot-left', message: 'slot west_old is left on east', node: 'east' }],
};

const STATUS: StatusReport = {
  topology: 'orders-eu',
  sampledAt: '2026-01-01T00:00:00.000Z',
  nodes: [
    { name: 'east', reachable: true, serverVersion: 180001, version: '18.1', error: null },
    { name: 'west', reachable: false, serverVersion: null, version: null, error: 'connection refused' },
  ],
  subscriptions: [
    subscriptionStatus({
      name: 'west_orders',
      state: 'synchronized',
      since: '2025-12-31T00:00:00.000Z',
      tablesReady: 2,
      slot: 'west_orders',
      lagBytes: 2048,
      lagSeconds: 0.5,
      applyErrors: 1,
      errorsReading: { applyErrors: 1, syncErrors: 0, at: '2025-12-31T23:59:00.000Z', roseAt: null },
      verdict: {
        verdict: 'synchronized',
        reasons: [
          'enabled, tables 2/2 ready, apply worker running',
          "no error since steep's reading at 2025-12-31T23:59:00.000Z",
        ],
      },
      conflicts: { insert_exists: 1, update_origin_differs: 3 },
      lastVerify: { at: '2025-12-31T12:00:00.000Z', verdict: 'equal' },
      conflictsSinceVerify: { update_origin_differs: 2 },
      conflictsCountedFrom: { at: '2025-12-31T12:00:00.000Z', rolling: false },
    }),
    subscriptionStatus({
      node: 'east',
      from: 'west',
      since: '2025-12-31T00:00:00.000Z',
      lostSyncSlots: ['public.items'],
    }),
    // synchronized by its init, but its apply worker keeps failing: failing, with the evidence
    subscriptionStatus({
      name: 'west_notes',
      state: 'failing',
      tablesReady: 2,
      slot: 'west_notes',
      lagBytes: 15_000_000,
      lagSeconds: null,
      walsender: 'none',
      applyWorkerRunning: false,
      applyErrors: 7,
      errorsReading: { applyErrors: 3, syncErrors: 0, at: '2025-12-31T23:59:00.000Z', roseAt: null },
      verdict: {
        verdict: 'failing',
        reasons: [
          'apply worker not running on west, its slot west_notes on east is inactive',
          "apply errors rose from 3 to 7 since steep's reading at 2025-12-31T23:59:00.000Z",
          'public.notes on west lacks column note, which east publishes: the apply worker cannot apply its changes',
        ],
      },
    }),
  ],
  slots: [
    {
      node: 'east',
      name: 'west_orders',
      kind: 'subscription',
      subscription: 'west_orders',
      active: true,
      walStatus: 'reserved',
      retainedWalBytes: 4096,
      lagBytes: 2048,
      preparedLsn: null,
    },
    {
      node: 'east',
      name: 'forgotten',
      kind: 'orphan',
      subscription: null,
      active: false,
      walStatus: 'extended',
      retainedWalBytes: 5_000_000_000,
      lagBytes: null,
      preparedLsn: null,
    },
  ],
};

const PROGRESS: InitProgress = {
  subscription: 'west_orders',
  node: 'west',
  from: 'east',
  method: 'snapshot',
  state: 'copying',
  percent: 42.5,
  tablesTotal: 2,
  tablesDone: 1,
  currentTables: ['public.orders'],
  rowsCopied: 1_234_567,
  bytesTotal: 900_000_000,
  rowsPerSecond: 50_000,
  etaSeconds: 95,
  lagBytes: null,
  lagSeconds: null,
  syncWorkers: 1,
  applyWorkerRunning: true,
  applyErrorCount: 0,
  syncErrorCount: 0,
  publisherError: null,
  subscriberError: null,
  exists: true,
  enabled: true,
  error: null,
  startedAt: '2026-01-01T00:00:00.000Z',
  sampledAt: '2026-01-01T00:01:00.000Z',
  tables: [
    {
      schema: 'public',
      name: 'customers',
      state: 'r',
      sizeBytes: 100_000_000,
      estimatedRows: 200_000,
      rowsCopied: 200_000,
      percent: 100,
    },
    {
      schema: 'public',
      name: 'orders',
      state: 'd',
      sizeBytes: 800_000_000,
      estimatedRows: 2_000_000,
      rowsCopied: 1_034_567,
      percent: 51.7,
    },
  ],
};

describe('render golden files', () => {
  it('plan: text, JSON and Markdown', async () => {
    const p = samplePlan();
    expect(p.steps.length).toBeGreaterThan(1);
    await expect(renderPlanText(p)).toMatchFileSnapshot('./golden/plan.txt');
    await expect(jsonText(toPlanFile(p), 2)).toMatchFileSnapshot('./golden/plan.json');
    await expect(renderPlanMarkdown(p)).toMatchFileSnapshot('./golden/plan.md');
  });

  it('show of a saved plan made with --target: not checked, current and stale, in text, JSON and Markdown', async () => {
    const p = samplePlan(['subscription.west_orders']);
    expect(p.steps.map((s) => printAddress(s.address))).not.toContain('publication.audit_pub');
    const shown = (check: PlanCheck | null): ShownPlan => ({
      file: 'plan.json',
      ageSeconds: 754,
      check,
      plan: toPlanFile(p),
    });
    const stale = shown({
      current: false,
      differences: ['update publication.audit_pub on east: needed now, not in the plan'],
    });
    await expect(renderShownPlanText(shown(null))).toMatchFileSnapshot('./golden/show.txt');
    await expect(renderShownPlanText(stale)).toMatchFileSnapshot('./golden/showStale.txt');
    await expect(jsonText(stale, 2)).toMatchFileSnapshot('./golden/showStale.json');
    await expect(renderShownPlanMarkdown(shown({ current: true, differences: [] }))).toMatchFileSnapshot(
      './golden/showCurrent.md',
    );
  });

  it('drift: text, JSON and Markdown', async () => {
    await expect(renderDriftText(DRIFT)).toMatchFileSnapshot('./golden/drift.txt');
    await expect(jsonText(DRIFT, 2)).toMatchFileSnapshot('./golden/drift.json');
    await expect(renderDriftMarkdown(DRIFT)).toMatchFileSnapshot('./golden/drift.md');
  });

  it('plan with a replace and a delete: their hazards and warnings, in text, JSON and Markdown', async () => {
    const p = destructivePlan();
    expect(p.steps.map((s) => `${s.action} ${printAddress(s.address)}`)).toEqual([
      'replace subscription.west_orders',
      'init subscription.west_orders',
      'delete publication.old_pub',
    ]);
    await expect(renderPlanText(p)).toMatchFileSnapshot('./golden/planDestructive.txt');
    await expect(jsonText(toPlanFile(p), 2)).toMatchFileSnapshot('./golden/planDestructive.json');
    await expect(renderPlanMarkdown(p)).toMatchFileSnapshot('./golden/planDestructive.md');
  });

  it('plan with a gated hazard: the flag it needs, then allowed, in text and Markdown', async () => {
    const held = truncatingPlan([]);
    expect(printAddress(held.steps.find((x) => x.hazards.includes('truncates-data'))!.address)).toBe(
      'subscription.west_orders',
    );
    await expect(renderPlanText(held)).toMatchFileSnapshot('./golden/planHazardHeld.txt');
    await expect(renderPlanMarkdown(held)).toMatchFileSnapshot('./golden/planHazardHeld.md');
    const allowed = truncatingPlan(['truncates-data']);
    await expect(renderPlanText(allowed)).toMatchFileSnapshot('./golden/planHazardAllowed.txt');
    await expect(jsonText(toPlanFile(allowed).inputs, 2)).toMatchFileSnapshot(
      './golden/planHazardAllowed.inputs.json',
    );
  });

  it('plan that failed (no step proposed) and a plan with no changes, in text, JSON and Markdown', async () => {
    const failed = failedPlan();
    expect(failed.errors.map((e) => e.code)).toEqual(['slot-in-use']);
    await expect(renderPlanText(failed)).toMatchFileSnapshot('./golden/planFailed.txt');
    await expect(jsonText(toPlanFile(failed), 2)).toMatchFileSnapshot('./golden/planFailed.json');
    await expect(renderPlanMarkdown(failed)).toMatchFileSnapshot('./golden/planFailed.md');
    const t = ordersTopology();
    const none = runPlan(t, observe(t));
    expect(none.steps).toEqual([]);
    await expect(renderPlanText(none)).toMatchFileSnapshot('./golden/planEmpty.txt');
    await expect(jsonText(toPlanFile(none), 2)).toMatchFileSnapshot('./golden/planEmpty.json');
    await expect(renderPlanMarkdown(none)).toMatchFileSnapshot('./golden/planEmpty.md');
  });

  it('status: JSON, with and without --check', async () => {
    const check = {
      unknown: true,
      unhealthy: false,
      problems: [
        'node west cannot be read: connection refused',
        'subscription.west_orders on west: unknown, west cannot be read',
      ],
    };
    await expect(jsonText(statusDocument(STATUS), 2)).toMatchFileSnapshot('./golden/status.json');
    await expect(jsonText(statusDocument(STATUS, check), 2)).toMatchFileSnapshot('./golden/statusCheck.json');
    await expect(
      [renderCheck(check), renderCheck({ unknown: false, unhealthy: false, problems: [] })].join('\n\n'),
    ).toMatchFileSnapshot('./golden/statusCheck.txt');
  });

  it('status and init status: text', async () => {
    await expect(renderStatus(STATUS)).toMatchFileSnapshot('./golden/status.txt');
    // steep's own copy: one big table's deferred indexes being built, another's still to build
    const indexes: InitProgress = {
      ...PROGRESS,
      subscription: 'west_big',
      currentTables: [],
      tables: PROGRESS.tables.map((t) => ({ ...t, state: 'r' as const, percent: 100 })),
      buildingIndexes: ['public.orders'],
      deferredIndexes: [
        {
          table: 'public.orders',
          indexes: ['orders_pkey', 'orders_placed_idx'],
          building: { phase: 'building index: scanning table', percent: 45.25 },
        },
        { table: 'public.lines', indexes: ['lines_pkey'], building: null },
      ],
    };
    await expect(renderInitStatus([PROGRESS, indexes])).toMatchFileSnapshot('./golden/initStatus.txt');
  });

  it("the progress line while steep's copy builds the indexes it deferred: which tables, no rate or ETA", () => {
    const building: InitProgress = {
      ...PROGRESS,
      state: 'copying',
      percent: 100,
      tablesTotal: 2,
      tablesDone: 2,
      currentTables: [],
      rowsPerSecond: 1000,
      etaSeconds: null,
      buildingIndexes: ['public.orders'],
    };
    expect(progressLine(building)).toBe(
      'copying 100.0% · 2/2 tables · building the indexes of public.orders',
    );
    expect(progressLine({ ...building, buildingIndexes: undefined })).toBe(
      'copying 100.0% · 2/2 tables · 1,000 rows/s · ETA unknown',
    );
  });
});

describe('a change listing gaps', () => {
  it('names each table with its reason, one a line (the plan text of a data-gap step)', () => {
    expect(
      listLines([{ table: 'public.customers', reason: 'public.customers joined s without a copy' }]),
    ).toEqual(['public.customers: public.customers joined s without a copy']);
  });
});
