import type { ObservedTable } from '../../model/cluster.js';
import { compareText } from '../../model/order.js';
import { type PublicationDef, type PublicationTable, qualifiedName } from '../../model/topology.js';
import { PUBLISHED_UNION_FILTER_MIN_VERSION } from '../../model/versions.js';

/**
 * What PostgreSQL does with a publication's definition, computed from the publisher's tables
 * (pg_publication.c, 14–18):
 * - `FOR TABLE t` without ONLY stores t and every inheritance descendant of t as publication
 *   tables of their own, each with t's row filter and column list; a partitioned table's
 *   partitions are never stored (they are published through it).
 * - What a subscriber receives (pg_get_publication_tables): the named tables, those of the
 *   schemas, or every table (FOR ALL TABLES); never an UNLOGGED one. With
 *   publish_via_partition_root a partition is left out when one of its partition ancestors is
 *   published (its changes go out as the ancestor's); without it a partitioned table stands for
 *   its leaf partitions. A subscription of several publications receives their union, from which
 *   PostgreSQL 16+ leaves out the partitions of a published ancestor as soon as one publication
 *   publishes via the root (before 16 each publication is expanded on its own).
 */

/** the publisher's tables by `schema.name` */
type Tables = Readonly<Record<string, ObservedTable>>;

/** `tables` as stored in pg_publication_rel (inheritance already expanded: see `storedTables`) */
export type PublishedShape = Pick<PublicationDef, 'allTables' | 'tables' | 'schemas' | 'viaPartitionRoot'>;

/**
 * The publication tables PostgreSQL stores for a table list: each table, and for one without
 * `only` its inheritance descendants (not partitions) with its row filter and column list.
 * A table named explicitly keeps its own definition. `only` is dropped: it is never read back.
 */
export function storedTables(tables: readonly PublicationTable[], observed: Tables): PublicationTable[] {
  const named = new Map(tables.map((t) => [qualifiedName(t), t]));
  const out = new Map<string, PublicationTable>();
  const children = childrenBy(observed, (t) => t.inherits ?? []);
  for (const t of tables) {
    const { only: _only, ...def } = t;
    out.set(qualifiedName(t), def);
    if (t.only) continue;
    const queue = [...(children.get(qualifiedName(t)) ?? [])];
    while (queue.length > 0) {
      const child = queue.shift()!;
      if (named.has(child) || out.has(child)) continue;
      const c = observed[child]!;
      out.set(child, { schema: c.schema, name: c.name, columns: def.columns, where: def.where });
      queue.push(...(children.get(child) ?? []));
    }
  }
  return [...out.values()].sort((a, b) => compareText(a.schema, b.schema) || compareText(a.name, b.name));
}

/** Each table's children by `parents` (inheritance parents, or the partitioned table), in catalog order. */
function childrenBy(
  observed: Tables,
  parents: (t: ObservedTable) => readonly string[],
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [qn, t] of Object.entries(observed)) {
    for (const p of parents(t)) {
      const list = out.get(p);
      if (list) list.push(qn);
      else out.set(p, [qn]);
    }
  }
  return out;
}

const partitionsOf = (observed: Tables) =>
  childrenBy(observed, (t) => (t.partitionOf ? [t.partitionOf] : []));

/** The leaf partitions under a partitioned table (itself when it is not partitioned). */
export function leafPartitions(
  qn: string,
  observed: Tables,
  parts?: ReadonlyMap<string, readonly string[]>,
): string[] {
  // most tables are not partitioned: no need to index the partitions of every table
  if (observed[qn]?.kind !== 'p') return [qn];
  parts ??= partitionsOf(observed);
  const out: string[] = [];
  const queue = [qn];
  while (queue.length > 0) {
    const t = queue.shift()!;
    if (observed[t]?.kind === 'p') queue.push(...(parts.get(t) ?? []));
    else out.push(t);
  }
  return out.sort(compareText);
}

/** Partition ancestors, nearest first. */
export function partitionAncestors(qn: string, observed: Tables): string[] {
  const out: string[] = [];
  let p = observed[qn]?.partitionOf ?? null;
  while (p && !out.includes(p)) {
    out.push(p);
    p = observed[p]?.partitionOf ?? null;
  }
  return out;
}

function withoutPublishedAncestors(set: ReadonlySet<string>, observed: Tables): Set<string> {
  return new Set([...set].filter((t) => !partitionAncestors(t, observed).some((a) => set.has(a))));
}

/** The relations one publication publishes, by `schema.name`. */
export function publishedBy(pub: PublishedShape, observed: Tables): Set<string> {
  const named = new Set<string>();
  // a publication of a table list alone (the usual one) needs no pass over every table
  if (pub.allTables || pub.schemas.length > 0) {
    for (const [qn, t] of Object.entries(observed)) {
      if (t.unlogged) continue;
      if (pub.allTables || pub.schemas.includes(t.schema)) named.add(qn);
    }
  }
  if (!pub.allTables) {
    for (const t of pub.tables) if (observed[qualifiedName(t)]) named.add(qualifiedName(t));
  }
  if (pub.viaPartitionRoot) return withoutPublishedAncestors(named, observed);
  const out = new Set<string>();
  let parts: Map<string, string[]> | undefined;
  for (const qn of named) {
    if (observed[qn]?.kind === 'p') parts ??= partitionsOf(observed);
    for (const leaf of leafPartitions(qn, observed, parts)) out.add(leaf);
  }
  return out;
}

/** The relations a subscription to `pubs` receives from a publisher of `serverVersion`. */
export function receivedFrom(
  pubs: readonly PublishedShape[],
  observed: Tables,
  serverVersion: number,
): string[] {
  const union = new Set<string>();
  for (const p of pubs) for (const qn of publishedBy(p, observed)) union.add(qn);
  const filtered =
    serverVersion >= PUBLISHED_UNION_FILTER_MIN_VERSION && pubs.some((p) => p.viaPartitionRoot)
      ? withoutPublishedAncestors(union, observed)
      : union;
  return [...filtered].sort(compareText);
}

/**
 * Relations a subscriber gains whose rows it already holds: the same rows reach it through
 * another shape of one partition tree (partitions ↔ their root). A relation counts when one of
 * its partition ancestors was received, or when every leaf under it was.
 */
export function alreadyHeld(
  added: readonly string[],
  before: ReadonlySet<string>,
  observed: Tables,
): string[] {
  const held = (qn: string) => before.has(qn) || partitionAncestors(qn, observed).some((a) => before.has(a));
  return added.filter((qn) => {
    if (partitionAncestors(qn, observed).some((a) => before.has(a))) return true;
    if (observed[qn]?.kind !== 'p') return false;
    const leaves = leafPartitions(qn, observed);
    return leaves.length > 0 && leaves.every(held);
  });
}
