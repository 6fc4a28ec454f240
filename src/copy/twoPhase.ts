import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type pg from 'pg';
import { type CopySourceTable, readColumns, readCopySource } from '../catalog/copySource.js';
import { readTableSchemas } from '../catalog/tableSchemas.js';
import { connect } from '../db/connect.js';
import type { EventSink } from '../executors/events.js';
import { followInit, followTargetOf, stateChangeEvent } from '../executors/initFollow.js';
import { publisherSequenceValues } from '../executors/sequenceSync.js';
import { SteepError } from '../model/errors.js';
import type { InitState } from '../model/initState.js';
import { compareLsn } from '../model/lsn.js';
import { quoteTable } from '../model/sql.js';
import {
  DEFAULT_SPLIT_ABOVE,
  qualifiedName,
  type SubscriptionSpec,
  type Topology,
} from '../model/topology.js';
import { createSchemaSql, createTableSql } from '../planner/tableDdl.js';
import { CopyChunkStore } from '../state/copyChunks.js';
import { SubscriptionStateStore } from '../state/subscriptionState.js';
import { STEEP_VERSION } from '../version.js';
import {
  type Chunk,
  type ChunkResult,
  planChunks,
  runCopy,
  snapshotHeld,
  snapshotSession,
} from './engine.js';
import {
  chunkFileName,
  FileSink,
  FORMAT_VERSION,
  filesIntact,
  MANIFEST,
  type Manifest,
  type ManifestTable,
  readManifest,
  SCHEMA_FILE,
  sha256File,
  writeManifest,
} from './manifest.js';
import { startOnSlot } from './slotStart.js';
import { Heartbeat, startHolder } from './snapshotHolder.js';
import { binaryCompatible } from './streamInit.js';
import { SubscriberSink } from './subscriberSink.js';

/**
 * `init: { method: two-phase }` (SPEC §9): `snapshot generate` copies every published table at
 * the exported snapshot of the subscription's new slot into files; `snapshot apply` verifies
 * them all against the manifest and the topology before touching the subscriber, loads them in
 * parallel, sets the sequences, starts the subscription (created disabled by `steep apply`) at
 * the slot's consistent point and follows it to synchronized. One snapshot seeds exactly one
 * subscription: its slot.
 */

const HOLD_FILE = '.steep-snapshot.hold';

export interface SnapshotOptions {
  onEvent: EventSink;
}

function where(d: SubscriptionSpec) {
  return { address: `subscription.${d.name}`, node: d.node };
}

async function session(topology: Topology, node: string, app: string): Promise<pg.Client> {
  return connect(topology.nodes[node]!.connection, {
    node,
    applicationName: app,
    connectTimeoutMs: topology.settings.connectTimeout,
  });
}

async function versionOf(c: pg.Client): Promise<number> {
  const { rows } = await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Number(rows[0]!.v);
}

const major = (v: number) => Math.floor(v / 10000);

export function twoPhaseSubscription(topology: Topology, name: string): SubscriptionSpec {
  const d = topology.subscriptions[name];
  if (!d)
    throw new SteepError('snapshot.unknown_subscription', `steep.yaml declares no subscription ${name}`);
  if (d.init.method !== 'two-phase') {
    throw new SteepError(
      'snapshot.method',
      `subscription ${d.name} uses init method ${d.init.method}; steep snapshot is for init method two-phase`,
      where(d),
    );
  }
  return d;
}

/** Move the recorded init state (best effort before the state schema exists). */
async function record(
  client: pg.Client,
  topology: Topology,
  d: SubscriptionSpec,
  to: InitState,
  onEvent: EventSink,
  error: string | null = null,
): Promise<void> {
  const store = new SubscriptionStateStore(topology.settings.stateSchema, d.node);
  const recorded = (await store.get(client, d.name).catch(() => null))?.state ?? 'uninitialized';
  if (recorded === to) return;
  const changes = await store.transition(client, d.name, to, {
    method: d.init.method,
    source: d.from,
    error,
  });
  for (const c of changes) onEvent(stateChangeEvent(c));
}

// ---------------------------------------------------------------------------------------------
// generate

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
}

function checkSameSubscription(m: Manifest, topology: Topology, d: SubscriptionSpec, dir: string): void {
  const theirs = `topology ${m.topology}, subscription ${m.subscription} (${m.publisher} → ${m.subscriber}), slot ${m.slot}`;
  if (
    m.topology !== topology.topology ||
    m.subscription !== d.name ||
    m.slot !== d.slot ||
    m.publisher !== d.from ||
    m.subscriber !== d.node
  ) {
    throw new SteepError(
      'snapshot.foreign',
      `${join(dir, MANIFEST)} is a snapshot of ${theirs}, not of subscription ${d.name} of topology ${topology.topology} ` +
        `(${d.from} → ${d.node}, slot ${d.slot}); nothing was changed: give the directory of ${d.name}'s snapshot`,
      where(d),
    );
  }
}

async function schemaSql(
  topology: Topology,
  d: SubscriptionSpec,
  tables: CopySourceTable[],
): Promise<string> {
  const read = await readTableSchemas(topology.nodes[d.from]!.connection, {
    node: d.from,
    scope: {
      all: false,
      schemas: [],
      tables: tables.map((t) => ({ schema: t.schema, name: t.name })),
      objects: true,
    },
    stateSchema: topology.settings.stateSchema,
    connectTimeoutMs: topology.settings.connectTimeout,
  });
  const lines = [`-- the tables of subscription ${d.name}, as steep's schema sync creates them`];
  for (const s of [...new Set(tables.map((t) => t.schema))].sort()) lines.push(`${createSchemaSql(s)};`);
  for (const t of tables) {
    const def = read.tables[qualifiedName(t)];
    if (def) lines.push(`${createTableSql(def, def.columns)};`);
  }
  return `${lines.join('\n')}\n`;
}

export async function generateSnapshot(
  topology: Topology,
  d: SubscriptionSpec,
  opts: SnapshotOptions & { dir: string; compress: 'gzip' | 'none'; parallel?: number },
): Promise<GenerateResult> {
  const dir = opts.dir;
  mkdirSync(dir, { recursive: true });
  const parallel = opts.parallel ?? d.init.parallel;
  const source = {
    node: d.from,
    connection: topology.nodes[d.from]!.connection,
    connectTimeoutMs: topology.settings.connectTimeout,
  };
  const pub = await session(topology, d.from, 'steep snapshot generate');
  const sub = await session(topology, d.node, 'steep snapshot generate');
  let heartbeat: Heartbeat | null = null;
  let done = false;
  try {
    let m = readManifest(dir);
    let kept = 0;
    const resumed = m !== null;
    if (m) {
      checkSameSubscription(m, topology, d, dir);
      if (m.completedAt) return summary(dir, m, m.tables.flatMap((t) => t.files).length, true);
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
      const { rows } = await pub.query('SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1', [
        d.slot,
      ]);
      if (rows.length > 0) {
        throw new SteepError(
          'snapshot.slot_exists',
          `slot ${d.slot} already exists on ${d.from}: a snapshot of ${d.name} was generated elsewhere (steep snapshot list DIR), ` +
            `or the slot is left from an earlier attempt; steep snapshot delete DIR --allow-destroy removes a snapshot and its slot`,
          where(d),
        );
      }
      const pubVersion = await versionOf(pub);
      const subVersion = await versionOf(sub);
      const held = await startHolder({
        ...source,
        serverVersion: pubVersion,
        slot: d.slot,
        heartbeatFile: join(dir, HOLD_FILE),
      });
      heartbeat = held.heartbeat;
      const reader = await snapshotSession({ ...source, snapshot: held.snapshot });
      try {
        const tables = await readCopySource(reader, d.publications, pubVersion);
        if (tables.length === 0) {
          throw new SteepError(
            'snapshot.nothing',
            `publications ${d.publications.join(', ')} of ${d.name} publish no table on ${d.from} (do they exist? run steep apply first)`,
            where(d),
          );
        }
        const chunks = await planChunks(reader, tables, {
          splitAbove: d.init.splitAbove ?? DEFAULT_SPLIT_ABOVE,
          parallel,
        });
        const sequences = (await publisherSequenceValues(reader, tables)).map((s) => ({
          schema: s.schema,
          name: s.name,
          value: s.last,
        }));
        const target = await readColumns(sub, tables);
        const binary = binaryCompatible(tables, target, major(pubVersion) === major(subVersion));
        const schema = await schemaSql(topology, d, tables);
        writeFileSync(join(dir, SCHEMA_FILE), schema);
        m = {
          formatVersion: FORMAT_VERSION,
          steepVersion: STEEP_VERSION,
          createdAt: new Date().toISOString(),
          completedAt: null,
          topology: topology.topology,
          subscription: d.name,
          publisher: d.from,
          subscriber: d.node,
          publications: [...d.publications],
          slot: d.slot,
          lsn: held.lsn,
          snapshot: held.snapshot,
          serverVersion: pubVersion,
          subscriberServerVersion: subVersion,
          format: binary ? 'binary' : 'text',
          compress: opts.compress,
          schemaFile: { file: SCHEMA_FILE, sha256: await sha256File(join(dir, SCHEMA_FILE)) },
          sequences,
          tables: tables.map(
            (t): ManifestTable => ({
              schema: t.schema,
              name: t.name,
              columns: t.columns,
              rowFilter: t.rowFilter,
              key: t.key,
              files: chunks
                .filter((c) => c.table === t)
                .sort((a, b) => a.index - b.index)
                .map((c) => ({
                  chunk: c.index,
                  lower: c.lower,
                  upper: c.upper,
                  estimatedBytes: Math.round(c.estimatedBytes),
                  file: null,
                  rows: null,
                  bytes: null,
                  sha256: null,
                })),
            }),
          ),
        };
        writeManifest(dir, m);
      } finally {
        await reader.end().catch(() => {});
      }
      await record(sub, topology, d, 'preparing', opts.onEvent).catch(() => {});
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
    opts.onEvent({
      event: 'init.copy_planned',
      level: 'info',
      node: d.from,
      subscription: d.name,
      phase: 'copying',
      message: `${resumed ? `resuming snapshot generate in ${dir}: ${kept} files kept, ` : `snapshot of ${d.name} in ${dir}: `}${todo.length} files to write on ${parallel} sessions (${manifest.format}, slot ${manifest.slot} at ${manifest.lsn})`,
    });
    await runCopy({
      ...source,
      snapshot: manifest.snapshot,
      parallel,
      binary: manifest.format === 'binary',
      chunks: todo,
      sink: new FileSink(dir, manifest.compress),
      onChunk: (c: Chunk, r: ChunkResult) => {
        const t = manifest.tables.find((x) => x.schema === c.table.schema && x.name === c.table.name)!;
        const f = t.files.find((x) => x.chunk === c.index)!;
        Object.assign(f, { file: r.file, rows: r.rows, bytes: r.bytes, sha256: r.sha256 });
        writeManifest(dir, manifest);
      },
    });
    manifest.completedAt = new Date().toISOString();
    writeManifest(dir, manifest);
    done = true;
    return summary(dir, manifest, kept, resumed);
  } finally {
    heartbeat?.stop(done);
    await pub.end().catch(() => {});
    await sub.end().catch(() => {});
  }
}

function summary(dir: string, m: Manifest, kept: number, resumed: boolean): GenerateResult {
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
  };
}

// ---------------------------------------------------------------------------------------------
// apply

export interface ApplyResult {
  dir: string;
  subscription: string;
  lsn: string;
  rows: number;
  files: number;
  sequences: number;
  state: InitState;
}

/** Everything checked before the subscriber is touched: a refusal leaves it exactly as it was. */
async function verify(
  topology: Topology,
  d: SubscriptionSpec,
  dir: string,
  pub: pg.Client,
  sub: pg.Client,
  parallel: number,
): Promise<Manifest> {
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
  const bad: string[] = [];
  if (m.schemaFile) {
    const sum = existsSync(join(dir, m.schemaFile.file))
      ? await sha256File(join(dir, m.schemaFile.file))
      : null;
    if (sum !== m.schemaFile.sha256)
      bad.push(`${m.schemaFile.file}: ${sum === null ? 'missing' : 'its SHA-256 differs from the manifest'}`);
  }
  const intact = await filesIntact(
    dir,
    m.tables.flatMap((t) => t.files),
    parallel,
  );
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
  const subVersion = await versionOf(sub);
  if (m.format === 'binary' && major(subVersion) !== major(m.subscriberServerVersion)) {
    throw new SteepError(
      'snapshot.format',
      `the snapshot in ${dir} is in binary COPY format for PostgreSQL ${major(m.subscriberServerVersion)}, but ${d.node} runs ${major(subVersion)}; generate it again against this subscriber`,
      where(d),
    );
  }
  const { rows: slot } = await pub.query<{ active: boolean; confirmed: string | null }>(
    'SELECT active, confirmed_flush_lsn::text AS confirmed FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
    [m.slot],
  );
  if (!slot[0]) {
    throw new SteepError(
      'snapshot.slot_missing',
      `slot ${m.slot} of the snapshot in ${dir} no longer exists on ${d.from}, so the changes since ${m.lsn} are gone; generate a new snapshot`,
      where(d),
    );
  }
  if (slot[0].confirmed && compareLsn(slot[0].confirmed, m.lsn) > 0) {
    throw new SteepError(
      'snapshot.slot_consumed',
      `slot ${m.slot} on ${d.from} has been consumed past the snapshot's LSN (${m.lsn} → ${slot[0].confirmed}); generate a new snapshot`,
      where(d),
    );
  }
  const { rows: s } = await sub.query<{ enabled: boolean; slot: string | null }>(
    `SELECT subenabled AS enabled, subslotname AS slot FROM pg_catalog.pg_subscription
      WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())`,
    [d.name],
  );
  if (!s[0]) {
    throw new SteepError(
      'snapshot.no_subscription',
      `subscription ${d.name} does not exist on ${d.node} yet; run steep apply (it creates it disabled on slot ${d.slot}), then snapshot apply`,
      where(d),
    );
  }
  if (s[0].enabled) {
    throw new SteepError(
      'snapshot.already_applied',
      `subscription ${d.name} on ${d.node} is enabled already: its snapshot was applied (or it was enabled by hand); nothing was loaded`,
      where(d),
    );
  }
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
  return m;
}

export async function applySnapshot(
  topology: Topology,
  d: SubscriptionSpec,
  opts: SnapshotOptions & { dir: string; parallel?: number; wait?: boolean },
): Promise<ApplyResult> {
  const dir = opts.dir;
  const parallel = opts.parallel ?? d.init.parallel;
  const schema = topology.settings.stateSchema;
  const pub = await session(topology, d.from, 'steep snapshot apply');
  const sub = await session(topology, d.node, 'steep snapshot apply');
  try {
    const m = await verify(topology, d, dir, pub, sub, parallel);
    const chunks = new CopyChunkStore(schema, d.node);
    let plan = await chunks.list(sub, d.name, m.lsn);
    if (plan.length === 0) {
      // a fresh load: the tables' existing rows follow init.existingData
      const held = await tablesWithRows(sub, m.tables);
      if (held.length > 0 && d.init.existingData !== 'truncate') {
        throw new SteepError(
          'existing-data',
          `subscription ${d.name}: tables on ${d.node} already hold rows: ${held.join(', ')}; nothing was loaded: empty them, or set init.existingData: truncate`,
          where(d),
        );
      }
      await sub.query('BEGIN');
      if (held.length > 0) await sub.query(`TRUNCATE TABLE ${m.tables.map(quoteTable).join(', ')}`);
      await chunks.plan(
        sub,
        d.name,
        m.lsn,
        m.tables.flatMap((t) =>
          t.files.map((f) => ({
            table: { schema: t.schema, name: t.name },
            chunk: f.chunk,
            lower: f.lower,
            upper: f.upper,
            estimatedBytes: f.bytes ?? 0,
            rows: null,
            bytes: null,
          })),
        ),
      );
      await sub.query('COMMIT');
      plan = await chunks.list(sub, d.name, m.lsn);
    }
    await record(sub, topology, d, 'copying', opts.onEvent);
    const pending = new Set(
      plan.filter((r) => r.rows === null).map((r) => `${qualifiedName(r.table)}#${r.chunk}`),
    );
    const files = m.tables.flatMap((t) =>
      t.files.filter((f) => pending.has(`${qualifiedName(t)}#${f.chunk}`)).map((f) => ({ t, f })),
    );
    opts.onEvent({
      event: 'init.copy_planned',
      level: 'info',
      node: d.node,
      subscription: d.name,
      phase: 'copying',
      message: `loading ${files.length} of ${plan.length} files of the snapshot in ${dir} on ${parallel} sessions`,
    });
    const sink = new SubscriberSink({
      node: d.node,
      connection: topology.nodes[d.node]!.connection,
      connectTimeoutMs: topology.settings.connectTimeout,
      stateSchema: schema,
      subscription: d.name,
      lsn: m.lsn,
    });
    let rows = 0;
    const queue = [...files];
    await Promise.all(
      Array.from({ length: Math.max(1, Math.min(parallel, queue.length)) }, async () => {
        const writer = await sink.open();
        try {
          for (let next = queue.shift(); next; next = queue.shift()) {
            const { t, f } = next;
            const table: CopySourceTable = { ...t, estimatedBytes: 0, estimatedRows: 0, partitioned: false };
            let data: Readable = createReadStream(join(dir, f.file!), { highWaterMark: 1 << 20 });
            if (m.compress === 'gzip') data = data.pipe(createGunzip());
            const r = await writer.write(
              { table, index: f.chunk, lower: f.lower, upper: f.upper, estimatedBytes: 0 },
              data,
              m.format === 'binary',
            );
            rows += r.rows ?? 0;
          }
        } finally {
          await writer.close().catch(() => {});
        }
      }),
    );

    // sequences: at least the publisher's value at the snapshot (read after it), never backwards
    const setCount = await startOnSlot(
      sub,
      d,
      m.lsn,
      m.sequences.map((s) => ({ schema: s.schema, name: s.name, last: s.value })),
    );
    await chunks.clear(sub, d.name);
    await record(sub, topology, d, 'catching_up', opts.onEvent);
    let state: InitState = 'catching_up';
    if (d.enabled && opts.wait !== false) {
      const last = await followInit(followTargetOf(topology, d), {
        onEvent: opts.onEvent,
        connectTimeoutMs: topology.settings.connectTimeout,
      });
      state = last.state;
    }
    return {
      dir,
      subscription: d.name,
      lsn: m.lsn,
      rows,
      files: files.length,
      sequences: setCount,
      state,
    };
  } finally {
    await pub.end().catch(() => {});
    await sub.end().catch(() => {});
  }
}

async function tablesWithRows(
  sub: pg.Client,
  tables: ReadonlyArray<{ schema: string; name: string }>,
): Promise<string[]> {
  const out: string[] = [];
  for (const t of tables) {
    const { rows } = await sub.query<{ e: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${quoteTable(t)}) AS e`);
    if (rows[0]?.e) out.push(qualifiedName(t));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// list and delete

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
