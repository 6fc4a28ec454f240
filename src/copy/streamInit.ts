/**
 * `init: { method: snapshot, parallel: N }` with steep's own copy (docs/steep-yaml.md): the subscription
 * exists, disabled, on no slot yet (created with create_slot = false, copy_data = false). A
 * holder creates its slot with an exported snapshot; N sessions copy every published table at
 * that snapshot straight into the subscriber (big tables in key ranges); then the
 * subscription's origin is advanced to the slot's consistent point and it is enabled, so it
 * streams exactly the changes after the copy. A rerun after an interruption copies only the
 * chunks not done, at the same snapshot while its holder still holds it; once that is gone it
 * empties the tables and starts over on a new slot (nothing else would be consistent).
 */

import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { type CopySourceTable, readColumns, readCopySource } from '../catalog/copySource.js';
import { serverVersionOf } from '../catalog/session.js';
import { readSlotHolder } from '../catalog/slotHolder.js';
import { nodeSession, withSession } from '../db/connect.js';
import { mask } from '../db/mask.js';
import type { EventSink } from '../executors/events.js';
import { sequenceValues, settableSequences } from '../executors/sequenceSync.js';
import { subscriptionAddress } from '../model/address.js';
import { adviceText } from '../model/advice.js';
import { SteepError } from '../model/errors.js';
import type { InitProgress, InitState } from '../model/initState.js';
import type { Statement } from '../model/plan.js';
import {
  DEFAULT_SPLIT_ABOVE,
  qualifiedName,
  type SubscriptionSpec,
  type Topology,
} from '../model/topology.js';
import { failoverSlot } from '../planner/failover/failover.js';
import {
  plannedLock,
  plannedStartOver,
  startOverStatements,
  withoutCondition,
} from '../planner/init/ownCopyStatements.js';
import { type ChunkRecord, CopyChunkStore } from '../state/copyChunks.js';
import { DeferredIndexStore } from '../state/deferredIndexes.js';
import { InitSlotStore } from '../state/initSlots.js';
import { CopyProgress, copyPlannedEvent } from './copyProgress.js';
import { buildDeferredIndexes, deferBigTables, deferredText } from './deferredIndexes.js';
import {
  type Chunk,
  type CopySource,
  chunkRecord,
  planChunks,
  runCopy,
  snapshotHeld,
  snapshotSession,
} from './engine.js';
import { loadModeOf } from './loadMode.js';
import { startOnSlot } from './slotStart.js';
import { Heartbeat, holdMs, startHolder } from './snapshotHolder.js';
import { SubscriberSink } from './subscriberSink.js';
import { bothSessions, major, record as recordState } from './twoPhase.js';

export interface StreamInitOptions {
  /** the init step's statements: what starting over runs, the locks of deferred indexes (planner/init/ownCopyStatements.ts) */
  planned: readonly Statement[];
  onEvent: EventSink;
  onProgress?: (p: InitProgress) => void;
  /**
   * SIGINT/SIGTERM/SIGHUP: no new chunk starts; the running ones finish and are kept. A slot still
   * waiting for the transactions open on the publisher is cancelled (none made).
   */
  signal?: AbortSignal;
}

/** One copy: its subscription, its sessions on both nodes with their versions, the publisher it reads. */
interface Run {
  topology: Topology;
  d: SubscriptionSpec;
  opts: StreamInitOptions;
  sub: pg.Client;
  pub: pg.Client;
  pubVersion: number;
  subVersion: number;
  source: CopySource;
}

function heartbeatFile(topology: Topology, d: SubscriptionSpec): string {
  const id = createHash('sha256')
    .update(`${topology.topology}\0${d.node}\0${d.from}\0${d.slot}`)
    .digest('hex')
    .slice(0, 16);
  return join(tmpdir(), `steep-snapshot-${id}.hold`);
}

/** Same major version and only built-in types, identical on both sides: binary COPY. */
export function binaryCompatible(
  tables: readonly CopySourceTable[],
  target: Map<string, Array<{ name: string; type: string }>>,
  sameMajor: boolean,
): boolean {
  if (!sameMajor) return false;
  return tables.every((t) => {
    const cols = new Map((target.get(qualifiedName(t)) ?? []).map((c) => [c.name, c.type]));
    return t.columns.every((c) => c.builtin && cols.get(c.name) === c.type);
  });
}

export async function streamInit(
  topology: Topology,
  d: SubscriptionSpec,
  opts: StreamInitOptions,
): Promise<void> {
  const record = (to: InitState, error: string | null = null) =>
    withSession(nodeSession(topology, d.node, 'steep init'), (c) =>
      recordState(c, topology, d, to, opts.onEvent, error),
    );
  await record('copying');
  try {
    await copyAndStart(topology, d, opts);
  } catch (err) {
    // a signal is no failure: the init stays copying, and the next apply resumes it (as after a kill)
    if (err instanceof SteepError && err.code === 'init.interrupted') throw err;
    const reason = `init of subscription ${d.name} on ${d.node} failed: ${mask(err instanceof Error ? err.message : String(err))}; apply again to resume it`;
    await record('failed', reason).catch(() => {});
    opts.onEvent({
      event: 'init.failed',
      level: 'error',
      node: d.node,
      subscription: d.name,
      phase: 'failed',
      message: reason,
    });
    throw err instanceof SteepError
      ? err
      : new SteepError('init.failed', reason, { node: d.node, cause: err });
  }
}

/** At a held snapshot: the chunks not yet copied, the deferred indexes, then the subscription starts on the slot. */
async function copyAndStart(topology: Topology, d: SubscriptionSpec, opts: StreamInitOptions): Promise<void> {
  const schema = topology.settings.stateSchema;
  const pubSpec = topology.nodes[d.from]!;
  const connectTimeoutMs = topology.settings.connectTimeout;
  const [pub, sub] = await bothSessions(topology, d, 'steep init');
  const hold: Hold = { heartbeat: null };
  let done = false;
  try {
    const [pubVersion, subVersion] = await Promise.all([serverVersionOf(pub), serverVersionOf(sub)]);
    const source = { node: d.from, connection: pubSpec.connection, connectTimeoutMs };
    const s: Run = { topology, d, opts, sub, pub, pubVersion, subVersion, source };
    // the sequences are set once every table is copied: a setval the role may not run is refused first
    const sequences = await settableSequences(
      s,
      d,
      s.pubVersion,
      "steep's copy",
      'nothing was copied',
      schema,
    );
    const slots = new InitSlotStore(schema, d.node);
    const chunks = new CopyChunkStore(schema, d.node);
    const { lsn, snapshot } = await snapshotToCopyAt(s, slots, hold);
    const { tables, load, plan } = await readChunkPlan(s, snapshot, chunks, lsn);
    const byName = new Map(tables.map((t) => [qualifiedName(t), t]));
    const sameMajor = major(s.pubVersion) === major(s.subVersion);
    const binary = binaryCompatible(tables, await readColumns(sub, tables), sameMajor);
    const todo: Chunk[] = plan
      .filter((r) => r.rows === null)
      .map((r) => ({
        table: byName.get(qualifiedName(r.table))!,
        index: r.chunk,
        lower: r.lower,
        upper: r.upper,
        estimatedBytes: r.estimatedBytes,
      }));
    const deferred = new DeferredIndexStore(schema, d.node);
    const { deferred: later } = await deferBigTables(sub, deferred, d.name, plan, (t) =>
      plannedLock(opts.planned, t),
    );
    opts.onEvent(
      copyPlannedEvent(
        d.node,
        d.name,
        `${describePlan(d, plan, todo.length, binary, lsn)}${load.text}${deferredText(later)}`,
      ),
    );
    const progress = new CopyProgress(d, plan, tables, opts.onProgress);
    await runCopy({
      ...source,
      snapshot,
      parallel: d.init.parallel,
      binary,
      chunks: todo,
      load: load.mode,
      sink: new SubscriberSink(topology, d, lsn, load.mode.replica),
      onChunk: (c, r) => {
        const complete = progress.chunkDone(c, r.rows);
        if (complete) opts.onEvent(complete);
      },
      onBytes: (n) => progress.bytes(n),
      signal: opts.signal,
    });
    if (opts.signal?.aborted) throw interruptedAfterChunks(d);
    progress.report(true);
    // the copy's sessions on the subscriber are closed: as many build the tables' indexes
    await buildDeferredIndexes(sub, deferred, d.name, opts.onEvent, {
      parallel: d.init.parallel,
      open: () => nodeSession(topology, d.node, 'steep init'),
      onBuilding: (tables) => progress.buildingIndexes(tables),
    });

    // the subscription streams what the slot holds after the snapshot; the sequences' values,
    // read now, are at least those at the snapshot
    await startOnSlot(sub, d, lsn, await sequenceValues(pub, sequences));
    await slots.clear(sub, d.name);
    await chunks.clear(sub, d.name);
    done = true;
  } finally {
    hold.heartbeat?.stop(done);
    await pub.end().catch(() => {});
    await sub.end().catch(() => {});
  }
}

/** The holder's heartbeat, set as soon as it exists so the caller stops it whatever fails next. */
interface Hold {
  heartbeat: Heartbeat | null;
}

/**
 * The snapshot to copy at: the recorded one while its holder still holds it; otherwise, after
 * the plan's start-over statements, a new slot's (recorded before anything is copied).
 */
async function snapshotToCopyAt(s: Run, slots: InitSlotStore, hold: Hold) {
  const { topology, d, opts, source } = s;
  const file = heartbeatFile(topology, d);
  const recorded = await slots.forSubscription(s.sub, d.name);
  let lost: string | null = null; // why a recorded copy starts over
  if (recorded && recorded.slot === d.slot && recorded.snapshotName) {
    hold.heartbeat = new Heartbeat(file);
    if (await snapshotHeld({ ...source, snapshot: recorded.snapshotName }))
      return { lsn: recorded.lsn, snapshot: recorded.snapshotName };
    hold.heartbeat.stop(true);
    hold.heartbeat = null;
    lost = `the snapshot of the interrupted copy (slot ${d.slot} at ${recorded.lsn}) is no longer held; copying again from a new snapshot`;
  }
  const ran = (await startOver(s)).map(withoutCondition);
  const message = `${lost ?? `copying ${d.name} from a new snapshot`}${ran.length > 0 ? `; ran the plan's ${ran.join('; ')}` : ''}`;
  if (lost || ran.length > 0)
    opts.onEvent({
      event: 'init.state_change',
      level: 'warn',
      node: d.node,
      subscription: d.name,
      phase: 'copying',
      message,
    });
  // a signal while the slot waits for the transactions open on the publisher cancels the wait
  const held = await startHolder(
    {
      ...source,
      serverVersion: s.pubVersion,
      slot: d.slot,
      failover: failoverSlot(topology, d, s.pubVersion, s.subVersion),
      heartbeatFile: file,
    },
    opts.signal && { signal: opts.signal, canceller: s.pub },
  ).catch((err: unknown) => {
    if (!opts.signal?.aborted) throw err;
    throw new SteepError(
      'init.interrupted',
      `steep's copy into ${d.node} stopped while slot ${d.slot} waited for the transactions open on ${d.from} to end: no slot was made, nothing was copied; run \`steep apply\` again to start it`,
      { node: d.node, address: subscriptionAddress(d.name) },
    );
  });
  hold.heartbeat = held.heartbeat;
  await slots.record(s.sub, {
    slot: d.slot,
    subscription: d.name,
    lsn: held.lsn,
    snapshotName: held.snapshot,
  });
  return { lsn: held.lsn, snapshot: held.snapshot };
}

/**
 * The tables as the publications publish them, read at the snapshot, how they load, and the
 * chunks: those recorded for this slot position, or a new plan recorded now.
 */
async function readChunkPlan(s: Run, snapshot: string, chunks: CopyChunkStore, lsn: string) {
  const d = s.d;
  const reader = await snapshotSession({ ...s.source, snapshot });
  try {
    const tables = await readCopySource(
      reader,
      d.publications,
      s.pubVersion,
      s.topology.settings.stateSchema,
    );
    const load = await loadModeOf(s.sub, d, tables, s.subVersion);
    let plan = await chunks.list(s.sub, d.name, lsn);
    if (plan.length === 0) {
      const planned = await planChunks(reader, tables, {
        splitAbove: d.init.splitAbove ?? DEFAULT_SPLIT_ABOVE,
        parallel: d.init.parallel,
        whole: load.mode.replica ? [] : load.mode.whole,
      });
      plan = planned.map((c) => chunkRecord(c));
      await chunks.plan(s.sub, d.name, lsn, plan);
    }
    const published = new Set(tables.map(qualifiedName));
    const missing = plan.find((r) => !published.has(qualifiedName(r.table)));
    if (missing) {
      throw new SteepError(
        'copy.plan_changed',
        `subscription ${d.name}: ${qualifiedName(missing.table)} is no longer published by ${d.publications.join(', ')} on ${d.from}; run ${adviceText('initCancel', d.name)} and apply again`,
        { address: subscriptionAddress(d.name), node: d.node },
      );
    }
    return { tables, load, plan };
  } finally {
    await reader.end().catch(() => {});
  }
}

/** A signal stopped the copy between chunks: the chunks done are kept for a rerun at the same snapshot. */
function interruptedAfterChunks(d: SubscriptionSpec): SteepError {
  const minutes = Math.round(holdMs() / 60_000);
  return new SteepError(
    'init.interrupted',
    `steep's copy into ${d.node} stopped after the chunks it was copying, which are kept; the snapshot holder keeps slot ${d.slot}'s snapshot on ${d.from} ` +
      `for ${minutes} min: run \`steep apply\` again within that time to copy the rest at the same snapshot (later it starts over)`,
    { node: d.node, address: subscriptionAddress(d.name) },
  );
}

/**
 * No usable snapshot: empty what an earlier copy loaded, forget its chunks, drop a slot of that
 * name nobody streams, each exactly as the plan says (`planned`: planner/init/ownCopyStatements.ts);
 * what the plan did not foresee stops the copy, to be planned again. Returns the statements it ran.
 */
async function startOver(s: Run): Promise<string[]> {
  const { d, topology } = s;
  const stale = (what: string) =>
    new SteepError(
      'copy.plan_stale',
      `subscription ${d.name}: ${what}, so its copy did not start over; run steep apply again, which plans it anew`,
      { address: subscriptionAddress(d.name), node: d.node },
    );
  const statements = plannedStartOver(s.opts.planned);
  const chunks = new CopyChunkStore(topology.settings.stateSchema, d.node);
  const copied = await chunks.copiedTables(s.sub, d.name);
  const truncate = statements.filter((x) => x.node === undefined).map((x) => x.sql);
  const expected = startOverStatements(d, copied, false).map((x) => x.sql);
  if (truncate.join('\n') !== expected.join('\n'))
    throw stale(
      `the tables an earlier copy loaded on ${d.node} (${copied.map(qualifiedName).join(', ') || 'none'}) are not those its plan empties`,
    );
  for (const sql of truncate) await s.sub.query(sql);
  await chunks.clear(s.sub, d.name);
  const holder = await readSlotHolder(s.pub, d.slot);
  if (holder?.pid != null) {
    throw new SteepError(
      'copy.slot_active',
      `subscription ${d.name}: slot ${d.slot} on ${d.from} is in use by another process; stop it (an earlier steep still holding its snapshot?) and apply again`,
      { address: subscriptionAddress(d.name), node: d.from },
    );
  }
  const drop = holder ? statements.find((x) => x.node === d.from)?.sql : undefined;
  if (holder && !drop)
    throw stale(`slot ${d.slot} exists on ${d.from}, unused, and its plan does not drop it`);
  if (drop) await s.pub.query(drop);
  return [...truncate, ...(drop ? [drop] : [])];
}

/** "copying 4 tables (public.big in 6 key ranges) on 3 sessions, binary, at 0/1A2B3C4" */
function describePlan(
  d: SubscriptionSpec,
  plan: ChunkRecord[],
  todo: number,
  binary: boolean,
  lsn: string,
): string {
  const per = new Map<string, number>();
  for (const r of plan) per.set(qualifiedName(r.table), (per.get(qualifiedName(r.table)) ?? 0) + 1);
  const split = [...per].filter(([, n]) => n > 1).map(([t, n]) => `${t} in ${n} key ranges`);
  const what = `${per.size} table${per.size === 1 ? '' : 's'}${split.length > 0 ? ` (${split.join(', ')})` : ''}`;
  const how = `on ${d.init.parallel} session${d.init.parallel === 1 ? '' : 's'}, ${binary ? 'binary' : 'text'} COPY, at the snapshot of slot ${d.slot} (${lsn})`;
  return todo < plan.length
    ? `resuming the copy of ${what}: ${plan.length - todo} of ${plan.length} chunks already copied; the rest ${how}`
    : `copying ${what} ${how}`;
}
