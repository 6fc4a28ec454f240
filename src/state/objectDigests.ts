import type pg from 'pg';
import { quoteIdent } from '../model/sql.js';

/**
 * `object_digests`: the catalog digest of each managed object as the last successful apply
 * left it, so a later plan can tell a file change (the object still matches) from drift.
 */
export async function recordObjectDigests(
  client: pg.Client,
  schema: string,
  node: string,
  digests: Record<string, string>,
): Promise<void> {
  const entries = Object.entries(digests);
  if (entries.length === 0) return;
  await client.query(
    `INSERT INTO ${quoteIdent(schema)}.object_digests (node_name, address, digest)
     SELECT $1, address, digest FROM unnest($2::text[], $3::text[]) AS d(address, digest)
     ON CONFLICT (node_name, address) DO UPDATE SET digest = EXCLUDED.digest, recorded_at = now()`,
    [node, entries.map(([a]) => a), entries.map(([, d]) => d)],
  );
}
