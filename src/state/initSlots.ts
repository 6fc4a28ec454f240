import type pg from 'pg';
import type { ObservedInitSlot } from '../model/initState.js';
import { INIT_SLOT_COLUMNS } from '../model/initStateRows.js';
import { StateTable } from './stateTable.js';

/**
 * `init_slots` rows (docs/steep-yaml.md, On every node) on the subscriber: the slot `steep init prepare` made on the
 * publisher for a subscription and the LSN the restored backup must be consistent at. The row
 * lives until the subscription is created on the slot (or the init is cancelled).
 */
export class InitSlotStore extends StateTable {
  protected readonly name = 'init_slots';

  async record(
    client: pg.Client,
    slot: { slot: string; subscription: string; lsn: string; snapshotName: string | null },
  ): Promise<void> {
    await client.query(
      `INSERT INTO ${this.table} (node_name, slot_name, subscription, lsn, snapshot_name)
       VALUES ($1, $2, $3, $4::pg_lsn, $5)
       ON CONFLICT (node_name, slot_name) DO UPDATE SET subscription = EXCLUDED.subscription, lsn = EXCLUDED.lsn,
         snapshot_name = EXCLUDED.snapshot_name, created_at = now(), expires_at = NULL`,
      [this.node, slot.slot, slot.subscription, slot.lsn, slot.snapshotName],
    );
  }

  async forSubscription(client: pg.Client, subscription: string): Promise<ObservedInitSlot | null> {
    const { rows } = await client.query<ObservedInitSlot>(
      `SELECT ${INIT_SLOT_COLUMNS} FROM ${this.table} WHERE node_name = $1 AND subscription = $2
        ORDER BY created_at DESC LIMIT 1`,
      [this.node, subscription],
    );
    return rows[0] ?? null;
  }
}
