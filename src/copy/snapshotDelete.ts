/**
 * `steep snapshot delete`: a snapshot's files and, with --allow-destroy, its slot (never one a
 * subscription streams from or that moved on); and the slot of a generate interrupted before its
 * manifest, which nothing can resume.
 */
import { existsSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import { readSlotConfirmed } from '../catalog/slotHolder.js';
import { readSubscriptionSlot } from '../catalog/subscriptionOnNode.js';
import { nodeSession, withSession } from '../db/connect.js';
import { SteepError } from '../model/errors.js';
import { compareLsn, isLsn } from '../model/lsn.js';
import type { Topology } from '../model/topology.js';
import { dropSlotSql } from '../planner/sqlBuild.js';
import { SnapshotStore, snapshotId } from '../state/snapshots.js';
import { chunkFileName, MANIFEST, type Manifest, readManifest, SCHEMA_FILE } from './manifest.js';
import { heartbeatStopped } from './snapshotHolder.js';
import { fromRecord, interruptedIn, type Located, locatedAt, recordedOn } from './snapshotListing.js';
import { HOLD_FILE } from './twoPhase.js';

export interface DeleteResult {
  id: string;
  /** null when the snapshot was named by its id and its files are not here */
  dir: string | null;
  filesRemoved: number;
  slotDropped: boolean;
  /** why the slot was kept */
  slotKept: string | null;
  /** what it ran on the nodes: the slot's drop */
  statements: Array<{ node: string; sql: string }>;
  /** the subscriber's state now records it deleted */
  recorded: boolean;
}

/** What `snapshot delete` was given: a snapshot directory, or an id from `snapshot list`. */
async function snapshotToDelete(
  topology: Topology,
  target: string,
): Promise<{ s: Located; m: Manifest | null; interrupted: boolean }> {
  const m = existsSync(target) ? readManifest(target) : null;
  if (m) return { s: locatedAt(m, target), m, interrupted: false };
  const left = existsSync(target) ? interruptedIn(topology, target) : null;
  if (left) return { s: left, m: null, interrupted: true };
  const at = target.lastIndexOf('@');
  if (at <= 0 || !isLsn(target.slice(at + 1))) {
    throw new SteepError(
      'snapshot.no_manifest',
      `${target} holds no ${MANIFEST} and is no snapshot id (subscription@LSN): nothing to delete; steep snapshot list shows the snapshots`,
    );
  }
  const id = snapshotId(target.slice(0, at), target.slice(at + 1));
  const r = (
    await recordedOn(
      topology,
      Object.values(topology.subscriptions).map((d) => d.node),
    )
  ).find((x) => x.id === id);
  if (!r) {
    throw new SteepError(
      'snapshot.unknown',
      `no subscriber of steep.yaml records snapshot ${id}; steep snapshot list shows the snapshots it knows`,
    );
  }
  return { ...fromRecord(r), interrupted: false };
}

/**
 * Refuse while a generate into `dir` is under way (`what` it has made): one touches the hold
 * file every second. Two would spoil one snapshot, or drop the slot under it.
 */
export async function refuseUnderWay(
  dir: string,
  what: string,
  where?: { address: string; node: string },
): Promise<void> {
  if (await heartbeatStopped(join(dir, HOLD_FILE))) return;
  throw new SteepError(
    'snapshot.generating',
    `a snapshot generate into ${dir} is under way (${what}): let it end, or stop it first`,
    where,
  );
}

/** What refuseUnderWay says of a generate that made slot `s` and no manifest yet. */
const madeSlotOnly = (s: Located) =>
  `it made slot ${s.slot} on ${s.publisher} and has not written its manifest yet`;

/**
 * Drop the slot of a generate into `dir` interrupted before its manifest (interruptedIn), which
 * nothing can resume: what it was, or null when `dir` names no such slot. Throws when the slot
 * must be kept.
 */
export async function dropInterrupted(topology: Topology, dir: string): Promise<Located | null> {
  const s = interruptedIn(topology, dir);
  if (!s) return null;
  await refuseUnderWay(dir, madeSlotOnly(s));
  const kept = await dropUnusedSlot(topology, s);
  if (kept) {
    throw new SteepError(
      'snapshot.slot_exists',
      `a snapshot generate into ${dir} was interrupted before its manifest, and ${kept}; drop it, or generate into another directory`,
    );
  }
  return s;
}

/**
 * Drop the slot of snapshot `s`, whose files nothing will read (no manifest names it), unless a
 * subscription streams from it or it moved on; why it is kept, or null once it is gone.
 */
export async function dropUnusedSlot(topology: Topology, s: Located): Promise<string | null> {
  return withSession(
    nodeSession(topology, s.subscriber, 'steep snapshot generate'),
    async (sub) => (await dropSlot(topology, s, sub, s.dir, true, s.dir)).slotKept,
  );
}

/**
 * Remove a snapshot's files; its slot only with `allowDestroy`, and never while a subscription
 * streams from it; the subscriber's state records it deleted.
 */
export async function deleteSnapshot(
  topology: Topology,
  target: string,
  allowDestroy: boolean,
): Promise<DeleteResult> {
  const { s, m, interrupted } = await snapshotToDelete(topology, target);
  if (interrupted && allowDestroy) await refuseUnderWay(s.dir, madeSlotOnly(s));
  const sub = topology.nodes[s.subscriber]
    ? await nodeSession(topology, s.subscriber, 'steep snapshot delete')
    : null;
  try {
    const slot = await dropSlot(topology, s, sub, m || interrupted ? s.dir : null, allowDestroy, target);
    // what names the slot of an interrupted generate stays until the slot is dropped
    if (interrupted) return { id: s.id, dir: s.dir, filesRemoved: 0, ...slot, recorded: false };
    const names = m
      ? [
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
        ]
      : [];
    const removed = names.map((n) => join(s.dir, n)).filter((p) => existsSync(p));
    for (const p of removed) unlinkSync(p);
    let recorded = false;
    const store = new SnapshotStore(topology.settings.stateSchema, s.subscriber);
    if (sub && (await store.exists(sub))) {
      const { subscription, publisher: source, lsn } = s;
      await store.mark(sub, { subscription, source, slot: s.slot, lsn, path: resolve(s.dir) }, 'deleted');
      recorded = true;
    }
    return { id: s.id, dir: m ? s.dir : null, filesRemoved: removed.length, ...slot, recorded };
  } finally {
    await sub?.end().catch(() => {});
  }
}

/**
 * The holder keeping a snapshot while `file` is touched lets go: the file is made anew at its
 * path, which its holder takes for another run's (holderMain.ts), saying what it said, so the slot
 * it names stays named until that slot is gone.
 */
function letHolderGo(file: string): void {
  try {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, readFileSync(file));
    renameSync(tmp, file);
  } catch {
    // no file: no holder holds by it
  }
}

async function dropSlot(
  topology: Topology,
  s: Located,
  sub: pg.Client | null,
  dir: string | null,
  allowDestroy: boolean,
  target: string,
): Promise<Pick<DeleteResult, 'slotDropped' | 'slotKept' | 'statements'>> {
  const kept = (why: string) => ({ slotDropped: false, slotKept: why, statements: [] });
  if (!allowDestroy) {
    return kept(
      `slot ${s.slot} on ${s.publisher} is kept (it retains WAL until dropped); steep snapshot delete ${target} --allow-destroy drops it`,
    );
  }
  if (!topology.nodes[s.publisher])
    return kept(`node ${s.publisher} is not in steep.yaml, so slot ${s.slot} there is left`);
  if (sub) {
    const existing = await readSubscriptionSlot(sub, s.subscription);
    if (existing?.enabled && existing.slot === s.slot)
      return kept(
        `subscription ${s.subscription} on ${s.subscriber} streams from slot ${s.slot}: it is kept`,
      );
  }
  // let the holder go first: its connection is the slot's user while it holds the snapshot
  const holdFile = dir ? join(dir, HOLD_FILE) : null;
  if (holdFile) letHolderGo(holdFile);
  const gone = () => {
    // the slot it names is gone
    if (holdFile) rmSync(holdFile, { force: true });
  };
  const pub = await nodeSession(topology, s.publisher, 'steep snapshot delete');
  try {
    for (let i = 0; i < 20; i++) {
      const slot = await readSlotConfirmed(pub, s.slot);
      if (!slot) {
        gone();
        return { slotDropped: false, slotKept: null, statements: [] };
      }
      // a slot made for a snapshot stays at its consistent point until a subscription consumes it
      if (slot.confirmed && compareLsn(slot.confirmed, s.lsn) !== 0) {
        return kept(
          `slot ${s.slot} on ${s.publisher} has moved on from this snapshot (${s.lsn} → ${slot.confirmed}): it serves a subscription or a newer snapshot, so it is kept`,
        );
      }
      if (!slot.active) {
        const sql = dropSlotSql(s.slot);
        await pub.query(sql);
        gone();
        return { slotDropped: true, slotKept: null, statements: [{ node: s.publisher, sql }] };
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return kept(`slot ${s.slot} on ${s.publisher} is in use by another process: it is kept`);
  } finally {
    await pub.end().catch(() => {});
  }
}
