import { readPrivilegeDenied, readSetRoleDenied } from '../catalog/subscriptionOnNode.js';
import { readTableColumns } from '../catalog/tableSchemas.js';
import { nodeSession, withSession } from '../db/connect.js';
import { type ClusterState, reachableNode } from '../model/cluster.js';
import { applyPrivileges, privilegeDeniedText } from '../model/ownerPrivileges.js';
import { missingColumns, type SyncFacts, setRoleDeniedText } from '../model/syncVerdict.js';
import type { TableSchema } from '../model/tableSchema.js';
import {
  PUBLISH_OPERATIONS,
  type PublishOperation,
  qualifiedName,
  type TableName,
  type Topology,
} from '../model/topology.js';
import { sentNames } from '../model/verify.js';
import { PG16 } from '../model/versions.js';
import { addTables } from '../planner/schema/schemaScope.js';
import { readEachNode } from './tableFacts.js';

/**
 * For `status`, of the subscriptions the verdict found failing only: the columns their
 * publisher publishes that the subscriber's tables lack (steep's own schema comparison names
 * what PostgreSQL's error, in the subscriber's server log, says). One session per node
 * involved; a node that cannot be read now leaves its subscriptions' verdicts as they were.
 * By `node/subscription`, then `schema.table`.
 */
export async function missingColumnsOf(
  topology: Topology,
  observed: ClusterState,
  failing: readonly SyncFacts[],
): Promise<Map<string, Record<string, string[]>>> {
  const out = new Map<string, Record<string, string[]>>();
  const want = new Map<string, Map<string, TableName>>();
  for (const f of failing) {
    if (!observed.nodes[f.node]?.reachable || !observed.nodes[f.from]?.reachable) continue;
    for (const t of f.tables) {
      addTables(want, f.node, [t]);
      addTables(want, f.from, [t]);
    }
  }
  const read = new Map<string, Record<string, TableSchema>>();
  // a node read moments ago, gone now: the verdict stands on what it had
  await readEachNode(topology, want, async (node, tables, conn) => {
    const columns = await readTableColumns(conn, {
      node,
      tables: [...tables.values()],
      objects: false,
      stateSchema: topology.settings.stateSchema,
      connectTimeoutMs: topology.settings.connectTimeout,
    });
    read.set(node, columns);
  });
  for (const f of failing) {
    const pub = read.get(f.from);
    const sub = read.get(f.node);
    const publisher = observed.nodes[f.from];
    const subscription = observed.nodes[f.node];
    if (!pub || !sub || !publisher?.reachable || !subscription?.reachable) continue;
    const publications = subscription.subscriptions[f.subscription]?.publications ?? [];
    const found: Record<string, string[]> = {};
    for (const t of f.tables) {
      const qn = qualifiedName(t);
      const p = pub[qn];
      const s = sub[qn];
      if (!p || !s) continue;
      const sent = sentNames(
        publications.flatMap((name) => publisher.publications[name] ?? []),
        t,
        p.columns,
      );
      const lacks = missingColumns(p.columns, s.columns, sent);
      if (lacks.length > 0) found[qn] = lacks;
    }
    out.set(`${f.node}/${f.subscription}`, found);
  }
  return out;
}

/**
 * For `status`, of the failing subscriptions on 16+ only: what PostgreSQL refuses their workers,
 * which it writes only to the server log. With runAsOwner false, the table owners their owner
 * may not SET ROLE to (model/syncVerdict.ts setRoleDeniedText); with true, the privileges their
 * owner lacks on the tables for the changes their publications publish (all of them when the
 * publisher cannot be read: model/ownerPrivileges.ts). By `node/subscription`. One session per
 * subscriber; one that cannot be read now adds nothing.
 */
export async function ownerObstaclesOf(
  topology: Topology,
  observed: ClusterState,
  failing: readonly SyncFacts[],
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const byNode = new Map<string, { version: number; subs: SyncFacts[] }>();
  for (const f of failing) {
    const n = observed.nodes[f.node];
    if (n?.reachable && n.serverVersion >= PG16)
      byNode.set(f.node, { version: n.serverVersion, subs: [...(byNode.get(f.node)?.subs ?? []), f] });
  }
  await readEachNode(topology, byNode, (node, { version, subs }) =>
    withSession(nodeSession(topology, node, 'steep status'), async (client) => {
      for (const f of subs) {
        const d = await readSetRoleDenied(client, version, f.subscription);
        const p = await readPrivilegeDenied(
          client,
          version,
          f.subscription,
          applyPrivileges(publishedOps(observed, f)),
        );
        out.set(`${node}/${f.subscription}`, [
          ...setRoleDeniedText(f.subscription, node, d),
          ...privilegeDeniedText(f.subscription, node, p),
        ]);
      }
    }),
  );
  return out;
}

/** The changes the subscription's publications publish, as its publisher was read; all when it was not. */
function publishedOps(observed: ClusterState, f: SyncFacts): readonly PublishOperation[] {
  const sub = reachableNode(observed, f.node)?.subscriptions[f.subscription];
  const publisher = reachableNode(observed, f.from);
  const pubs = (sub?.publications ?? []).map((p) => publisher?.publications[p]);
  if (!sub || pubs.some((p) => p === undefined)) return PUBLISH_OPERATIONS;
  return PUBLISH_OPERATIONS.filter((op) => pubs.some((p) => p!.publish.includes(op)));
}
