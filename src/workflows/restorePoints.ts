import { readHistory } from '../catalog/failover.js';
import { nodeSession, withSession } from '../db/connect.js';
import type { ClusterState } from '../model/cluster.js';
import type { Topology } from '../model/topology.js';
import { cloneMarkKey } from '../planner/init/physicalInit.js';
import { sameServerNodes } from '../planner/subscriptions/slotKinds.js';
import { CloneMarkStore } from '../state/cloneMarks.js';

/**
 * A `physical` init waiting for its subscription, or a `manual` one whose subscriber is a
 * physical clone of its publisher (docs/init.md): the subscriber is a physical clone of the publisher, and where it holds the publisher's changes up to is where its timeline
 * forked from the publisher's. Reads both nodes' WAL history (a replication connection each), and
 * the mark the publisher committed before the slot as each holds it, for the planner
 * (planner/init/physicalInit.ts) to prove the clone and its position from.
 */
export async function observeRestorePoints(topology: Topology, observed: ClusterState): Promise<void> {
  const waiting = Object.values(topology.subscriptions).filter((d) => {
    const [sub, pub] = [observed.nodes[d.node], observed.nodes[d.from]];
    if (!sub?.reachable || sub.subscriptions[d.name]?.enabled === true) return false;
    // manual too, on a physical clone of its publisher (planner/init/manualInit.ts restoreReadiness)
    const clone =
      pub?.reachable &&
      pub.server !== undefined &&
      sub.server?.systemIdentifier === pub.server.systemIdentifier &&
      !sameServerNodes(sub, pub);
    return d.init.method === 'physical' || (d.init.method === 'manual' && clone);
  });
  const nodes = [...new Set(waiting.flatMap((d) => [d.node, d.from]))];
  await Promise.all(
    nodes.map(async (name) => {
      const node = observed.nodes[name];
      if (!node?.reachable) return;
      node.walHistory = await readHistory(topology.nodes[name]!.connection, {
        node: name,
        connectTimeoutMs: topology.settings.connectTimeout,
      });
      // the publishers' marks this node holds: on a publisher its own, on a clone its copies
      const marks = waiting.filter((d) => d.node === name || d.from === name);
      node.cloneMarks = await withSession(nodeSession(topology, name, 'steep plan'), async (c) => {
        const read: Record<string, string | null> = {};
        for (const d of marks)
          read[cloneMarkKey(d)] = await new CloneMarkStore(topology.settings.stateSchema, d.from).read(
            c,
            d.slot,
          );
        return read;
      }).catch(() => undefined);
    }),
  );
}
