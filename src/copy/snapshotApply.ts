import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type pg from 'pg';
import { readColumns } from '../catalog/copySource.js';
import { tablesWithRows } from '../catalog/rowPresence.js';
import { serverVersionOf } from '../catalog/session.js';
import { readSlotConfirmed } from '../catalog/slotHolder.js';
import { readSubscriptionSlot } from '../catalog/subscriptionOnNode.js';
import { nodeSession } from '../db/connect.js';
import type { EventSink } from '../executors/events.js';
import { followInit, followTargetOf } from '../executors/initFollow.js';
import { refuseSequenceAccess } from '../executors/sequenceSync.js';
import { adviceText, advise } from '../model/advice.js';
import { SteepError } from '../model/errors.js';
import type { InitState } from '../model/initState.js';
import type { LoadMode } from '../model/loadOrder.js';
import { compareLsn } from '../model/lsn.js';
import { qualifiedName, type SubscriptionSpec, type Topology } from '../model/topology.js';
import { deferIndexesLock } from '../planner/init/ownCopyStatements.js';
import { truncateTablesSql } from '../planner/sqlBuild.js';
import { type ChunkRecord, CopyChunkStore } from '../state/copyChunks.js';
import { DeferredIndexStore } from '../state/deferredIndexes.js';
import { copyPlannedEvent } from './copyProgress.js';
import { buildDeferredIndexes, deferBigTables, deferredText } from './deferredIndexes.js';
import { type ChunkWriter, chunkRecord } from './engine.js';
import { loadModeOf } from './loadMode.js';
import { LoadQueue, loadUnit, loadUnits } from './loadQueue.js';
import {
  chunkFileName,
  fileChunk,
  filesIntact,
  MANIFEST,
  type Manifest,
  manifestTotals,
  readManifest,
  SCHEMA_FILE,
  sha256File,
} from './manifest.js';
import { startOnSlot } from './slotStart.js';
import { SnapshotLog } from './snapshotRecords.js';
import { SubscriberSink } from './subscriberSink.js';
import { bothSessions, checkSameSubscription, major, record, where } from './twoPhase.js';

/**
 * `steep snapshot apply` (docs/steep-yaml.md): every file and the manifest verified against the topology
 * before the subscriber is touched, then the files loaded in parallel (resumable by chunk),
 * the sequences set, and the subscription started at the slot's consistent point.
 */

/** Everything checked before the subscriber is touched: a refusal leaves it exactly as it was. */
async function verify(
  topology: Topology,
  d: SubscriptionSpec,
  dir: string,
  pub: pg.Client,
  sub: pg.Client,
): Promise<Manifest> {
  const m = completeManifest(topology, d, dir);
  await checkFiles(d, dir, m);
  const subVersion = await serverVersionOf(sub);
  if (m.format === 'binary' && major(subVersion) !== major(m.subscriberServerVersion)) {
    throw new SteepError(
      'snapshot.format',
      `the snapshot in ${dir} is in binary COPY format for PostgreSQL ${major(m.subscriberServerVersion)}, but ${d.node} runs ${major(subVersion)}; generate it again against this subscriber`,
      where(d),
    );
  }
  await checkSlot(d, dir, m, pub);
  const existing = await readSubscriptionSlot(sub, d.name);
  if (!existing) {
    throw new SteepError(
      'snapshot.no_subscription',
      `subscription ${d.name} does not exist on ${d.node} yet; run steep apply (it creates it disabled on slot ${d.slot}), then snapshot apply`,
      where(d),
    );
  }
  if (existing.enabled) {
    throw new SteepError(
      'snapshot.already_applied',
      `subscription ${d.name} on ${d.node} is enabled already: its snapshot was applied (or it was enabled by hand); nothing was loaded`,
      where(d),
    );
  }
  await checkTables(d, dir, m, sub);
  // the sequences are set once every file is loaded: a setval the role may not run is refused first
  await refuseSequenceAccess(
    { pub: null, sub },
    m.sequences,
    { publisher: d.from, subscriber: d.node },
    'steep snapshot apply',
    'nothing was loaded',
  );
  return m;
}

/** The manifest in `dir`, of this subscription, of a generate that finished. */
function completeManifest(topology: Topology, d: SubscriptionSpec, dir: string): Manifest {
  const m = readManifest(dir);
  if (!m)
    throw new SteepError(
      'snapshot.no_manifest',
      `${dir} holds no ${MANIFEST}: give the directory steep snapshot generate wrote`,
      where(d),
    );
  checkSameSubscription(m, topology, d, dir);
  if (!m.completedAt) {
    throw new SteepError(
      'snapshot.incomplete',
      `the snapshot in ${dir} is incomplete (its generate was interrupted); run steep snapshot generate ${d.name} --output ${dir} to finish it`,
      where(d),
    );
  }
  return m;
}

/** Every file (and schema.sql) is there with the checksum the manifest gives it. */
async function checkFiles(d: SubscriptionSpec, dir: string, m: Manifest): Promise<void> {
  const bad: string[] = [];
  if (m.schemaFile) {
    const sum = existsSync(join(dir, m.schemaFile.file))
      ? await sha256File(join(dir, m.schemaFile.file))
      : null;
    if (sum !== m.schemaFile.sha256)
      bad.push(`${m.schemaFile.file}: ${sum === null ? 'missing' : 'its SHA-256 differs from the manifest'}`);
  }
  const intact = await filesIntact(dir, manifestTotals(m).files);
  for (const t of m.tables) {
    for (const f of t.files) {
      const problem = intact.get(f);
      if (problem) bad.push(`${f.file ?? chunkFileName(t, f.chunk, m.compress)}: ${problem}`);
    }
  }
  if (bad.length > 0) {
    throw new SteepError(
      'snapshot.corrupt',
      `the snapshot in ${dir} does not match its manifest, so nothing was loaded: ${bad.slice(0, 5).join('; ')}${bad.length > 5 ? ` (and ${bad.length - 5} more)` : ''}; ` +
        `copy the files again, or generate a new snapshot`,
      where(d),
    );
  }
}

/** The snapshot's slot still holds every change after the snapshot. */
async function checkSlot(d: SubscriptionSpec, dir: string, m: Manifest, pub: pg.Client): Promise<void> {
  const slot = await readSlotConfirmed(pub, m.slot);
  if (!slot) {
    throw new SteepError(
      'snapshot.slot_missing',
      `slot ${m.slot} of the snapshot in ${dir} no longer exists on ${d.from}, so the changes since ${m.lsn} are gone; generate a new snapshot`,
      where(d),
    );
  }
  if (slot.confirmed && compareLsn(slot.confirmed, m.lsn) > 0) {
    throw new SteepError(
      'snapshot.slot_consumed',
      `slot ${m.slot} on ${d.from} has been consumed past the snapshot's LSN (${m.lsn} → ${slot.confirmed}); generate a new snapshot`,
      where(d),
    );
  }
}

/** Every table of the snapshot exists on the subscriber with every column the files hold. */
async function checkTables(d: SubscriptionSpec, dir: string, m: Manifest, sub: pg.Client): Promise<void> {
  const columns = await readColumns(sub, m.tables);
  for (const t of m.tables) {
    const have = new Set((columns.get(qualifiedName(t)) ?? []).map((c) => c.name));
    if (have.size === 0) {
      throw new SteepError(
        'snapshot.table_missing',
        `table ${qualifiedName(t)} does not exist on ${d.node}; create it (${SCHEMA_FILE} in ${dir} has its DDL, or schemaSync: auto and steep apply)`,
        where(d),
      );
    }
    const lacking = t.columns.filter((c) => !have.has(c.name)).map((c) => c.name);
    if (lacking.length > 0) {
      throw new SteepError(
        'snapshot.columns_missing',
        `table ${qualifiedName(t)} on ${d.node} lacks column${lacking.length > 1 ? 's' : ''} ${lacking.join(', ')} the snapshot holds`,
        where(d),
      );
    }
  }
}

export async function applySnapshot(
  topology: Topology,
  d: SubscriptionSpec,
  opts: { onEvent: EventSink; dir: string; parallel?: number; wait?: boolean },
) {
  const dir = opts.dir;
  const parallel = opts.parallel ?? d.init.parallel;
  const schema = topology.settings.stateSchema;
  const [pub, sub] = await bothSessions(topology, d, 'steep snapshot apply');
  try {
    const log = await SnapshotLog.open(sub, topology, d);
    const m = await verify(topology, d, dir, pub, sub);
    const load = await loadModeOf(sub, d, m.tables, await serverVersionOf(sub), {
      split: m.tables.filter((t) => t.files.length > 1).map(qualifiedName),
    });
    await log.checkManifest(m, dir, d);
    await log.mark(m, dir, 'applying');
    const chunks = new CopyChunkStore(schema, d.node);
    const ran: string[] = [];
    const plan = await loadPlan(sub, d, m, chunks, ran);
    await record(sub, topology, d, 'copying', opts.onEvent);
    const files = pendingFiles(m, plan);
    const deferred = new DeferredIndexStore(schema, d.node);
    // outside plan/apply: the tables to defer are decided here, their lock composed by the planner
    const later = await deferBigTables(sub, deferred, d.name, plan, deferIndexesLock);
    ran.push(...later.ran);
    opts.onEvent(
      copyPlannedEvent(
        d.node,
        d.name,
        `loading ${files.length} of ${plan.length} files of the snapshot in ${dir} on ${parallel} sessions${load.text}${deferredText(later.deferred)}`,
      ),
    );
    const sink = new SubscriberSink(topology, d, m.lsn, load.mode.replica);
    const rows = await loadFiles(files, { dir, m, sink, parallel, load: load.mode });

    // the load's sessions are closed: as many build the tables' indexes
    await buildDeferredIndexes(sub, deferred, d.name, opts.onEvent, {
      parallel,
      open: () => nodeSession(topology, d.node, 'steep snapshot apply'),
    });
    // sequences: at least the publisher's value at the snapshot (read after it), never backwards
    const setCount = await startOnSlot(
      sub,
      d,
      m.lsn,
      m.sequences.map((s) => ({ schema: s.schema, name: s.name, last: s.value })),
    );
    await chunks.clear(sub, d.name);
    await record(sub, topology, d, 'catching_up', opts.onEvent);
    await log.mark(m, dir, 'applied');
    const follow = { onEvent: opts.onEvent, connectTimeoutMs: topology.settings.connectTimeout };
    const state: InitState =
      d.enabled && opts.wait !== false
        ? (await followInit(followTargetOf(topology, d), follow)).state
        : 'catching_up';
    return {
      dir,
      subscription: d.name,
      lsn: m.lsn,
      rows,
      files: files.length,
      sequences: setCount,
      state,
      /** what it ran besides the loads (planner/init/ownCopyStatements.ts): the TRUNCATE of existingData: truncate, the locks under which indexes were deferred */
      statements: ran.map((sql) => ({ node: d.node, sql })),
    };
  } finally {
    await pub.end().catch(() => {});
    await sub.end().catch(() => {});
  }
}

export type ApplyResult = Awaited<ReturnType<typeof applySnapshot>>;

/**
 * The files to load, by chunk: those recorded for this snapshot, or on a fresh load a new list,
 * recorded in one transaction with the TRUNCATE that `init.existingData: truncate` asks for
 * (added to `ran`); rows there and no truncate refuse the load.
 */
async function loadPlan(
  sub: pg.Client,
  d: SubscriptionSpec,
  m: Manifest,
  chunks: CopyChunkStore,
  ran: string[],
): Promise<ChunkRecord[]> {
  const recorded = await chunks.list(sub, d.name, m.lsn);
  if (recorded.length > 0) return recorded;
  const held = await tablesWithRows(sub, m.tables);
  if (held.length > 0 && d.init.existingData !== 'truncate') {
    throw new SteepError(
      'existing-data',
      `subscription ${d.name}: tables on ${d.node} already hold rows: ${held.join(', ')}; nothing was loaded: ${d.link ? advise('existingDataTruncate', { subscription: d.name, node: d.node, from: d.from, onlyCopy: null, link: d.link }, held) : `empty them, or ${adviceText('existingDataTruncate', d.name)}`}`,
      where(d),
    );
  }
  const truncate = truncateTablesSql(m.tables);
  await sub.query('BEGIN');
  if (held.length > 0) await sub.query(truncate);
  const files = m.tables.flatMap((t) => t.files.map((f) => chunkRecord(fileChunk(t, f), f.bytes ?? 0)));
  await chunks.plan(sub, d.name, m.lsn, files);
  await sub.query('COMMIT');
  if (held.length > 0) ran.push(truncate);
  return chunks.list(sub, d.name, m.lsn);
}

/** The manifest's files whose chunk is not loaded yet. */
function pendingFiles(m: Manifest, plan: ChunkRecord[]): SnapshotFile[] {
  const pending = new Set(
    plan.filter((r) => r.rows === null).map((r) => `${qualifiedName(r.table)}#${r.chunk}`),
  );
  return m.tables.flatMap((t) =>
    t.files.filter((f) => pending.has(`${qualifiedName(t)}#${f.chunk}`)).map((f) => ({ t, f })),
  );
}

type SnapshotFile = { t: Manifest['tables'][number]; f: Manifest['tables'][number]['files'][number] };

/** The files into the subscriber on `parallel` sessions, in the load's order (loadQueue.ts); the rows loaded. */
async function loadFiles(
  files: SnapshotFile[],
  run: { dir: string; m: Manifest; sink: SubscriberSink; parallel: number; load: LoadMode },
): Promise<number> {
  const { dir, m } = run;
  const tableOf = (x: SnapshotFile) => qualifiedName(x.t);
  const queue = new LoadQueue(loadUnits(files, tableOf, run.load), tableOf);
  let rows = 0;
  const loadOne = async (writer: ChunkWriter, { t, f }: SnapshotFile): Promise<void> => {
    let data: Readable = createReadStream(join(dir, f.file!), { highWaterMark: 1 << 20 });
    if (m.compress === 'gzip') data = data.pipe(createGunzip());
    const r = await writer.write(fileChunk(t, f), data, m.format === 'binary');
    rows += r.rows ?? 0;
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(run.parallel, files.length)) }, async () => {
      const writer = await run.sink.open();
      try {
        for (let unit = await queue.take(); unit; unit = await queue.take()) {
          await loadUnit(unit, writer, (x) => loadOne(writer, x));
          queue.done(unit);
        }
      } catch (err) {
        queue.stop();
        throw err;
      } finally {
        await writer.close().catch(() => {});
      }
    }),
  );
  return rows;
}
