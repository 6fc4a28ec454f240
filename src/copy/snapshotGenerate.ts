/**
 * `steep snapshot generate` (SPEC §9): the subscription's slot created by a snapshot holder,
 * every published table copied at its exported snapshot into files (big tables in key ranges),
 * `manifest.json`, `schema.sql` and the sequences' values; an interrupted run resumes at the
 * same snapshot, keeping the files whose checksum matches. A run that fails before its manifest
 * names the slot drops it; a run interrupted then leaves the slot named in the holder's heartbeat
 * file, and its rerun drops it before it starts anew.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { CopySourceTable } from '../catalog/copySource.js';
import { serverVersionOf } from '../catalog/session.js';
import { readSlotHolder } from '../catalog/slotHolder.js';
import { mask } from '../db/mask.js';
import type { Stop } from '../executors/events.js';
import { SNAPSHOT_HOLDER_APPLICATION_NAME } from '../executors/preparedSlot.js';
import { SteepError } from '../model/errors.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { dropSlotSql } from '../planner/sqlBuild.js';
import { copyPlannedEvent } from './copyProgress.js';
import {
  type Chunk,
  type ChunkResult,
  closeSessions,
  openSnapshotSessions,
  runCopy,
  snapshotHeld,
} from './engine.js';
import { FileSink, filesIntact, MANIFEST, type Manifest, readManifest, writeManifest } from './manifest.js';
import { dropInterrupted, dropUnusedSlot, refuseUnderWay } from './snapshotDelete.js';
import { newManifest } from './snapshotDescribe.js';
import { Heartbeat, HolderProcess } from './snapshotHolder.js';
import { snapshotOf } from './snapshotListing.js';
import { SnapshotLog } from './snapshotRecords.js';
import {
  checkSameSubscription,
  HOLD_FILE,
  record,
  type SnapshotOptions,
  session,
  where,
} from './twoPhase.js';

export interface GenerateResult {
  dir: string;
  subscription: string;
  slot: string;
  lsn: string;
  tables: number;
  files: number;
  /** files of an interrupted generate kept because their checksum matched */
  kept: number;
  rows: number;
  bytes: number;
  resumed: boolean;
  /** the files' compression: a resumed snapshot keeps the one it was started with */
  compress: 'gzip' | 'none';
  /** what was dropped first: the slot of a generate into the directory interrupted before its manifest */
  dropped: string | null;
}

/**
 * A new snapshot's holder, started now, before steep loads its config (Node and pg load in it
 * meanwhile); null when `dir` holds an interrupted snapshot, which resumes with the holder it
 * has. generateSnapshot hands it its request or lets it go; whoever takes one lets it go
 * (`discard`) when generate never runs.
 */
export function holderAhead(dir: string): HolderProcess | null {
  return existsSync(join(dir, MANIFEST)) ? null : new HolderProcess();
}

export async function generateSnapshot(
  topology: Topology,
  d: SubscriptionSpec,
  opts: SnapshotOptions & {
    dir: string;
    compress?: 'gzip' | 'none';
    parallel?: number;
    /** from holderAhead(dir) */
    holder?: HolderProcess | null;
    /** armed while the slot is made (a signal then cancels it); a signal at any other time exits at once */
    stop?: Stop;
  },
): Promise<GenerateResult> {
  const dir = opts.dir;
  mkdirSync(dir, { recursive: true });
  const parallel = opts.parallel ?? d.init.parallel;
  const source = {
    node: d.from,
    connection: topology.nodes[d.from]!.connection,
    connectTimeoutMs: topology.settings.connectTimeout,
  };
  let m = readManifest(dir);
  // a new snapshot needs a holder: it loads while steep connects and reads the catalogs
  const holder = m ? null : (opts.holder ?? new HolderProcess());
  const [pub, sub] = await bothSessions(topology, d).catch((err: unknown) => {
    holder?.discard();
    throw err;
  });
  let heartbeat: Heartbeat | null = null;
  let sink: FileSink | null = null;
  let done = false;
  let opened: Array<Promise<pg.Client>> = [];
  /** says which slot a generate into `dir` interrupted before its manifest left, dropped now */
  let dropped: string | null = null;
  try {
    sink = new FileSink(dir, m?.compress ?? opts.compress ?? 'none', m?.completedAt ? 0 : parallel);
    const log = await SnapshotLog.open(sub, topology, d);
    let kept = 0;
    const resumed = m !== null;
    if (m) {
      checkSameSubscription(m, topology, d, dir);
      if (m.completedAt) {
        await log.mark(m, dir, 'generated');
        return summary(dir, m, m.tables.flatMap((t) => t.files).length, true, null);
      }
      await refuseUnderWay(dir, `slot ${m.slot} at ${m.lsn}`, where(d));
      heartbeat = new Heartbeat(join(dir, HOLD_FILE));
      if (!(await snapshotHeld({ ...source, snapshot: m.snapshot }))) {
        heartbeat.stop(false);
        heartbeat = null;
        throw new SteepError(
          'snapshot.lost',
          `the interrupted snapshot in ${dir} (slot ${m.slot} on ${d.from} at ${m.lsn}) is no longer held, so the files still missing ` +
            `cannot be copied at the same point; run steep snapshot delete ${dir} --allow-destroy, then generate again`,
          where(d),
        );
      }
      for (const [f, problem] of await filesIntact(
        dir,
        m.tables.flatMap((t) => t.files),
        parallel,
      )) {
        if (problem === null) kept += 1;
        else Object.assign(f, { file: null, rows: null, bytes: null, sha256: null });
      }
      writeManifest(dir, m);
    } else {
      const left = await dropInterrupted(topology, dir);
      if (left) {
        dropped = `dropped slot ${left.slot} on ${left.publisher} (at ${left.lsn}: ${dropSlotSql(left.slot)}), made by a generate into ${dir} interrupted before its manifest`;
        opts.onEvent({
          event: 'init.state_change',
          level: 'warn',
          node: left.publisher,
          subscription: d.name,
          phase: 'preparing',
          message: dropped,
        });
      }
      const taken = await readSlotHolder(pub, d.slot);
      if (taken?.pid != null && taken.applicationName === SNAPSHOT_HOLDER_APPLICATION_NAME) {
        throw new SteepError(
          'snapshot.slot_exists',
          `slot ${d.slot} is being made on ${d.from} by a snapshot holder (process ${taken.pid} there), which waits for the transactions running on ${d.from} to end: ` +
            `a generate interrupted meanwhile, or another one under way; once it is made, a generate into the directory the interrupted one wrote to drops it and starts anew`,
          where(d),
        );
      }
      if (taken) {
        throw new SteepError(
          'snapshot.slot_exists',
          `slot ${d.slot} already exists on ${d.from}: a snapshot of ${d.name} was generated elsewhere (steep snapshot list DIR), ` +
            `or the slot is left from an earlier attempt; steep snapshot delete DIR --allow-destroy removes a snapshot and its slot, ` +
            `and ${dropSlotSql(d.slot)} on ${d.from} a slot no snapshot lists`,
          where(d),
        );
      }
      const [pubVersion, subVersion] = await Promise.all([serverVersionOf(pub), serverVersionOf(sub)]);
      // a signal while the slot waits for the publisher's open transactions cancels the wait
      opts.stop?.arm();
      const held = await holder!
        .start(
          { ...source, serverVersion: pubVersion, slot: d.slot, heartbeatFile: join(dir, HOLD_FILE) },
          opts.stop && { signal: opts.stop.signal, canceller: pub },
        )
        .catch((err: unknown) => {
          throw opts.stop?.signal.aborted ? interrupted(d, false) : err;
        })
        .finally(() => opts.stop?.disarm());
      heartbeat = held.heartbeat;
      try {
        if (opts.stop?.signal.aborted) throw interrupted(d, true);
        // the copy's sessions open at the snapshot while the reader reads the catalogs there
        opened = openSnapshotSessions({ ...source, snapshot: held.snapshot }, parallel, !sink.framed);
        try {
          m = await newManifest(pub, sub, {
            topology,
            d,
            dir,
            held,
            versions: [pubVersion, subVersion],
            parallel,
            compress: sink.compress,
          });
        } finally {
          // the snapshot's transaction on the publisher's session ends (one that failed rolls back)
          await pub.query('COMMIT').catch(() => {});
        }
        writeManifest(dir, m);
      } catch (err) {
        // no manifest names the slot yet, nothing could resume it: the holder's file names it
        // until it is dropped
        heartbeat.stop(false);
        heartbeat = null;
        await closeSessions(opened);
        throw await withoutSlot(topology, d, dir, held.lsn, err);
      }
      await record(sub, topology, d, 'preparing', opts.onEvent).catch(() => {});
      await log.mark(m, dir, 'generating');
    }

    const manifest = m;
    const todo: Chunk[] = [];
    for (const t of manifest.tables) {
      const table: CopySourceTable = { ...t, estimatedBytes: 0, estimatedRows: 0, partitioned: false };
      for (const f of t.files)
        if (!f.sha256)
          todo.push({
            table,
            index: f.chunk,
            lower: f.lower,
            upper: f.upper,
            estimatedBytes: f.estimatedBytes,
          });
    }
    opts.onEvent(
      copyPlannedEvent(
        d.from,
        d.name,
        `${resumed ? `resuming snapshot generate in ${dir}: ${kept} files kept, ` : `snapshot of ${d.name} in ${dir}: `}${todo.length} files to write on ${parallel} sessions (${manifest.format}, slot ${manifest.slot} at ${manifest.lsn})`,
      ),
    );
    await runCopy({
      ...source,
      snapshot: manifest.snapshot,
      parallel,
      binary: manifest.format === 'binary',
      chunks: todo,
      sink,
      opened,
      onChunk: (c: Chunk, r: ChunkResult) => {
        const t = manifest.tables.find((x) => x.schema === c.table.schema && x.name === c.table.name)!;
        const f = t.files.find((x) => x.chunk === c.index)!;
        Object.assign(f, { file: r.file, rows: r.rows, bytes: r.bytes, sha256: r.sha256 });
        writeManifest(dir, manifest);
      },
    });
    manifest.completedAt = new Date().toISOString();
    writeManifest(dir, manifest);
    await log.mark(manifest, dir, 'generated');
    done = true;
    return summary(dir, manifest, kept, resumed, dropped);
  } finally {
    await closeSessions(opened);
    holder?.discard();
    heartbeat?.stop(done);
    await sink?.release();
    await pub.end().catch(() => {});
    await sub.end().catch(() => {});
  }
}

/**
 * `err`, once the slot generate created for a snapshot it could not describe is dropped; or,
 * when it cannot be, `err` saying the slot is left and how to drop it.
 */
async function withoutSlot(
  topology: Topology,
  d: SubscriptionSpec,
  dir: string,
  lsn: string,
  err: unknown,
): Promise<unknown> {
  const kept = await dropUnusedSlot(topology, snapshotOf(d, lsn, dir)).catch((dropErr: unknown) =>
    mask(dropErr instanceof Error ? dropErr.message : String(dropErr)),
  );
  if (kept === null) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SteepError(
    err instanceof SteepError ? err.code : 'snapshot.slot_left',
    `${message}; slot ${d.slot} it created on ${d.from} is left (${kept}): it retains WAL until a generate into ${dir} drops it, ` +
      `or ${dropSlotSql(d.slot)} on ${d.from}`,
    { ...where(d), cause: err },
  );
}

/** A signal stopped generate as it made the slot (`made`: made it all the same, then dropped it). */
function interrupted(d: SubscriptionSpec, made: boolean): SteepError {
  return new SteepError(
    'snapshot.interrupted',
    made
      ? `snapshot generate of ${d.name} stopped as slot ${d.slot} was made on ${d.from}: the slot is dropped, nothing else was changed`
      : `snapshot generate of ${d.name} stopped while slot ${d.slot} waited for the transactions open on ${d.from} to end: no slot was made, nothing was changed`,
    where(d),
  );
}

/** The publisher's and the subscriber's sessions, connected side by side (neither left open when the other fails). */
async function bothSessions(topology: Topology, d: SubscriptionSpec): Promise<[pg.Client, pg.Client]> {
  const [pub, sub] = await Promise.allSettled([
    // pipelined: the catalog reads at the snapshot go out back to back (newManifest)
    session(topology, d.from, 'steep snapshot generate', { pipeline: true }),
    session(topology, d.node, 'steep snapshot generate'),
  ]);
  if (pub.status === 'fulfilled' && sub.status === 'fulfilled') return [pub.value, sub.value];
  for (const r of [pub, sub]) if (r.status === 'fulfilled') await r.value.end().catch(() => {});
  throw pub.status === 'rejected' ? pub.reason : (sub as PromiseRejectedResult).reason;
}

function summary(
  dir: string,
  m: Manifest,
  kept: number,
  resumed: boolean,
  dropped: string | null,
): GenerateResult {
  const files = m.tables.flatMap((t) => t.files);
  return {
    dir,
    subscription: m.subscription,
    slot: m.slot,
    lsn: m.lsn,
    tables: m.tables.length,
    files: files.length,
    kept,
    rows: files.reduce((n, f) => n + (f.rows ?? 0), 0),
    bytes: files.reduce((n, f) => n + (f.bytes ?? 0), 0),
    resumed,
    compress: m.compress,
    dropped,
  };
}
