import { closeSync, constants, ftruncateSync, openSync, writeSync } from 'node:fs';

/**
 * A snapshot file written with direct I/O (`O_DIRECT`) where the file system allows it, used by
 * the file writer threads (fileWriterMain.ts).
 *
 * Why: a buffered write copies every byte into the page cache, and a snapshot's files are not
 * read again soon (apply runs later, often elsewhere). That copy was the largest single cost of
 * `snapshot generate` here, about half the writer threads' CPU, and on this VM a buffered write
 * into pages not used for a while costs many times the system time of the same write with
 * `oflag=direct`. Direct I/O also leaves the
 * machine's page cache alone, where a multi-terabyte snapshot would evict everything else.
 *
 * Direct I/O wants the memory, the file position and the length aligned (to the logical block
 * size; 4096 covers every common one). JavaScript cannot ask where a Buffer lies, so the first
 * file finds an offset into a staging buffer where a direct write succeeds (EINVAL until then: a
 * large Buffer starts 16 bytes past a page boundary, behind the allocator's header, so here, with
 * 512-byte sectors, offset 496 is the first taken). Each block is copied into the staging buffer
 * behind the unaligned tail of the one before, the aligned part goes out directly, and the
 * last tail (under 4096 bytes) through an ordinary descriptor when the file is closed. A file
 * system without `O_DIRECT` (or refusing a write later) gets ordinary writes, from the same
 * position on: the bytes are the same either way.

 */

export const DIRECT_ALIGN = 4096;

export class DirectFile {
  private fd = -1;
  /** the same file opened with O_DIRECT, -1 when written the ordinary way */
  private direct = -1;
  /** bytes handed to the OS so far (a multiple of DIRECT_ALIGN while writing directly) */
  private position = 0;
  /** bytes at the front of `stage` not yet written (the tail short of an aligned size) */
  private carry = 0;
  /** the aligned staging memory; null: ordinary writes */
  private stage: Buffer | null = null;

  /**
   * Open (create or truncate) `path`. `memory` is the writer's staging memory, kept between
   * files; the first file that can write directly finds its alignment.
   */
  constructor(path: string, memory: StagingMemory) {
    this.fd = openSync(path, 'w');
    if (memory.usable === false) return;
    try {
      this.direct = openSync(path, constants.O_WRONLY | constants.O_DIRECT);
    } catch {
      return; // a file system without O_DIRECT
    }
    this.stage = memory.align(this.direct);
    if (!this.stage) this.stopDirect();
  }

  /** Whether the file's bytes go out with direct I/O (so far). */
  get isDirect(): boolean {
    return this.direct >= 0;
  }

  /** Write `b` (copied into the staging memory first while writing directly). */
  write(b: Buffer): void {
    if (this.direct < 0) {
      this.position = writeAll(this.fd, b, 0, b.length, this.position);
      return;
    }
    const stage = this.stage!;
    const room = stage.length - DIRECT_ALIGN;
    for (let from = 0; from < b.length; from += room)
      this.stageAndWrite(stage, b, from, Math.min(b.length, from + room));
  }

  /** Behind the carried tail, b[from, to) into the staging memory; its aligned part written directly. */
  private stageAndWrite(stage: Buffer, b: Buffer, from: number, to: number): void {
    b.copy(stage, this.carry, from, to);
    const n = this.carry + to - from;
    if (this.direct < 0) {
      this.position = writeAll(this.fd, stage, 0, n, this.position);
      this.carry = 0;
      return;
    }
    const whole = n - (n % DIRECT_ALIGN);
    if (whole > 0) {
      try {
        this.position = writeAll(this.direct, stage, 0, whole, this.position);
      } catch {
        // refused after all (a short write leaves an unaligned rest, which the next refuses):
        // all of it again the ordinary way, from where this began (`position` moves on success only)
        this.stopDirect();
        this.position = writeAll(this.fd, stage, 0, n, this.position);
        this.carry = 0;
        return;
      }
      stage.copyWithin(0, whole, n);
    }
    this.carry = n - whole;
  }

  private stopDirect(): void {
    if (this.direct >= 0) closeSync(this.direct);
    this.direct = -1;
  }

  /** Write what is left and close; the file's length is what was written. */
  close(): void {
    try {
      if (this.carry > 0) this.position = writeAll(this.fd, this.stage!, 0, this.carry, this.position);
      this.carry = 0;
      // the alignment probe may have written past the end of a file shorter than a block
      if (this.stage) ftruncateSync(this.fd, this.position);
    } finally {
      this.release();
    }
  }

  /** Close without writing what is left (a failed chunk's file). */
  release(): void {
    this.stopDirect();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Write b[from, to) at `position`; the position after it. */
function writeAll(fd: number, b: Buffer, from: number, to: number, position: number): number {
  let p = position;
  for (let at = from; at < to; ) {
    const n = writeSync(fd, b, at, to - at, p);
    at += n;
    p += n;
  }
  return p;
}

/**
 * The first offset into `memory`, in 16-byte steps within a page, from which a direct write of
 * DIRECT_ALIGN bytes at `position` is taken (the allocator places memory 16 bytes apart); null
 * when none is, or the file refuses for another reason than the alignment.
 */
function probeAlignment(fd: number, memory: Buffer, position: number): number | null {
  for (let k = 0; k < DIRECT_ALIGN; k += 16) {
    if (k + DIRECT_ALIGN > memory.length) continue;
    try {
      writeSync(fd, memory, k, DIRECT_ALIGN, position);
      return k;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') return null;
    }
  }
  return null;
}

/**
 * A writer's staging memory for direct writes, `bytes` plus room to align it, kept between its
 * files. Its alignment is found once, at the start of the first file (probeAlignment).
 */
export class StagingMemory {
  private readonly memory: Buffer;
  private aligned: Buffer | null = null;
  /** null: not tried yet; false: no offset was taken */
  usable: boolean | null = null;

  constructor(private readonly bytes: number) {
    this.memory = Buffer.alloc(bytes + 3 * DIRECT_ALIGN);
  }

  /** The aligned view (null when none), trying `fd` (opened O_DIRECT) the first time. */
  align(fd: number): Buffer | null {
    if (this.usable !== null) return this.aligned;
    const k = probeAlignment(fd, this.memory, 0);
    this.usable = k !== null;
    if (k !== null) {
      this.aligned = this.memory.subarray(k, k + this.bytes + 2 * DIRECT_ALIGN);
    }
    return this.aligned;
  }
}
