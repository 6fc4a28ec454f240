import type { ClusterState, ObservedNode, ObservedSubscription } from '../../model/cluster.js';
import { compareText } from '../../model/order.js';
import { qualifiedName, type TableName, type Topology } from '../../model/topology.js';
import { leafPartitions, partitionAncestors } from '../publications/publishedRelations.js';

/**
 * A relation that joins a subscription as another shape of a partition tree it already receives
 * (partitions ↔ their root, `viaPartitionRoot` switched) is refreshed without a copy only when
 * steep can show that the subscriber holds its rows, not from the publisher's partition tree
 * alone (docs/steep-yaml.md, "Partitioned tables"): the subscriber's tables form the same tree
 * (the rows it received sit under the relation that joins), the stream of each relation it
 * received had no row filter, and each holds as many rows as on the publisher, counted now. A
 * subscriber emptied by hand, or made of separate tables, fails it: the relation is copied like
 * any new one (`init.existingData` decides over rows it holds).
 */

/** The relations received before whose rows stand for `qn`'s: its received ancestor, or its leaves. */
function sources(qn: string, before: ReadonlySet<string>, publisher: ObservedNode): string[] {
  const ancestor = partitionAncestors(qn, publisher.tables).find((a) => before.has(a));
  return ancestor ? [ancestor] : leafPartitions(qn, publisher.tables).filter((l) => before.has(l));
}

/** Why steep cannot show that the subscriber holds `qn`'s rows; null when it can. */
export function unprovenHeld(
  qn: string,
  before: ReadonlySet<string>,
  publisher: ObservedNode,
  subscriber: ObservedNode,
  o: ObservedSubscription,
): string | null {
  for (const src of sources(qn, before, publisher)) {
    const inTree =
      subscriber.tables[src] !== undefined &&
      subscriber.tables[qn] !== undefined &&
      (partitionAncestors(src, subscriber.tables).includes(qn) ||
        partitionAncestors(qn, subscriber.tables).includes(src));
    if (!inTree) return `${src} and ${qn} are not one partition tree on ${subscriber.name}`;
    const filtered = o.publications.some((p) =>
      publisher.publications[p]?.tables.some((t) => qualifiedName(t) === src && t.where !== null),
    );
    if (filtered) return `${src} was received through a row filter`;
    const there = publisher.tables[src]?.rowCount;
    const here = subscriber.tables[src]?.rowCount;
    if (there === undefined || here === undefined) return `the rows of ${src} could not be counted`;
    if (there !== here) return `${src} holds ${here} row(s) on ${subscriber.name} and ${there} on ${o.from}`;
  }
  return null;
}

/**
 * For each subscriber and publisher, the relations to count: those a subscription receives in a
 * partition tree, where steep.yaml changes how its publications publish (`viaPartitionRoot`, the
 * tables, the list of publications). Nothing is counted otherwise.
 */
export function heldCountRequests(desired: Topology, observed: ClusterState): Map<string, TableName[]> {
  const out = new Map<string, Map<string, TableName>>();
  const add = (node: string, t: TableName) => {
    const m = out.get(node) ?? new Map<string, TableName>();
    m.set(qualifiedName(t), { schema: t.schema, name: t.name });
    out.set(node, m);
  };
  for (const d of Object.values(desired.subscriptions)) {
    const node = observed.nodes[d.node];
    const publisher = observed.nodes[d.from];
    if (!node?.reachable || !publisher?.reachable) continue;
    const o = node.subscriptions[d.name];
    if (!o) continue;
    const inTree = o.tables.filter((t) => {
      const p = publisher.tables[qualifiedName(t)];
      return p !== undefined && (p.kind === 'p' || (p.partitionOf ?? null) !== null);
    });
    if (inTree.length === 0) continue;
    const listChanged =
      [...d.publications].sort(compareText).join() !== [...o.publications].sort(compareText).join();
    const pubChanged = d.publications.some((name) => {
      const spec = desired.publications[name];
      const seen = publisher.publications[name];
      if (!spec || spec.node !== d.from || !seen) return false;
      const names = (ts: readonly TableName[]) => ts.map(qualifiedName).sort(compareText).join();
      return (
        spec.viaPartitionRoot !== seen.viaPartitionRoot ||
        spec.allTables !== seen.allTables ||
        names(spec.tables) !== names(seen.tables) ||
        [...spec.schemas].sort(compareText).join() !== [...seen.schemas].sort(compareText).join()
      );
    });
    if (!listChanged && !pubChanged) continue;
    for (const t of inTree) {
      if (node.tables[qualifiedName(t)]) add(d.node, t);
      add(d.from, t);
    }
  }
  return new Map([...out].map(([n, m]) => [n, [...m.values()]]));
}
