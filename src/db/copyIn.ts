import { Writable } from 'node:stream';
import type { Connection } from 'pg';
import { copiedRows } from './copyOut.js';

/**
 * `COPY … FROM STDIN` for node-postgres (a submittable, as copyOut.ts is for `COPY … TO`): each
 * piece written (a snapshot file's data, another session's CopyOut) goes out in a CopyData
 * message of its own. A COPY stopped midway closes the session's socket, and the server rolls
 * its transaction back.
 */

/** CopyDone: `c` and the length 4 */
const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]);

export class CopyIn extends Writable {
  /** the rows PostgreSQL reported in CommandComplete */
  rowCount = 0;
  /** the data's bytes written, without the messages' headers */
  bytes = 0;
  private connection: Connection | null = null;
  /** what waits for CopyInResponse (data written before the server is in COPY mode) */
  private waiting: (() => void) | null = null;
  private copying = false;
  /** _final's callback, called at ReadyForQuery (or with the error) */
  private ending: ((err?: Error | null) => void) | null = null;

  constructor(private readonly text: string) {
    super({ highWaterMark: 1 << 20 });
  }

  /** Called by node-postgres when the query's turn comes. */
  submit(connection: Connection): void {
    this.connection = connection;
    connection.query(this.text);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (!this.copying) {
      this.waiting = () => this._write(chunk, _encoding, done);
      return;
    }
    const stream = this.connection!.stream;
    // CopyData: `d` and the length, which counts itself
    const header = Buffer.allocUnsafe(5);
    header[0] = 0x64;
    header.writeUInt32BE(chunk.length + 4, 1);
    stream.write(header);
    this.bytes += chunk.length;
    if (stream.write(chunk)) done();
    else stream.once('drain', () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    const finish = () => {
      this.ending = done;
      this.connection!.stream.write(COPY_DONE);
    };
    if (this.copying) finish();
    else this.waiting = finish;
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    // stopped midway (the source failed, or the server reported an error): close the session;
    // at ReadyForQuery the COPY ended and the connection was let go
    if (this.connection) this.connection.stream.destroy();
    this.connection = null;
    done(err);
  }

  handleCopyInResponse(): void {
    this.copying = true;
    const next = this.waiting;
    this.waiting = null;
    next?.();
  }

  handleCommandComplete(msg: { text?: string }): void {
    this.rowCount = copiedRows(msg) ?? this.rowCount;
  }

  handleReadyForQuery(): void {
    this.connection = null;
    const done = this.ending;
    this.ending = null;
    done?.();
  }

  handleError(err: Error): void {
    const done = this.ending;
    this.ending = null;
    if (done) done(err);
    else this.destroy(err);
  }
}
