import type pg from 'pg';
import { withSession } from '../db/connect.js';
import { compareTableNames, compareText } from '../model/order.js';
import { sha256Hex } from '../model/sha256.js';
import type { TableObject, TableObjectKind } from '../model/tableObjects.js';
import {
  fingerprintText,
  type NodeTableSchemas,
  type ObservedTableSchema,
  type SequenceDef,
  type TableColumn,
  type TableFingerprint,
  type TableSchema,
  type TableScope,
  type UserType,
} from '../model/tableSchema.js';
import type { ConnectionSpec, TableName } from '../model/topology.js';
import {
  type ColumnsRow,
  type ColumnTuple,
  columnsQuery,
  fingerprintsQuery,
  QUALIFY_NAMES,
  RESTORE_NAMES,
  type SchemasAndExtensionsRow,
  type TableFingerprintsRow,
  type TableFingerprintTuple,
  tableSchemaQueries,
} from './queries/columns.js';
import { type TableObjectsRow, type TableObjectTuple, tableObjectsQuery } from './queries/tableObjects.js';
import { BEGIN_SNAPSHOT, inOneWrite, openCatalogSession, rows } from './session.js';

const IDENTITY = { a: 'always', d: 'by-default' } as const;
const GENERATED = { s: 'stored', v: 'virtual' } as const;

function toColumn(t: ColumnTuple): TableColumn {
  const [
    ,
    ,
    ,
    ,
    ,
    ordinal,
    name,
    type,
    def,
    notNull,
    identity,
    generated,
    collation,
    typeSchema,
    typeName,
    sequences,
    ,
    missing,
  ] = t;
  return {
    name: name!,
    type,
    default: def,
    notNull: notNull === true,
    ordinal,
    identity: IDENTITY[identity as keyof typeof IDENTITY] ?? null,
    generated: GENERATED[generated as keyof typeof GENERATED] ?? null,
    collation,
    baseType: typeSchema !== null && typeName !== null ? { schema: typeSchema, name: typeName } : null,
    sequences: sequences ?? [],
    ...(missing != null ? { missing } : {}),
  };
}

/** The tables of the columns query's JSON, fingerprinted; keyed and ordered by `schema.table`. */
export function toTables(json: string): Record<string, TableSchema> {
  const byTable = new Map<
    string,
    { table: TableName; row: ColumnTuple; columns: TableColumn[]; pk: Array<[number, string]> }
  >();
  for (const r of JSON.parse(json) as ColumnTuple[]) {
    const [schema, name, , , , , column, , , , , , , , , , pkPosition] = r;
    const key = `${schema}.${name}`;
    let t = byTable.get(key);
    if (!t) {
      t = { table: { schema, name }, row: r, columns: [], pk: [] };
      byTable.set(key, t);
    }
    if (column === null) continue;
    t.columns.push(toColumn(r));
    if (pkPosition !== null) t.pk.push([pkPosition, column]);
  }
  const out: Record<string, TableSchema> = {};
  const ordered = [...byTable.values()].sort((a, b) => compareTableNames(a.table, b.table));
  for (const { table, row, columns, pk } of ordered) {
    columns.sort((a, b) => a.ordinal - b.ordinal);
    out[`${table.schema}.${table.name}`] = {
      schema: table.schema,
      name: table.name,
      kind: row[2] === 'p' ? 'p' : 'r',
      partition: row[3],
      replicaIdentity: row[4] as TableSchema['replicaIdentity'],
      columns,
      primaryKey: pk.length > 0 ? pk.sort((a, b) => a[0] - b[0]).map(([, name]) => name) : null,
      fingerprint: sha256Hex(fingerprintText(columns)),
    };
  }
  return out;
}

/** The objects query's JSON by `schema.table`, each table's in the query's order. */
export function toTableObjects(json: string): Record<string, TableObject[]> {
  const out: Record<string, TableObject[]> = {};
  for (const [schema, table, name, kind, definition, references] of JSON.parse(json) as TableObjectTuple[]) {
    const list = out[`${schema}.${table}`] ?? [];
    list.push({ name, kind: kind as TableObjectKind, definition, references });
    out[`${schema}.${table}`] = list;
  }
  return out;
}

/** Types or sequences keyed and ordered by `schema.name`. */
function byName<T extends TableName>(rows: readonly T[]): Record<string, T> {
  return Object.fromEntries([...rows].sort(compareTableNames).map((r) => [`${r.schema}.${r.name}`, r]));
}

/** The tables of the table fingerprints query, without their columns; keyed and ordered by `schema.table`. */
export function toFingerprintedTables(json: string): Record<string, ObservedTableSchema> {
  // compareTableNames on the tuples' fields, without two objects per comparison
  const tuples = (JSON.parse(json) as TableFingerprintTuple[]).sort(
    (a, b) => compareText(a[0], b[0]) || compareText(a[1], b[1]),
  );
  const out: Record<string, ObservedTableSchema> = {};
  for (const [schema, name, kind, partition, replicaIdentity, fingerprint, primaryKey] of tuples) {
    out[`${schema}.${name}`] = {
      schema,
      name,
      kind: kind === 'p' ? 'p' : 'r',
      partition,
      replicaIdentity: replicaIdentity as ObservedTableSchema['replicaIdentity'],
      columns: null,
      primaryKey,
      fingerprint,
    };
  }
  return out;
}

/**
 * Issue the table-definition queries on a session inside its snapshot transaction. Not awaited
 * here. `columns: false` reads each table's fingerprint instead of its columns (`columns` null):
 * what a plan needs until two fingerprints differ.
 */
export function issueTableSchemaQueries(
  client: pg.Client,
  scope: TableScope,
  stateSchema: string,
  opts?: { columns: true },
): Promise<NodeTableSchemas>;
export function issueTableSchemaQueries(
  client: pg.Client,
  scope: TableScope,
  stateSchema: string,
  opts: { columns: boolean },
): Promise<NodeTableSchemas<ObservedTableSchema>>;
export function issueTableSchemaQueries(
  client: pg.Client,
  scope: TableScope,
  stateSchema: string,
  opts: { columns: boolean } = { columns: true },
): Promise<NodeTableSchemas<ObservedTableSchema>> {
  const q = tableSchemaQueries(scope, stateSchema, opts);
  const maybe = <T>(query: typeof q.userTypes): Promise<T[]> =>
    query ? rows<T>(client, query) : Promise.resolve([]);
  const issued = Promise.all([
    client.query(q.qualifyNames.text),
    q.columns ? rows<ColumnsRow>(client, q.columns) : null,
    q.tableFingerprints ? rows<TableFingerprintsRow>(client, q.tableFingerprints) : null,
    maybe<UserType>(q.userTypes),
    maybe<SequenceDef>(q.sequences),
    maybe<SchemasAndExtensionsRow>(q.schemasAndExtensions),
    maybe<TableObjectsRow>(scope.objects ? tableObjectsQuery(scope, stateSchema) : null),
    client.query(q.restoreNames.text),
  ]);
  return issued.then(([, columns, fingerprints, types, sequences, names, objects]) => ({
    scope,
    tables: columns ? toTables(columns[0]!.columns) : toFingerprintedTables(fingerprints![0]!.tables),
    types: byName(types),
    sequences: byName(sequences),
    schemas: names[0]?.schemas ?? [],
    extensions: names[0]?.extensions ?? [],
    ...(scope.objects ? { objects: toTableObjects(objects[0]?.objects ?? '[]') } : {}),
  }));
}

/**
 * The indexes and constraints of `tables` (`steep switchover` compares them between its two
 * nodes), by `schema.table`: one snapshot, names schema-qualified. One statement at a time.
 */
export async function readTableObjects(
  client: pg.Client,
  tables: TableName[],
  stateSchema: string,
): Promise<Record<string, TableObject[]>> {
  const query = tableObjectsQuery({ all: false, schemas: [], tables }, stateSchema);
  await client.query(BEGIN_SNAPSHOT);
  try {
    await client.query(QUALIFY_NAMES.text);
    const found = await rows<TableObjectsRow>(client, query);
    await client.query('COMMIT');
    return toTableObjects(found[0]?.objects ?? '[]');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export interface ReadTablesOptions {
  node: string;
  scope: TableScope;
  stateSchema: string;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
}

/** One node's table definitions for a scope, in one round trip (for `schema compare` / `diff`). */
export async function readTableSchemas(
  conn: ConnectionSpec,
  opts: ReadTablesOptions,
): Promise<NodeTableSchemas> {
  return withSession(openCatalogSession(conn, opts), async (client) => {
    const [, result] = await inOneWrite(client, () =>
      Promise.all([
        client.query(BEGIN_SNAPSHOT),
        issueTableSchemaQueries(client, opts.scope, opts.stateSchema),
        client.query('COMMIT'),
      ]),
    );
    return result;
  });
}

/**
 * The columns of some tables (those a plan found differing), with what CREATE needs when
 * `objects`: one session, one round trip, in a snapshot of its own. A table dropped since is
 * absent from the result.
 */
export async function readTableColumns(
  conn: ConnectionSpec,
  opts: Omit<ReadTablesOptions, 'scope'> & { tables: TableName[]; objects: boolean },
): Promise<Record<string, TableSchema>> {
  const scope: TableScope = { all: false, schemas: [], tables: opts.tables, objects: opts.objects };
  return withSession(openCatalogSession(conn, opts), async (client) => {
    const [, , columns] = await inOneWrite(client, () =>
      Promise.all([
        client.query(BEGIN_SNAPSHOT),
        client.query(QUALIFY_NAMES.text),
        rows<ColumnsRow>(client, columnsQuery(scope, opts.stateSchema)),
        client.query(RESTORE_NAMES.text),
        client.query('COMMIT'),
      ]),
    );
    return toTables(columns[0]!.columns);
  });
}

/**
 * The fingerprint of every table of the scope, computed by PostgreSQL in one query, sorted. On a
 * pipelined session the four statements go out together (one round trip); on another (apply's
 * own lock session) one after another, as node-postgres allows only one query at a time there.
 */
export async function queryFingerprints(
  client: pg.Client,
  scope: TableScope,
  stateSchema: string,
): Promise<TableFingerprint[]> {
  const query = fingerprintsQuery(scope, stateSchema);
  let found: TableFingerprint[];
  if (client.pipeline) {
    [, , found] = await inOneWrite(client, () =>
      Promise.all([
        client.query(BEGIN_SNAPSHOT),
        client.query(QUALIFY_NAMES.text),
        rows<TableFingerprint>(client, query),
        client.query('COMMIT'),
      ]),
    );
  } else {
    await client.query(BEGIN_SNAPSHOT);
    try {
      await client.query(QUALIFY_NAMES.text);
      found = await rows<TableFingerprint>(client, query);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }
  return found.sort(compareTableNames);
}

/** `steep schema fingerprint`: one session, one round trip. */
export async function readFingerprints(
  conn: ConnectionSpec,
  opts: ReadTablesOptions,
): Promise<TableFingerprint[]> {
  return withSession(openCatalogSession(conn, opts), (client) =>
    queryFingerprints(client, opts.scope, opts.stateSchema),
  );
}
