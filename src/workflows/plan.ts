import { clusterReadOptions, readCluster } from '../catalog/readCluster.js';
import { loadTopology } from '../config/load.js';
import { subscriptionAddress } from '../model/address.js';
import type { ClusterState } from '../model/cluster.js';
import type { Problem } from '../model/errors.js';
import type { Hazard, Plan, PlanMessage } from '../model/plan.js';
import type { TableScope } from '../model/tableSchema.js';
import type { TableName, Topology } from '../model/topology.js';
import { plan } from '../planner/index.js';
import { rowPresenceRequests } from '../planner/init/initCopy.js';
import { resolveLsnFlags } from '../planner/init/manualInit.js';
import { subscribedScopes } from '../planner/schema/schemaScope.js';
import { heldCountRequests } from '../planner/subscriptions/heldRows.js';
import { stateMigrations } from '../state/migrations.js';
import { STEEP_VERSION } from '../version.js';
import { markColumnGaps } from './continuity.js';
import { readDifferingColumns, readRenamesApplied } from './planColumns.js';
import { observeRestorePoints } from './restorePoints.js';
import { observeStreamPositions } from './streamPositions.js';
import { markStuckSlots } from './stuckSlots.js';
import { markBinaryless, markRowCounts, markRowPresence, observeLoadFacts } from './tableFacts.js';

export interface PlanResult {
  topology: Topology;
  observed: ClusterState;
  plan: Plan;
  configWarnings: Problem[];
}

/** Row filters as written in the file, per publisher node, so the catalog can say how PostgreSQL prints them. */
export function desiredRowFilters(topology: Topology): Map<string, Record<string, string[]>> {
  const byNode = new Map<string, Record<string, string[]>>();
  for (const pub of Object.values(topology.publications)) {
    for (const t of pub.tables) {
      if (t.where === null) continue;
      const filters = byNode.get(pub.node) ?? {};
      const key = `${t.schema}.${t.name}`;
      filters[key] = [...new Set([...(filters[key] ?? []), t.where])];
      byNode.set(pub.node, filters);
    }
  }
  return byNode;
}

/** Every table of a node, with what CREATE needs: what `steep observe` reads, for any later file. */
const EVERY_TABLE: TableScope = { all: true, schemas: [], tables: [], objects: true };

/**
 * Read every node of the topology concurrently. `everyTable` (`steep observe`): the schema of
 * every table and whether it holds rows, not only of the tables this file's subscriptions use.
 * Otherwise the subscribed tables' fingerprints, then the columns only of those that differ.
 */
export async function observe(
  topology: Topology,
  opts: { everyTable?: boolean } = {},
): Promise<ClusterState> {
  const filters = desiredRowFilters(topology);
  const scopes: Record<string, TableScope | undefined> = opts.everyTable
    ? Object.fromEntries(Object.keys(topology.nodes).map((n) => [n, EVERY_TABLE]))
    : subscribedScopes(topology);
  const observed = await readCluster(
    Object.values(topology.nodes).map((n) => ({
      name: n.name,
      connection: n.connection,
      standbys: n.standbys,
      rowFilters: filters.get(n.name),
      tableScope: scopes[n.name],
    })),
    { ...clusterReadOptions(topology.settings), fingerprintsOnly: !opts.everyTable },
  );
  if (opts.everyTable) await markRowPresence(topology, observed, everyTableOf(observed));
  else {
    await readDifferingColumns(topology, observed);
    await readRenamesApplied(topology, observed);
    await Promise.all([
      markRowPresence(topology, observed, rowPresenceRequests(topology, observed)),
      markRowCounts(topology, observed, heldCountRequests(topology, observed)),
      observeLoadFacts(topology, observed),
      markBinaryless(topology, observed),
      observeStreamPositions(topology, observed),
      observeRestorePoints(topology, observed),
      // continuity judges what the slots skip (18): read first
      markStuckSlots(topology, observed)
        .catch(() => {})
        .then(() => markColumnGaps(topology, observed))
        .catch(() => {}),
    ]);
  }
  return observed;
}

function everyTableOf(observed: ClusterState): Map<string, TableName[]> {
  return new Map(
    Object.entries(observed.nodes).flatMap(([name, n]) =>
      n.reachable
        ? [[name, Object.values(n.tables).map(({ schema, name }) => ({ schema, name }))] as const]
        : [],
    ),
  );
}

export function planFor(
  topology: Topology,
  observed: ClusterState,
  targets: string[] = [],
  initLsn: Record<string, string> = {},
  allowHazards: Hazard[] = [],
): Plan {
  return plan(topology, observed, {
    steepVersion: STEEP_VERSION,
    now: new Date(),
    targets,
    stateMigrations: stateMigrations(topology.settings.stateSchema),
    initLsn,
    allowHazards,
  });
}

/** What `steep plan` is given besides steep.yaml (recorded in the plan's `inputs`). */
export interface PlanFlags {
  targets?: string[];
  lsn?: string[];
  allowHazards?: Hazard[];
}

/** `steep plan`: load the file, read the nodes, compute the plan. */
export async function makePlan(
  configPath: string,
  opts: PlanFlags & { live?: boolean } = {},
): Promise<PlanResult> {
  const { topology, warnings } = await loadTopology(configPath);
  const initLsn = resolveLsnFlags(topology, opts.lsn ?? []);
  const observed = await observe(topology);
  const planned = planFor(topology, observed, opts.targets, initLsn, opts.allowHazards);
  if (opts.live) planned.warnings.push(...(await stoppedReplication(topology, observed)));
  return { topology, observed, plan: planned, configWarnings: warnings };
}

/**
 * `live`: the declared subscriptions whose replication has stopped, by status' own rule
 * (model/syncVerdict.ts `failing`): a plan that only names a missing column must not read as if
 * the rows still flowed. The status reader is loaded only then.
 */
async function stoppedReplication(topology: Topology, observed: ClusterState): Promise<PlanMessage[]> {
  const { liveProblems } = await import('./status.js');
  const { failing } = await liveProblems(topology, observed);
  return failing.map((f) => ({
    code: 'replication.failing',
    address: subscriptionAddress(f.subscription),
    node: f.node,
    message: `subscription ${f.subscription} on ${f.node}: replication from ${f.from} has stopped: ${f.reasons.join('; ')}`,
  }));
}
