import type {
  ClusterState,
  ObservedNode,
  ObservedPublication,
  ObservedSubscription,
} from '../model/cluster.js';
import { isUnknown } from '../model/cluster.js';
import { maskConninfo } from '../model/conninfo.js';
import { matchesAny } from '../model/glob.js';
import type { ImportedPublication, ImportedSubscription, ImportedTopology } from '../model/imported.js';
import { compareText } from '../model/order.js';
import {
  PUBLISH_OPERATIONS,
  type SubscriptionOptions,
  type TableName,
  type Topology,
} from '../model/topology.js';
import { SUBSCRIPTION_OPTIONS } from '../model/versions.js';
import { sortedKeys } from './context.js';
import { defaultSubscriptionOptions } from './defaults.js';
import type { Observed } from './managedObjects.js';

/**
 * `steep import` (docs/import.md): the publications and subscriptions the nodes hold, as steep.yaml
 * declares them, so that planning the result proposes adoption only. Exactly what the catalog
 * holds — tables, schemas, all tables, column lists, row filters, publish, via-root, generated
 * columns, slot names, options that differ from the server's default — and `init: { method:
 * none }` for a subscription already streaming (its data is there). What cannot be declared
 * from this file is left out with a note: another topology's objects, a subscription whose
 * publisher is none of the file's nodes, or one that needs a publication left out.
 */

/** A part of a table name as steep.yaml reads it back (config/identifiers parseTableName). */
function namePart(part: string): string {
  return /[."]/.test(part) || part !== part.trim() || part === '' ? `"${part.replace(/"/g, '""')}"` : part;
}

export function tableText(t: TableName): string {
  return `${namePart(t.schema)}.${namePart(t.name)}`;
}

function importPublication(node: ObservedNode, p: ObservedPublication): ImportedPublication {
  const out: ImportedPublication = { name: p.name, node: node.name };
  if (p.allTables) out.allTables = true;
  if (p.tables.length > 0) {
    out.tables = p.tables.map((t) => ({
      name: tableText(t),
      ...(t.columns ? { columns: [...t.columns] } : {}),
      ...(t.where !== null ? { where: t.where } : {}),
    }));
  }
  if (p.schemas.length > 0) out.schemas = [...p.schemas];
  if (p.publish.length !== PUBLISH_OPERATIONS.length) out.publish = [...p.publish];
  if (p.viaPartitionRoot) out.viaPartitionRoot = true;
  if (p.generatedColumns !== null && p.generatedColumns !== 'none') out.generatedColumns = p.generatedColumns;
  return out;
}

/** The options that differ from PostgreSQL's default for the subscriber's version. */
function options(o: ObservedSubscription, version: number): Partial<SubscriptionOptions> {
  const defaults = defaultSubscriptionOptions(version);
  const differ = SUBSCRIPTION_OPTIONS.filter(
    (n) => o.options[n] !== undefined && o.options[n] !== defaults[n],
  );
  return Object.fromEntries(differ.map((n) => [n, o.options[n]]));
}

/** Its data is there: every table it receives is ready (`r`). */
function streaming(o: ObservedSubscription): boolean {
  return o.tables.every((t) => t.state === 'r');
}

export function importTopology(file: Topology, observed: ClusterState): ImportedTopology {
  const notes: string[] = [];
  const nodes = sortedKeys(observed.nodes)
    .map((n) => observed.nodes[n]!)
    .filter((n): n is ObservedNode => n.reachable);
  const publications = importable(file, nodes, notes, 'publication', () => null, importPublication);
  const byName = new Map(publications.map((p) => [p.name, p]));
  const subscriptions = importable(
    file,
    nodes,
    notes,
    'subscription',
    (node, o) => notImported(file, node, o, byName),
    (node, o) => importSubscription(node, o, notes),
  );
  return { publications, subscriptions, notes };
}

/**
 * Every publication or subscription of the readable nodes but an ignored one, another
 * topology's, or one `skip` says cannot be declared (a note says why), each name once.
 */
function importable<K extends 'publication' | 'subscription', I>(
  file: Topology,
  nodes: ObservedNode[],
  notes: string[],
  kind: K,
  skip: (node: ObservedNode, o: Observed[K]) => string | null,
  declare: (node: ObservedNode, o: Observed[K]) => I,
): I[] {
  const out: I[] = [];
  const names = new Set<string>();
  for (const node of nodes) {
    const objects = node[`${kind}s`] as Record<string, Observed[K]>;
    for (const name of sortedKeys(objects)) {
      const o = objects[name]!;
      if (matchesAny(file.ignore?.[`${kind}s`], name)) continue;
      const where = `${kind} ${name} on ${node.name}`;
      const why =
        o.managedBy && o.managedBy.topology !== file.topology
          ? `${where} is managed by steep topology ${o.managedBy.topology}: not imported`
          : (skip(node, o) ??
            (names.has(name)
              ? `${where}: a ${kind} of that name on another node is imported already (names are unique in steep.yaml)`
              : null));
      if (why) {
        notes.push(why);
        continue;
      }
      names.add(name);
      out.push(declare(node, o));
    }
  }
  return out;
}

/** A subscription as steep.yaml declares it; one still copying its tables with a note. */
function importSubscription(
  node: ObservedNode,
  o: ObservedSubscription,
  notes: string[],
): ImportedSubscription {
  const opts = options(o, node.serverVersion);
  if (!streaming(o)) {
    notes.push(
      `subscription ${o.name} on ${node.name} is still copying its tables: imported with the default init (snapshot), which a plan never re-runs on an existing subscription`,
    );
  }
  return {
    name: o.name,
    node: node.name,
    from: o.from,
    publications: [...o.publications].sort(compareText),
    ...(o.slot !== o.name ? { slot: o.slot } : {}),
    ...(o.enabled ? {} : { enabled: false as const }),
    ...(Object.keys(opts).length > 0 ? { options: opts } : {}),
    ...(streaming(o) ? { init: { method: 'none' as const } } : {}),
  };
}

/** Why the subscription cannot be declared from this file (a note), or null. */
function notImported(
  file: Topology,
  node: ObservedNode,
  o: ObservedSubscription,
  byName: Map<string, ImportedPublication>,
): string | null {
  const where = `subscription ${o.name} on ${node.name}`;
  if (o.from === '' || !file.nodes[o.from]) {
    const conn = isUnknown(o.conninfo)
      ? 'its connection string cannot be read by this role'
      : `conninfo ${maskConninfo(o.conninfo)}`;
    return `${where}: its publisher matches none of this file's nodes (${conn}); declare that node under nodes:, then import again`;
  }
  if (o.slotNone) {
    return `${where} has no slot (slot_name = NONE): steep cannot declare it; give it a slot, then import again`;
  }
  const missing = o.publications.filter((p) => byName.get(p)?.node !== o.from);
  if (missing.length > 0) {
    return `${where} subscribes to ${missing.join(', ')} on ${o.from}, which ${missing.length === 1 ? 'is' : 'are'} not imported, so it is not imported either`;
  }
  return null;
}
