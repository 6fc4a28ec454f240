import net from 'node:net';

/** The read buffer's size, that of Node's own socket reads. */
export const READ_BUFFER_BYTES = 64 * 1024;

/**
 * A TCP socket for node-postgres that reads into one buffer of its own, reused for every read
 * (Node's `onread`), where a plain socket reads into a new 64 kB Buffer each time. A COPY of a
 * gigabyte is ~16,000 such Buffers: the kernel's copy into memory not touched before, and the
 * collection of each, were a large share of the copy sessions' CPU, in system and user time
 * alike; one reused Buffer a session saves most of both.
 *
 * While `reader` is set (a COPY's reader that copies the rows on at once: copyOut.ts), each
 * read goes to it, valid only during the call; it returns false to pause the socket until
 * `resume()`. Otherwise the socket emits 'data' with a copy of the read, as node-postgres
 * expects (its parser keeps what it has not parsed yet).
 */
export class ReadBufferSocket extends net.Socket {
  reader: ((data: Buffer) => boolean) | null = null;

  constructor() {
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    let self: ReadBufferSocket | null = null;
    // `onread` is read by the constructor since Node.js 12 (@types/node lists it for connect() only)
    super({
      onread: { buffer, callback: (n: number) => self!.received(buffer.subarray(0, n)) },
    } as net.SocketConstructorOpts);
    self = this;
  }

  private received(data: Buffer): boolean {
    if (this.reader) return this.reader(data);
    this.emit('data', Buffer.from(data));
    return true;
  }
}
