import { Readable } from 'node:stream';
import type { Connection } from 'pg';
import { ReadBufferSocket } from './readBufferSocket.js';

/**
 * `COPY … TO STDOUT` for node-postgres as a readable stream of the COPY data (a submittable,
 * as pg-copy-streams' `to`, whose place it takes in steep: every COPY steep runs reads through
 * this, or writes through copyIn.ts).
 *
 * PostgreSQL sends every row in its own CopyData message (`d`, a 4-byte length, the row).
 * pg-copy-streams cuts each into a Buffer of its own and joins them again: for short rows
 * that was most of the CPU of `snapshot generate`. Here the rows of one socket read are
 * moved together inside that read's buffer (over the 5-byte headers, `copyWithin`), and the read
 * goes out as one Buffer: no allocation per row.
 *
 * Like pg-copy-streams, it takes the connection's socket from node-postgres while the COPY
 * runs and gives it back, with the bytes after CopyDone (CommandComplete, ReadyForQuery) or
 * from an ErrorResponse on, so node-postgres ends the query (or reports the error) as usual.
 * On a session whose socket reuses its read buffer (db/readBufferSocket.ts) it reads that
 * buffer in place: what it pushes is then a copy, unless a sink takes the rows (`into`).
 */

/** Takes a COPY's rows as they come (`CopyOut.into`), instead of a reader of the stream. */
export interface CopySink {
  /** Take `rows`, valid only during the call: write or copy them before returning. */
  put(rows: Buffer): void;
}

const COPY_DATA = 0x64; // d
const COPY_DONE = 0x63; // c
const ERROR_RESPONSE = 0x45; // E
const HEADER = 5;

/**
 * The 4-byte big-endian length at `i`. Not `readUInt32BE`, which checks its arguments at every
 * call: once a row, that was a measurable part of `snapshot generate`.
 */
function lengthAt(buf: Buffer, i: number): number {
  return buf[i]! * 0x1000000 + ((buf[i + 1]! << 16) | (buf[i + 2]! << 8) | buf[i + 3]!);
}

/** The rows a COPY moved, from its CommandComplete tag (`COPY n`); null when it says none. */
export function copiedRows(msg: { text?: string }): number | null {
  const match = /COPY (\d+)/.exec(msg?.text ?? '');
  return match ? Number.parseInt(match[1]!, 10) : null;
}

export class CopyOut extends Readable {
  /** the rows PostgreSQL reported in CommandComplete, once the COPY has ended */
  rowCount = 0;
  /** the rows' bytes so far (without the messages' headers) */
  bytes = 0;
  private connection: Connection | null = null;
  private pgOnData: ((b: Buffer) => void) | null = null;
  /** the start of a header cut by the end of a socket read: `pendingBytes` bytes of `header` */
  private readonly header = Buffer.alloc(HEADER);
  private pendingBytes = 0;
  /** bytes of the current message still to come in later reads, and whether they are row data */
  private rest = 0;
  private restIsData = false;
  private attached = false;
  /** a socket that reuses its read buffer: each read is parsed in place (`ReadBufferSocket.reader`) */
  private inPlace: ReadBufferSocket | null = null;
  private sink: CopySink | null = null;
  /** the sink's end: the COPY's (or the first error) */
  private sinkDone: { resolve: () => void; reject: (e: Error) => void } | null = null;
  /** CopyDone has come */
  private ended = false;
  /** the COPY's error, or the sink's */
  private failure: Error | null = null;
  /** each socket read as it comes (`read()` of a paused socket joins those waiting into a new Buffer) */
  private readonly onData = (chunk: Buffer) => {
    if (!this.parse(chunk) && this.attached) this.connection!.stream.pause();
  };

  constructor(
    private readonly text: string,
    /** told the bytes of each piece of data as it goes out (progress) */
    private readonly onBytes?: (n: number) => void,
  ) {
    // each socket read's rows go out as the Buffer they are (up to 64 kB, so 16 of them ≈ 1 MB
    // waiting): a byte-mode stream's read() joins all that wait into a new Buffer, a copy of
    // most of the data (`for await` reads that way)
    super({ objectMode: true, highWaterMark: 16 });
    // The COPY can fail before its reader starts (a session lost between two chunks fails the
    // next one at once, as node-postgres refuses the query): without a listener that 'error'
    // would end the process. The reader still gets it: pipeline and for await take a stream's
    // stored error, also one from before they began.
    this.on('error', () => {});
  }

  /** Called by node-postgres when the query's turn comes. */
  submit(connection: Connection): void {
    this.connection = connection;
    const stream = connection.stream;
    const listeners = stream.listeners('data');
    if (listeners.length !== 1)
      throw new Error(`COPY TO expects one data listener on the connection, found ${listeners.length}`);
    this.pgOnData = listeners[0] as (b: Buffer) => void;
    this.attached = true;
    if (stream instanceof ReadBufferSocket) {
      this.inPlace = stream;
      stream.reader = (data) => this.parse(data);
    } else {
      stream.removeListener('data', this.pgOnData);
      stream.on('data', this.onData);
    }
    connection.query(this.text);
  }

  override _read(): void {
    this.readOn();
  }

  /** Let the socket read again, while the COPY has it. */
  private readOn(): void {
    if (this.attached) this.connection!.stream.resume();
  }

  /**
   * From now on the rows go to `sink` as they come, with no stream in between (and on a
   * reused read buffer no copy of them); what was pushed before goes first. Resolves once the
   * COPY has ended and the sink has taken all of it; rejects with the COPY's error, or the sink's.
   */
  async into(sink: CopySink): Promise<void> {
    for (let b: Buffer | null = this.read(); b !== null; b = this.read()) sink.put(b);
    if (this.failure) throw this.failure;
    if (this.ended) return;
    const done = new Promise<void>((resolve, reject) => {
      this.sinkDone = { resolve, reject };
    });
    this.sink = sink;
    this.resume();
    this.readOn();
    return done;
  }

  /**
   * Take the row data of one socket read; false when the consumer wants no more for now. The
   * rows are moved to the front of the read over their headers (a row cut by the read's end goes
   * on in the next; a cut header waits for it). Other messages are left out.
   */
  private parse(chunk: Buffer): boolean {
    let buf = chunk;
    let p = 0;
    if (this.pendingBytes > 0) {
      const cut = this.pendingBytes;
      const need = HEADER - cut;
      this.pendingBytes = 0;
      if (this.header[0] === COPY_DATA && chunk.length >= need) {
        // a row's header completed from this read, which goes on with the row: no new Buffer
        // of the whole read (a frequent case with short rows, each a fresh 64 kB)
        chunk.copy(this.header, cut, 0, need);
        this.rest = lengthAt(this.header, 1) - 4;
        this.restIsData = true;
        p = need;
      } else buf = Buffer.concat([this.header.subarray(0, cut), chunk]);
    }
    const n = buf.length;
    /** the end of the rows moved to the front */
    let w = 0;
    if (this.rest > 0) {
      const k = Math.min(this.rest, n - p);
      if (this.restIsData) {
        // the rest of a row: in place already, or behind the end of its header to the front
        if (p > 0) buf.copyWithin(0, p, p + k);
        w = k;
      }
      p += k;
      this.rest -= k;
    }
    while (p < n) {
      if (n - p < HEADER) {
        this.pendingBytes = buf.copy(this.header, 0, p, n);
        break;
      }
      const code = buf[p]!;
      const end = p + 1 + lengthAt(buf, p + 1);
      if (code === COPY_DATA) {
        const stop = Math.min(end, n);
        if (w !== p + HEADER) buf.copyWithin(w, p + HEADER, stop);
        w += stop - p - HEADER;
      } else if (code === COPY_DONE || code === ERROR_RESPONSE) {
        if (w > 0) this.out(buf.subarray(0, w));
        this.detach(buf.subarray(code === COPY_DONE ? end : p));
        if (code === COPY_DONE) this.copyDone();
        return false;
      }
      // CopyOutResponse, NoticeResponse, ParameterStatus, NotificationResponse are skipped
      if (end > n) {
        this.rest = end - n;
        this.restIsData = code === COPY_DATA;
      }
      p = end;
    }
    return w > 0 ? this.out(buf.subarray(0, w)) : true;
  }

  /** Push `data` (or give it to the sink). */
  private out(data: Buffer): boolean {
    this.bytes += data.length;
    this.onBytes?.(data.length);
    const sink = this.sink;
    if (!sink) return this.push(this.inPlace ? Buffer.from(data) : data);
    if (this.failure) return true;
    try {
      sink.put(data);
    } catch (err) {
      // the rest of the COPY is read and dropped (or its session ended by the engine)
      this.fail(err as Error);
    }
    return true;
  }

  /** The COPY ended: the stream's end, or the sink's. */
  private copyDone(): void {
    this.ended = true;
    this.push(null);
    this.sinkDone?.resolve();
    this.sinkDone = null;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.sinkDone?.reject(err);
    this.sinkDone = null;
  }

  /** Give the socket back to node-postgres with the bytes it has still to read. */
  private detach(unread: Buffer): void {
    const stream = this.connection!.stream;
    this.attached = false;
    if (this.inPlace) this.inPlace.reader = null;
    else {
      stream.removeListener('data', this.onData);
      stream.addListener('data', this.pgOnData!);
    }
    this.pgOnData!(this.inPlace ? Buffer.from(unread) : unread);
    // node-postgres may pause the socket while it parses; resume once that is done
    process.nextTick(() => stream.resume());
  }

  handleError(err: Error): void {
    this.fail(err);
    this.destroy(err);
  }

  handleCommandComplete(msg: { text?: string }): void {
    this.rowCount = copiedRows(msg) ?? this.rowCount;
  }

  handleReadyForQuery(): void {}
}
