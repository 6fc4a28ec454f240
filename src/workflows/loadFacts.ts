import { readLoadFactsAt } from '../catalog/loadFacts.js';
import { connectionLimit } from '../db/connectionLimit.js';
import type { ClusterState } from '../model/cluster.js';
import type { Topology } from '../model/topology.js';
import { loadFactsRequests } from '../planner/ownCopyLoad.js';

/**
 * On a subscriber whose role may not set session_replication_role, steep's own copy loads in
 * foreign-key order: the foreign keys and origin-mode triggers of the tables it would load there,
 * marked on the observed tables so the (pure) planner can order the load or refuse it.
 */
export async function observeLoadFacts(topology: Topology, observed: ClusterState): Promise<void> {
  const limited = connectionLimit(topology.settings.maxConnections);
  await Promise.all(
    [...loadFactsRequests(topology, observed)].map(([name, tables]) =>
      limited(async () => {
        const node = observed.nodes[name];
        const spec = topology.nodes[name];
        if (!node?.reachable || !spec || tables.length === 0) return;
        try {
          const facts = await readLoadFactsAt(spec.connection, {
            node: name,
            tables,
            connectTimeoutMs: topology.settings.connectTimeout,
          });
          for (const t of tables) {
            const key = `${t.schema}.${t.name}`;
            const observedTable = node.tables[key];
            if (!observedTable) continue;
            observedTable.foreignKeys = facts.foreignKeys.filter((fk) => fk.table === key);
            observedTable.originTriggers = facts.originTriggers.filter((g) => g.startsWith(`${key}: `));
          }
        } catch {
          // the node went away between reads: the plan reports what it could read
        }
      }),
    ),
  );
}
