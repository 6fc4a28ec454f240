import { readRowPresence } from '../catalog/rowPresence.js';
import type { ClusterState } from '../model/cluster.js';
import type { TableName, Topology } from '../model/topology.js';
import { rowPresenceRequests } from '../planner/init/initCopy.js';
import { markObservedTables } from './tableFacts.js';

/**
 * Existing data (docs/steep-yaml.md): for every subscription about to be created with copy_data, whether
 * its target tables on the subscriber already hold rows. Marks `hasRows` on the observed tables
 * so the (pure) planner can refuse, or truncate first. Costs nothing once the subscriptions
 * exist: only tables of subscriptions still to be created are probed.
 */
export async function observeExistingData(topology: Topology, observed: ClusterState): Promise<void> {
  await markRowPresence(topology, observed, rowPresenceRequests(topology, observed));
}

/** Mark `hasRows` on the observed tables of each node named in `requests`. */
export async function markRowPresence(
  topology: Topology,
  observed: ClusterState,
  requests: Map<string, TableName[]>,
): Promise<void> {
  await markObservedTables(
    topology,
    observed,
    requests,
    (node, tables) =>
      readRowPresence(topology.nodes[node]!.connection, {
        node,
        tables,
        connectTimeoutMs: topology.settings.connectTimeout,
      }),
    (table, key, presence) => {
      if (!presence.unreadable.has(key)) table.hasRows = presence.withRows.has(key);
    },
  );
}
