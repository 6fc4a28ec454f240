import type { Statement } from '../model/plan.js';
import { quoteIdent, quoteLiteral, quoteTable } from '../model/sql.js';
import type {
  GeneratedColumns,
  PublicationDef,
  PublicationTable,
  PublishOperation,
  SubscriptionOptions,
  SubscriptionSpec,
  TableName,
} from '../model/topology.js';
import { SUBSCRIPTION_OPTION, SUBSCRIPTION_OPTIONS, supportsOption } from '../model/versions.js';

/**
 * The DDL text of every step. Identifiers always go through quoteIdent/quoteTable, values
 * through quoteLiteral; a row filter is only ever placed inside its own `WHERE (…)`.
 */

export function tx(sql: string): Statement {
  return { sql, transactional: true };
}

export function nonTx(sql: string): Statement {
  return { sql, transactional: false };
}

// ---------------------------------------------------------------------------------------------
// publications

/** `ONLY "s"."t" ("a", "b") WHERE (filter)` */
export function publicationTableClause(t: PublicationTable): string {
  const cols = t.columns ? ` (${t.columns.map(quoteIdent).join(', ')})` : '';
  const where = t.where !== null ? ` WHERE (${t.where})` : '';
  return `${t.only ? 'ONLY ' : ''}${quoteTable(t)}${cols}${where}`;
}

/** `TABLE a, b, TABLES IN SCHEMA s` — the publication object list; '' when empty. */
export function publicationObjects(tables: readonly PublicationTable[], schemas: readonly string[]): string {
  const parts: string[] = [];
  if (tables.length > 0) parts.push(`TABLE ${tables.map(publicationTableClause).join(', ')}`);
  if (schemas.length > 0) parts.push(`TABLES IN SCHEMA ${schemas.map(quoteIdent).join(', ')}`);
  return parts.join(', ');
}

export interface PublicationParameters {
  publish?: PublishOperation[];
  viaPartitionRoot?: boolean;
  generatedColumns?: GeneratedColumns | null;
}

/** `publish = '…', publish_via_partition_root = …, publish_generated_columns = '…'` (those given). */
export function publicationParameters(p: PublicationParameters): string {
  const parts: string[] = [];
  if (p.publish !== undefined) parts.push(`publish = ${quoteLiteral(p.publish.join(', '))}`);
  if (p.viaPartitionRoot !== undefined) parts.push(`publish_via_partition_root = ${p.viaPartitionRoot}`);
  if (p.generatedColumns !== undefined && p.generatedColumns !== null) {
    parts.push(`publish_generated_columns = ${quoteLiteral(p.generatedColumns)}`);
  }
  return parts.join(', ');
}

export function createPublicationSql(
  name: string,
  p: Pick<PublicationDef, 'allTables' | 'tables' | 'schemas'> & PublicationParameters,
): string {
  const objects = p.allTables ? 'ALL TABLES' : publicationObjects(p.tables, p.schemas);
  const withClause = publicationParameters(p);
  return `CREATE PUBLICATION ${quoteIdent(name)}${objects ? ` FOR ${objects}` : ''}${withClause ? ` WITH (${withClause})` : ''}`;
}

/**
 * One atomic statement that makes the publication's tables and schemas exactly `tables` +
 * `schemas`. `SET` cannot take an empty list, so emptying a publication drops what it has.
 */
export function setPublicationObjectsSql(
  name: string,
  desired: { tables: readonly PublicationTable[]; schemas: readonly string[] },
  observed: { tables: readonly PublicationTable[]; schemas: readonly string[] },
): string {
  const objects = publicationObjects(desired.tables, desired.schemas);
  if (objects) return `ALTER PUBLICATION ${quoteIdent(name)} SET ${objects}`;
  // ONLY: each stored relation by itself (an inheritance child may not be there, or be listed too)
  const drop = publicationObjects(
    observed.tables.map((t) => ({ schema: t.schema, name: t.name, columns: null, where: null, only: true })),
    observed.schemas,
  );
  return `ALTER PUBLICATION ${quoteIdent(name)} DROP ${drop}`;
}

export function alterPublicationParametersSql(name: string, params: PublicationParameters): string {
  return `ALTER PUBLICATION ${quoteIdent(name)} SET (${publicationParameters(params)})`;
}

export function dropPublicationSql(name: string, ifExists = false): string {
  return `DROP PUBLICATION ${ifExists ? 'IF EXISTS ' : ''}${quoteIdent(name)}`;
}

export function commentOnSql(kind: 'PUBLICATION' | 'SUBSCRIPTION', name: string, comment: string): string {
  return `COMMENT ON ${kind} ${quoteIdent(name)} IS ${quoteLiteral(comment)}`;
}

// ---------------------------------------------------------------------------------------------
// subscriptions

/** The given options in steep's canonical order: `binary = true`, `streaming = 'parallel'` … */
export function subscriptionOptionsSql(options: Partial<SubscriptionOptions>): string[] {
  return SUBSCRIPTION_OPTIONS.flatMap((name) => {
    const v = options[name];
    return v === undefined
      ? []
      : [`${SUBSCRIPTION_OPTION[name].sql} = ${typeof v === 'boolean' ? v : quoteLiteral(String(v))}`];
  });
}

export function createSubscriptionSql(
  s: Pick<SubscriptionSpec, 'name' | 'publications' | 'slot' | 'options'>,
  conninfo: string,
  init: { enabled: boolean; copyData: boolean; createSlot: boolean },
): string {
  const withParts = [
    `slot_name = ${quoteLiteral(s.slot)}`,
    `enabled = ${init.enabled}`,
    `copy_data = ${init.copyData}`,
    `create_slot = ${init.createSlot}`,
    ...subscriptionOptionsSql(s.options),
  ];
  return (
    `CREATE SUBSCRIPTION ${quoteIdent(s.name)} CONNECTION ${quoteLiteral(conninfo)} ` +
    `PUBLICATION ${s.publications.map(quoteIdent).join(', ')} WITH (${withParts.join(', ')})`
  );
}

export function alterSubscriptionSql(name: string, action: string): string {
  return `ALTER SUBSCRIPTION ${quoteIdent(name)} ${action}`;
}

export function subscriptionConnectionSql(name: string, conninfo: string): string {
  return alterSubscriptionSql(name, `CONNECTION ${quoteLiteral(conninfo)}`);
}

export function setSubscriptionOptionsSql(name: string, options: Partial<SubscriptionOptions>): string {
  return alterSubscriptionSql(name, `SET (${subscriptionOptionsSql(options).join(', ')})`);
}

export function setSubscriptionPublicationSql(
  name: string,
  publications: readonly string[],
  refresh: boolean,
  copyData: boolean,
): string {
  const withClause = refresh ? `refresh = true, copy_data = ${copyData}` : 'refresh = false';
  return alterSubscriptionSql(
    name,
    `SET PUBLICATION ${publications.map(quoteIdent).join(', ')} WITH (${withClause})`,
  );
}

export function refreshSubscriptionSql(name: string, copyData: boolean): string {
  return alterSubscriptionSql(name, `REFRESH PUBLICATION WITH (copy_data = ${copyData})`);
}

/**
 * Drop a subscription. With its slot (`drop`), DROP SUBSCRIPTION connects to the publisher and
 * drops the slot there, which PostgreSQL refuses inside a transaction block. `detach`: the
 * publisher cannot drop it now, so the subscription is disabled and let go of its slot first
 * (the slot stays). `none`: it has no slot (slot_name = NONE). `disableFirst` stops its workers
 * before the drop (init cancel).
 */
/** Let a subscription go of its slot, dropping nothing: DISABLE, then SET (slot_name = NONE). */
export function detachStatements(name: string): Statement[] {
  return [
    tx(alterSubscriptionSql(name, 'DISABLE')),
    tx(alterSubscriptionSql(name, 'SET (slot_name = NONE)')),
  ];
}

export function dropSubscriptionStatements(
  name: string,
  slot: 'drop' | 'detach' | 'none',
  disableFirst = false,
): Statement[] {
  const disable = tx(alterSubscriptionSql(name, 'DISABLE'));
  const sql = `DROP SUBSCRIPTION ${quoteIdent(name)}`;
  if (slot === 'detach') return [...detachStatements(name), tx(sql)];
  const drop = slot === 'drop' ? nonTx(sql) : tx(sql);
  return disableFirst ? [disable, drop] : [drop];
}

/**
 * Before a subscription is dropped mid-init: build the indexes steep's own copy deferred for it
 * (copy/deferredIndexes.ts), as its resume or `init cancel` would, and forget them; nothing when
 * it deferred none (or the state schema predates them). Without the statement timeout: an index
 * of a big table may take long to build.
 */
export function buildDeferredIndexesStatements(
  stateSchema: string,
  node: string,
  subscription: string,
): Statement[] {
  const table = `${quoteIdent(stateSchema)}.deferred_indexes`;
  const where = `node_name = ${quoteLiteral(node)} AND subscription = ${quoteLiteral(subscription)}`;
  const body =
    `DECLARE r record; BEGIN IF to_regclass(${quoteLiteral(table)}) IS NOT NULL THEN ` +
    `FOR r IN SELECT definition FROM ${table} WHERE ${where} ORDER BY table_schema, table_name, position LOOP EXECUTE r.definition; END LOOP; ` +
    `DELETE FROM ${table} WHERE ${where}; END IF; END`;
  let tag = '$steep$';
  while (body.includes(tag)) tag = `${tag.slice(0, -1)}_$`;
  return [tx('SET LOCAL statement_timeout = 0'), tx(`DO ${tag} ${body} ${tag}`)];
}

export function truncateTablesSql(tables: readonly TableName[]): string {
  return `TRUNCATE TABLE ${tables.map(quoteTable).join(', ')}`;
}

// ---------------------------------------------------------------------------------------------
// slots

/** A logical slot for pgoutput, as CREATE SUBSCRIPTION would make it (`failover` exists from 17). */
export function createSlotSql(slot: string, publisherVersion: number, failover: boolean): string {
  const args = [quoteLiteral(slot), quoteLiteral('pgoutput')];
  if (failover && supportsOption('failover', publisherVersion)) args.push('false', 'false', 'true');
  return `SELECT pg_catalog.pg_create_logical_replication_slot(${args.join(', ')})`;
}

export function dropSlotSql(slot: string): string {
  return `SELECT pg_catalog.pg_drop_replication_slot(${quoteLiteral(slot)})`;
}
