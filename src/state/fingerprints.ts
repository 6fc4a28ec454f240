import type pg from 'pg';
import { isoTime, quoteIdent } from '../model/sql.js';
import type { TableFingerprint, TableScope } from '../model/tableSchema.js';
import { hasTable } from './columns.js';

/**
 * `schema_fingerprints` in steep's state schema (docs/steep-yaml.md, On every node): the fingerprint of each table as
 * last saved (`steep schema fingerprint --save`, or after a successful apply), with its capture
 * time. Keys carry the node's name, and readers filter by their own node.
 */

export interface SavedFingerprint extends TableFingerprint {
  capturedAt: string;
}

function table(schema: string): string {
  return `${quoteIdent(schema)}.schema_fingerprints`;
}

/** Does `<schema>.schema_fingerprints` exist on this connection's node? */
export async function hasFingerprintTable(client: pg.Client, schema: string): Promise<boolean> {
  return hasTable(client, table(schema));
}

/**
 * Who keeps a row (its `saved_by`). `save`: `steep schema fingerprint --save` read every table
 * of the node, so rows of tables not among them are deleted, and a row apply keeps stays apply's.
 * `apply`: the node's subscribed tables (`scope`, publisher and subscriber side of every
 * subscription), whose rows apply keeps from now on; a row apply kept of a table outside `scope`
 * (it left every subscription of the node) is deleted. A row only `--save` wrote (or one from
 * before migration 17, `saved_by` NULL) that is outside `scope` stays.
 */
export type FingerprintSave = { by: 'save' } | { by: 'apply'; scope: TableScope };

/** Record fingerprints of `node`, in one transaction; the number of rows deleted. */
export async function saveFingerprints(
  client: pg.Client,
  schema: string,
  node: string,
  fingerprints: readonly TableFingerprint[],
  save: FingerprintSave,
): Promise<number> {
  const names = JSON.stringify(fingerprints.map((f) => ({ schema: f.schema, name: f.name })));
  await client.query('BEGIN');
  try {
    const deleted =
      save.by === 'save'
        ? await client.query(
            `DELETE FROM ${table(schema)} WHERE node_name = $1
                AND (table_schema, table_name) NOT IN (SELECT u.schema, u.name FROM jsonb_to_recordset($2::jsonb) AS u(schema text, name text))`,
            [node, names],
          )
        : await client.query(
            `DELETE FROM ${table(schema)} WHERE node_name = $1 AND saved_by = 'apply' AND NOT $2::boolean
                AND table_schema <> ALL ($3::text[])
                AND (table_schema, table_name) NOT IN (SELECT u.schema, u.name FROM jsonb_to_recordset($4::jsonb) AS u(schema text, name text))`,
            [node, save.scope.all, save.scope.schemas, JSON.stringify(save.scope.tables)],
          );
    await client.query(
      `INSERT INTO ${table(schema)} AS f (node_name, table_schema, table_name, fingerprint, column_count, captured_at, saved_by)
       SELECT $1, u.schema, u.name, u.fingerprint, u."columnCount", now(), $3
         FROM jsonb_to_recordset($2::jsonb) AS u(schema text, name text, fingerprint text, "columnCount" int)
       ON CONFLICT (node_name, table_schema, table_name)
       DO UPDATE SET fingerprint = EXCLUDED.fingerprint, column_count = EXCLUDED.column_count, captured_at = EXCLUDED.captured_at,
                     saved_by = ${save.by === 'apply' ? 'EXCLUDED.saved_by' : 'coalesce(f.saved_by, EXCLUDED.saved_by)'}`,
      [node, JSON.stringify(fingerprints), save.by],
    );
    await client.query('COMMIT');
    return deleted.rowCount ?? 0;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** The fingerprints saved for `node`, by table name. */
export async function readSavedFingerprints(
  client: pg.Client,
  schema: string,
  node: string,
): Promise<SavedFingerprint[]> {
  const { rows } = await client.query<SavedFingerprint>(
    `SELECT table_schema AS schema, table_name AS name, fingerprint, column_count AS "columnCount",
            ${isoTime('captured_at')} AS "capturedAt"
       FROM ${table(schema)} WHERE node_name = $1 ORDER BY table_schema, table_name`,
    [node],
  );
  return rows;
}
