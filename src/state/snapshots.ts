import type pg from 'pg';
import { normaliseLsn } from '../model/lsn.js';
import { isoTime } from '../model/sql.js';
import { hasColumn } from './columns.js';
import { StateTable } from './stateTable.js';

/**
 * `snapshots` rows (docs/steep-yaml.md, On every node, migration 7) on the subscriber a two-phase snapshot seeds: one per
 * snapshot, its subscription at its slot's consistent LSN, from `snapshot generate`
 * (generating → generated, with the manifest's SHA-256) through `snapshot apply`
 * (applying → applied) to `snapshot delete` (deleted), or `steep init cancel` (cancelled: the
 * slot it was taken on is dropped, so it can never be applied). Keyed by the node's own name, like every
 * state table, so rows an `allTables` publication brings from another node never collide.
 */
export type SnapshotStatus = 'generating' | 'generated' | 'applying' | 'applied' | 'deleted' | 'cancelled';

/** What names a snapshot: the subscription it seeds at the consistent LSN of its slot. */
export interface SnapshotIdentity {
  subscription: string;
  source: string;
  slot: string;
  lsn: string;
  path: string;
}

export interface SnapshotFigures {
  manifestSha256: string;
  files: number;
  rows: number;
  bytes: number;
}

export interface SnapshotRecord extends SnapshotIdentity {
  id: string;
  /** the subscriber whose state holds the row */
  node: string;
  status: SnapshotStatus;
  manifestSha256: string | null;
  files: number | null;
  rows: number | null;
  bytes: number | null;
  createdAt: string;
  generatedAt: string | null;
  appliedAt: string | null;
  deletedAt: string | null;
}

/** `west_orders@0/1A2B3C8`: what `snapshot list` shows and `snapshot delete` takes. */
export function snapshotId(subscription: string, lsn: string): string {
  return `${subscription}@${normaliseLsn(lsn)}`;
}

export class SnapshotStore extends StateTable {
  protected readonly name = 'snapshots';

  /** Does the node's state schema have migration 7's table? */
  override async exists(client: pg.Client): Promise<boolean> {
    return hasColumn(client, this.table, 'slot_name');
  }

  /**
   * Record the snapshot at `status`, creating its row when absent (a snapshot generated where
   * no row was written is recorded by its apply). The path is generate's; the figures are kept
   * once known; each status's time is set when it is first reached.
   */
  async mark(
    client: pg.Client,
    s: SnapshotIdentity,
    status: SnapshotStatus,
    figures: SnapshotFigures | null = null,
  ): Promise<void> {
    await client.query(
      `INSERT INTO ${this.table} AS t (node_name, snapshot_id, subscription, source_node, slot_name, lsn, path,
                                       manifest_sha256, files, rows, bytes, status,
                                       generated_at, applied_at, deleted_at)
       VALUES ($1, $2, $3, $4, $5, $6::pg_lsn, $7, $8, $9, $10, $11, $12,
               CASE WHEN $12 = 'generated' THEN now() END,
               CASE WHEN $12 = 'applied' THEN now() END,
               CASE WHEN $12 = 'deleted' THEN now() END)
       ON CONFLICT (node_name, snapshot_id) DO UPDATE SET
         status = EXCLUDED.status,
         path = CASE WHEN EXCLUDED.status IN ('generating', 'generated') THEN EXCLUDED.path ELSE t.path END,
         manifest_sha256 = coalesce(EXCLUDED.manifest_sha256, t.manifest_sha256),
         files = coalesce(EXCLUDED.files, t.files),
         rows = coalesce(EXCLUDED.rows, t.rows),
         bytes = coalesce(EXCLUDED.bytes, t.bytes),
         generated_at = coalesce(t.generated_at, EXCLUDED.generated_at),
         applied_at = coalesce(t.applied_at, EXCLUDED.applied_at),
         deleted_at = coalesce(t.deleted_at, EXCLUDED.deleted_at),
         updated_at = now()`,
      [
        this.node,
        snapshotId(s.subscription, s.lsn),
        s.subscription,
        s.source,
        s.slot,
        s.lsn,
        s.path,
        figures?.manifestSha256 ?? null,
        figures?.files ?? null,
        figures?.rows ?? null,
        figures?.bytes ?? null,
        status,
      ],
    );
  }

  /**
   * `steep init cancel` dropped the subscription's slot: its snapshots not yet applied (nor
   * deleted) can never be applied, and are recorded `cancelled`. A state schema before
   * migration 8 cannot say so, and is left as it is. Returns the ids it marked.
   */
  async cancel(client: pg.Client, subscription: string): Promise<string[]> {
    if (!(await hasColumn(client, this.table, 'cancelled_at'))) return [];
    const { rows } = await client.query<{ snapshot_id: string }>(
      `UPDATE ${this.table} SET status = 'cancelled', cancelled_at = now(), updated_at = now()
        WHERE node_name = $1 AND subscription = $2 AND status IN ('generating', 'generated', 'applying')
        RETURNING snapshot_id`,
      [this.node, subscription],
    );
    return rows.map((r) => r.snapshot_id).sort();
  }

  async get(client: pg.Client, id: string): Promise<SnapshotRecord | null> {
    return (await this.read(client, 'AND snapshot_id = $2', [id]))[0] ?? null;
  }

  /** Every snapshot this node records, oldest first. */
  async all(client: pg.Client): Promise<SnapshotRecord[]> {
    return this.read(client, '', []);
  }

  private async read(client: pg.Client, and: string, params: unknown[]): Promise<SnapshotRecord[]> {
    const { rows } = await client.query<SnapshotRecord>(
      `SELECT snapshot_id AS id, node_name AS node, subscription, source_node AS source, slot_name AS slot,
              lsn::text AS lsn, path, status, manifest_sha256 AS "manifestSha256", files, rows::float8 AS rows,
              bytes::float8 AS bytes, ${isoTime('created_at')} AS "createdAt", ${isoTime('generated_at')} AS "generatedAt",
              ${isoTime('applied_at')} AS "appliedAt", ${isoTime('deleted_at')} AS "deletedAt"
         FROM ${this.table} WHERE node_name = $1 ${and}
        ORDER BY created_at, snapshot_id`,
      [this.node, ...params],
    );
    return rows;
  }
}
