import { linkAddress, printAddress, publicationAddress, subscriptionAddress } from '../model/address.js';
import { formatDuration, MAX_DURATION_MS, parseDuration } from '../model/durations.js';
import { VERIFY_WINDOW_DEFAULT } from '../model/initEvidence.js';
import type { IgnoreSpec, SchemaSyncMode, Settings, Topology } from '../model/topology.js';
import { identifierProblem } from './identifiers.js';
import { normaliseLinks } from './links.js';
import { checkLibpqEnvironment, normaliseNode } from './nodes.js';
import { fieldOf, type Path, withOwner } from './paths.js';
import type { SourceMap } from './positions.js';
import type { ProblemList } from './problems.js';
import { normalisePublication } from './publications.js';
import type { DocumentReader } from './reader.js';
import { normaliseSubscription } from './subscriptions.js';
import { readFullBelow, readVerifyWindow } from './verifyWindow.js';

export const DEFAULT_SETTINGS: Settings = {
  schemaSync: 'strict',
  stateSchema: 'steep',
  lockTimeout: 5000,
  statementTimeout: 0,
  connectTimeout: 10_000,
  parallel: 4,
  maxConnections: 16,
};

/** What every normalising step reads from and reports to. */
export interface NormaliseContext {
  reader: DocumentReader;
  positions: SourceMap;
  problems: ProblemList;
  env: NodeJS.ProcessEnv;
}

/**
 * The typed, normalised Topology with every default filled in. Values the schema rejected are
 * skipped (already reported); what only a closer look finds (a bad URL, a table name with too
 * many dots, a 64-byte identifier) is reported here.
 */
export function normalise(ctx: NormaliseContext, source: { path: string; digest: string }): Topology {
  const { reader, positions } = ctx;
  const settings = normaliseSettings(ctx);
  const topology: Topology = {
    version: 1,
    topology: reader.string(['topology']) ?? '',
    settings,
    nodes: {},
    publications: {},
    subscriptions: {},
    positions: {},
    source,
  };
  const ignore = normaliseIgnore(reader);
  if (ignore) topology.ignore = ignore;
  checkLibpqEnvironment(ctx);
  for (const name of reader.keys(['nodes'])) {
    if (!checkName(ctx, ['nodes', name], 'node')) continue;
    topology.nodes[name] = normaliseNode(ctx, name);
    topology.positions[printAddress({ kind: 'node', node: name })] = positions.key(['nodes', name]);
  }
  for (const name of reader.keys(['publications'])) {
    if (!checkName(ctx, ['publications', name], 'publication')) continue;
    topology.publications[name] = normalisePublication(ctx, name);
    topology.positions[publicationAddress(name)] = positions.key(['publications', name]);
  }
  for (const name of reader.keys(['subscriptions'])) {
    if (!checkName(ctx, ['subscriptions', name], 'subscription')) continue;
    topology.subscriptions[name] = normaliseSubscription(ctx, name, settings);
    topology.positions[subscriptionAddress(name)] = positions.key(['subscriptions', name]);
  }
  normaliseLinks(ctx, topology, settings);
  for (const link of Object.values(topology.links ?? {})) {
    const at = positions.key(['links', link.name]);
    topology.positions[linkAddress(link.name)] = at;
    for (const node of link.nodes) {
      topology.positions[publicationAddress(link.publications[node]!)] = at;
      topology.positions[subscriptionAddress(link.subscriptions[node]!)] = at;
    }
  }
  return topology;
}

/** Names that would be object prototypes in JavaScript, not entries: refused outright. */
const RESERVED_NAMES = new Set(['__proto__']);

/** Reports a name that cannot be an identifier; false when the object must be left out. */
function checkName(ctx: NormaliseContext, path: Path, kind: string): boolean {
  const name = String(path[path.length - 1]);
  if (RESERVED_NAMES.has(name)) {
    ctx.problems.error(
      'bad-identifier',
      `${kind} name \`${name}\` is reserved; choose another name`,
      ctx.positions.key(path),
    );
    return false;
  }
  const problem = identifierProblem(name);
  if (problem) {
    ctx.problems.error('bad-identifier', `${kind} name \`${name}\` ${problem}`, ctx.positions.key(path));
  }
  return true;
}

function normaliseSettings(ctx: NormaliseContext): Settings {
  const { reader } = ctx;
  const stateSchema = reader.string(['settings', 'stateSchema']) ?? DEFAULT_SETTINGS.stateSchema;
  const problem = identifierProblem(stateSchema);
  if (problem) {
    ctx.problems.error(
      'bad-identifier',
      `settings: \`stateSchema\` \`${stateSchema}\` ${problem}`,
      ctx.positions.value(['settings', 'stateSchema']),
    );
  }
  const window = readVerifyWindow(ctx, ['settings', 'verify', 'window']) ?? VERIFY_WINDOW_DEFAULT;
  const fullBelow = readFullBelow(ctx, ['settings', 'verify', 'fullBelow']);
  return {
    schemaSync:
      (reader.string(['settings', 'schemaSync']) as SchemaSyncMode | undefined) ??
      DEFAULT_SETTINGS.schemaSync,
    stateSchema,
    lockTimeout: duration(ctx, ['settings', 'lockTimeout']) ?? DEFAULT_SETTINGS.lockTimeout,
    statementTimeout: duration(ctx, ['settings', 'statementTimeout']) ?? DEFAULT_SETTINGS.statementTimeout,
    connectTimeout: duration(ctx, ['settings', 'connectTimeout']) ?? DEFAULT_SETTINGS.connectTimeout,
    parallel: reader.integer(['settings', 'parallel']) ?? DEFAULT_SETTINGS.parallel,
    maxConnections: reader.integer(['settings', 'maxConnections']) ?? DEFAULT_SETTINGS.maxConnections,
    ...(reader.has(['settings', 'sequenceLag'])
      ? { sequenceLag: reader.integer(['settings', 'sequenceLag']) ?? 0 }
      : {}),
    ...(reader.has(['settings', 'dropOrphanSlots'])
      ? { dropOrphanSlots: reader.strings(['settings', 'dropOrphanSlots']).map((p) => p.value) }
      : {}),
    verifyWindow: window,
    ...(fullBelow !== undefined ? { verifyFullBelow: fullBelow } : {}),
  };
}

/** `ignore:` glob patterns; undefined when the file has none. */
function normaliseIgnore(reader: DocumentReader): IgnoreSpec | undefined {
  if (!reader.has(['ignore'])) return undefined;
  const list = (kind: string) => reader.strings(['ignore', kind]).map((p) => p.value);
  return { slots: list('slots'), publications: list('publications'), subscriptions: list('subscriptions') };
}

function duration(ctx: NormaliseContext, path: Path): number | undefined {
  const value = ctx.reader.get(path);
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.problems.error(
      'invalid-value',
      withOwner(
        path,
        `${fieldOf(path)} must be at most ${formatDuration(MAX_DURATION_MS)} (${MAX_DURATION_MS} ms)`,
      ),
      ctx.positions.value(path),
    );
  }
  return ms;
}
