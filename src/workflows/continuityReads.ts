/**
 * What continuity (workflows/continuity.ts) reads of the nodes before it judges: the columns of
 * the streaming tables, what they hold on their publishers, each subscriber's baselines, and of
 * a table new under a published tree, whether it held rows from before it joined.
 */
import type pg from 'pg';
import { readColumnIdentities } from '../catalog/columnIdentity.js';
import { heldRowsBefore, readTableContents } from '../catalog/treeContents.js';
import { onNodeSession } from '../db/connect.js';
import {
  type ClusterState,
  type ObservedNode,
  type ObservedSubscription,
  reachableNode,
} from '../model/cluster.js';
import type { ColumnIdentities } from '../model/columnIdentity.js';
import type { ContinuityBaseline } from '../model/continuity.js';
import { foreignTopology } from '../model/ownership.js';
import { qualifiedName, type Topology } from '../model/topology.js';
import { type Leaf, newLeaves, type TableContents } from '../model/treeContents.js';
import { StreamContinuityStore } from '../state/streamContinuity.js';
import { readEachNode } from './tableFacts.js';

/** The node `o` on `node` subscribes from: steep.yaml's where it declares it there, else the catalog's. */
export function publisherName(topology: Topology, node: string, o: ObservedSubscription): string {
  const d = topology.subscriptions[o.name];
  return d && d.node === node ? d.from : o.from;
}

/**
 * What the readings of the nodes gave, by node (a node absent: not read): the columns of each
 * table (model/columnIdentity.ts), what each published table holds on its publisher
 * (model/treeContents.ts), and of the tables new under a tree, whether they held rows from before.
 */
export interface NodeReads {
  columns: Map<string, Record<string, ColumnIdentities>>;
  contents: Map<string, Record<string, TableContents>>;
  held: Map<string, Record<string, boolean | null>>;
}

export type Baselines = Map<string, Map<string, ContinuityBaseline>> | null;

/**
 * The columns of the streaming tables on their publishers and subscribers (model/columnIdentity.ts),
 * what they hold on their publishers (model/treeContents.ts) and each subscriber's recorded
 * baselines, one session per node for all; a node that cannot be reached is left out (its
 * baselines are kept, its subscriptions not judged), a node whose columns or contents cannot be
 * read is judged without them.
 */
export async function readNodes(
  topology: Topology,
  observed: ClusterState,
  subscribers: ReadonlyArray<readonly [string, ObservedNode]>,
  sessions: ReadonlyMap<string, pg.Client> | undefined,
  copied = false,
): Promise<{ reads: NodeReads; baselines: Map<string, Baselines> }> {
  const wanted = new Map<string, Set<string>>(subscribers.map(([name]) => [name, new Set()]));
  const published = new Map<string, Set<string>>();
  const want = (node: string, table: string, into = wanted) =>
    into.set(node, (into.get(node) ?? new Set()).add(table));
  for (const [name, node] of subscribers)
    for (const o of Object.values(node.subscriptions)) {
      if (foreignTopology(o, topology.topology)) continue;
      const from = publisherName(topology, name, o);
      if (!observed.nodes[from]?.reachable) continue;
      for (const t of o.tables.filter((x) => copied || x.state === 'r')) {
        want(name, qualifiedName(t));
        want(from, qualifiedName(t));
        want(from, qualifiedName(t), published);
      }
    }
  const subscriber = new Set(subscribers.map(([name]) => name));
  const reads: NodeReads = { columns: new Map(), contents: new Map(), held: new Map() };
  const baselines = new Map<string, Baselines>();
  await readEachNode(
    topology,
    [...wanted].map(([n, tables]) => [n, [...tables]] as const),
    async (name, tables) => {
      const read = async (client: pg.Client) => {
        const identities =
          tables.length > 0 ? await readColumnIdentities(client, tables).catch(() => null) : null;
        if (identities) reads.columns.set(name, identities);
        const contents = await readTableContents(client, [...(published.get(name) ?? [])]).catch(() => null);
        if (contents) reads.contents.set(name, contents);
        // no stream_continuity yet (an apply migrates): only a table out of every publication is seen
        const store = new StreamContinuityStore(topology.settings.stateSchema, name);
        if (subscriber.has(name)) baselines.set(name, await store.all(client).catch(() => null));
      };
      await onNodeSession(topology, name, sessions, read);
    },
  );
  return { reads, baselines };
}

/**
 * Of the tables new under a published tree since a subscriber's baseline, whether each held rows
 * from before it joined, read on its publisher (null: could not be read): into `reads.held`.
 */
export async function readHeldBefore(
  topology: Topology,
  observed: ClusterState,
  reads: NodeReads,
  baselines: Map<string, Baselines>,
  sessions: ReadonlyMap<string, pg.Client> | undefined,
): Promise<void> {
  const fresh = new Map<string, Map<string, Leaf>>();
  for (const [name, recorded] of baselines) {
    const node = reachableNode(observed, name);
    for (const o of Object.values(node?.subscriptions ?? {})) {
      const from = publisherName(topology, name, o);
      for (const [table, b] of recorded?.get(o.name) ?? [])
        for (const l of newLeaves(b.contents, reads.contents.get(from)?.[table]))
          fresh.set(from, (fresh.get(from) ?? new Map()).set(l.name, l));
    }
  }
  await readEachNode(
    topology,
    [...fresh].map(([n, leaves]) => [n, [...leaves.values()]] as const),
    async (name, leaves) => {
      const held: Record<string, boolean | null> = {};
      const read = async (client: pg.Client) => {
        for (const l of leaves) held[l.name] = await heldRowsBefore(client, l).catch(() => null);
      };
      await onNodeSession(topology, name, sessions, read).catch(() => {});
      reads.held.set(name, held);
    },
  );
}
