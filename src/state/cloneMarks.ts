import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { StateTable } from './stateTable.js';

/**
 * `clone_marks` rows (docs/state-schema.md, docs/init.md): before `steep init prepare` makes a
 * physical init's slot, the publisher commits a random mark under its own name and the slot's.
 * A clone of that publisher forked at or after the slot holds the row; a copy of another server
 * of the same system (another standby of one primary, promoted too) never does, whatever its
 * timeline history says. The store's node is the publisher's, on the publisher and on its clone.
 */
export class CloneMarkStore extends StateTable {
  protected readonly name = 'clone_marks';

  /** A new mark for `slot`, committed (the session outside a transaction) before the slot is made. */
  async write(client: pg.Client, slot: string): Promise<void> {
    await client.query(
      `INSERT INTO ${this.table} (node_name, slot_name, mark) VALUES ($1, $2, $3)
       ON CONFLICT (node_name, slot_name) DO UPDATE SET mark = EXCLUDED.mark, created_at = now()`,
      [this.node, slot, randomBytes(16).toString('hex')],
    );
  }

  /** The publisher's mark for `slot` as this node holds it (null: none, or no such table). */
  async read(client: pg.Client, slot: string): Promise<string | null> {
    if (!(await this.exists(client))) return null;
    const { rows } = await client.query<{ mark: string }>(
      `SELECT mark FROM ${this.table} WHERE node_name = $1 AND slot_name = $2`,
      [this.node, slot],
    );
    return rows[0]?.mark ?? null;
  }
}
