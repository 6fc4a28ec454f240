import type pg from 'pg';
import type { MergeDecision } from '../model/merge.js';
import { hasColumn } from './columns.js';
import { StateTable } from './stateTable.js';

/**
 * `merge_log` (state schema migration 6): every conflicting key a merge decided — table, key,
 * strategy, the node whose row was kept, both row hashes and images, when — on each node of the
 * pair. Keyed by (merge, table, key): a merge re-run after an interruption rewrites a decision,
 * never adds a second one.
 */
export class MergeLogStore extends StateTable {
  protected readonly name = 'merge_log';

  /** Does the node's state schema have merge_log as migration 6 made it? */
  override async exists(client: pg.Client): Promise<boolean> {
    return hasColumn(client, this.table, 'merge_name');
  }

  /** Record decisions (one statement: all or none). */
  async record(client: pg.Client, decisions: readonly MergeDecision[]): Promise<void> {
    if (decisions.length === 0) return;
    await client.query(
      `INSERT INTO ${this.table} (node_name, merge_name, table_name, row_key, strategy, chosen_node, node_a, node_b, hash_a, hash_b, row_a, row_b)
       SELECT $1, d.merge, d."table", d.key, d.strategy, d."chosenNode", d."nodeA", d."nodeB", d."hashA", d."hashB", d."rowA", d."rowB"
         FROM jsonb_to_recordset($2::jsonb) AS d(merge text, "table" text, key jsonb, strategy text, "chosenNode" text,
                                                "nodeA" text, "nodeB" text, "hashA" text, "hashB" text, "rowA" jsonb, "rowB" jsonb)
       ON CONFLICT (node_name, merge_name, table_name, row_key) DO UPDATE
          SET strategy = EXCLUDED.strategy, chosen_node = EXCLUDED.chosen_node, node_a = EXCLUDED.node_a, node_b = EXCLUDED.node_b,
              hash_a = EXCLUDED.hash_a, hash_b = EXCLUDED.hash_b, row_a = EXCLUDED.row_a, row_b = EXCLUDED.row_b, decided_at = now()`,
      [this.node, JSON.stringify(decisions)],
    );
  }

  /** The decisions of one merge on this node, by table and key. */
  async list(client: pg.Client, merge: string): Promise<MergeDecision[]> {
    const { rows } = await client.query<MergeDecision>(
      `SELECT merge_name AS merge, table_name AS "table", row_key AS key, strategy, chosen_node AS "chosenNode",
              node_a AS "nodeA", node_b AS "nodeB", hash_a AS "hashA", hash_b AS "hashB", row_a AS "rowA", row_b AS "rowB",
              decided_at AS "decidedAt"
         FROM ${this.table} WHERE node_name = $1 AND merge_name = $2 ORDER BY table_name, row_key`,
      [this.node, merge],
    );
    return rows;
  }
}
