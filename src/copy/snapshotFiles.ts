import { existsSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SteepError } from '../model/errors.js';
import type { Topology } from '../model/topology.js';
import { chunkFileName, MANIFEST, type Manifest, readManifest, SCHEMA_FILE } from './manifest.js';
import { Heartbeat } from './snapshotHolder.js';
import { HOLD_FILE, session } from './twoPhase.js';

/** `steep snapshot list` and `snapshot delete`: snapshots found on disk, their slots, their removal. */

export interface SnapshotListing {
  dir: string;
  subscription: string;
  publisher: string;
  slot: string;
  lsn: string;
  complete: boolean;
  bytes: number;
  createdAt: string;
  ageSeconds: number;
  /** null when the publisher could not be asked */
  slotExists: boolean | null;
  retainedWalBytes: number | null;
}

/** The snapshots in `dir` and its immediate subdirectories. */
export async function listSnapshots(topology: Topology, dir: string): Promise<SnapshotListing[]> {
  if (!existsSync(dir)) throw new SteepError('snapshot.no_dir', `${dir} does not exist`);
  const dirs = [
    dir,
    ...readdirSync(dir)
      .map((n) => join(dir, n))
      .filter((p) => statSync(p).isDirectory()),
  ];
  const out: SnapshotListing[] = [];
  for (const p of dirs.sort()) {
    let m: Manifest | null;
    try {
      m = readManifest(p);
    } catch {
      continue;
    }
    if (!m) continue;
    let slotExists: boolean | null = null;
    let retained: number | null = null;
    if (topology.nodes[m.publisher]) {
      const c = await session(topology, m.publisher, 'steep snapshot list').catch(() => null);
      if (c) {
        try {
          const { rows } = await c.query<{ retained: string | null }>(
            `SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::text AS retained
               FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`,
            [m.slot],
          );
          slotExists = rows.length > 0;
          retained = rows[0]?.retained ? Number(rows[0].retained) : null;
        } finally {
          await c.end().catch(() => {});
        }
      }
    }
    out.push({
      dir: p,
      subscription: m.subscription,
      publisher: m.publisher,
      slot: m.slot,
      lsn: m.lsn,
      complete: m.completedAt !== null,
      bytes: m.tables.flatMap((t) => t.files).reduce((n, f) => n + (f.bytes ?? 0), 0),
      createdAt: m.createdAt,
      ageSeconds: Math.round((Date.now() - Date.parse(m.createdAt)) / 1000),
      slotExists,
      retainedWalBytes: retained,
    });
  }
  return out;
}

export interface DeleteResult {
  dir: string;
  filesRemoved: number;
  slotDropped: boolean;
  /** why the slot was kept */
  slotKept: string | null;
}

/** Remove a snapshot's files; its slot only with `allowDestroy`, and never while a subscription streams from it. */
export async function deleteSnapshot(
  topology: Topology,
  dir: string,
  allowDestroy: boolean,
): Promise<DeleteResult> {
  const m = readManifest(dir);
  if (!m) throw new SteepError('snapshot.no_manifest', `${dir} holds no ${MANIFEST}: nothing to delete`);
  let slotDropped = false;
  let slotKept: string | null = null;
  const pubSpec = topology.nodes[m.publisher];
  if (!allowDestroy) {
    slotKept = `slot ${m.slot} on ${m.publisher} is kept (it retains WAL until dropped); steep snapshot delete ${dir} --allow-destroy drops it`;
  } else if (!pubSpec) {
    slotKept = `node ${m.publisher} is not in steep.yaml, so slot ${m.slot} there is left`;
  } else {
    const subSpec = topology.nodes[m.subscriber];
    if (subSpec) {
      const sub = await session(topology, m.subscriber, 'steep snapshot delete');
      try {
        const { rows } = await sub.query<{ enabled: boolean }>(
          `SELECT subenabled AS enabled FROM pg_catalog.pg_subscription WHERE subname = $1 AND subslotname = $2
             AND subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())`,
          [m.subscription, m.slot],
        );
        if (rows[0]?.enabled)
          slotKept = `subscription ${m.subscription} on ${m.subscriber} streams from slot ${m.slot}: it is kept`;
      } finally {
        await sub.end().catch(() => {});
      }
    }
    if (!slotKept) {
      // let the holder go first: its connection is the slot's user while it holds the snapshot
      new Heartbeat(join(dir, HOLD_FILE)).stop(true);
      const pub = await session(topology, m.publisher, 'steep snapshot delete');
      try {
        for (let i = 0; i < 20; i++) {
          const { rows } = await pub.query<{ active: boolean }>(
            'SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
            [m.slot],
          );
          if (!rows[0]) break;
          if (!rows[0].active) {
            await pub.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [m.slot]);
            slotDropped = true;
            break;
          }
          await new Promise((r) => setTimeout(r, 500));
        }
        if (!slotDropped) {
          const { rows } = await pub.query(
            'SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
            [m.slot],
          );
          if (rows.length > 0)
            slotKept = `slot ${m.slot} on ${m.publisher} is in use by another process: it is kept`;
        }
      } finally {
        await pub.end().catch(() => {});
      }
    }
  }
  let removed = 0;
  const names = [
    ...m.tables.flatMap((t) =>
      t.files.flatMap((f) => [
        chunkFileName(t, f.chunk, m.compress),
        `${chunkFileName(t, f.chunk, m.compress)}.partial`,
      ]),
    ),
    SCHEMA_FILE,
    HOLD_FILE,
    `${MANIFEST}.tmp`,
    MANIFEST,
  ];
  for (const n of names) {
    const p = join(dir, n);
    if (existsSync(p)) {
      unlinkSync(p);
      removed += 1;
    }
  }
  return { dir, filesRemoved: removed, slotDropped, slotKept };
}
