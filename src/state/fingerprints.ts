import type pg from 'pg';
import { isoTime, quoteIdent } from '../model/sql.js';
import type { TableFingerprint } from '../model/tableSchema.js';
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
 * Record fingerprints of `node`, in one transaction. `replace`: they are every table of the
 * node, so rows of tables not among them are deleted; otherwise only these rows are upserted.
 */
export async function saveFingerprints(
  client: pg.Client,
  schema: string,
  node: string,
  fingerprints: readonly TableFingerprint[],
  opts: { replace: boolean },
): Promise<void> {
  await client.query('BEGIN');
  try {
    if (opts.replace) await client.query(`DELETE FROM ${table(schema)} WHERE node_name = $1`, [node]);
    await client.query(
      `INSERT INTO ${table(schema)} (node_name, table_schema, table_name, fingerprint, column_count, captured_at)
       SELECT $1, u.schema, u.name, u.fingerprint, u."columnCount", now()
         FROM jsonb_to_recordset($2::jsonb) AS u(schema text, name text, fingerprint text, "columnCount" int)
       ON CONFLICT (node_name, table_schema, table_name)
       DO UPDATE SET fingerprint = EXCLUDED.fingerprint, column_count = EXCLUDED.column_count, captured_at = EXCLUDED.captured_at`,
      [node, JSON.stringify(fingerprints)],
    );
    await client.query('COMMIT');
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
