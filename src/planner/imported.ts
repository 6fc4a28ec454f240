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
  const out: Partial<SubscriptionOptions> = {};
  for (const name of SUBSCRIPTION_OPTIONS) {
    const v = o.options[name];
    if (v !== undefined && v !== defaults[name]) (out as Record<string, unknown>)[name] = v;
  }
  return out;
}

/** Its data is there: every table it receives is ready (`r`). */
function streaming(o: ObservedSubscription): boolean {
  return o.tables.every((t) => t.state === 'r');
}

function connText(o: ObservedSubscription): string {
  return isUnknown(o.conninfo)
    ? 'its connection string cannot be read by this role'
    : `conninfo ${maskConninfo(o.conninfo)}`;
}

export function importTopology(file: Topology, observed: ClusterState): ImportedTopology {
  const notes: string[] = [];
  const nodes = sortedKeys(observed.nodes)
    .map((n) => observed.nodes[n]!)
    .filter((n): n is ObservedNode => n.reachable);
  const publications = importPublications(file, nodes, notes);
  const subscriptions = importSubscriptions(file, nodes, publications, notes);
  return { publications, subscriptions, notes };
}

/** Every publication of the readable nodes but another topology's or an ignored one, each name once. */
function importPublications(file: Topology, nodes: ObservedNode[], notes: string[]): ImportedPublication[] {
  const topology = file.topology;
  const ignore = file.ignore;
  const publications: ImportedPublication[] = [];
  const imported = new Set<string>();
  for (const node of nodes) {
    for (const name of sortedKeys(node.publications)) {
      const p = node.publications[name]!;
      if (matchesAny(ignore?.publications, name)) continue;
      if (p.managedBy && p.managedBy.topology !== topology) {
        notes.push(
          `publication ${name} on ${node.name} is managed by steep topology ${p.managedBy.topology}: not imported`,
        );
        continue;
      }
      if (imported.has(name)) {
        notes.push(
          `publication ${name} on ${node.name}: a publication of that name on another node is imported already (names are unique in steep.yaml)`,
        );
        continue;
      }
      imported.add(name);
      publications.push(importPublication(node, p));
    }
  }
  return publications;
}

/** Every subscription that can be declared (notImported says why one cannot), each name once. */
function importSubscriptions(
  file: Topology,
  nodes: ObservedNode[],
  publications: ImportedPublication[],
  notes: string[],
): ImportedSubscription[] {
  const ignore = file.ignore;
  const byName = new Map(publications.map((p) => [p.name, p]));
  const subscriptions: ImportedSubscription[] = [];
  const names = new Set<string>();
  for (const node of nodes) {
    for (const name of sortedKeys(node.subscriptions)) {
      const o = node.subscriptions[name]!;
      if (matchesAny(ignore?.subscriptions, name)) continue;
      const where = `subscription ${name} on ${node.name}`;
      const skipped = notImported(file, node, name, o, byName, names);
      if (skipped) {
        notes.push(skipped);
        continue;
      }
      names.add(name);
      const opts = options(o, node.serverVersion);
      subscriptions.push({
        name,
        node: node.name,
        from: o.from,
        publications: [...o.publications].sort(compareText),
        ...(o.slot !== name ? { slot: o.slot } : {}),
        ...(o.enabled ? {} : { enabled: false as const }),
        ...(Object.keys(opts).length > 0 ? { options: opts } : {}),
        ...(streaming(o) ? { init: { method: 'none' as const } } : {}),
      });
      if (!streaming(o)) {
        notes.push(
          `${where} is still copying its tables: imported with the default init (snapshot), which a plan never re-runs on an existing subscription`,
        );
      }
    }
  }
  return subscriptions;
}

/** Why the subscription is not imported (a note), or null. */
function notImported(
  file: Topology,
  node: ObservedNode,
  name: string,
  o: ObservedSubscription,
  byName: Map<string, ImportedPublication>,
  names: Set<string>,
): string | null {
  const where = `subscription ${name} on ${node.name}`;
  const topology = file.topology;
  if (o.managedBy && o.managedBy.topology !== topology) {
    return `${where} is managed by steep topology ${o.managedBy.topology}: not imported`;
  }
  if (o.from === '' || !file.nodes[o.from]) {
    return `${where}: its publisher matches none of this file's nodes (${connText(o)}); declare that node under nodes:, then import again`;
  }
  if (o.slotNone) {
    return `${where} has no slot (slot_name = NONE): steep cannot declare it; give it a slot, then import again`;
  }
  const missing = o.publications.filter((p) => byName.get(p)?.node !== o.from);
  if (missing.length > 0) {
    return `${where} subscribes to ${missing.join(', ')} on ${o.from}, which ${missing.length === 1 ? 'is' : 'are'} not imported, so it is not imported either`;
  }
  if (names.has(name)) {
    return `${where}: a subscription of that name on another node is imported already (names are unique in steep.yaml)`;
  }
  return null;
}
