/**
 * Where snapshots are: `steep snapshot list` finds those in a directory and those the
 * subscribers' state records (`snapshots`, so one whose files are gone while its slot still
 * holds WAL is found), with their slots; and the slot a generate interrupted before its
 * manifest left, named in the holder's heartbeat file.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { readSlotRetention } from '../catalog/slotHolder.js';
import { nodeSession, withSession } from '../db/connect.js';
import { SteepError } from '../model/errors.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { dropSlotSql } from '../planner/sqlBuild.js';
import { type SnapshotRecord, type SnapshotStatus, SnapshotStore, snapshotId } from '../state/snapshots.js';
import { MANIFEST, type Manifest, manifestTotals, readManifest } from './manifest.js';
import { readHeldSlot } from './snapshotHolder.js';
import { HOLD_FILE } from './twoPhase.js';

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

export function manifestAt(dir: string): Manifest | null {
  try {
    return existsSync(dir) ? readManifest(dir) : null;
  } catch {
    return null;
  }
}

/** `fn` on a session of `node`; null when steep.yaml has no such node or it cannot be reached. */
async function onNode<T>(
  topology: Topology,
  node: string,
  fn: (c: pg.Client) => Promise<T>,
): Promise<T | null> {
  if (!topology.nodes[node]) return null;
  const c = await nodeSession(topology, node, 'steep snapshot list').catch(() => null);
  return c && withSession(Promise.resolve(c), fn);
}

/** Every snapshot the state of `nodes` records (a node that cannot be asked records nothing here). */
export async function recordedOn(topology: Topology, nodes: Iterable<string>): Promise<SnapshotRecord[]> {
  const out: SnapshotRecord[] = [];
  for (const node of [...new Set(nodes)].sort()) {
    const store = new SnapshotStore(topology.settings.stateSchema, node);
    const records = await onNode(topology, node, async (c) => ((await store.exists(c)) ? store.all(c) : []));
    out.push(...(records ?? []));
  }
  return out;
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
    ...Object.values(topology.subscriptions)
      .filter((d) => d.init.method === 'two-phase')
      .map((d) => d.node),
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
      bytes: manifestTotals(m).bytes,
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
  // per publisher, the WAL each slot retains (null: the publisher could not be asked)
  const slots = new Map<string, Map<string, number | null> | null>();
  for (const p of new Set(out.map((s) => s.publisher))) {
    const names = out.filter((s) => s.publisher === p).map((s) => s.slot);
    slots.set(p, await onNode(topology, p, (c) => readSlotRetention(c, names)));
  }
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

/** The snapshot with these fields, its files in `dir`; its id from subscription and LSN unless given. */
export function locatedAt(
  m: Pick<Located, 'subscription' | 'publisher' | 'subscriber' | 'slot' | 'lsn'>,
  dir: string,
  id = snapshotId(m.subscription, m.lsn),
): Located {
  const { subscription, publisher, subscriber, slot, lsn } = m;
  return { id, subscription, publisher, subscriber, slot, lsn, dir };
}

/** A recorded snapshot, with its manifest when its files are at the recorded path on this machine. */
export function fromRecord(r: SnapshotRecord): { s: Located; m: Manifest | null } {
  const m = manifestAt(r.path);
  const s = locatedAt(
    { subscription: r.subscription, publisher: r.source, subscriber: r.node, slot: r.slot, lsn: r.lsn },
    r.path,
    r.id,
  );
  return { s, m: m !== null && snapshotId(m.subscription, m.lsn) === r.id ? m : null };
}

/**
 * The slot a generate into `dir` made and was interrupted before any manifest named it (in the
 * holder's heartbeat file, readHeldSlot), as the snapshot it was to be; null when none is named.
 */
export function interruptedIn(topology: Topology, dir: string): Located | null {
  const held = readHeldSlot(join(dir, HOLD_FILE));
  if (!held) return null;
  const d = Object.values(topology.subscriptions).find((x) => x.from === held.node && x.slot === held.slot);
  if (!d) {
    throw new SteepError(
      'snapshot.unknown_slot',
      `${dir} holds no ${MANIFEST} but the slot of a snapshot generate interrupted before writing it, ${held.slot} on ${held.node}, ` +
        `which no subscription of steep.yaml uses: ${dropSlotSql(held.slot)} on ${held.node} drops it; ` +
        `then remove ${join(dir, HOLD_FILE)}`,
    );
  }
  return snapshotOf(d, held.lsn, dir);
}

/** The snapshot of `d` at `lsn` (its slot's consistent point), its files in `dir`. */
export function snapshotOf(d: SubscriptionSpec, lsn: string, dir: string): Located {
  return locatedAt({ subscription: d.name, publisher: d.from, subscriber: d.node, slot: d.slot, lsn }, dir);
}

/** interruptedIn, or null where the slot it names is no subscription's of steep.yaml (delete says so). */
function interruptedOrUnknown(topology: Topology, dir: string): Located | null {
  try {
    return interruptedIn(topology, dir);
  } catch {
    return null;
  }
}
