import { readFingerprints, readTableSchemas } from '../catalog/tableSchemas.js';
import { parseTableName } from '../config/identifiers.js';
import { loadTopology } from '../config/load.js';
import { nodeSession, withSession } from '../db/connect.js';
import type { ApplyEvent, EventSink } from '../executors/events.js';
import { printAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import type { Plan, PlanMessage, Step } from '../model/plan.js';
import type { TableComparison, TableScope } from '../model/tableSchema.js';
import type { NodeSpec, TableName, Topology } from '../model/topology.js';
import { SCHEMA_CODES } from '../planner/schema/schemaCodes.js';
import { compareTableSets, differs } from '../planner/schema/schemaCompare.js';
import { hasFingerprintTable, saveFingerprints } from '../state/fingerprints.js';

/**
 * `steep schema fingerprint | compare | diff`: table definitions of the nodes of steep.yaml,
 * read live; and the schema parts of apply (manual-mode confirmation, events).
 */

export const EVERY_TABLE: TableScope = { all: true, schemas: [], tables: [] };

export function nodeOf(topology: Topology, name: string): NodeSpec {
  const node = topology.nodes[name];
  if (!node) {
    throw new SteepError(
      'schema.unknown_node',
      `node ${name} is not in steep.yaml (its nodes: ${Object.keys(topology.nodes).sort().join(', ')})`,
    );
  }
  return node;
}

export function parseTable(text: string): TableName {
  const parsed = parseTableName(text);
  if (!parsed.ok) {
    throw new SteepError(
      'schema.table_name',
      `table name ${text} ${parsed.problem}${parsed.hint ? ` (${parsed.hint})` : ''}`,
    );
  }
  return parsed.table;
}

/** `steep schema fingerprint NODE [--save]`: every table's fingerprint, in one query. */
export async function fingerprintNode(configPath: string, name: string, opts: { save: boolean }) {
  const { topology, warnings } = await loadTopology(configPath);
  const node = nodeOf(topology, name);
  const schema = topology.settings.stateSchema;
  const capturedAt = new Date().toISOString();
  const tables = await readFingerprints(node.connection, {
    node: name,
    scope: EVERY_TABLE,
    stateSchema: schema,
    connectTimeoutMs: topology.settings.connectTimeout,
  });
  if (opts.save) {
    await withSession(nodeSession(topology, name, 'steep schema fingerprint'), async (client) => {
      if (!(await hasFingerprintTable(client, schema))) {
        throw new SteepError(
          'schema.no_state_schema',
          `${name}: steep's state schema ${schema} (with its schema_fingerprints table) is not there yet, so nothing was saved; ` +
            'run `steep apply` first: it creates the state schema on every node',
          { node: name },
        );
      }
      await saveFingerprints(client, schema, name, tables, { by: 'save' });
    });
  }
  return { node: name, capturedAt, tables, saved: opts.save, stateSchema: schema, configWarnings: warnings };
}

/** Read both nodes' tables (all, or `tables`) and compare them. */
export async function compareNodes(
  configPath: string,
  a: string,
  b: string,
  opts: { tables?: string[] } = {},
) {
  const { topology, warnings } = await loadTopology(configPath);
  const nodeA = nodeOf(topology, a);
  const nodeB = nodeOf(topology, b);
  const named = opts.tables?.map(parseTable);
  const scope: TableScope = named ? { all: false, schemas: [], tables: named } : EVERY_TABLE;
  const read = (n: NodeSpec) =>
    readTableSchemas(n.connection, {
      node: n.name,
      scope,
      stateSchema: topology.settings.stateSchema,
      connectTimeoutMs: topology.settings.connectTimeout,
    });
  const [left, right] = await Promise.all([read(nodeA), read(nodeB)]);
  const names = named?.map((t) => `${t.schema}.${t.name}`);
  const missing = (names ?? []).filter((n) => !left.tables[n] && !right.tables[n]);
  if (missing.length > 0) {
    throw new SteepError(
      'schema.no_such_table',
      `table ${missing.join(', ')} exists on neither ${a} nor ${b}; name tables as schema.table`,
    );
  }
  return {
    nodeA: a,
    nodeB: b,
    tables: compareTableSets(left.tables, right.tables, names),
    configWarnings: warnings,
  };
}

/** `steep schema diff NODE_A NODE_B TABLE`: one table, column by column. */
export async function diffTable(configPath: string, a: string, b: string, table: string) {
  const result = await compareNodes(configPath, a, b, { tables: [table] });
  return { ...result, table: result.tables[0]! };
}

export function hasDifferences(tables: readonly TableComparison[]): boolean {
  return tables.some((t) => differs(t.status));
}

// ---------------------------------------------------------------------------------------------
// apply

/** Mismatches of subscriptions with schemaSync: manual, which apply must have accepted. */
export function manualSchemaDrift(plan: Plan): PlanMessage[] {
  return plan.warnings.filter((w) => w.code === SCHEMA_CODES.manual);
}

/** `schema.mismatch_detected` for every subscribed table that differs; emitted as apply starts. */
export function emitSchemaMismatches(plan: Plan, onEvent: EventSink): void {
  for (const s of plan.schema) {
    if (!differs(s.status)) continue;
    onEvent({
      event: 'schema.mismatch_detected',
      level: 'warn',
      node: s.subscriber,
      subscription: s.subscription,
      table: s.table,
      message:
        s.status === 'LOCAL_ONLY'
          ? `${s.table} exists on ${s.publisher} (publisher) but not on ${s.subscriber}`
          : `${s.table}: ${s.columns.map((c) => `${c.column} ${c.kind}`).join(', ')}`,
    });
  }
}

/** `schema.sync_applied` once a table-sync step has run. */
export function syncAppliedEvent(step: Step, durationMs: number): ApplyEvent {
  const at = step.address;
  return {
    event: 'schema.sync_applied',
    level: 'info',
    node: step.node,
    address: printAddress(at),
    table: at.kind === 'table' ? at.table : printAddress(at),
    step: step.id,
    message: step.reasonText,
    duration_ms: durationMs,
  };
}
