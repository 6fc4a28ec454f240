import { readRowPresence } from '../catalog/rowPresence.js';
import { connectionLimit } from '../db/connectionLimit.js';
import type { ClusterState } from '../model/cluster.js';
import type { TableName, Topology } from '../model/topology.js';
import { rowPresenceRequests } from '../planner/initCopy.js';

/**
 * Existing data (SPEC §9): for every subscription about to be created with copy_data, whether
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
  const limited = connectionLimit(topology.settings.maxConnections);
  await Promise.all(
    [...requests.entries()].map(([name, tables]) =>
      limited(async () => {
        const node = observed.nodes[name];
        const spec = topology.nodes[name];
        if (!node?.reachable || !spec) return;
        try {
          const presence = await readRowPresence(spec.connection, {
            node: name,
            tables,
            connectTimeoutMs: topology.settings.connectTimeout,
          });
          for (const t of tables) {
            const observedTable = node.tables[`${t.schema}.${t.name}`];
            const key = `${t.schema}.${t.name}`;
            if (observedTable && !presence.unreadable.has(key))
              observedTable.hasRows = presence.withRows.has(key);
          }
        } catch {
          // the node went away between reads: the plan reports what it could read
        }
      }),
    ),
  );
}
