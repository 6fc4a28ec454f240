import type { Topology } from '../model/topology.js';
import { type Path, withOwner } from './paths.js';
import type { SourceMap } from './positions.js';
import type { ProblemList } from './problems.js';
import type { DocumentReader } from './reader.js';

/** The oldest PostgreSQL steep supports (server_version_num). */
export const MIN_SERVER_VERSION = 140000;

/**
 * A declared `serverVersion` as server_version_num: 14 → 140000, "18.4" → 180004,
 * 180004 → 180004. Undefined when it is not a version steep can read.
 */
export function parseServerVersion(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) {
    if (value >= 10 && value < 100) return value * 10000;
    if (value >= 100000 && value < 10000000) return value;
    return undefined;
  }
  if (typeof value === 'string') {
    const m = /^(\d+)(?:\.(\d+))?$/.exec(value.trim());
    if (!m) return undefined;
    const major = Number(m[1]);
    const minor = m[2] === undefined ? 0 : Number(m[2]);
    if (major < 10 || major >= 1000 || minor >= 10000) return undefined;
    return major * 10000 + minor;
  }
  return undefined;
}

/** 180004 → "18" (the major version, which is what features depend on). */
export function majorVersion(serverVersion: number): string {
  return String(Math.floor(serverVersion / 10000));
}

interface Gate {
  since: number;
  /** what needs the version, as a DBA reads it */
  what: string;
}

const COLUMN_LISTS: Gate = { since: 150000, what: '`columns` (a column list)' };
const ROW_FILTERS: Gate = { since: 150000, what: '`where` (a row filter)' };
const SCHEMAS: Gate = { since: 150000, what: '`schemas` (FOR TABLES IN SCHEMA)' };
const GENERATED_COLUMNS: Gate = { since: 180000, what: '`generatedColumns`' };
const STREAMING_PARALLEL: Gate = { since: 160000, what: '`streaming: parallel`' };

/** Both nodes of a link: `origin = none` is filtered by the publisher and set on the subscriber. */
export const LINK_MIN_VERSION = 160000;

/** Subscription options by the version of the subscriber that first accepts them. */
const OPTION_GATES: Record<string, Gate> = {
  twoPhase: { since: 150000, what: '`twoPhase`' },
  disableOnError: { since: 150000, what: '`disableOnError`' },
  origin: { since: 160000, what: '`origin`' },
  passwordRequired: { since: 160000, what: '`passwordRequired`' },
  runAsOwner: { since: 160000, what: '`runAsOwner`' },
  failover: { since: 170000, what: '`failover`' },
};

/**
 * Options the declared server versions do not support: an error naming the version needed.
 * Only nodes that declare `serverVersion` are checked here; `plan` checks the live version.
 */
export function checkVersions(
  reader: DocumentReader,
  topology: Topology,
  positions: SourceMap,
  problems: ProblemList,
): void {
  const versionOf = (node: string) => topology.nodes[node]?.serverVersion;
  const gate = (gate: Gate, node: string, role: string, at: Path) => {
    const version = versionOf(node);
    if (version === undefined || version >= gate.since) return;
    problems.error(
      'version-too-old',
      withOwner(
        at,
        `${gate.what} needs PostgreSQL ${majorVersion(gate.since)} or later; ${role} \`${node}\` declares ${majorVersion(version)}`,
      ),
      positions.key(at),
      `remove it, or raise \`serverVersion\` of node \`${node}\` if the server is newer`,
    );
  };

  for (const [name, publication] of Object.entries(topology.publications)) {
    const base = ['publications', name];
    (reader.list([...base, 'tables']) ?? []).forEach((item, i) => {
      if (item === null || typeof item !== 'object') return;
      if (reader.has([...base, 'tables', i, 'columns'])) {
        gate(COLUMN_LISTS, publication.node, 'node', [...base, 'tables', i, 'columns']);
      }
      if (reader.has([...base, 'tables', i, 'where'])) {
        gate(ROW_FILTERS, publication.node, 'node', [...base, 'tables', i, 'where']);
      }
    });
    if (reader.has([...base, 'schemas'])) gate(SCHEMAS, publication.node, 'node', [...base, 'schemas']);
    if (reader.has([...base, 'generatedColumns'])) {
      gate(GENERATED_COLUMNS, publication.node, 'node', [...base, 'generatedColumns']);
    }
  }

  for (const link of Object.values(topology.links ?? {})) {
    for (const node of link.nodes) {
      const version = versionOf(node);
      if (version === undefined || version >= LINK_MIN_VERSION) continue;
      problems.error(
        'version-too-old',
        `link \`${link.name}\`: node \`${node}\` declares PostgreSQL ${majorVersion(version)}; a link needs 16 or later on both nodes (origin = none)`,
        positions.key(['links', link.name]),
        `replicate one way with a subscription instead, or raise \`serverVersion\` of node \`${node}\` if the server is newer`,
      );
    }
  }

  for (const [name, subscription] of Object.entries(topology.subscriptions)) {
    // a link's subscriptions: checked as the link above
    if (subscription.link !== undefined) continue;
    const options = ['subscriptions', name, 'options'];
    for (const option of Object.keys(subscription.options)) {
      const optionGate = OPTION_GATES[option];
      if (optionGate) gate(optionGate, subscription.node, 'subscriber', [...options, option]);
    }
    if (subscription.options.streaming === 'parallel') {
      gate(STREAMING_PARALLEL, subscription.node, 'subscriber', [...options, 'streaming']);
    }
    // a failover slot lives on the publisher, which must support it too
    if (subscription.options.failover === true && subscription.from !== subscription.node) {
      gate(OPTION_GATES.failover!, subscription.from, 'publisher', [...options, 'failover']);
    }
  }
}
