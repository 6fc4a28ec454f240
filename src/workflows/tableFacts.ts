import { connectionLimit } from '../db/connectionLimit.js';
import type { ClusterState, ObservedTable } from '../model/cluster.js';
import type { TableName, Topology } from '../model/topology.js';

/**
 * Facts the pure planner needs about some tables on some nodes, beyond the cluster read: per
 * node of `requests` that was reached, `read` its tables there (at most maxConnections nodes at
 * once), then `mark` each observed table with what was read. A node that went away between
 * reads is left as it was read: the plan reports what it could read.
 */
export async function markObservedTables<F>(
  topology: Topology,
  observed: ClusterState,
  requests: Map<string, TableName[]>,
  read: (node: string, tables: TableName[]) => Promise<F>,
  mark: (table: ObservedTable, key: string, facts: F) => void,
): Promise<void> {
  const limited = connectionLimit(topology.settings.maxConnections);
  await Promise.all(
    [...requests.entries()].map(([name, tables]) =>
      limited(async () => {
        const node = observed.nodes[name];
        if (!node?.reachable || !topology.nodes[name] || tables.length === 0) return;
        let facts: F;
        try {
          facts = await read(name, tables);
        } catch {
          return;
        }
        for (const t of tables) {
          const key = `${t.schema}.${t.name}`;
          const table = node.tables[key];
          if (table) mark(table, key, facts);
        }
      }),
    ),
  );
}
