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
  const latest = Math.max(...migrations.map((m) => m.version));
  const schema = ctx.desired.settings.stateSchema;
  for (const name of sortedKeys(ctx.desired.nodes)) {
    const node = ctx.node(name);
    if (!node) continue;
    const state = node.stateSchema;
    const pending = pendingMigrations(state, migrations);
    if (pending.length === 0) continue;
    const statements: Statement[] = migrationStatements(ctx.desired, name, state, pending).map(tx);
    const owned = ownerOnly(ctx.desired, state, pending);
    if (owned)
      ctx.error(
        'preflight.privilege',
        `${name}: steep's state schema ${schema} is at version ${state.version ?? 'none'} and this steep needs migration${pending.length > 1 ? 's' : ''} ` +
          `${pending.map((m) => m.version).join(', ')}, which alter${pending.length > 1 ? '' : 's'} ${schema}.${owned.object}: only its owner ${owned.owner} (or a member of it) may, ` +
          `not role ${node.role.name}; have ${owned.owner} run the script \`steep grants\` prints for ${name} (it carries the migration, then the grants on what it creates), then plan again`,
        { node: name, address: { kind: 'node', node: name } },
      );
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

/** The statements of `pending` migrations on `node` whose state schema is as `state` reads, then their record. */
export function migrationStatements(
  file: Topology,
  node: string,
  state: ObservedStateSchema,
  pending: readonly StateMigration[],
): string[] {
  return [
    ...pending.flatMap((m) => m.statements).filter((sql) => keepStatement(sql, state)),
    ...recordStatements(file, node, pending),
  ];
}

/** The migrations a node's state schema as `state` reads still needs, oldest first. */
export function pendingMigrations(
  state: ObservedStateSchema,
  migrations: readonly StateMigration[],
): StateMigration[] {
  const current = state.exists ? (state.version ?? 0) : 0;
  return [...migrations].sort((a, b) => a.version - b.version).filter((m) => m.version > current);
}

/**
 * The first object of the state schema that a `pending` migration alters (ALTER or DROP TABLE, a
 * trigger on a table, a function replaced) and that only its owner may alter, where the role is
 * neither that owner nor a member of it (an admin made the schema, a least-privileged role runs
 * steep now); null when the role may run them all, or the version cannot be read.
 */
export function ownerOnly(
  file: Topology,
  state: ObservedStateSchema,
  pending: readonly StateMigration[],
): { object: string; owner: string } | null {
  // a version the role cannot read yet (no USAGE on the schema): what is pending is not known
  if (!state.exists || state.version === null || !state.notOwned || state.notOwned.length === 0) return null;
  const owners = new Map(state.notOwned.map((o) => [o.name, o.owner]));
  const s = quoteIdent(file.settings.stateSchema).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // the statements of steep's own migrations that need the object's owner, and the object
  const target = new RegExp(
    '^(?:(?:ALTER|DROP) TABLE (?:IF EXISTS )?|(?:CREATE|DROP) TRIGGER (?:IF EXISTS )?[^ ]+ (?:[A-Z ]+ )?ON |CREATE OR REPLACE FUNCTION )' +
      `${s}\\.("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)(\\()?`,
  );
  for (const sql of pending.flatMap((m) => m.statements)) {
    const found = target.exec(sql);
    if (!found) continue;
    const name = found[1]!.startsWith('"') ? found[1]!.slice(1, -1).replaceAll('""', '"') : found[1]!;
    const object = found[2] ? `${name}()` : name;
    const owner = owners.get(object);
    if (owner !== undefined) return { object, owner };
  }
  return null;
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
  'disables',
  'diverged_tables',
  'init_progress',
  'init_slots',
  'snapshots',
  'status_readings',
  'stream_continuity',
  'stream_positions',
  'subscriber_timelines',
  'subscription_state',
  'verifications',
  'verified_segments',
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
