import type { CliResult } from '../test/support/cli.js';
import { ROW_KEY, type RowTable } from './rows.js';
import type { World } from './world.js';

/**
 * A reinit of a link's table whose stream broke, where steep cannot show that the way back brought
 * everything (a promotion leaves it `unverified`), cannot tell a delete the broken side missed
 * from a write of its own the other side lacks: it copies each row only on the broken side back,
 * keeps it in merge_log on both nodes (strategy `copied-back`) and says that the rows to delete
 * again are among them (docs/failover.md, docs/repair.md). The application knows which rows it
 * deleted: as a DBA with its log would, each acknowledged delete (answered, not in doubt) of a
 * row merge_log lists as copied back is made again on the primary, whence the link brings it to
 * the other node. Only those: a deleted row back that merge_log does not list stays for the oracle
 * to find. Null where the reinit said no such thing.
 */
export async function deleteAgainCopiedBack(world: World, reinit: CliResult): Promise<string | null> {
  if (!(reinit.stdout + reinit.stderr).includes('strategy copied-back')) return null;
  const primary = world.publisher;
  const listed = await primary.query<{ table_name: string; k: string }>(
    `SELECT DISTINCT table_name, coalesce(row_b, row_a)->>'id' AS k
       FROM steep.merge_log WHERE strategy = 'copied-back' AND coalesce(row_b, row_a) ? 'id'`,
  );
  const keys = new Set(listed.map((r) => `${r.table_name}:${r.k}`));
  const again = world.rowLedger.rows.filter(
    (r) => r.gone && r.doubt === null && ROW_KEY[r.table] === 'id' && keys.has(`public.${r.table}:${r.key}`),
  );
  const tables = [...new Set(again.map((r) => r.table))] as RowTable[];
  let deleted = 0;
  for (const table of tables) {
    const ids = again.filter((r) => r.table === table).map((r) => r.key);
    deleted += (
      await primary.query(`DELETE FROM public.${table} WHERE id = ANY($1::bigint[]) RETURNING id`, [ids])
    ).length;
  }
  return `${deleted} row(s) merge_log lists as copied back (of ${keys.size}) that the application had deleted, deleted again on ${world.file.publisher} as the reinit said`;
}
