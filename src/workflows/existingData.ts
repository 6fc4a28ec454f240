import { readRowPresence } from '../catalog/rowPresence.js';
import type { ClusterState } from '../model/cluster.js';
import type { TableName, Topology } from '../model/topology.js';
import { markObservedTables } from './tableFacts.js';

/**
 * Existing data (docs/steep-yaml.md): mark `hasRows` on the observed tables of each node named in
 * `requests`, so the (pure) planner can refuse a copy into tables that hold rows, or truncate
 * first. `plan` asks only for the tables of subscriptions still to be created with copy_data
 * (planner/init/initCopy.ts, rowPresenceRequests): it costs nothing once they exist.
 */
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
