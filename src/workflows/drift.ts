import { readRowPresence } from '../catalog/rowPresence.js';
import { readFingerprints } from '../catalog/tableSchemas.js';
import { nodeSession, withSession } from '../db/connect.js';
import { connectionLimit } from '../db/connectionLimit.js';
import { printAddress, subscriptionAddress } from '../model/address.js';
import type { ClusterState } from '../model/cluster.js';
import type { DataGap, DriftReport, FingerprintChange } from '../model/driftReport.js';
import { SteepError } from '../model/errors.js';
import { compareText } from '../model/order.js';
import type { Plan, PlanMessage, SchemaComparison, Step } from '../model/plan.js';
import type { SequenceLag } from '../model/sequences.js';
import { stepClass } from '../model/stepClass.js';
import type { TableName, Topology } from '../model/topology.js';
import { differs, onlyFillableExtras } from '../planner/schema/schemaCompare.js';
import { addTables } from '../planner/schema/schemaScope.js';
import { dataGapProbes, dataGaps } from '../planner/subscriptions/dataGaps.js';
import { hasFingerprintTable, readSavedFingerprints } from '../state/fingerprints.js';
import { STEEP_VERSION } from '../version.js';
import { makePlan } from './plan.js';
import { sequenceLags } from './sequences.js';
import { liveProblems } from './status.js';
import { readEachNode } from './tableFacts.js';

/**
 * `steep drift`: everything that differs between steep.yaml and the nodes, for a scheduled
 * pipeline: what `plan` would change (drift of managed objects, missing objects), orphaned
 * slots, schema differences between the publisher and subscriber of every subscription, and the
 * tables whose fingerprint changed since it was last saved (`schema fingerprint --save`, or a
 * successful apply). Exit 0 none, 2 drift, 1 error.
 */

function isSchemaMessage(m: PlanMessage): boolean {
  return m.code.startsWith('schema.');
}

/**
 * Schema differences that count as drift: those a plan acts on (strict: an error, manual: a
 * warning, auto: a sync step or an error). An auto subscription's extra subscriber columns are
 * kept by design and only listed.
 */
function countsAsDrift(topology: Topology, s: SchemaComparison): boolean {
  if (!differs(s.status)) return false;
  const mode = topology.subscriptions[s.subscription]?.schemaSync;
  if (mode === 'auto' && s.columns.length > 0 && s.columns.every((c) => c.kind === 'extra')) return false;
  // extra subscriber columns replicated rows can fill: PostgreSQL accepts them, in every mode
  return !onlyFillableExtras(s.columns);
}

/** Saved fingerprints of one node against the live ones. */
async function fingerprintChanges(topology: Topology, name: string): Promise<FingerprintChange[]> {
  const node = topology.nodes[name]!;
  const schema = topology.settings.stateSchema;
  const saved = await withSession(nodeSession(topology, name, 'steep drift'), async (client) =>
    (await hasFingerprintTable(client, schema)) ? readSavedFingerprints(client, schema, name) : [],
  );
  if (saved.length === 0) return [];
  const live = await readFingerprints(node.connection, {
    node: name,
    scope: { all: false, schemas: [], tables: saved.map((s) => ({ schema: s.schema, name: s.name })) },
    stateSchema: schema,
    connectTimeoutMs: topology.settings.connectTimeout,
  });
  const now = new Map(live.map((f) => [`${f.schema}.${f.name}`, f]));
  return saved.flatMap((s) => {
    const table = `${s.schema}.${s.name}`;
    const current = now.get(table);
    if (current?.fingerprint === s.fingerprint) return [];
    return {
      node: name,
      table,
      change: current ? 'changed' : 'dropped',
      saved: s.fingerprint,
      current: current?.fingerprint ?? null,
      savedColumns: s.columnCount,
      currentColumns: current?.columnCount ?? null,
      capturedAt: s.capturedAt,
    };
  });
}

export async function detectDrift(configPath: string, opts: { sequences?: boolean } = {}) {
  const { topology, observed, plan, configWarnings } = await makePlan(configPath);
  const reachable = Object.keys(topology.nodes)
    .sort()
    .filter((n) => plan.observed.nodes[n] !== undefined);
  const fingerprintErrors: PlanMessage[] = [];
  const limited = connectionLimit(topology.settings.maxConnections);
  const perNode = await Promise.all(
    reachable.map((n) =>
      limited(() => fingerprintChanges(topology, n)).catch((err: unknown) => {
        fingerprintErrors.push({
          code: 'drift.fingerprints',
          node: n,
          message: `${n}: cannot compare saved fingerprints: ${(err as Error).message}`,
        });
        return [] as FingerprintChange[];
      }),
    ),
  );
  const gaps = await probeDataGaps(topology, observed);
  const lags = opts.sequences ? await laggingSequences(topology, reachable) : undefined;
  return {
    report: driftReport(
      topology,
      plan,
      perNode.flat(),
      [...fingerprintErrors, ...(lags?.errors ?? [])],
      gaps,
      lags?.lags,
      await liveProblems(topology, observed),
    ),
    configWarnings,
  };
}

/** `--sequences`: every subscription whose two nodes answer, compared sequence by sequence. */
async function laggingSequences(topology: Topology, reachable: string[]) {
  const errors: PlanMessage[] = [];
  const subs = Object.values(topology.subscriptions)
    .filter((d) => reachable.includes(d.node) && reachable.includes(d.from))
    .sort((a, b) => compareText(a.name, b.name));
  const lags = await Promise.all(
    subs.map((d) =>
      sequenceLags(topology, d).catch((err: unknown) => {
        // publications not created yet: the plan's changes already say so
        if (err instanceof SteepError && err.code === 'sequences.no_tables') return [];
        errors.push({
          code: 'drift.sequences',
          node: d.node,
          message: `cannot compare the sequences of ${d.name}: ${(err as Error).message}`,
        });
        return [];
      }),
    ),
  );
  // a standalone sequence goes with every subscription of its schema: each node's sequence once
  const seen = new Set<string>();
  const once = lags
    .flat()
    .filter((l) => !seen.has(`${l.node}/${l.sequence}`) && seen.add(`${l.node}/${l.sequence}`));
  return { lags: once, errors };
}

/**
 * Data gaps: one `EXISTS` probe per table the subscriptions receive, on both sides (no counts),
 * then the tables empty on the subscriber whose publisher holds rows.
 */
async function probeDataGaps(topology: Topology, observed: ClusterState): Promise<DataGap[]> {
  const probes = dataGapProbes(topology, observed);
  const byNode = new Map<string, Map<string, TableName>>();
  for (const p of probes) {
    for (const n of [p.node, p.from]) addTables(byNode, n, p.tables);
  }
  const withRows = new Map<string, Set<string>>();
  // a node that cannot be probed has no answer: nothing is concluded about its tables
  await readEachNode(topology, byNode, async (name, tables, conn) => {
    const presence = await readRowPresence(conn, {
      node: name,
      tables: [...tables.values()],
      connectTimeoutMs: topology.settings.connectTimeout,
    });
    if (presence.unreadable.size === 0) withRows.set(name, presence.withRows);
  });
  return dataGaps(probes, withRows);
}

/** What status' reading of the subscribers finds that counts as drift (liveProblems). */
type LiveProblems = Awaited<ReturnType<typeof liveProblems>>;

/** The report of a plan and the fingerprint changes. Pure. */
export function driftReport(
  topology: Topology,
  plan: Plan,
  fingerprints: FingerprintChange[],
  fingerprintErrors: PlanMessage[] = [],
  gaps: DataGap[] = [],
  sequences?: SequenceLag[],
  live: Partial<LiveProblems> = {},
): DriftReport {
  const {
    conflicts = [],
    failing = [],
    gaps: broken = [],
    reinits = [],
    unverified = [],
    diverged = [],
  } = live;
  const schema = plan.schema.filter((s) => s.status !== 'MATCH');
  const errors = [...plan.errors.filter((e) => !isSchemaMessage(e)), ...fingerprintErrors];
  const changes = plan.steps
    .filter((s) => !isMarkOnly(s))
    .map((s) => ({
      address: printAddress(s.address),
      node: s.node,
      action: s.action,
      reasonText: s.reasonText,
    }));
  const drifted =
    plan.drift.length > 0 ||
    changes.length > 0 ||
    plan.errors.some(isSchemaMessage) ||
    schema.some((s) => countsAsDrift(topology, s)) ||
    fingerprints.length > 0 ||
    plan.orphanSlots.length > 0 ||
    gaps.length > 0 ||
    conflicts.length > 0 ||
    failing.length > 0 ||
    broken.length > 0 ||
    reinits.length > 0 ||
    unverified.length > 0 ||
    diverged.length > 0 ||
    // a switchover's fence left on a publisher still replicated from (planner/switchover/leftFence.ts)
    plan.warnings.some((w) => w.code === 'switchover.fence_left') ||
    (sequences?.length ?? 0) > 0 ||
    (plan.failover ?? []).some((v) => ['diverged', 'unknown', 'not-ready'].includes(v.verdict));
  return {
    formatVersion: 1,
    steepVersion: STEEP_VERSION,
    createdAt: plan.createdAt,
    config: plan.config,
    drifted,
    objects: plan.drift,
    changes,
    schema,
    schemaProblems: plan.errors.filter(isSchemaMessage),
    fingerprints,
    orphanSlots: plan.orphanSlots,
    dataGaps: gaps,
    conflicts,
    ...(failing.length > 0 ? { failing } : {}),
    ...(broken.length > 0 ? { gaps: broken } : {}),
    ...(reinits.length > 0 ? { reinits } : {}),
    ...(unverified.length > 0 ? { unverified } : {}),
    ...(diverged.length > 0 ? { diverged } : {}),
    ...(sequences ? { sequences } : {}),
    ...(plan.failover ? { failover: plan.failover } : {}),
    errors,
    // a reinit not finished has its own section
    warnings: plan.warnings.filter(
      (w) =>
        w.code !== 'reinit.unfinished' ||
        !reinits.some((u) => w.address === subscriptionAddress(u.subscription)),
    ),
  };
}

/**
 * Steps that are not drift: adopting an object that matches the file (only its comment gains the
 * marker), and steep's own state schema (its bookkeeping, not the topology).
 */
function isMarkOnly(s: Step): boolean {
  return stepClass(s).bookkeeping || (s.action === 'adopt' && s.changes.every((c) => c.path === 'comment'));
}

/** Errors that leave the drift unknown: a node, its fingerprints or sequences not read. */
const UNREAD = new Set([
  'preflight.unreachable',
  'merge-unreachable',
  'drift.fingerprints',
  'drift.sequences',
]);

/**
 * 1 when steep could not tell (something not read, or an error and no drift), 2 when something
 * drifted, else 0. A plan's refusal of the repair (a subscription whose re-creation would copy
 * over rows, after a switchover the file does not declare `enabled: false`) leaves the drift proven.
 */
export function driftExitCode(report: DriftReport): number {
  if (report.errors.some((e) => UNREAD.has(e.code))) return 1;
  return report.drifted ? 2 : report.errors.length > 0 ? 1 : 0;
}
