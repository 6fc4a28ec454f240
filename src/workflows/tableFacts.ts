import { readBinaryless } from '../catalog/binaryIo.js';
import { readLoadFactsAt } from '../catalog/loadFacts.js';
import { readRowCounts, readRowPresence } from '../catalog/rowPresence.js';
import { connectionLimit } from '../db/connectionLimit.js';
import type { ClusterState, ObservedTable } from '../model/cluster.js';
import type { ConnectionSpec, TableName, Topology } from '../model/topology.js';
import { loadFactsRequests } from '../planner/init/ownCopyLoad.js';
import { binaryRequests } from '../planner/subscriptions/binaryCopy.js';

/**
 * `read` each node of `requests` that steep.yaml declares, at most maxConnections nodes at once.
 * A node whose read fails goes to `failed`; by default it is left as it was read.
 */
export async function readEachNode<T>(
  topology: Topology,
  requests: Iterable<readonly [string, T]>,
  read: (name: string, request: T, conn: ConnectionSpec) => Promise<void>,
  failed: (name: string, err: unknown) => void = () => {},
): Promise<void> {
  const limited = connectionLimit(topology.settings.maxConnections);
  await Promise.all(
    [...requests].map(([name, request]) => {
      const spec = topology.nodes[name];
      return (
        spec && limited(() => read(name, request, spec.connection)).catch((err: unknown) => failed(name, err))
      );
    }),
  );
}

/**
 * Facts the pure planner needs about some tables on some nodes, beyond the cluster read: per
 * node of `requests` that was reached, `read` its tables there, then `mark` each observed table
 * with what was read. A node that went away between reads is left as it was read: the plan
 * reports what it could read.
 */
function markObservedTables<F>(
  topology: Topology,
  observed: ClusterState,
  requests: Map<string, TableName[]>,
  read: (
    conn: ConnectionSpec,
    opts: { node: string; tables: TableName[]; connectTimeoutMs: number },
  ) => Promise<F>,
  mark: (table: ObservedTable, key: string, facts: F) => void,
): Promise<void> {
  return readEachNode(topology, requests, async (name, tables, conn) => {
    const node = observed.nodes[name];
    if (!node?.reachable || tables.length === 0) return;
    const facts = await read(conn, {
      node: name,
      tables,
      connectTimeoutMs: topology.settings.connectTimeout,
    });
    for (const t of tables) {
      const key = `${t.schema}.${t.name}`;
      const table = node.tables[key];
      if (table) mark(table, key, facts);
    }
  });
}

/**
 * Existing data (docs/steep-yaml.md): mark `hasRows` on the observed tables of each node named in
 * `requests`, so the (pure) planner can refuse a copy into tables that hold rows, or truncate
 * first. `plan` asks only for the tables of subscriptions still to be created with copy_data
 * (planner/init/initCopy.ts, rowPresenceRequests): it costs nothing once they exist.
 */
export function markRowPresence(
  topology: Topology,
  observed: ClusterState,
  requests: Map<string, TableName[]>,
): Promise<void> {
  return markObservedTables(topology, observed, requests, readRowPresence, (table, key, presence) => {
    if (!presence.unreadable.has(key)) table.hasRows = presence.withRows.has(key);
  });
}

/**
 * Row counts (`rowCount`) of the partition trees' relations a subscription receives, on it and
 * its publisher, where a refresh would receive the same tree in another shape: the (pure)
 * planner calls the rows held only when both sides count the same (planner/subscriptions/heldRows.ts).
 */
export function markRowCounts(
  topology: Topology,
  observed: ClusterState,
  requests: Map<string, TableName[]>,
): Promise<void> {
  return markObservedTables(topology, observed, requests, readRowCounts, (table, key, counts) => {
    const n = counts.get(key);
    if (n !== undefined) table.rowCount = n;
  });
}

/**
 * On a subscriber whose role may not set session_replication_role, steep's own copy loads in
 * foreign-key order: the foreign keys and origin-mode triggers of the tables it would load there,
 * marked on the observed tables so the (pure) planner can order the load or refuse it.
 */
export function observeLoadFacts(topology: Topology, observed: ClusterState): Promise<void> {
  const requests = loadFactsRequests(topology, observed);
  return markObservedTables(topology, observed, requests, readLoadFactsAt, (table, key, facts) => {
    table.foreignKeys = facts.foreignKeys.filter((fk) => fk.table === key);
    table.originTriggers = facts.originTriggers.filter((g) => g.startsWith(`${key}: `));
  });
}

/**
 * The columns a binary subscription cannot copy or stream (`binaryless`), on the publisher and
 * the subscriber of the tables it would start carrying in binary (planner/subscriptions/binaryCopy.ts):
 * nothing is read unless a subscription declares `options.binary: true`.
 */
export function markBinaryless(topology: Topology, observed: ClusterState): Promise<void> {
  const requests = binaryRequests(topology, observed);
  return markObservedTables(topology, observed, requests, readBinaryless, (table, key, columns) => {
    const found = columns.get(key);
    if (found) table.binaryless = found;
  });
}
