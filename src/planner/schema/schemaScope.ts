import type { ClusterState, ObservedNode } from '../../model/cluster.js';
import { compareTableNames, compareText } from '../../model/order.js';
import { sha256Hex } from '../../model/sha256.js';
import { missingObjects } from '../../model/tableObjects.js';
import {
  fingerprintText,
  type NodeTableSchemas,
  type ObservedTableSchema,
  type TableColumn,
  type TableScope,
} from '../../model/tableSchema.js';
import type { PublicationSpec, SubscriptionSpec, TableName, Topology } from '../../model/topology.js';
import { GENERATED_COLUMNS_MIN_VERSION, PUBLISHED_UNION_FILTER_MIN_VERSION } from '../../model/versions.js';
import { effectiveGeneratedColumns } from '../defaults.js';
import { partitionAncestors } from '../publications/publishedRelations.js';

/** Adds `tables` (as plain names) to `node`'s entry of `acc`, creating the entry even when `tables` is empty. */
export function addTables(acc: Map<string, Map<string, TableName>>, node: string, tables: TableName[]): void {
  const m = acc.get(node) ?? new Map<string, TableName>();
  for (const t of tables) m.set(`${t.schema}.${t.name}`, { schema: t.schema, name: t.name });
  acc.set(node, m);
}

/**
 * Which tables a subscription receives, and so which tables' columns the catalog must read on
 * its publisher and subscriber. Pure: from the file alone (the scope) and, for `allTables` /
 * `schemas`, the publisher's tables (the expansion). steep's state schema is never in it: it
 * exists on every node and is steep's own.
 */

/**
 * The tables of `topology`'s subscriptions, per node (publisher and subscriber alike); with
 * `objects` where a subscription with schemaSync: auto involves the node.
 */
export function subscribedScopes(topology: Topology): Record<string, TableScope> {
  const acc = new Map<
    string,
    { all: boolean; schemas: Set<string>; tables: Map<string, TableName>; objects: boolean }
  >();
  const add = (node: string, p: PublicationSpec, auto: boolean) => {
    const s = acc.get(node) ?? { all: false, schemas: new Set(), tables: new Map(), objects: false };
    acc.set(node, s);
    if (auto) s.objects = true;
    if (p.allTables) s.all = true;
    for (const schema of p.schemas) s.schemas.add(schema);
    for (const t of p.tables) s.tables.set(`${t.schema}.${t.name}`, { schema: t.schema, name: t.name });
  };
  for (const d of Object.values(topology.subscriptions)) {
    for (const name of d.publications) {
      const p = topology.publications[name];
      if (!p) continue;
      add(d.from, p, d.schemaSync === 'auto');
      add(d.node, p, d.schemaSync === 'auto');
    }
  }
  const out: Record<string, TableScope> = {};
  for (const node of [...acc.keys()].sort(compareText)) {
    const s = acc.get(node)!;
    const scope: TableScope = s.all
      ? { all: true, schemas: [], tables: [] }
      : {
          all: false,
          schemas: [...s.schemas].sort(compareText),
          tables: [...s.tables.values()].sort(compareTableNames),
        };
    // types, sequences, schemas, extensions: what auto mode's CREATE needs
    if (s.objects) scope.objects = true;
    out[node] = scope;
  }
  return out;
}

/**
 * The tables `d` receives from its publisher, by `schema.table`, each with the columns it
 * receives (a publication's column list) or null for every column. Sorted by name. Tables named
 * in a publication but absent on the publisher are left out (preflight reports them), and so,
 * from a publisher of 16+ (`trees`: its tables and version), is a partition one publication
 * publishes while another publishes an ancestor of it via root: PostgreSQL sends its changes as
 * the ancestor's and leaves it out of the subscription (publishedRelations.ts receivedFrom).
 */
export function receivedTables(
  topology: Topology,
  d: SubscriptionSpec,
  publisher: NodeTableSchemas<ObservedTableSchema>,
  stateSchema: string,
  trees: Pick<ObservedNode, 'tables' | 'serverVersion'>,
): Map<string, Set<string> | null> {
  const out = new Map<string, Set<string> | null>();
  for (const [qn, r] of received(topology, d, publisher, stateSchema, trees)) out.set(qn, r.columns);
  return out;
}

/**
 * What `d` receives of a table: its column list (null: every column) and whether every stored
 * generated column comes with it (a publication without a list whose `generatedColumns` is
 * `stored`, 18+). A generated column a list names comes too (PostgreSQL's 011_generated.pl).
 */
export interface Received {
  columns: Set<string> | null;
  storedGenerated: boolean;
}

/** receivedTables, with what comes of each table's generated columns. */
export function received(
  topology: Topology,
  d: SubscriptionSpec,
  publisher: NodeTableSchemas<ObservedTableSchema>,
  stateSchema: string,
  trees: Pick<ObservedNode, 'tables' | 'serverVersion'>,
): Map<string, Received> {
  const out = new Map<string, Received>();
  const receive = (qn: string, list: readonly string[] | null, storedGenerated: boolean) => {
    if (!publisher.tables[qn] || qn.startsWith(`${stateSchema}.`)) return;
    const had = out.get(qn);
    const columns =
      list === null || had?.columns === null ? null : new Set([...(had?.columns ?? []), ...list]);
    out.set(qn, { columns, storedGenerated: (had?.storedGenerated ?? false) || storedGenerated });
  };
  for (const name of [...d.publications].sort(compareText)) {
    const p = topology.publications[name];
    if (!p) continue;
    const stored = effectiveGeneratedColumns(p.generatedColumns, trees.serverVersion) === 'stored';
    for (const [qn, t] of Object.entries(publisher.tables)) {
      if (t.schema === stateSchema) continue;
      if (p.allTables || p.schemas.includes(t.schema)) receive(qn, null, stored);
    }
    for (const t of p.tables) receive(`${t.schema}.${t.name}`, t.columns, stored && t.columns === null);
  }
  const viaRoot = d.publications.some((name) => topology.publications[name]?.viaPartitionRoot);
  if (viaRoot && trees.serverVersion >= PUBLISHED_UNION_FILTER_MIN_VERSION)
    for (const qn of [...out.keys()])
      if (partitionAncestors(qn, trees.tables).some((a) => out.has(a))) out.delete(qn);
  return new Map([...out.entries()].sort(([a], [b]) => compareText(a, b)));
}

/**
 * The publisher's table as the subscriber receives it: a stored generated column whose values
 * come (`r`) is, to the subscriber, a plain column they land in — PostgreSQL refuses to apply
 * them to a generated one ("has incompatible generated column") — so it is compared, and synced,
 * as one (its fingerprint recomputed). Unchanged where none comes, or the columns were not read.
 */
export function asReceived<T extends ObservedTableSchema>(t: T | null, r: Received | undefined): T | null {
  if (!t?.columns || !r) return t;
  const comes = (c: TableColumn) =>
    c.generated === 'stored' && (r.columns === null ? r.storedGenerated : r.columns.has(c.name));
  if (!t.columns.some(comes)) return t;
  const columns = t.columns.map((c) => (comes(c) ? { ...c, generated: null, default: null } : c));
  return { ...t, columns, fingerprint: sha256Hex(fingerprintText(columns)) };
}

/** With schemaSync: auto, whether the subscriber's table lacks an index or constraint of the publisher's (objectSync.ts plans them). */
export function lacksObjects(
  d: SubscriptionSpec,
  publisher: NodeTableSchemas<ObservedTableSchema>,
  subscriber: NodeTableSchemas<ObservedTableSchema>,
  qn: string,
): boolean {
  if (d.schemaSync !== 'auto' || !publisher.objects || !subscriber.objects) return false;
  return missingObjects(publisher.objects[qn] ?? [], subscriber.objects[qn] ?? []).length > 0;
}

/**
 * The tables whose columns a plan still needs, per node, once the catalog read only their
 * fingerprints: each table a subscription receives whose fingerprint differs between its
 * publisher and subscriber, or that one of them lacks, on each side that has it without its
 * columns, or (schemaSync: auto) whose subscriber side lacks an index or constraint. Empty when every received table matches, as in a plan with nothing to change.
 * Sorted by node, then table.
 */
export function columnRequests(topology: Topology, observed: ClusterState): Map<string, TableName[]> {
  const acc = new Map<string, Map<string, TableName>>();
  for (const d of Object.values(topology.subscriptions)) {
    const publisher = observed.nodes[d.from];
    const subscriber = observed.nodes[d.node];
    if (!publisher?.reachable || !subscriber?.reachable) continue;
    if (!publisher.tableSchemas || !subscriber.tableSchemas) continue;
    // a merge still to run checks a last-modified column in plan, even on a table that matches
    const merging = d.init.method === 'merge' && !subscriber.subscriptions[d.name];
    const tables = received(topology, d, publisher.tableSchemas, topology.settings.stateSchema, publisher);
    for (const [qn, r] of tables) {
      const left = publisher.tableSchemas.tables[qn];
      const right = subscriber.tableSchemas.tables[qn];
      const lastModified =
        merging && /^last-modified\s*:/.test(d.init.strategies?.[qn] ?? d.init.strategy ?? '');
      // a generated column that comes is compared as the plain one it lands in (asReceived); a
      // column list names one only from 18
      const generatedMayCome =
        r.storedGenerated || (r.columns !== null && publisher.serverVersion >= GENERATED_COLUMNS_MIN_VERSION);
      if (
        left &&
        right &&
        left.fingerprint === right.fingerprint &&
        !generatedMayCome &&
        !lastModified &&
        !lacksObjects(d, publisher.tableSchemas, subscriber.tableSchemas, qn)
      )
        continue;
      if (left?.columns === null) addTables(acc, d.from, [left]);
      if (right?.columns === null) addTables(acc, d.node, [right]);
    }
  }
  const out = new Map<string, TableName[]>();
  for (const node of [...acc.keys()].sort(compareText))
    out.set(node, [...acc.get(node)!.values()].sort(compareTableNames));
  return out;
}
