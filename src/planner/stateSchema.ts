import type { ObservedStateSchema } from '../model/cluster.js';
import type { Statement } from '../model/plan.js';
import { quoteIdent, quoteLiteral } from '../model/sql.js';
import type { Topology } from '../model/topology.js';
import { PHASE, type PlanContext, sortedKeys, stepKey } from './context.js';
import { stateSchemaDigest } from './digest.js';
import { tx } from './sqlBuild.js';

/**
 * steep's own metadata schema (docs/steep-yaml.md, On every node) on every reachable node of the file: a `node.<n>`
 * step, first on its node, while the schema is absent or behind the newest migration.
 */

export interface StateMigration {
  version: number;
  statements: string[];
}

export function planStateSchema(ctx: PlanContext, migrations: readonly StateMigration[]): void {
  if (migrations.length === 0) return;
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  const latest = ordered[ordered.length - 1]!.version;
  const schema = ctx.desired.settings.stateSchema;
  for (const name of sortedKeys(ctx.desired.nodes)) {
    const node = ctx.node(name);
    if (!node) continue;
    const state = node.stateSchema;
    const current = state.exists ? (state.version ?? 0) : 0;
    const pending = ordered.filter((m) => m.version > current);
    if (pending.length === 0) continue;
    const statements: Statement[] = [
      ...pending.flatMap((m) => m.statements).filter((sql) => keepStatement(sql, state)),
      ...recordStatements(ctx.desired, name, pending),
    ].map(tx);
    const create = !state.exists;
    ctx.steps.push({
      key: stepKey('state', name),
      phase: PHASE.stateSchema,
      address: { kind: 'node', node: name },
      node: name,
      kind: 'state-schema',
      action: create ? 'create' : 'update',
      reason: create ? 'absent' : 'config-changed',
      reasonText: create
        ? `steep's state schema ${schema} is absent on ${name}`
        : `steep's state schema ${schema} on ${name} is at version ${state.version ?? 'none'}; this steep needs version ${latest} (migration${pending.length > 1 ? 's' : ''} ${pending.map((m) => m.version).join(', ')})`,
      changes: [{ path: 'stateSchema.version', before: state.exists ? state.version : null, after: latest }],
      statements,
      hazards: [],
      deps: [],
      catalogDigest: stateSchemaDigest(state),
    });
  }
}

/**
 * A schema that exists (a DBA may create it for a role without CREATE on the database) is
 * used as it is: `CREATE SCHEMA IF NOT EXISTS` checks the database privilege before it finds
 * the schema, and only its owner may comment on it.
 */
function keepStatement(sql: string, state: ObservedStateSchema): boolean {
  if (!state.exists) return true;
  if (/^CREATE SCHEMA IF NOT EXISTS /.test(sql)) return false;
  if (/^COMMENT ON SCHEMA /.test(sql)) return state.owned !== false;
  return true;
}

/** Record the applied migrations and the node itself; keys carry the node's name (docs/steep-yaml.md, On every node). */
function recordStatements(file: Topology, node: string, pending: readonly StateMigration[]): string[] {
  const s = quoteIdent(file.settings.stateSchema);
  const priority = file.nodes[node]?.priority ?? 100;
  const n = quoteLiteral(node);
  return [
    ...pending.map(
      (m) =>
        `INSERT INTO ${s}.migrations (node_name, version) VALUES (${n}, ${m.version}) ON CONFLICT DO NOTHING`,
    ),
    `INSERT INTO ${s}.nodes (node_name, priority, topology) VALUES (${n}, ${priority}, ${quoteLiteral(file.topology)}) ` +
      'ON CONFLICT (node_name) DO UPDATE SET priority = EXCLUDED.priority, topology = EXCLUDED.topology, last_seen = now()',
  ];
}

/**
 * The state tables that key rows on a subscription's name (`subscription` column), each with
 * `node_name`: a renamed subscription's rows move with it. test/unit/planner/renames.test.ts
 * checks this list against the migrations.
 */
export const SUBSCRIPTION_KEYED_TABLES = [
  'copy_chunks',
  'deferred_indexes',
  'diverged_tables',
  'init_progress',
  'init_slots',
  'snapshots',
  'status_readings',
  'stream_continuity',
  'stream_positions',
  'subscription_state',
  'verifications',
  'verified_tables',
] as const;

/**
 * What steep's state schema on the subscriber records under a subscription's old name, moved to
 * its new one (in the transaction of the rename), and its recorded catalog digest with it.
 */
export function moveSubscriptionStateSql(schema: string, node: string, from: string, to: string): string[] {
  const s = quoteIdent(schema);
  const n = quoteLiteral(node);
  return [
    ...SUBSCRIPTION_KEYED_TABLES.map(
      (t) =>
        `UPDATE ${s}.${t} SET subscription = ${quoteLiteral(to)} WHERE node_name = ${n} AND subscription = ${quoteLiteral(from)}`,
    ),
    `UPDATE ${s}.object_digests SET address = ${quoteLiteral(`subscription.${to}`)} WHERE node_name = ${n} AND address = ${quoteLiteral(`subscription.${from}`)}`,
  ];
}
