import { unreachable } from '../catalog/readCluster.js';
import { renameApplied } from '../catalog/renameApplied.js';
import { readTableColumns } from '../catalog/tableSchemas.js';
import type { ClusterState, RenameApplied } from '../model/cluster.js';
import type { Topology } from '../model/topology.js';
import { renamesToCheck } from '../planner/schema/columnRename.js';
import { columnRequests } from '../planner/schema/schemaScope.js';
import { readEachNode } from './tableFacts.js';
import { withPair } from './verify.js';

/**
 * A plan's catalog read takes each subscribed table's fingerprint, not its columns (500 tables
 * × 10 nodes of column rows were a third of a plan's CPU). Here the columns of the tables whose
 * fingerprints differ between a publisher and a subscriber are read, on the nodes that have
 * them (one more session there, at most `maxConnections` at once), so schema sync can name
 * every column that differs and build its DDL. Nothing is read when every table matches.
 *
 * The columns come from a snapshot of their own, taken after the first read's: a table changed
 * in between is planned as it is now (its fingerprint is recomputed from these columns), one
 * dropped in between as absent. A node that cannot be read now becomes unreachable, as in
 * readCluster.
 */
export function readDifferingColumns(topology: Topology, observed: ClusterState): Promise<void> {
  return readEachNode(
    topology,
    columnRequests(topology, observed),
    async (name, tables, conn) => {
      const node = observed.nodes[name];
      if (!node?.reachable || !node.tableSchemas) return;
      const read = await readTableColumns(conn, {
        node: name,
        tables,
        objects: node.tableSchemas.scope.objects === true,
        stateSchema: topology.settings.stateSchema,
        connectTimeoutMs: topology.settings.connectTimeout,
      });
      for (const t of tables) {
        const qn = `${t.schema}.${t.name}`;
        if (read[qn]) node.tableSchemas.tables[qn] = read[qn];
        else delete node.tableSchemas.tables[qn];
      }
    },
    (name, err) => {
      observed.nodes[name] = unreachable(name, err);
    },
  );
}

/**
 * For each column rename schema sync will plan, whether its subscriber has applied every change
 * from before the rename (catalog/renameApplied.ts): the plan says so, and apply checks again.
 */
export async function readRenamesApplied(topology: Topology, observed: ClusterState): Promise<void> {
  for (const { d, table, column } of renamesToCheck(topology, observed)) {
    const read: RenameApplied = await withPair(topology, [d.node, d.from], 'plain', 'steep', (sub, pub) =>
      renameApplied(sub, pub, { subscription: d.name, table, column, publisher: d.from }),
    ).catch((err: Error) => ({ state: 'unknown', why: err.message }));
    const node = observed.nodes[d.node];
    if (!node?.reachable) continue;
    node.renamesApplied = {
      ...node.renamesApplied,
      [d.name]: { ...node.renamesApplied?.[d.name], [table]: read },
    };
  }
}
