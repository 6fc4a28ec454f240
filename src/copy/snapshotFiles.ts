/**
 * `steep snapshot list` and `snapshot delete`: the snapshots in a directory and those the
 * subscribers' state records (`snapshots`, so one whose files are gone while its slot still
 * holds WAL is found), their slots, their removal; and the slot a generate interrupted before
 * its manifest left, named in the holder's heartbeat file.
 */
import {
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import { readSlotConfirmed } from '../catalog/slotHolder.js';
import { SteepError } from '../model/errors.js';
import { compareLsn, isLsn } from '../model/lsn.js';
import { THIS_DATABASE_OID } from '../model/sql.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import {
  type SnapshotIdentity,
  type SnapshotRecord,
  type SnapshotStatus,
  SnapshotStore,
  snapshotId,
} from '../state/snapshots.js';
import { chunkFileName, MANIFEST, type Manifest, readManifest, SCHEMA_FILE } from './manifest.js';
import { heartbeatStopped, readHeldSlot } from './snapshotHolder.js';
import { HOLD_FILE, session } from './twoPhase.js';

/** A snapshot and where its files are. */
export interface Located {
  /** `subscription@LSN`, what `snapshot delete` takes when the files are gone */
  id: string;
  subscription: string;
  publisher: string;
  subscriber: string;
  slot: string;
  lsn: string;
  /** the directory it was found in, or the one generate recorded */
  dir: string;
}

export interface SnapshotListing extends Located {
  /** its manifest.json is in `dir` on this machine */
  filesPresent: boolean;
  complete: boolean;
  /** null when neither the files nor a record say */
  bytes: number | null;
  createdAt: string;
  ageSeconds: number;
  /** what the subscriber's state records; null when it records nothing (or could not be asked) */
  status: SnapshotStatus | null;
  appliedAt: string | null;
  /** a generate into `dir` was interrupted before its manifest: only its slot was made */
  interrupted: boolean;
  /** null when the publisher could not be asked */
  slotExists: boolean | null;
  retainedWalBytes: number | null;
}

/** `dir` and its immediate subdirectories, where snapshots are looked for. */
function snapshotDirs(dir: string): string[] {
  if (!existsSync(dir)) throw new SteepError('snapshot.no_dir', `${dir} does not exist`);
  return [
    dir,
    ...readdirSync(dir)
      .map((n) => join(dir, n))
      .filter((p) => statSync(p).isDirectory()),
  ].sort();
}

function manifestAt(dir: string): Manifest | null {
  try {
    return existsSync(dir) ? readManifest(dir) : null;
  } catch {
    return null;
  }
}

/** Every snapshot the state of `nodes` records (a node that cannot be asked records nothing here). */
async function recordedOn(topology: Topology, nodes: Iterable<string>): Promise<SnapshotRecord[]> {
  const out: SnapshotRecord[] = [];
  for (const node of [...new Set(nodes)].sort()) {
    if (!topology.nodes[node]) continue;
    const c = await session(topology, node, 'steep snapshot list').catch(() => null);
    if (!c) continue;
    try {
      const store = new SnapshotStore(topology.settings.stateSchema, node);
      if (await store.exists(c)) out.push(...(await store.all(c)));
    } finally {
      await c.end().catch(() => {});
    }
  }
  return out;
}

/** The subscribers of the topology's two-phase subscriptions. */
function twoPhaseSubscribers(topology: Topology): string[] {
  return Object.values(topology.subscriptions)
    .filter((d) => d.init.method === 'two-phase')
    .map((d) => d.node);
}

/** Per slot on `publisher`, the WAL it retains (null: the publisher could not be asked). */
async function slotsOn(
  topology: Topology,
  publisher: string,
  slots: string[],
): Promise<Map<string, number | null> | null> {
  if (!topology.nodes[publisher]) return null;
  const c = await session(topology, publisher, 'steep snapshot list').catch(() => null);
  if (!c) return null;
  try {
    const { rows } = await c.query<{ slot_name: string; retained: string | null }>(
      `SELECT slot_name, pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::text AS retained
         FROM pg_catalog.pg_replication_slots WHERE slot_name = ANY($1::text[])`,
      [slots],
    );
    return new Map(rows.map((r) => [r.slot_name, r.retained === null ? null : Number(r.retained)]));
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * The snapshots in `dir` (and its immediate subdirectories) and every snapshot the state of
 * the two-phase subscriptions' subscribers records, once each, with the record's status.
 */
export async function listSnapshots(topology: Topology, dir: string | null): Promise<SnapshotListing[]> {
  const found: Array<{ dir: string; m: Manifest }> = [];
  // generates interrupted before their manifest: only their slot is there
  const interrupted: Located[] = [];
  for (const p of dir === null ? [] : snapshotDirs(dir)) {
    const m = manifestAt(p);
    const s = m ? null : interruptedOrUnknown(topology, p);
    if (m) found.push({ dir: p, m });
    else if (s) interrupted.push(s);
  }
  const records = await recordedOn(topology, [
    ...twoPhaseSubscribers(topology),
    ...found.map((f) => f.m.subscriber),
  ]);
  const byId = new Map(records.map((r) => [r.id, r]));
  const out: Array<Omit<SnapshotListing, 'slotExists' | 'retainedWalBytes' | 'ageSeconds'>> = [];
  for (const { dir: p, m } of found) {
    const s = locatedAt(m, p);
    const r = byId.get(s.id);
    byId.delete(s.id);
    out.push({
      ...s,
      filesPresent: true,
      complete: m.completedAt !== null,
      bytes: m.tables.flatMap((t) => t.files).reduce((n, f) => n + (f.bytes ?? 0), 0),
      createdAt: m.createdAt,
      status: r?.status ?? null,
      appliedAt: r?.appliedAt ?? null,
      interrupted: false,
    });
  }
  for (const s of interrupted) {
    out.push({
      ...s,
      filesPresent: false,
      complete: false,
      bytes: null,
      createdAt: statSync(join(s.dir, HOLD_FILE)).birthtime.toISOString(),
      status: null,
      appliedAt: null,
      interrupted: true,
    });
  }
  for (const r of byId.values()) {
    const { s, m } = fromRecord(r);
    out.push({
      ...s,
      filesPresent: m !== null,
      complete: m ? m.completedAt !== null : r.status !== 'generating',
      bytes: r.bytes,
      createdAt: r.createdAt,
      status: r.status,
      appliedAt: r.appliedAt,
      interrupted: false,
    });
  }
  const slots = new Map<string, Map<string, number | null> | null>();
  for (const p of new Set(out.map((s) => s.publisher)))
    slots.set(
      p,
      await slotsOn(
        topology,
        p,
        out.filter((s) => s.publisher === p).map((s) => s.slot),
      ),
    );
  return out.map((s) => {
    const on = slots.get(s.publisher);
    return {
      ...s,
      ageSeconds: Math.round((Date.now() - Date.parse(s.createdAt)) / 1000),
      slotExists: on ? on.has(s.slot) : null,
      retainedWalBytes: on?.get(s.slot) ?? null,
    };
  });
}

function locatedAt(m: Manifest, dir: string): Located {
  return {
    id: snapshotId(m.subscription, m.lsn),
    subscription: m.subscription,
    publisher: m.publisher,
    subscriber: m.subscriber,
    slot: m.slot,
    lsn: m.lsn,
    dir,
  };
}

/** A recorded snapshot, with its manifest when its files are at the recorded path on this machine. */
function fromRecord(r: SnapshotRecord): { s: Located; m: Manifest | null } {
  const m = manifestAt(r.path);
  const s: Located = {
    id: r.id,
    subscription: r.subscription,
    publisher: r.source,
    subscriber: r.node,
    slot: r.slot,
    lsn: r.lsn,
    dir: r.path,
  };
  return { s, m: m !== null && snapshotId(m.subscription, m.lsn) === r.id ? m : null };
}

export interface DeleteResult {
  id: string;
  /** null when the snapshot was named by its id and its files are not here */
  dir: string | null;
  filesRemoved: number;
  slotDropped: boolean;
  /** why the slot was kept */
  slotKept: string | null;
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
 * The slot a generate into `dir` made and was interrupted before any manifest named it (in the
 * holder's heartbeat file, readHeldSlot), as the snapshot it was to be; null when none is named.
 */
function interruptedIn(topology: Topology, dir: string): Located | null {
  const held = readHeldSlot(join(dir, HOLD_FILE));
  if (!held) return null;
  const d = Object.values(topology.subscriptions).find((x) => x.from === held.node && x.slot === held.slot);
  if (!d) {
    throw new SteepError(
      'snapshot.unknown_slot',
      `${dir} holds no ${MANIFEST} but the slot of a snapshot generate interrupted before writing it, ${held.slot} on ${held.node}, ` +
        `which no subscription of steep.yaml uses: SELECT pg_catalog.pg_drop_replication_slot('${held.slot}') on ${held.node} drops it; ` +
        `then remove ${join(dir, HOLD_FILE)}`,
    );
  }
  return snapshotOf(d, held.lsn, dir);
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

/** The snapshot of `d` at `lsn` (its slot's consistent point), its files in `dir`. */
export function snapshotOf(d: SubscriptionSpec, lsn: string, dir: string): Located {
  return {
    id: snapshotId(d.name, lsn),
    subscription: d.name,
    publisher: d.from,
    subscriber: d.node,
    slot: d.slot,
    lsn,
    dir,
  };
}

/** interruptedIn, or null where the slot it names is no subscription's of steep.yaml (delete says so). */
function interruptedOrUnknown(topology: Topology, dir: string): Located | null {
  try {
    return interruptedIn(topology, dir);
  } catch {
    return null;
  }
}

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
  const sub = await session(topology, s.subscriber, 'steep snapshot generate');
  try {
    return (await dropSlot(topology, s, sub, s.dir, true, s.dir)).slotKept;
  } finally {
    await sub.end().catch(() => {});
  }
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
    ? await session(topology, s.subscriber, 'steep snapshot delete')
    : null;
  try {
    const slot = await dropSlot(topology, s, sub, m || interrupted ? s.dir : null, allowDestroy, target);
    // what names the slot of an interrupted generate stays until the slot is dropped
    if (interrupted) return { id: s.id, dir: s.dir, filesRemoved: 0, ...slot, recorded: false };
    let removed = 0;
    if (m) {
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
        const p = join(s.dir, n);
        if (existsSync(p)) {
          unlinkSync(p);
          removed += 1;
        }
      }
    }
    let recorded = false;
    const store = new SnapshotStore(topology.settings.stateSchema, s.subscriber);
    if (sub && (await store.exists(sub))) {
      const identity: SnapshotIdentity = {
        subscription: s.subscription,
        source: s.publisher,
        slot: s.slot,
        lsn: s.lsn,
        path: resolve(s.dir),
      };
      await store.mark(sub, identity, 'deleted');
      recorded = true;
    }
    return { id: s.id, dir: m ? s.dir : null, filesRemoved: removed, ...slot, recorded };
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
): Promise<{ slotDropped: boolean; slotKept: string | null }> {
  if (!allowDestroy) {
    return {
      slotDropped: false,
      slotKept: `slot ${s.slot} on ${s.publisher} is kept (it retains WAL until dropped); steep snapshot delete ${target} --allow-destroy drops it`,
    };
  }
  if (!topology.nodes[s.publisher]) {
    return {
      slotDropped: false,
      slotKept: `node ${s.publisher} is not in steep.yaml, so slot ${s.slot} there is left`,
    };
  }
  if (sub) {
    const { rows } = await sub.query<{ enabled: boolean }>(
      `SELECT subenabled AS enabled FROM pg_catalog.pg_subscription WHERE subname = $1 AND subslotname = $2
         AND subdbid = ${THIS_DATABASE_OID}`,
      [s.subscription, s.slot],
    );
    if (rows[0]?.enabled) {
      return {
        slotDropped: false,
        slotKept: `subscription ${s.subscription} on ${s.subscriber} streams from slot ${s.slot}: it is kept`,
      };
    }
  }
  // let the holder go first: its connection is the slot's user while it holds the snapshot
  const holdFile = dir ? join(dir, HOLD_FILE) : null;
  if (holdFile) letHolderGo(holdFile);
  const gone = () => {
    // the slot it names is gone
    if (holdFile) rmSync(holdFile, { force: true });
  };
  const pub = await session(topology, s.publisher, 'steep snapshot delete');
  try {
    for (let i = 0; i < 20; i++) {
      const slot = await readSlotConfirmed(pub, s.slot);
      if (!slot) {
        gone();
        return { slotDropped: false, slotKept: null };
      }
      // a slot made for a snapshot stays at its consistent point until a subscription consumes it
      if (slot.confirmed && compareLsn(slot.confirmed, s.lsn) !== 0) {
        return {
          slotDropped: false,
          slotKept: `slot ${s.slot} on ${s.publisher} has moved on from this snapshot (${s.lsn} → ${slot.confirmed}): it serves a subscription or a newer snapshot, so it is kept`,
        };
      }
      if (!slot.active) {
        await pub.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [s.slot]);
        gone();
        return { slotDropped: true, slotKept: null };
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return {
      slotDropped: false,
      slotKept: `slot ${s.slot} on ${s.publisher} is in use by another process: it is kept`,
    };
  } finally {
    await pub.end().catch(() => {});
  }
}
