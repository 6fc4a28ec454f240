import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { CopyOut } from '../db/copyOut.js';
import { SteepError } from '../model/errors.js';
import type { Chunk, ChunkSink, ChunkWriter } from './engine.js';
import { FileWriter } from './fileWriter.js';

/**
 * A two-phase snapshot on disk (docs/steep-yaml.md): one file per table or key range, `schema.sql`, and
 * `manifest.json`, which says what the files hold (topology, subscription, slot, consistent
 * LSN, server versions, per table its columns, row filter, ranges, and per file its rows,
 * bytes and SHA-256) and the sequences' values. A file is listed with its checksum only once
 * it is complete (written under a temporary name, then renamed), so an interrupted generate
 * knows exactly which files to keep.
 */

export const MANIFEST = 'manifest.json';
export const SCHEMA_FILE = 'schema.sql';
export const FORMAT_VERSION = 1;

export interface ManifestFile {
  chunk: number;
  lower: string | null;
  upper: string | null;
  estimatedBytes: number;
  /** null until written */
  file: string | null;
  rows: number | null;
  bytes: number | null;
  sha256: string | null;
}

export interface ManifestTable {
  schema: string;
  name: string;
  columns: Array<{ name: string; type: string; builtin: boolean }>;
  rowFilter: string | null;
  key: { column: string; type: string } | null;
  files: ManifestFile[];
}

export interface Manifest {
  formatVersion: number;
  steepVersion: string;
  createdAt: string;
  completedAt: string | null;
  topology: string;
  subscription: string;
  publisher: string;
  subscriber: string;
  publications: string[];
  slot: string;
  lsn: string;
  snapshot: string;
  serverVersion: number;
  subscriberServerVersion: number;
  format: 'binary' | 'text';
  compress: 'gzip' | 'none';
  schemaFile: { file: string; sha256: string } | null;
  sequences: Array<{ schema: string; name: string; value: string | null }>;
  tables: ManifestTable[];
}

export function readManifest(dir: string): Manifest | null {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) return null;
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (err) {
    throw new SteepError(
      'snapshot.manifest_invalid',
      `${path} is not a steep snapshot manifest: ${(err as Error).message}`,
    );
  }
  if (m?.formatVersion !== FORMAT_VERSION || !Array.isArray(m.tables) || typeof m.lsn !== 'string') {
    throw new SteepError(
      'snapshot.manifest_invalid',
      `${path} is not a steep snapshot manifest of format ${FORMAT_VERSION} (formatVersion ${String(m?.formatVersion)})`,
    );
  }
  return m;
}

/** Every file the manifest lists, and the rows and bytes of those written. */
export function manifestTotals(m: Manifest): { files: ManifestFile[]; rows: number; bytes: number } {
  const files = m.tables.flatMap((t) => t.files);
  return {
    files,
    rows: files.reduce((n, f) => n + (f.rows ?? 0), 0),
    bytes: files.reduce((n, f) => n + (f.bytes ?? 0), 0),
  };
}

/** The chunk a manifest's file holds. */
export function fileChunk(t: ManifestTable, f: ManifestFile): Chunk {
  const table = { ...t, estimatedBytes: 0, estimatedRows: 0, partitioned: false, generated: false };
  return { table, index: f.chunk, lower: f.lower, upper: f.upper, estimatedBytes: f.estimatedBytes };
}

/** Written whole under a temporary name, then renamed: a reader never sees half a manifest. */
export function writeManifest(dir: string, m: Manifest): void {
  const tmp = join(dir, `${MANIFEST}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(m, null, 2)}\n`);
  renameSync(tmp, join(dir, MANIFEST));
}

/** A file's SHA-256, read into one buffer reused for every read (a new one each read costs more). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const file = await open(path, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (;;) {
      const { bytesRead } = await file.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
  return hash.digest('hex');
}

/** The file name of a chunk: `public.orders.3.copy.gz`, safe for any table name. */
export function chunkFileName(
  t: { schema: string; name: string },
  chunk: number,
  compress: 'gzip' | 'none',
): string {
  const safe = (s: string) => encodeURIComponent(s).replace(/\./g, '%2E');
  return `${safe(t.schema)}.${safe(t.name)}.${chunk}.copy${compress === 'gzip' ? '.gz' : ''}`;
}

/**
 * For each file, what is wrong with it (null: it exists with the size and SHA-256 the manifest
 * lists). The sizes are checked first, then the files hashed one after another.
 */
export async function filesIntact(
  dir: string,
  files: readonly ManifestFile[],
): Promise<Map<ManifestFile, string | null>> {
  const out = new Map<ManifestFile, string | null>();
  for (const f of files) {
    const path = f.file ? join(dir, f.file) : '';
    if (!f.file || !f.sha256) out.set(f, 'not written');
    else if (!existsSync(path)) out.set(f, 'missing');
    else if (f.bytes !== null && statSync(path).size !== f.bytes)
      out.set(f, `${statSync(path).size} bytes instead of ${f.bytes} (truncated?)`);
    else
      out.set(
        f,
        (await sha256File(path)) === f.sha256 ? null : 'its SHA-256 differs from the manifest (corrupted)',
      );
  }
  return out;
}

/** The file sink of `snapshot generate`: each chunk to its own file, hashed as written (fileWriter.ts). */
export class FileSink implements ChunkSink {
  constructor(
    private readonly dir: string,
    readonly compress: 'gzip' | 'none',
  ) {}

  async open(): Promise<ChunkWriter> {
    const writer = new FileWriter();
    return {
      write: async (chunk: Chunk, data: Readable) => {
        const file = chunkFileName(chunk.table, chunk.index, this.compress);
        const tmp = join(this.dir, `${file}.partial`);
        let source: Readable = data;
        if (this.compress === 'gzip') {
          const gzip = createGzip();
          data.on('error', (e) => gzip.destroy(e));
          source = data.pipe(gzip);
        }
        writer.open(tmp);
        let bytes = 0;
        let sha256: string;
        try {
          if (source instanceof CopyOut) {
            // the rows straight into the file as they come
            await source.into(writer);
            bytes = source.bytes;
          } else
            for await (const b of source as AsyncIterable<Buffer>) {
              bytes += b.length;
              writer.put(b);
            }
          sha256 = writer.close(true);
        } catch (err) {
          writer.close(false);
          throw err;
        }
        renameSync(tmp, join(this.dir, file));
        return { bytes, file, sha256 };
      },
      close: async () => {},
    };
  }
}
