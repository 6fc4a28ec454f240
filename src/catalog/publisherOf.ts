import type { ObservedNode, ObservedSubscription, UnreachableNode } from '../model/cluster.js';
import { isUnknown } from '../model/cluster.js';
import { conninfoTargets, type NodeAddress, sameTarget } from '../model/conninfoTargets.js';

/*
 * A subscription's publisher (`from`) is not in the subscriber's catalog, only a connection
 * string. readCluster names it by matching that string's host, port and database against the
 * nodes' connections; when the string cannot be read (UNKNOWN) or matches no node (or several),
 * by the one other reachable node holding a logical slot of the subscription's slot name.
 * Otherwise `from` stays '' (unknown).
 */

/** The publisher of `sub` (on node `subscriber`), or '' when it cannot be told. */
export function publisherOf(
  sub: ObservedSubscription,
  subscriber: string,
  nodes: NodeAddress[],
  observed: Record<string, ObservedNode | UnreachableNode>,
): string {
  if (!isUnknown(sub.conninfo)) {
    const targets = conninfoTargets(sub.conninfo);
    const matches = nodes.filter((n) =>
      targets.some(
        (target) =>
          sameTarget(target, n.connection) ||
          (n.replicationConnection !== undefined && sameTarget(target, n.replicationConnection)) ||
          (n.standbys ?? []).some((s) => sameTarget(target, s)),
      ),
    );
    if (matches.length === 1) return matches[0]!.name;
  }
  if (sub.slotNone || sub.slot === '') return '';
  const holders = nodes.filter((n) => {
    const o = observed[n.name];
    return n.name !== subscriber && o?.reachable === true && o.slots[sub.slot]?.slotType === 'logical';
  });
  return holders.length === 1 ? holders[0]!.name : '';
}

export { conninfoTargets, type NodeAddress };
