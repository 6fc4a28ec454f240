import type { TestNode } from './cluster.js';
import { eventually } from './topologyFile.js';

/**
 * Back to bare tables between the cases of one test file: every subscription (detached from its
 * slot first, so a publisher that is down cannot hold the drop), every publication, every slot
 * once no walsender holds it, steep's state schema (unless kept), and the rows of `truncate`.
 */
export async function dropReplication(
  nodes: TestNode[],
  opts: { truncate?: string[]; keepStateSchema?: boolean; slotsTimeoutMs?: number } = {},
): Promise<void> {
  for (const n of nodes) {
    for (const { subname } of await n.query<{ subname: string }>('SELECT subname FROM pg_subscription')) {
      await n.query(`ALTER SUBSCRIPTION "${subname}" DISABLE`);
      await n.query(`ALTER SUBSCRIPTION "${subname}" SET (slot_name = NONE)`);
      await n.query(`DROP SUBSCRIPTION "${subname}"`);
    }
  }
  for (const n of nodes) {
    for (const { pubname } of await n.query<{ pubname: string }>('SELECT pubname FROM pg_publication')) {
      await n.query(`DROP PUBLICATION "${pubname}"`);
    }
    await eventually(
      async () => (await n.query('SELECT 1 FROM pg_replication_slots WHERE active')).length === 0,
      opts.slotsTimeoutMs ?? 15_000,
      `slots on ${n.name} inactive`,
    );
    for (const { slot_name } of await n.query<{ slot_name: string }>(
      'SELECT slot_name FROM pg_replication_slots',
    ))
      await n.query('SELECT pg_drop_replication_slot($1)', [slot_name]);
    if (!opts.keepStateSchema) await n.query('DROP SCHEMA IF EXISTS steep CASCADE');
    if (opts.truncate && opts.truncate.length > 0) await n.query(`TRUNCATE ${opts.truncate.join(', ')}`);
  }
}
