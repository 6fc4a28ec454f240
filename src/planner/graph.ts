import { printAddress, publicationAddress, subscriptionAddress } from '../model/address.js';
import type { ClusterState, ObservedNode } from '../model/cluster.js';
import type {
  GraphChange,
  GraphLink,
  GraphNode,
  GraphPublication,
  GraphSubscription,
  TopologyGraph,
} from '../model/graph.js';
import { compareText } from '../model/order.js';
import type { Plan } from '../model/plan.js';
import type { PublicationDef, Topology } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import { sortedKeys } from './context.js';

export interface GraphInputs {
  /** the nodes' catalogs: versions, and the objects steep.yaml does not declare */
  observed?: ClusterState;
  /** `node/subscription` → its state, read live */
  states?: Record<string, string>;
  /** what a plan changes, marked on the objects it touches */
  plan?: Plan;
}

function contents(p: PublicationDef): string[] {
  if (p.allTables) return ['all tables'];
  return [...p.schemas.map((s) => `schema ${s}`), ...p.tables.map(qualifiedName)];
}

/** address → the first change a plan makes to it (an init or schema sync is not a change of the picture) */
function planChanges(plan: Plan | undefined): Map<string, GraphChange> {
  const out = new Map<string, GraphChange>();
  for (const s of plan?.steps ?? []) {
    const key = printAddress(s.address);
    if (s.action === 'init' || s.action === 'sync-schema' || out.has(key)) continue;
    out.set(key, s.action);
  }
  return out;
}

/**
 * Pair subscriptions that replicate between the same two nodes in opposite directions (a link:
 * bidirectional replication), in name order; each pair is drawn both ways.
 */
function pairLinks(subs: GraphSubscription[]): GraphLink[] {
  const links: GraphLink[] = [];
  const paired = new Set<GraphSubscription>();
  for (const a of subs) {
    if (paired.has(a) || a.from === '' || a.from === a.node) continue;
    const b = subs.find((x) => !paired.has(x) && x !== a && x.node === a.from && x.from === a.node);
    if (!b) continue;
    paired.add(a).add(b);
    const [first, second] = compareText(a.node, b.node) <= 0 ? [a, b] : [b, a];
    const name = `${first.node} ⇄ ${second.node}`;
    first.link = name;
    second.link = name;
    links.push({ name, nodes: [first.node, second.node], subscriptions: [first.name, second.name] });
  }
  return links;
}

/** The graph of steep.yaml, with what the catalogs, live states and a plan add to it. Pure. */
export function topologyGraph(topology: Topology, inputs: GraphInputs = {}): TopologyGraph {
  const { observed, states } = inputs;
  const changes = planChanges(inputs.plan);
  const nodes: GraphNode[] = sortedKeys(topology.nodes).map((name) => {
    const n = observed?.nodes[name];
    return {
      name,
      serverVersion: n?.reachable ? n.serverVersion : null,
      reachable: observed ? n?.reachable === true : true,
    };
  });

  const publication = (name: string, node: string, p: PublicationDef, unmanaged: boolean) => ({
    name,
    node,
    contents: contents(p),
    unmanaged,
    change: changes.get(publicationAddress(name)) ?? null,
  });
  const publications: GraphPublication[] = sortedKeys(topology.publications).map((name) =>
    publication(name, topology.publications[name]!.node, topology.publications[name]!, false),
  );
  const subscriptions: GraphSubscription[] = sortedKeys(topology.subscriptions).map((name) => {
    const d = topology.subscriptions[name]!;
    return {
      name,
      node: d.node,
      from: d.from,
      publications: d.publications,
      init: d.init.method,
      state: states ? (states[`${d.node}/${name}`] ?? 'absent') : null,
      enabled: d.enabled,
      unmanaged: false,
      change: changes.get(subscriptionAddress(name)) ?? null,
      link: null,
    };
  });

  // what the catalogs hold beyond the file: steep's own objects it will drop, and unmanaged ones
  const read = sortedKeys(topology.nodes)
    .map((name) => observed?.nodes[name])
    .filter((n): n is ObservedNode => n?.reachable === true);
  for (const n of read) {
    for (const name of sortedKeys(n.publications)) {
      const p = n.publications[name]!;
      if (topology.publications[name]?.node === n.name) continue;
      publications.push(publication(name, n.name, p, p.managedBy?.topology !== topology.topology));
    }
    for (const name of sortedKeys(n.subscriptions)) {
      const s = n.subscriptions[name]!;
      if (topology.subscriptions[name]?.node === n.name) continue;
      subscriptions.push({
        name,
        node: n.name,
        from: s.from,
        publications: s.publications,
        init: null,
        state: states?.[`${n.name}/${name}`] ?? null,
        enabled: s.enabled,
        unmanaged: s.managedBy?.topology !== topology.topology,
        change: changes.get(subscriptionAddress(name)) ?? null,
        link: null,
      });
    }
  }
  return { topology: topology.topology, nodes, publications, subscriptions, links: pairLinks(subscriptions) };
}
