import type pg from 'pg';

/**
 * Which of `wanted` exist on this connection's node, in one round trip: each a table
 * (schema-qualified, quoted) and a column of it, or null for the table alone. How a store knows
 * the migration that shaped its table has run on this node (a table can predate the columns a
 * later one added).
 */
export async function existing(
  client: pg.Client,
  wanted: Array<[string, string | null]>,
): Promise<boolean[]> {
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT CASE WHEN w.c IS NULL THEN to_regclass(w.t) IS NOT NULL
                 ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                               WHERE attrelid = to_regclass(w.t) AND attname = w.c AND NOT attisdropped) END AS ok
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(t, c, i) ORDER BY w.i`,
    [wanted.map(([t]) => t), wanted.map(([, c]) => c)],
  );
  return rows.map((r) => r.ok === true);
}

/** Does `table` (schema-qualified, quoted) have `column`? */
export async function hasColumn(client: pg.Client, table: string, column: string): Promise<boolean> {
  return (await existing(client, [[table, column]]))[0]!;
}

/** Does `table` (schema-qualified, quoted) exist on this connection's node? */
export async function hasTable(client: pg.Client, table: string): Promise<boolean> {
  return (await existing(client, [[table, null]]))[0]!;
}
