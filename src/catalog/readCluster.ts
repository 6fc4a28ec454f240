import { connectionLimit } from '../db/connectionLimit.js';
import type { ClusterState, UnreachableNode } from '../model/cluster.js';
import { SteepError } from '../model/errors.js';
import type { Settings } from '../model/topology.js';
import { readFailover, readStandbys } from './failover.js';
import { type NodeAddress, publisherOf } from './publisherOf.js';
import { type ReadNodeOptions, readNode } from './readNode.js';
import { postgresMessage } from './session.js';

/** A node to read: its addresses (whose standbys' part in a failover is read too) and what to read. */
export type ClusterNodeInput = NodeAddress & Pick<ReadNodeOptions, 'rowFilters' | 'tableScope'>;

export interface ReadClusterOptions extends Omit<ReadNodeOptions, 'node' | 'rowFilters' | 'tableScope'> {
  /** connections open at once (settings.maxConnections); default 16 */
  maxConnections?: number;
}

/** The read options steep.yaml's settings give. */
export function clusterReadOptions(settings: Settings): ReadClusterOptions {
  return {
    stateSchema: settings.stateSchema,
    connectTimeoutMs: settings.connectTimeout,
    maxConnections: settings.maxConnections,
  };
}

/** A node whose read failed: one sentence naming it and the cause. */
export function unreachable(name: string, err: unknown): UnreachableNode {
  // connect errors already are one sentence naming the node and the cause, without secrets
  const error =
    err instanceof SteepError
      ? err.message
      : `node ${name}: reading the catalog failed: ${postgresMessage(err)}`;
  return { name, reachable: false, error };
}

/**
 * Read every node concurrently, one session each, at most `maxConnections` sessions at once.
 * A node that cannot be read (refused, authentication, unknown database, timeout, unsupported
 * version, a failed catalog query) becomes an UnreachableNode with one sentence naming it and
 * the cause; the others are still read. Never throws for a node's sake.
 */
export async function readCluster(
  nodes: ClusterNodeInput[],
  opts: ReadClusterOptions = {},
): Promise<ClusterState> {
  const limited = connectionLimit(opts.maxConnections);
  const results = await Promise.all(
    nodes.map((n) =>
      limited(() =>
        readNode(n.connection, { ...opts, node: n.name, rowFilters: n.rowFilters, tableScope: n.tableScope }),
      ).catch((err: unknown): UnreachableNode => unreachable(n.name, err)),
    ),
  );
  const observed = Object.fromEntries(results.map((r) => [r.name, r]));
  await Promise.all(
    nodes.map(async (n) => {
      const node = observed[n.name];
      if (!node || !n.standbys || n.standbys.length === 0) return;
      if (!node.reachable) {
        // the node is down: its standbys may tell why (one promoted)
        node.standbys = await limited(() => readStandbys(n.name, n.standbys!, opts)).catch(() => undefined);
        return;
      }
      const failover = await limited(() =>
        readFailover(n.name, n.connection, n.standbys!, {
          connectTimeoutMs: opts.connectTimeoutMs,
          statementTimeoutMs: opts.statementTimeoutMs,
        }),
      ).catch(() => undefined);
      if (failover) node.failover = failover;
    }),
  );

  for (const node of results) {
    if (!node.reachable) continue;
    for (const sub of Object.values(node.subscriptions)) {
      sub.from = publisherOf(sub, node.name, nodes, observed);
    }
  }
  return { nodes: observed };
}
