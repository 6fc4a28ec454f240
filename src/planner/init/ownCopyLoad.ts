import type { ClusterState, ObservedNode } from '../../model/cluster.js';
import type { LoadFacts } from '../../model/loadOrder.js';
import { qualifiedName, type SubscriptionSpec, type TableName, type Topology } from '../../model/topology.js';
import { sortedKeys } from '../context.js';
import { addTables } from '../schema/schemaScope.js';
import { copiedTables, copyPath } from './initCopy.js';
import { planLoad } from './loadOrder.js';

/**
 * steep's own copy (init.parallel, a table above init.splitAbove, a two-phase snapshot apply)
 * on a subscriber whose role may not set session_replication_role: it loads in foreign-key order
 * (planner/init/loadOrder.ts). What the plan reads for it (the tables' foreign keys and triggers,
 * only on such subscribers), and what it refuses before anything is written.
 */

/** The role may load as replication does (superuser, or SET ON PARAMETER); not read counts as may. */
export function replicaLoadAllowed(node: ObservedNode): boolean {
  return node.role.superuser || node.role.gaps?.setSessionReplicationRole !== false;
}

/** The plan's note where steep's own copy (`who`: it, steep snapshot apply) loads in foreign-key order on `node`. */
export function loadNote(node: ObservedNode, who: string): string {
  return replicaLoadAllowed(node)
    ? ''
    : `; ${who} loads in foreign-key order: role ${node.role.name} may not set session_replication_role`;
}

function ownCopy(desired: Topology, observed: ClusterState, d: SubscriptionSpec): boolean {
  return copyPath(desired, observed, d).own;
}

/** Per subscriber node whose role may not set session_replication_role: the tables steep's own copy would load there. */
export function loadFactsRequests(desired: Topology, observed: ClusterState): Map<string, TableName[]> {
  const out = new Map<string, Map<string, TableName>>();
  for (const name of sortedKeys(desired.subscriptions)) {
    const d = desired.subscriptions[name]!;
    const node = observed.nodes[d.node];
    if (!node?.reachable || replicaLoadAllowed(node) || !ownCopy(desired, observed, d)) continue;
    const copied = copiedTables(desired, observed, d).filter((t) => node.tables[qualifiedName(t)]);
    addTables(out, d.node, copied);
  }
  return new Map([...out].map(([n, t]) => [n, [...t.values()]]));
}

/** What the plan read of `d`'s tables on `node` (their foreign keys and triggers), as the copy reads it. */
export function observedLoadFacts(
  desired: Topology,
  observed: ClusterState,
  node: ObservedNode,
  d: SubscriptionSpec,
): LoadFacts {
  const tables = copiedTables(desired, observed, d)
    .map((t) => node.tables[qualifiedName(t)])
    .filter((t) => t !== undefined);
  return {
    role: node.role.name,
    replicaAllowed: replicaLoadAllowed(node),
    foreignKeys: tables.flatMap((t) => t.foreignKeys ?? []),
    originTriggers: tables.flatMap((t) => t.originTriggers ?? []),
  };
}

/**
 * Preflight of `d`'s load in foreign-key order on `node`: cycles of NOT DEFERRABLE foreign keys
 * and triggers that would fire are errors, foreign keys to tables it does not copy warnings.
 */
export function checkOwnCopyLoad(
  desired: Topology,
  observed: ClusterState,
  node: ObservedNode,
  d: SubscriptionSpec,
): { errors: string[]; warnings: string[] } {
  if (replicaLoadAllowed(node)) return { errors: [], warnings: [] };
  return planLoad(
    { node: node.name, serverVersion: node.serverVersion, subscription: d.name },
    observedLoadFacts(desired, observed, node, d),
    copiedTables(desired, observed, d).map(qualifiedName),
    { twoPhase: d.init.method === 'two-phase', split: copyPath(desired, observed, d).split.length > 0 },
  );
}
