import { withDatabaseTag } from '../model/databaseTag.js';
import type { InitMethod } from '../model/initMethods.js';
import { compareTableNames, compareText } from '../model/order.js';
import type {
  InitSpec,
  LinkSpec,
  PublicationSpec,
  SchemaSyncMode,
  Settings,
  SubscriptionOptions,
  SubscriptionSpec,
  TableName,
  Topology,
} from '../model/topology.js';
import { PUBLISH_OPERATIONS } from '../model/topology.js';
import { identifierProblem, parseTableName } from './identifiers.js';
import { checkStrategies, checkStrategy } from './mergeStrategy.js';
import type { NormaliseContext as Context } from './normalise.js';
import { subscriptionOptions } from './subscriptions.js';

/**
 * `links:` — a two-way pair (docs/steep-yaml.md, PostgreSQL 16+ on both nodes), expanded here into what it
 * stands for, so every later layer sees ordinary objects that say where they came from: a
 * publication on each node and a subscription on each node receiving the other's, both
 * `origin = none` (a change that arrived by replication is not sent back). Each object is named
 * `<link>_<the node it lives on>`; each subscription's slot that name with its publisher's
 * database tag (model/databaseTag.ts). The init: `merge` on both edges; `snapshot` copies on the first
 * edge (nodes[0] → nodes[1]) and the reverse edge starts with `copy_data = false`; `none` on both.
 */

/** The node a link's object lives on, in its name. */
export function linkObjectName(link: string, node: string): string {
  return `${link}_${node}`;
}

export function normaliseLinks(ctx: Context, topology: Topology, settings: Settings): void {
  const links: Record<string, LinkSpec> = {};
  for (const name of ctx.reader.keys(['links'])) {
    const link = normaliseLink(ctx, topology, name, settings);
    if (link) links[name] = link;
  }
  if (ctx.reader.has(['links'])) topology.links = links;
}

function normaliseLink(
  ctx: Context,
  topology: Topology,
  name: string,
  settings: Settings,
): LinkSpec | undefined {
  const { reader, positions, problems } = ctx;
  const base = ['links', name];
  if (!reader.mapping(base)) return undefined;
  const nameProblem = identifierProblem(name);
  if (nameProblem) {
    problems.error('bad-identifier', `link name \`${name}\` ${nameProblem}`, positions.key(base));
    return undefined;
  }

  const nodes = linkNodes(ctx, topology, name);
  if (!nodes) return undefined;
  const [first, second] = nodes;

  const tables = linkTables(ctx, name);
  const schemas = reader
    .strings([...base, 'schemas'])
    .map((s) => s.value)
    .sort(compareText);
  if (!reader.has([...base, 'tables']) && !reader.has([...base, 'schemas'])) {
    problems.error(
      'publishes-nothing',
      `link \`${name}\` replicates nothing`,
      positions.container(base),
      'give `tables` or `schemas`',
    );
    return undefined;
  }

  const init = linkInit(ctx, name, [first, second], settings);
  if (!init) return undefined;
  const options = subscriptionOptions(reader, [...base, 'options']);
  if (options.origin === 'any') {
    problems.error(
      'link-origin',
      `link \`${name}\`: \`origin: any\` would send every change back where it came from; a link's subscriptions are always origin none`,
      positions.value([...base, 'options', 'origin']),
      'leave `origin` out',
    );
    return undefined;
  }

  if (!objectNamesFree(ctx, topology, name, [first, second])) return undefined;

  const link: LinkSpec = {
    name,
    nodes: [first, second],
    publications: { [first]: linkObjectName(name, first), [second]: linkObjectName(name, second) },
    subscriptions: { [first]: linkObjectName(name, first), [second]: linkObjectName(name, second) },
    tables,
    schemas,
    init,
  };
  addLinkObjects(ctx, topology, link, options, settings);
  return link;
}

/** The link's two nodes, each declared and not the same one (undefined: a problem was reported). */
function linkNodes(ctx: Context, topology: Topology, name: string): [string, string] | undefined {
  const { reader, positions, problems } = ctx;
  const nodes = reader.strings(['links', name, 'nodes']);
  if (nodes.length !== 2) return undefined; // the schema says exactly two
  const unknown = nodes.filter((n) => !Object.hasOwn(topology.nodes, n.value));
  for (const n of unknown)
    problems.error(
      'unknown-node',
      `link \`${name}\`: node \`${n.value}\` is not declared in \`nodes\``,
      positions.value(n.path),
    );
  const [first, second] = [nodes[0]!.value, nodes[1]!.value];
  if (first === second) {
    problems.error(
      'link-to-itself',
      `link \`${name}\`: both nodes are \`${first}\`; a link joins two different nodes`,
      positions.value(nodes[1]!.path),
    );
    return undefined;
  }
  return unknown.length === 0 ? [first, second] : undefined;
}

/** The names `<link>_<node>` are identifiers and no publication or subscription of the file has them. */
function objectNamesFree(ctx: Context, topology: Topology, name: string, nodes: [string, string]): boolean {
  const { positions, problems } = ctx;
  const base = ['links', name];
  for (const node of nodes) {
    const objectName = linkObjectName(name, node);
    const problem = identifierProblem(objectName);
    if (problem) {
      problems.error(
        'bad-identifier',
        `link \`${name}\`: its objects on node \`${node}\` are named \`${objectName}\`, which ${problem}`,
        positions.key(base),
        'choose a shorter link name',
      );
      return false;
    }
    for (const kind of ['publications', 'subscriptions'] as const) {
      if (Object.hasOwn(topology[kind], objectName)) {
        problems.error(
          'link-name-taken',
          `link \`${name}\` names its ${kind === 'publications' ? 'publication' : 'subscription'} on node \`${node}\` \`${objectName}\`, ` +
            `which \`${kind}\` already declares`,
          positions.key(base),
          'rename the link or that object',
        );
        return false;
      }
    }
  }
  return true;
}

/** What the link stands for: on each node a publication, and a subscription receiving the other's. */
function addLinkObjects(
  ctx: Context,
  topology: Topology,
  link: LinkSpec,
  options: Partial<SubscriptionOptions>,
  settings: Settings,
): void {
  const { reader } = ctx;
  const { name, tables, schemas, init } = link;
  const base = ['links', name];
  const second = link.nodes[1];
  const publish = reader.strings([...base, 'publish']).map((s) => s.value);
  const protect = reader.boolean([...base, 'protect']) ?? false;
  const schemaSync =
    (reader.string([...base, 'schemaSync']) as SchemaSyncMode | undefined) ?? settings.schemaSync;
  const enabled = reader.boolean([...base, 'enabled']) ?? true;
  for (const [i, node] of link.nodes.entries()) {
    const other = link.nodes[1 - i]!;
    const publication: PublicationSpec = {
      name: link.publications[node]!,
      node,
      allTables: false,
      tables: tables.map((t) => ({ ...t, columns: null, where: null })),
      schemas,
      publish: reader.has([...base, 'publish'])
        ? PUBLISH_OPERATIONS.filter((op) => publish.includes(op))
        : [...PUBLISH_OPERATIONS],
      viaPartitionRoot: false,
      generatedColumns: null,
      protect,
      link: name,
    };
    topology.publications[publication.name] = publication;
    const subscription: SubscriptionSpec = {
      name: link.subscriptions[node]!,
      node,
      from: other,
      publications: [link.publications[other]!],
      // slots are the publisher's server's: the tag of its database keeps two databases' links apart
      slot: withDatabaseTag(link.subscriptions[node]!, topology.nodes[other]!.connection.database),
      enabled,
      options: { ...options, origin: 'none' },
      schemaSync,
      // the first edge (nodes[0] → nodes[1]) copies with snapshot; the reverse one never copies
      init: init.method === 'snapshot' && node !== second ? { ...init, method: 'none' } : { ...init },
      protect,
      link: name,
      ...(settings.verifyWindow !== undefined ? { verifyWindow: settings.verifyWindow } : {}),
      ...(settings.verifyFullBelow !== undefined ? { verifyFullBelow: settings.verifyFullBelow } : {}),
    };
    topology.subscriptions[subscription.name] = subscription;
  }
}

function linkTables(ctx: Context, link: string): TableName[] {
  const { reader, positions, problems } = ctx;
  const out = new Map<string, TableName>();
  for (const item of reader.strings(['links', link, 'tables'])) {
    const parsed = parseTableName(item.value);
    if (!parsed.ok) {
      problems.error(
        'bad-table-name',
        `link \`${link}\`: table name \`${item.value}\` ${parsed.problem}`,
        positions.value(item.path),
        parsed.hint,
      );
      continue;
    }
    out.set(`${parsed.table.schema}\u0000${parsed.table.name}`, parsed.table);
  }
  return [...out.values()].sort(compareTableNames);
}

function linkInit(
  ctx: Context,
  link: string,
  nodes: [string, string],
  settings: Settings,
): InitSpec | undefined {
  const { reader } = ctx;
  const base = ['links', link, 'init'];
  const method = (reader.string([...base, 'method']) as InitMethod | undefined) ?? 'merge';
  const init: InitSpec = {
    method,
    parallel: reader.integer([...base, 'parallel']) ?? settings.parallel,
    existingData: 'fail',
  };
  if (reader.has([...base, 'parallel'])) init.parallelDeclared = true;
  // both edges start without a copy: only rows equal on both nodes when they start make that true
  if (method === 'none') init.proveEqual = true;
  const strategy = checkStrategy(ctx, base, method, { link, nodes });
  const strategies = checkStrategies(ctx, base, method, { link, nodes });
  if (strategy === null || strategies === null) return undefined;
  if (strategy !== undefined) init.strategy = strategy;
  if (strategies !== undefined) init.strategies = strategies;
  return init;
}
