import { readLoadFactsAt } from '../catalog/loadFacts.js';
import type { ClusterState } from '../model/cluster.js';
import type { Topology } from '../model/topology.js';
import { loadFactsRequests } from '../planner/init/ownCopyLoad.js';
import { markObservedTables } from './tableFacts.js';

/**
 * On a subscriber whose role may not set session_replication_role, steep's own copy loads in
 * foreign-key order: the foreign keys and origin-mode triggers of the tables it would load there,
 * marked on the observed tables so the (pure) planner can order the load or refuse it.
 */
export async function observeLoadFacts(topology: Topology, observed: ClusterState): Promise<void> {
  await markObservedTables(
    topology,
    observed,
    loadFactsRequests(topology, observed),
    (node, tables) =>
      readLoadFactsAt(topology.nodes[node]!.connection, {
        node,
        tables,
        connectTimeoutMs: topology.settings.connectTimeout,
      }),
    (table, key, facts) => {
      table.foreignKeys = facts.foreignKeys.filter((fk) => fk.table === key);
      table.originTriggers = facts.originTriggers.filter((g) => g.startsWith(`${key}: `));
    },
  );
}
