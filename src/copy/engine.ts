import type { Readable } from 'node:stream';
import type pg from 'pg';
import { type CopySourceTable, copyOutSql, readSplitPoints } from '../catalog/copySource.js';
import { connect } from '../db/connect.js';
import { CopyOut } from '../db/copyOut.js';
import { mask } from '../db/mask.js';
import { sleep } from '../executors/sleep.js';
import { SteepError } from '../model/errors.js';
import type { LoadMode } from '../model/loadOrder.js';
import { quoteLiteral } from '../model/sql.js';
import type { ConnectionSpec } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import type { ChunkRecord } from '../state/copyChunks.js';
import { LoadQueue, type LoadUnit, loadUnit, loadUnits } from './loadQueue.js';

/**
 * steep's own copy engine (docs/steep-yaml.md): N sessions on one exported snapshot, each streaming
 * `COPY … TO STDOUT` of one chunk at a time (a whole table, or one key range of a big one) into
 * a sink: the subscriber's `COPY … FROM STDIN`, or a file. Nothing is held in memory beyond the
 * streams' buffers, so memory stays flat in table size. A chunk that fails is retried on a
 * fresh session (up to RETRIES times, the snapshot still held); the sink makes each finished
 * chunk durable together with its record, so a rerun skips exactly the chunks that are done.
 */

export interface Chunk {
  table: CopySourceTable;
  /** 0 for a table copied whole */
  index: number;
  lower: string | null;
  upper: string | null;
  /** the table's estimated size shared among its chunks */
  estimatedBytes: number;
}

export interface ChunkResult {
  rows: number;
  bytes: number;
  /** a file sink: the file written and its SHA-256 */
  file?: string;
  sha256?: string;
}

/** Where a chunk's COPY data goes; `write` resolves once the chunk is durable. */
export interface ChunkSink {
  open(): Promise<ChunkWriter>;
}

export interface ChunkWriter {
  /**
   * `body`'s writes in one transaction with SET CONSTRAINTS ALL DEFERRED (a group of tables
   * whose DEFERRABLE foreign keys reference each other); absent where a sink cannot
   */
  deferred?<R>(body: () => Promise<R>): Promise<R>;
  /** `rows` may be left out: the engine takes it from the COPY's own count */
  write(
    chunk: Chunk,
    data: Readable,
    binary: boolean,
  ): Promise<Omit<ChunkResult, 'rows'> & { rows?: number }>;
  close(): Promise<void>;
}

/** The publisher a copy reads: the node, how to reach it. */
export type CopySource = Pick<CopyRun, 'node' | 'connection' | 'connectTimeoutMs'>;
/** … and the exported snapshot it reads at. */
export type AtSnapshot = CopySource & Pick<CopyRun, 'snapshot'>;

export interface CopyRun {
  node: string;
  connection: ConnectionSpec;
  connectTimeoutMs?: number;
  snapshot: string;
  parallel: number;
  binary: boolean;
  chunks: Chunk[];
  sink: ChunkSink;
  onChunk?: (chunk: Chunk, result: ChunkResult) => void;
  /** bytes streamed so far, as they pass (progress between chunk ends) */
  onBytes?: (n: number) => void;
  /** set when the run must stop: no new chunk starts */
  signal?: AbortSignal;
  /** the order tables load in (absent: any order, as replication loads) */
  load?: LoadMode;
  /** sessions opened at the snapshot before the run (openSnapshotSessions): the run takes them */
  opened?: Array<Promise<pg.Client>>;
}

/** `c` as `copy_chunks` records it before it is copied (`estimatedBytes`: the size to record). */
export function chunkRecord(c: Chunk, estimatedBytes = c.estimatedBytes): ChunkRecord {
  const { schema, name } = c.table;
  return {
    table: { schema, name },
    chunk: c.index,
    lower: c.lower,
    upper: c.upper,
    estimatedBytes,
    rows: null,
    bytes: null,
  };
}

export const RETRIES = 3;
const RETRY_DELAY_MS = 1000;

/** Split `tables` into chunks: those above `splitAbove` (and not `whole`) into key ranges from the key's distribution. */
export async function planChunks(
  client: pg.Client,
  tables: readonly CopySourceTable[],
  opts: { splitAbove: number; parallel: number; whole?: readonly string[] },
): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for (const t of tables) {
    const wanted =
      t.estimatedBytes > opts.splitAbove && t.key && !opts.whole?.includes(qualifiedName(t))
        ? Math.min(256, Math.max(opts.parallel, Math.ceil(t.estimatedBytes / opts.splitAbove)))
        : 1;
    const points = wanted > 1 ? await readSplitPoints(client, t, wanted) : [];
    const bounds: Array<string | null> = [null, ...points, null];
    const share = t.estimatedBytes / (bounds.length - 1);
    for (let i = 0; i + 1 < bounds.length; i++)
      out.push({ table: t, index: i, lower: bounds[i]!, upper: bounds[i + 1]!, estimatedBytes: share });
  }
  // the biggest chunks first, so the last ones to finish are small
  return out.sort((a, b) => b.estimatedBytes - a.estimatedBytes || compareChunks(a, b));
}

function compareChunks(a: Chunk, b: Chunk): number {
  const x = qualifiedName(a.table);
  const y = qualifiedName(b.table);
  return x < y ? -1 : x > y ? 1 : a.index - b.index;
}

/**
 * A publisher session inside a REPEATABLE READ transaction at the exported snapshot, reading
 * into one buffer reused for every read (db/readBufferSocket.ts).
 */
export async function snapshotSession(run: AtSnapshot): Promise<pg.Client> {
  const client = await connect(run.connection, {
    node: run.node,
    applicationName: 'steep copy',
    connectTimeoutMs: run.connectTimeoutMs,
    reuseReadBuffer: true,
  });
  try {
    await beginAtSnapshot(client, run.snapshot);
    return client;
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
}

/**
 * `client`'s new REPEATABLE READ transaction at the exported snapshot (both statements issued at
 * once: one round trip on a pipelined session).
 */
export async function beginAtSnapshot(client: pg.Client, snapshot: string): Promise<void> {
  await Promise.all([
    client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY'),
    client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`),
  ]);
}

/**
 * `n` copy sessions at the snapshot, opened now for a runCopy to come (its `opened`), while the
 * caller reads the catalogs at the snapshot: the copy then starts on sessions ready. One that
 * failed to open fails its first chunk's first attempt, which is retried on a new session.
 */
export function openSnapshotSessions(run: AtSnapshot, n: number): Array<Promise<pg.Client>> {
  return Array.from({ length: n }, () => {
    const session = snapshotSession(run);
    session.catch(() => {});
    return session;
  });
}

/** End sessions opened at the snapshot and not used (emptying `sessions`). */
export async function closeSessions(sessions: Array<Promise<pg.Client>>): Promise<void> {
  await Promise.all(sessions.splice(0).map((s) => s.then((c) => c.end()).catch(() => {})));
}

/**
 * The exporting connection is gone: SET TRANSACTION SNAPSHOT fails with 42704 "snapshot … does
 * not exist" on newer servers, 22023 "invalid snapshot identifier" on older ones.
 */
function snapshotGone(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === '42704' || code === '22023';
}

/** Is the exported snapshot still held (its holder alive)? */
export async function snapshotHeld(run: AtSnapshot): Promise<boolean> {
  try {
    const c = await snapshotSession(run);
    await c.end().catch(() => {});
    return true;
  } catch (err) {
    if (snapshotGone(err)) return false;
    throw err;
  }
}

/** "public.orders (range 2)", or the tables of a deferred group */
function unitText(unit: LoadUnit<Chunk>): string {
  const c = unit.items[0]!;
  if (unit.items.length > 1)
    return `${[...new Set(unit.items.map((i) => qualifiedName(i.table)))].join(', ')} (loaded together, foreign keys deferred)`;
  return `${qualifiedName(c.table)}${c.lower !== null || c.upper !== null ? ` (range ${c.index + 1})` : ''}`;
}

/** One unit's chunks from `source` into `writer`: a deferred group in one transaction of the writer's. */
async function copyUnit(
  run: CopyRun,
  unit: LoadUnit<Chunk>,
  source: pg.Client,
  writer: ChunkWriter,
): Promise<ChunkResult[]> {
  return loadUnit(unit, writer, async (chunk) => {
    const sql = copyOutSql(chunk.table, chunk, run.binary);
    const out = source.query(new CopyOut(sql, run.onBytes));
    const written = await writer.write(chunk, out, run.binary);
    return { ...written, rows: written.rows ?? out.rowCount };
  });
}

/**
 * Copy every chunk with `parallel` workers, in the order `run.load` gives (loadQueue.ts);
 * rejects with the first chunk (or deferred group) that fails RETRIES times.
 */
export async function runCopy(run: CopyRun): Promise<void> {
  const tableOf = (c: Chunk) => qualifiedName(c.table);
  const queue = new LoadQueue(loadUnits(run.chunks, tableOf, run.load ?? null), tableOf);
  const workers = Math.max(1, Math.min(run.parallel, run.chunks.length));
  const opened = run.opened?.splice(0) ?? [];
  void closeSessions(opened.splice(workers));
  let failure: unknown = null;
  const worker = async (): Promise<void> => {
    let source: pg.Client | null = null;
    let writer: ChunkWriter | null = null;
    try {
      for (
        let unit = await queue.take();
        unit && failure === null && !run.signal?.aborted;
        unit = await queue.take()
      ) {
        for (let attempt = 1; ; attempt++) {
          try {
            source ??= await (opened.pop() ?? snapshotSession(run));
            writer ??= await run.sink.open();
            const results = await copyUnit(run, unit, source, writer);
            for (const [i, chunk] of unit.items.entries()) run.onChunk?.(chunk, results[i]!);
            break;
          } catch (err) {
            await source?.end().catch(() => {});
            await writer?.close().catch(() => {});
            source = null;
            writer = null;
            if (attempt >= RETRIES || run.signal?.aborted || snapshotGone(err)) {
              throw new SteepError(
                'copy.chunk_failed',
                `copy of ${unitText(unit)} ` +
                  `failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${mask(err instanceof Error ? err.message : String(err))}`,
                { node: run.node, cause: err },
              );
            }
            await sleep(RETRY_DELAY_MS * attempt);
          }
        }
        queue.done(unit);
      }
    } catch (err) {
      failure ??= err;
      queue.stop();
    } finally {
      await source?.end().catch(() => {});
      await writer?.close().catch(() => {});
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  await closeSessions(opened);
  if (failure !== null) throw failure;
}
