import type pg from 'pg';
import type { EventSink } from '../executors/events.js';
import { printAddress, publicationAddress, subscriptionAddress } from '../model/address.js';
import { type ClusterState, isUnknown, type ObservedNode } from '../model/cluster.js';
import {
  connectionPassword,
  passwordAddress,
  passwordVerifier,
  verifiesPassword,
} from '../model/passwordVerifier.js';
import type { Step } from '../model/plan.js';
import type { Topology } from '../model/topology.js';
import { publicationDigest, subscriptionDigest } from '../planner/digest.js';
import { recordObjectDigests } from '../state/objectDigests.js';
import { onEachNode } from './fingerprints.js';
import { observe, planFor } from './plan.js';

/** The digests to record on one node: its managed objects that a fresh plan leaves alone. */
function settledDigests(
  topology: Topology,
  node: ObservedNode,
  planned: Set<string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  // managed by this file, declared on this node, and left alone by a fresh plan
  const settled = (
    managedBy: { topology: string } | null | undefined,
    declaredOn: string | undefined,
    address: string,
  ) => managedBy?.topology === topology.topology && declaredOn === node.name && !planned.has(address);
  for (const p of Object.values(node.publications)) {
    const address = publicationAddress(p.name);
    if (settled(p.managedBy, topology.publications[p.name]?.node, address))
      out[address] = publicationDigest(p);
  }
  for (const s of Object.values(node.subscriptions)) {
    const address = subscriptionAddress(s.name);
    if (settled(s.managedBy, topology.subscriptions[s.name]?.node, address)) {
      out[address] = subscriptionDigest(s, null);
      // the password its connection now carries, for a role that may not read it (passwordVerifier.ts)
      const publisher = topology.nodes[topology.subscriptions[s.name]!.from];
      const password = publisher ? connectionPassword(publisher) : undefined;
      const recorded = node.objectDigests?.[passwordAddress(address)];
      if (password !== undefined && isUnknown(s.conninfo))
        out[passwordAddress(address)] =
          recorded !== undefined && verifiesPassword(recorded, password) === true
            ? recorded
            : passwordVerifier(password);
    }
  }
  return out;
}

/** The subscriptions (node NUL address) whose connection `steps` set: created, replaced or altered. */
export function connectionsSet(steps: readonly Step[]): Set<string> {
  return new Set(
    steps
      .filter(
        (s) => s.address.kind === 'subscription' && s.statements.some((st) => /\bCONNECTION '/.test(st.sql)),
      )
      .map((s) => `${s.node}\u0000${printAddress(s.address)}`),
  );
}

/**
 * After a successful apply: record the digest of every managed object that now matches
 * steep.yaml (a fresh plan has no step for it). Objects still differing (outside a --target,
 * say) are not recorded, so their drift stays visible. Best effort: a failure is an event.
 * Returns the reading it planned from.
 */
export async function recordSettledObjects(
  topology: Topology,
  onEvent: EventSink,
  sessions: ReadonlyMap<string, pg.Client> = new Map(),
  connectionsSet: ReadonlySet<string> = new Set(),
): Promise<ClusterState> {
  const observed = await observe(topology);
  // the connections this apply set carry the file's password now: their old verifiers go
  for (const key of connectionsSet) {
    const [node, address] = key.split('\u0000') as [string, string];
    const n = observed.nodes[node];
    if (n?.reachable && n.objectDigests) delete n.objectDigests[passwordAddress(address)];
  }
  const fresh = planFor(topology, observed);
  const schema = topology.settings.stateSchema;
  // no object_digests table yet where objectDigests is undefined
  const nodes = Object.values(observed.nodes).flatMap((n) =>
    n.reachable && n.objectDigests !== undefined ? [n] : [],
  );
  const byName = new Map(nodes.map((n) => [n.name, n]));
  await onEachNode(
    topology,
    [...byName.keys()],
    sessions,
    async (name, client) => {
      const planned = new Set(fresh.steps.filter((s) => s.node === name).map((s) => printAddress(s.address)));
      const digests = settledDigests(topology, byName.get(name)!, planned);
      await recordObjectDigests(client, schema, name, digests);
      onEvent({
        event: 'state.object_digests_recorded',
        level: 'info',
        node: name,
        message: `${Object.keys(digests).filter((a) => !a.endsWith('#password')).length} managed objects recorded as applied`,
      });
    },
    (name, err) =>
      onEvent({
        event: 'state.object_digests_recorded',
        level: 'warn',
        node: name,
        message: `object digests not recorded: ${(err as Error).message}`,
      }),
  );
  return observed;
}
