import type { SubscriptionOptionName, Topology } from '../model/topology.js';
import {
  GENERATED_COLUMNS_MIN_VERSION,
  LINK_MIN_VERSION,
  MIN_SERVER_VERSION,
  majorVersion,
  PUBLICATION_FILTERS_MIN_VERSION,
  STREAMING_PARALLEL_MIN_VERSION,
  SUBSCRIPTION_OPTION,
} from '../model/versions.js';
import type { NormaliseContext } from './normalise.js';
import { type Path, withOwner } from './paths.js';

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

interface Gate {
  since: number;
  /** what needs the version, as a DBA reads it */
  what: string;
}

const COLUMN_LISTS: Gate = { since: PUBLICATION_FILTERS_MIN_VERSION, what: '`columns` (a column list)' };
const ROW_FILTERS: Gate = { since: PUBLICATION_FILTERS_MIN_VERSION, what: '`where` (a row filter)' };
const SCHEMAS: Gate = { since: PUBLICATION_FILTERS_MIN_VERSION, what: '`schemas` (FOR TABLES IN SCHEMA)' };
const GENERATED_COLUMNS: Gate = { since: GENERATED_COLUMNS_MIN_VERSION, what: '`generatedColumns`' };
const STREAMING_PARALLEL: Gate = { since: STREAMING_PARALLEL_MIN_VERSION, what: '`streaming: parallel`' };

/** A subscription option, by the version of the subscriber that first accepts it. */
function optionGate(option: SubscriptionOptionName): Gate {
  return { since: SUBSCRIPTION_OPTION[option].since, what: `\`${option}\`` };
}

/**
 * Options the declared server versions do not support: an error naming the version needed.
 * Only nodes that declare `serverVersion` are checked here; `plan` checks the live version.
 */
export function checkVersions({ reader, positions, problems }: NormaliseContext, topology: Topology): void {
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
    const given = (g: Gate, at: Path) => {
      if (reader.has(at)) gate(g, publication.node, 'node', at);
    };
    (reader.list([...base, 'tables']) ?? []).forEach((item, i) => {
      if (item === null || typeof item !== 'object') return;
      given(COLUMN_LISTS, [...base, 'tables', i, 'columns']);
      given(ROW_FILTERS, [...base, 'tables', i, 'where']);
    });
    given(SCHEMAS, [...base, 'schemas']);
    given(GENERATED_COLUMNS, [...base, 'generatedColumns']);
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
    for (const option of Object.keys(subscription.options) as SubscriptionOptionName[]) {
      // an option every supported version has needs no gate
      if (SUBSCRIPTION_OPTION[option].since > MIN_SERVER_VERSION)
        gate(optionGate(option), subscription.node, 'subscriber', [...options, option]);
    }
    if (subscription.options.streaming === 'parallel') {
      gate(STREAMING_PARALLEL, subscription.node, 'subscriber', [...options, 'streaming']);
    }
    // a failover slot lives on the publisher, which must support it too
    if (subscription.options.failover === true && subscription.from !== subscription.node) {
      gate(optionGate('failover'), subscription.from, 'publisher', [...options, 'failover']);
    }
  }
}
