import { Worker } from 'node:worker_threads';
import { MODULES_DIR } from '../location.js';
import type { CopySink } from './copyOut.js';

/**
 * A copy session's file writer on a thread of its own (fileWriterMain.ts): the session copies
 * its COPY data into blocks, and the thread hashes (SHA-256) and writes each full block to the
 * file, so neither the hash nor the write system calls take the event loop, which all sessions'
 * parsing shares. A block is moved to the thread and back (its memory transferred, not copied);
 * the blocks are the same for all the session's files (a new Buffer per write made V8 collect
 * its whole heap every few dozen MB: memory outside the heap counts towards its next
 * collection). They are not shared memory: V8 copies into a SharedArrayBuffer a word at a time
 * (a "relaxed" move, as other threads may read it meanwhile), which cost ~0.1 s of CPU per GB
 * more than the plain copy (`snapshot generate` of 1 GB: 2.57 vs 2.67 s, medians of 4).
 */

/** Bytes of one block (one hash update, one file write; a socket read is 16–64 kB). */
export const BLOCK_BYTES = 1 << 20;
/** Blocks per session: one being filled while the thread writes the others. */
const BLOCKS = 3;

type Failure = { message: string; code?: string };
type Reply =
  | { free: number; memory: ArrayBuffer; failed: Failure | null }
  | { sha256: string }
  | { failed: Failure };

function writeError(f: Failure): Error {
  return Object.assign(new Error(f.message), { code: f.code });
}

export class FileWriter implements CopySink {
  /** a block the thread holds is a detached (empty) Buffer here until it comes back */
  private readonly blocks = Array.from({ length: BLOCKS }, () => Buffer.from(new ArrayBuffer(BLOCK_BYTES)));
  private readonly worker = new Worker(new URL('copy/fileWriterMain.js', MODULES_DIR));
  private readonly free: number[] = this.blocks.map((_, i) => i);
  /** a take() waiting for a free block */
  private wake: (() => void) | null = null;
  private closing: { resolve: (sha256: string) => void; reject: (e: Error) => void } | null = null;
  private broken: Error | null = null;
  /** the thread's end or crash */
  private dead: Error | null = null;
  private current = -1;
  /** bytes in the current block */
  private used = 0;
  /** put(): the bytes that found no free block, waiting for one */
  private waiting: Buffer | null = null;

  constructor() {
    // a writer started ahead (FileSink's spares) keeps no process alive until it is used
    this.worker.unref();
    this.worker.on('message', (r: Reply) => {
      if ('free' in r) {
        this.blocks[r.free] = Buffer.from(r.memory);
        this.free.push(r.free);
        if (r.failed) this.broken ??= writeError(r.failed);
        this.wake?.();
      } else if ('sha256' in r) this.closing?.resolve(r.sha256);
      else this.closing?.reject(writeError(r.failed));
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', () => this.fail(new Error('the file writer thread ended')));
  }

  private fail(e: Error): void {
    this.dead ??= e;
    this.broken ??= e;
    this.wake?.();
    this.closing?.reject(e);
  }

  /** The block being filled; `used` bytes of it are. */
  private get block(): Buffer {
    return this.blocks[this.current]!;
  }

  /** Start a file. */
  async open(path: string): Promise<void> {
    this.worker.ref();
    this.broken = this.dead;
    this.worker.postMessage({ open: path });
    await this.take();
  }

  private async take(): Promise<void> {
    while (this.free.length === 0) {
      if (this.broken) throw this.broken;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
    if (this.broken) throw this.broken;
    this.current = this.free.shift()!;
    this.used = 0;
  }

  /** Hand the filled part of the current block to the thread. */
  private post(): void {
    const memory = this.block.buffer as ArrayBuffer;
    this.worker.postMessage({ block: this.current, bytes: this.used, memory }, [memory]);
    this.current = -1;
    this.used = 0;
  }

  /**
   * A COPY's rows as they come (CopySink): copied into the blocks at once, full blocks handed
   * to the thread; false when no block was free for all of it, the rest waiting here until
   * `room()` has found one.
   */
  put(data: Buffer): boolean {
    if (this.broken) throw this.broken;
    for (let at = 0; at < data.length; ) {
      if (this.current < 0) {
        if (this.free.length === 0) {
          this.waiting = Buffer.from(data.subarray(at));
          return false;
        }
        this.current = this.free.shift()!;
        this.used = 0;
      }
      const n = data.copy(this.block, this.used, at);
      this.used += n;
      at += n;
      if (this.used === BLOCK_BYTES) this.post();
    }
    return true;
  }

  /** Resolves once what put() left waiting is in a block. */
  async room(): Promise<void> {
    const rest = this.waiting;
    if (!rest) return;
    await this.take();
    this.waiting = null;
    this.put(rest);
  }

  /** Close the file: its SHA-256 once all is written (`keep`), or '' (a failed chunk's file let go). */
  async close(keep: boolean): Promise<string> {
    if (keep) {
      await this.room();
      if (this.broken) throw this.broken;
      if (this.current >= 0 && this.used > 0) this.post();
    }
    this.waiting = null;
    if (this.current >= 0) this.free.push(this.current);
    this.current = -1;
    if (this.dead) throw this.dead;
    const done = new Promise<string>((resolve, reject) => {
      this.closing = { resolve, reject };
    });
    this.worker.postMessage({ close: keep });
    try {
      return await done;
    } finally {
      this.closing = null;
    }
  }

  async end(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
