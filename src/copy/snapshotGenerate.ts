/**
 * `steep snapshot generate` (docs/steep-yaml.md): the subscription's slot created by a snapshot holder,
 * every published table copied at its exported snapshot into files (big tables in key ranges),
 * `manifest.json`, `schema.sql` and the sequences' values; an interrupted run resumes at the
 * same snapshot, keeping the files whose checksum matches. A run that fails before its manifest
 * names the slot drops it; a run interrupted then leaves the slot named in the holder's heartbeat
 * file, and its rerun drops it before it starts anew.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { serverVersionOf } from '../catalog/session.js';
import { readSlotHolder } from '../catalog/slotHolder.js';
import { mask } from '../db/mask.js';
import type { EventSink, Stop } from '../executors/events.js';
import { SNAPSHOT_HOLDER_APPLICATION_NAME } from '../executors/preparedSlot.js';
import { settableSequences } from '../executors/sequenceSync.js';
import { SteepError } from '../model/errors.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { failoverSlot } from '../planner/failover/failover.js';
import { dropSlotSql } from '../planner/sqlBuild.js';
import { copyPlannedEvent } from './copyProgress.js';
import { type CopySource, closeSessions, openSnapshotSessions, runCopy, snapshotHeld } from './engine.js';
import {
  FileSink,
  fileChunk,
  filesIntact,
  type Manifest,
  manifestTotals,
  readManifest,
  writeManifest,
} from './manifest.js';
import { dropInterrupted, dropUnusedSlot, refuseUnderWay } from './snapshotDelete.js';
import { newManifest } from './snapshotDescribe.js';
import { Heartbeat, startHolder } from './snapshotHolder.js';
import { snapshotOf } from './snapshotListing.js';
import { SnapshotLog } from './snapshotRecords.js';
import { bothSessions, checkSameSubscription, HOLD_FILE, record, where } from './twoPhase.js';

export interface GenerateOptions {
  onEvent: EventSink;
  dir: string;
  compress?: 'gzip' | 'none';
  parallel?: number;
  /** armed while the slot is made (a signal then cancels it); a signal at any other time exits at once */
  stop?: Stop;
}

/** One generate: what its parts share, and what they took that it releases at its end. */
export interface Run {
  topology: Topology;
  d: SubscriptionSpec;
  dir: string;
  parallel: number;
  source: CopySource;
  pub: pg.Client;
  sub: pg.Client;
  sink: FileSink;
  heartbeat: Heartbeat | null;
  /** the copy's sessions, opened at the new snapshot while its catalogs are read */
  opened: Array<Promise<pg.Client>>;
}

export async function generateSnapshot(topology: Topology, d: SubscriptionSpec, opts: GenerateOptions) {
  const dir = opts.dir;
  mkdirSync(dir, { recursive: true });
  const parallel = opts.parallel ?? d.init.parallel;
  const m = readManifest(dir);
  // pipelined: the catalog reads at the snapshot go out back to back (newManifest)
  const [pub, sub] = await bothSessions(topology, d, 'steep snapshot generate', { pipeline: true });
  const source = {
    node: d.from,
    connection: topology.nodes[d.from]!.connection,
    connectTimeoutMs: topology.settings.connectTimeout,
  };
  const sink = new FileSink(dir, m?.compress ?? opts.compress ?? 'none');
  const run: Run = { topology, d, dir, parallel, source, pub, sub, sink, heartbeat: null, opened: [] };
  let done = false;
  try {
    const log = await SnapshotLog.open(sub, topology, d);
    if (m) checkSameSubscription(m, topology, d, dir);
    if (m?.completedAt) {
      await log.mark(m, dir, 'generated');
      return summary(dir, m, manifestTotals(m).files.length, true, null);
    }
    let manifest: Manifest;
    let kept = 0;
    /** says which slot a generate into `dir` interrupted before its manifest left, dropped now */
    let dropped: string | null = null;
    if (m) {
      manifest = m;
      kept = await keepIntactFiles(run, m);
    } else {
      dropped = await dropInterruptedSlot(run, opts.onEvent);
      manifest = await startSnapshot(run, opts);
      await record(sub, topology, d, 'preparing', opts.onEvent).catch(() => {});
      await log.mark(manifest, dir, 'generating');
    }
    await writeFiles(
      run,
      manifest,
      m ? `resuming snapshot generate in ${dir}: ${kept} files kept, ` : null,
      opts,
    );
    manifest.completedAt = new Date().toISOString();
    writeManifest(dir, manifest);
    await log.mark(manifest, dir, 'generated');
    done = true;
    return summary(dir, manifest, kept, m !== null, dropped);
  } finally {
    await closeSessions(run.opened);
    run.heartbeat?.stop(done);
    await pub.end().catch(() => {});
    await sub.end().catch(() => {});
  }
}

/**
 * An interrupted generate resumes at its snapshot while that is held: the files whose checksum
 * matches are kept, the others are written again. Returns how many are kept.
 */
async function keepIntactFiles(run: Run, m: Manifest): Promise<number> {
  const { d, dir } = run;
  await refuseUnderWay(dir, `slot ${m.slot} at ${m.lsn}`, where(d));
  run.heartbeat = new Heartbeat(join(dir, HOLD_FILE));
  if (!(await snapshotHeld({ ...run.source, snapshot: m.snapshot }))) {
    run.heartbeat.stop(false);
    run.heartbeat = null;
    throw new SteepError(
      'snapshot.lost',
      `the interrupted snapshot in ${dir} (slot ${m.slot} on ${d.from} at ${m.lsn}) is no longer held, so the files still missing ` +
        `cannot be copied at the same point; run steep snapshot delete ${dir} --allow-destroy, then generate again`,
      where(d),
    );
  }
  let kept = 0;
  for (const [f, problem] of await filesIntact(dir, manifestTotals(m).files)) {
    if (problem === null) kept += 1;
    else Object.assign(f, { file: null, rows: null, bytes: null, sha256: null });
  }
  writeManifest(dir, m);
  return kept;
}

/** Drops the slot of a generate into the directory interrupted before its manifest; says what it dropped. */
async function dropInterruptedSlot(run: Run, onEvent: EventSink): Promise<string | null> {
  const left = await dropInterrupted(run.topology, run.dir);
  if (!left) return null;
  const dropped = `dropped slot ${left.slot} on ${left.publisher} (at ${left.lsn}: ${dropSlotSql(left.slot)}), made by a generate into ${run.dir} interrupted before its manifest`;
  onEvent({
    event: 'init.state_change',
    level: 'warn',
    node: left.publisher,
    subscription: run.d.name,
    phase: 'preparing',
    message: dropped,
  });
  return dropped;
}

/**
 * A new snapshot: the holder makes the slot (refused when the slot exists), the catalogs are
 * read at its snapshot into the manifest. Anything failing before the manifest is written drops
 * the slot again.
 */
async function startSnapshot(run: Run, opts: GenerateOptions): Promise<Manifest> {
  const { topology, d, dir, parallel, pub, sub } = run;
  await refuseTakenSlot(pub, d);
  const [pubVersion, subVersion] = await Promise.all([serverVersionOf(pub), serverVersionOf(sub)]);
  // the manifest holds the sequences' values, which snapshot apply sets: refused before the slot
  const sequences = await settableSequences(
    run,
    d,
    pubVersion,
    'the snapshot',
    'no slot was made',
    topology.settings.stateSchema,
  );
  // a signal while the slot waits for the publisher's open transactions cancels the wait
  opts.stop?.arm();
  const held = await startHolder(
    {
      ...run.source,
      serverVersion: pubVersion,
      slot: d.slot,
      failover: failoverSlot(topology, d, pubVersion, subVersion),
      heartbeatFile: join(dir, HOLD_FILE),
    },
    opts.stop && { signal: opts.stop.signal, canceller: pub },
  )
    .catch((err: unknown) => {
      throw opts.stop?.signal.aborted ? interrupted(d, false) : err;
    })
    .finally(() => opts.stop?.disarm());
  run.heartbeat = held.heartbeat;
  try {
    if (opts.stop?.signal.aborted) throw interrupted(d, true);
    // the copy's sessions open at the snapshot while the reader reads the catalogs there
    run.opened = openSnapshotSessions({ ...run.source, snapshot: held.snapshot }, parallel);
    let m: Manifest;
    try {
      m = await newManifest(run, held, sequences, [pubVersion, subVersion]);
    } finally {
      // the snapshot's transaction on the publisher's session ends (one that failed rolls back)
      await pub.query('COMMIT').catch(() => {});
    }
    writeManifest(dir, m);
    return m;
  } catch (err) {
    // no manifest names the slot yet, nothing could resume it: the holder's file names it
    // until it is dropped
    run.heartbeat.stop(false);
    run.heartbeat = null;
    await closeSessions(run.opened);
    throw await withoutSlot(run, held.lsn, err);
  }
}

/** The subscription's slot exists already (or is being made): a new snapshot cannot take its name. */
async function refuseTakenSlot(pub: pg.Client, d: SubscriptionSpec): Promise<void> {
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
}

/** Writes the manifest's files not yet written, recording each in the manifest as it is done. */
async function writeFiles(run: Run, manifest: Manifest, resuming: string | null, opts: GenerateOptions) {
  const { d, dir, parallel, sink } = run;
  const todo = manifest.tables.flatMap((t) => t.files.filter((f) => !f.sha256).map((f) => fileChunk(t, f)));
  opts.onEvent(
    copyPlannedEvent(
      d.from,
      d.name,
      `${resuming ?? `snapshot of ${d.name} in ${dir}: `}${todo.length} files to write on ${parallel} sessions (${manifest.format}, slot ${manifest.slot} at ${manifest.lsn})`,
    ),
  );
  await runCopy({
    ...run.source,
    snapshot: manifest.snapshot,
    parallel,
    binary: manifest.format === 'binary',
    chunks: todo,
    sink,
    opened: run.opened,
    onChunk: (c, r) => {
      const t = manifest.tables.find((x) => x.schema === c.table.schema && x.name === c.table.name)!;
      const f = t.files.find((x) => x.chunk === c.index)!;
      Object.assign(f, { file: r.file, rows: r.rows, bytes: r.bytes, sha256: r.sha256 });
      writeManifest(dir, manifest);
    },
  });
}

/**
 * `err`, once the slot generate created for a snapshot it could not describe is dropped; or,
 * when it cannot be, `err` saying the slot is left and how to drop it.
 */
async function withoutSlot(run: Run, lsn: string, err: unknown): Promise<unknown> {
  const { topology, d, dir } = run;
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

/** What generate reports of the snapshot in `dir`. */
function summary(dir: string, m: Manifest, kept: number, resumed: boolean, dropped: string | null) {
  const { files, rows, bytes } = manifestTotals(m);
  return {
    dir,
    subscription: m.subscription,
    slot: m.slot,
    lsn: m.lsn,
    tables: m.tables.length,
    files: files.length,
    /** files of an interrupted generate kept because their checksum matched */
    kept,
    rows,
    bytes,
    resumed,
    /** the files' compression: a resumed snapshot keeps the one it was started with */
    compress: m.compress,
    /** what was dropped first: the slot of a generate into the directory interrupted before its manifest */
    dropped,
  };
}
export type GenerateResult = ReturnType<typeof summary>;
