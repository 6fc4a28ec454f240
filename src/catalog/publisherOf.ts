import type { ObservedNode, ObservedSubscription, UnreachableNode } from '../model/cluster.js';
import { isUnknown } from '../model/cluster.js';
import {
  type ConninfoTarget,
  conninfoTargets,
  type NodeAddress,
  sameServerAddress,
  sameTarget,
} from '../model/conninfoTargets.js';
import type { ServerIdentity } from '../model/serverIdentity.js';

/*
 * A subscription's publisher (`from`) is not in the subscriber's catalog, only a connection
 * string. A node is a server plus one of its databases, never an address alone: readCluster names
 * the publisher by matching that string's host, port and database against the nodes' connections,
 * then by the server an address of the file leads to (pg_control_system()'s identifier and the
 * postmaster's start time, read with each node) and the database: another address of a node's
 * server names the node, another database of it never does. When the string cannot be read
 * (UNKNOWN) or matches no node (or several), by the one other reachable node holding a logical
 * slot of the subscription's slot name in its own database (slots are the server's: one of
 * another database of the server is another database's). Otherwise `from` stays '' (unknown).
 */

type Observed = Record<string, ObservedNode | UnreachableNode>;

function serverOf(n: NodeAddress, observed: Observed): ServerIdentity | undefined {
  const o = observed[n.name];
  return o?.reachable === true ? o.server : undefined;
}

/** The nodes `target` names: by their addresses, else by the server one of them leads to and the database. */
function nodesNamed(target: ConninfoTarget, nodes: NodeAddress[], observed: Observed): NodeAddress[] {
  const byAddress = nodes.filter(
    (n) =>
      sameTarget(target, n.connection) ||
      (n.replicationConnection !== undefined && sameTarget(target, n.replicationConnection)) ||
      (n.standbys ?? []).some((s) => sameTarget(target, s)),
  );
  if (byAddress.length > 0 || target.dbname === null) return byAddress;
  const servers = nodes
    .filter(
      (n) =>
        sameServerAddress(target, n.connection) ||
        (n.replicationConnection !== undefined && sameServerAddress(target, n.replicationConnection)),
    )
    .map((n) => serverOf(n, observed))
    .filter((s): s is ServerIdentity => s !== undefined);
  return nodes.filter((n) => {
    const server = serverOf(n, observed);
    return (
      server !== undefined &&
      n.connection.database === target.dbname &&
      servers.some((s) => s.systemIdentifier === server.systemIdentifier && s.startedAt === server.startedAt)
    );
  });
}

/** The publisher of `sub` (on node `subscriber`), or '' when it cannot be told. */
export function publisherOf(
  sub: ObservedSubscription,
  subscriber: string,
  nodes: NodeAddress[],
  observed: Observed,
): string {
  if (!isUnknown(sub.conninfo)) {
    const matches = new Set(conninfoTargets(sub.conninfo).flatMap((t) => nodesNamed(t, nodes, observed)));
    if (matches.size === 1) return [...matches][0]!.name;
  }
  if (sub.slotNone || sub.slot === '') return '';
  const holders = nodes.filter((n) => {
    const o = observed[n.name];
    if (n.name === subscriber || o?.reachable !== true) return false;
    const slot = o.slots[sub.slot];
    return slot?.slotType === 'logical' && slot.database === o.database;
  });
  return holders.length === 1 ? holders[0]!.name : '';
}

export { conninfoTargets, type NodeAddress };
