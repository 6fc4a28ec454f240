import net from 'node:net';
import { type CopyDataRows, copyDataRows, READ_BUFFER_BYTES } from './copyDataRows.js';

/**
 * A TCP socket for node-postgres that reads into one buffer of its own, reused for every read
 * (Node's `onread`), where a plain socket reads into a new 64 kB Buffer each time. A COPY of a
 * gigabyte is ~16,000 such Buffers: the kernel's copy into memory not touched before, and the
 * collection of each, were over a quarter of the copy sessions' CPU (4 sessions copying 838 MB with
 * their rows moved into blocks: system 0.34 s and user 0.43 s with new Buffers, 0.20 s and
 * 0.35 s with one reused Buffer a session).
 *
 * While `reader` is set (a COPY's reader that copies the rows on at once: copyOut.ts), each
 * read goes to it, valid only during the call; it returns false to pause the socket until
 * `resume()`. Otherwise the socket emits 'data' with a copy of the read, as node-postgres
 * expects (its parser keeps what it has not parsed yet).
 *
 * The buffer is a WebAssembly function's memory where one can be had (copyDataRows.ts): `rows`
 * moves a read's CopyData rows together in place.
 */
export class ReadBufferSocket extends net.Socket {
  reader: ((data: Buffer) => boolean) | null = null;
  /** the read buffer's mover of CopyData rows; null: none could be had */
  readonly rows: CopyDataRows | null;

  constructor() {
    const rows = copyDataRows();
    const buffer = rows?.buffer ?? Buffer.allocUnsafe(READ_BUFFER_BYTES);
    let self: ReadBufferSocket | null = null;
    // `onread` is read by the constructor since Node.js 12 (@types/node lists it for connect() only)
    super({
      onread: { buffer, callback: (n: number) => self!.received(buffer.subarray(0, n)) },
    } as net.SocketConstructorOpts);
    self = this;
    this.rows = rows;
  }

  private received(data: Buffer): boolean {
    if (this.reader) return this.reader(data);
    this.emit('data', Buffer.from(data));
    return true;
  }
}
