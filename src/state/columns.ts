import type pg from 'pg';

/**
 * Does `table` (schema-qualified, quoted) have `column`? How a store knows the migration that
 * shaped its table has run on this node (a table can predate the columns a later one added).
 */
export async function hasColumn(client: pg.Client, table: string, column: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                     WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped) AS ok`,
    [table, column],
  );
  return rows[0]?.ok === true;
}

/** Does `table` (schema-qualified, quoted) exist on this connection's node? */
export async function hasTable(client: pg.Client, table: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [table]);
  return rows[0]?.ok === true;
}
