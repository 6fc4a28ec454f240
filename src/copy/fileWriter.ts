import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CopySink } from '../db/copyOut.js';
import { MODULES_DIR } from '../location.js';

/**
 * A copy session's file writer on a writer thread (fileWriterMain.ts), which it may share with
 * other sessions' (WriterThreads): the session copies its COPY data into blocks, and the thread
 * hashes (SHA-256) and writes each full block to the file, so neither the hash nor the write
 * system calls take the event loop, which all sessions' parsing shares. A block is moved to the
 * thread and back (its memory transferred, not copied); the blocks are the same for all the
 * session's files (a new Buffer per write made V8 collect its whole heap every few dozen MB:
 * memory outside the heap counts towards its next collection). They are not shared memory: V8
 * copies into a SharedArrayBuffer a word at a time (a "relaxed" move, as other threads may read
 * it meanwhile), which costs measurably more CPU per GB than the plain copy.
 */

/** Bytes of one block (one hash update, one file write; a socket read is 16–64 kB). */
export const BLOCK_BYTES = 1 << 20;
/** Blocks per session: one being filled while the thread writes the others. */
const BLOCKS = 3;

type Failure = { message: string; code?: string };
type Reply = { id: number } & (
  | { free: number; memory: ArrayBuffer; failed: Failure | null }
  | { sha256: string }
  | { failed: Failure }
);

function writeError(f: Failure): Error {
  return Object.assign(new Error(f.message), { code: f.code });
}

/**
 * A file writer thread, shared by the writers of several sessions (`WriterThreads`): each
 * writer has an id its messages and the thread's replies carry. It keeps the process alive only
 * while one of them has a file open, and ends once the last has ended.
 */
class WriterThread {
  private readonly worker = new Worker(new URL('copy/fileWriterMain.js', MODULES_DIR));
  private readonly writers = new Map<number, FileWriter>();
  private readonly open = new Set<number>();
  private nextId = 0;
  /** the thread's crash or end: every writer on it fails, and no new one is given it */
  dead: Error | null = null;

  constructor() {
    // started ahead (FileSink's spares), it keeps no process alive until a writer opens a file
    this.worker.unref();
    this.worker.on('message', (r: Reply) => this.writers.get(r.id)?.reply(r));
    this.worker.on('error', (e) => this.die(e));
    this.worker.on('exit', () => this.die(new Error('the file writer thread ended')));
  }

  get size(): number {
    return this.writers.size;
  }

  add(w: FileWriter): number {
    const id = this.nextId++;
    this.writers.set(id, w);
    return id;
  }

  post(message: object, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(message, transfer);
  }

  /** Writer `id` has a file open (true) or none: the process stays alive while one has. */
  holding(id: number, open: boolean): void {
    if (open) this.open.add(id);
    else this.open.delete(id);
    if (this.open.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  async remove(id: number): Promise<void> {
    this.holding(id, false);
    if (!this.writers.delete(id)) return;
    if (this.writers.size > 0) this.post({ id, end: true });
    else {
      // the last writer: the thread ends, and takes no new one
      this.dead ??= new Error('the file writer thread ended');
      this.worker.removeAllListeners('exit');
      await this.worker.terminate();
    }
  }

  private die(e: Error): void {
    this.dead ??= e;
    for (const w of this.writers.values()) w.fail(e);
  }
}

/**
 * The writer threads of one FileSink: a thread for every core at most, the sessions spread
 * evenly over them. A thread takes noticeable CPU to start, at the start of `snapshot generate`,
 * where every core is busy: on 2 cores, 2 threads for 4 sessions made generate faster than a
 * thread a session; 1 thread for all 4 made it slower, the sessions waiting for their blocks
 * behind each other's.
 */
export class WriterThreads {
  private readonly threads: WriterThread[] = [];
  /** writers a thread takes */
  private readonly perThread: number;

  constructor(sessions: number, cores = availableParallelism()) {
    const threads = Math.max(1, Math.min(sessions, cores));
    this.perThread = Math.max(1, Math.ceil(sessions / threads));
  }

  writer(): FileWriter {
    let t = this.threads.find((x) => !x.dead && x.size < this.perThread);
    if (!t) {
      t = new WriterThread();
      this.threads.push(t);
    }
    return new FileWriter(t);
  }
}

export class FileWriter implements CopySink {
  /** a block the thread holds is a detached (empty) Buffer here until it comes back */
  private readonly blocks = Array.from({ length: BLOCKS }, () => Buffer.from(new ArrayBuffer(BLOCK_BYTES)));
  private readonly id: number;
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
  /** put(): the bytes that found no free block, waiting for one (in `spare`) */
  private waiting: Buffer | null = null;
  /**
   * put()'s memory for the bytes waiting, kept: the sessions wait for their blocks often (the
   * threads' hashing sets the pace), and a new Buffer each time was memory the kernel had to
   * clear first
   */
  private spare = Buffer.alloc(0);

  constructor(private readonly thread: WriterThread) {
    this.id = thread.add(this);
  }

  /** The thread's answer to this writer. */
  reply(r: Reply): void {
    if ('free' in r) {
      this.blocks[r.free] = Buffer.from(r.memory);
      this.free.push(r.free);
      if (r.failed) this.broken ??= writeError(r.failed);
      this.wake?.();
    } else if ('sha256' in r) this.closing?.resolve(r.sha256);
    else this.closing?.reject(writeError(r.failed));
  }

  fail(e: Error): void {
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
    this.thread.holding(this.id, true);
    this.broken = this.dead;
    this.thread.post({ id: this.id, open: path });
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
    this.thread.post({ id: this.id, block: this.current, bytes: this.used, memory }, [memory]);
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
          const rest = data.length - at;
          if (this.spare.length < rest) this.spare = Buffer.allocUnsafe(Math.max(rest, 1 << 16));
          data.copy(this.spare, 0, at);
          this.waiting = this.spare.subarray(0, rest);
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

  /** Resolves once what put() left waiting is in blocks (more than a block waits for several). */
  async room(): Promise<void> {
    while (this.waiting) {
      const rest = this.waiting;
      await this.take();
      this.waiting = null;
      this.put(rest);
    }
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
    this.thread.post({ id: this.id, close: keep });
    try {
      return await done;
    } finally {
      this.closing = null;
      this.thread.holding(this.id, false);
    }
  }

  async end(): Promise<void> {
    await this.thread.remove(this.id);
  }
}
