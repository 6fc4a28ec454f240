import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/**
 * The thread side of fileWriter.ts: hashes and writes the blocks copy sessions fill, each
 * session's in the order they come to its own file, and hands each block back once written. A
 * block's memory comes with its message (transferred, not copied) and goes back with the
 * answer. The files are written through the page cache, as psql's `\copy … to` writes them.
 */

/** A writer's file: several sessions' writers may share this thread, each its own file. */
class Writer {
  /** the open file's descriptor, -1 when none */
  fd = -1;
  hash: Hash | null = null;
  /** the first error of the current file: its remaining blocks are handed back unwritten */
  failed: { message: string; code?: string } | null = null;

  attempt(fn: () => void): void {
    if (this.failed) return;
    try {
      fn();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.failed = { message: e instanceof Error ? e.message : String(e), code: e.code };
    }
  }

  write(b: Buffer): void {
    for (let at = 0; at < b.length; ) at += writeSync(this.fd, b, at);
  }

  close(): void {
    const fd = this.fd;
    this.fd = -1;
    closeSync(fd);
  }

  letGo(): void {
    try {
      if (this.fd >= 0) closeSync(this.fd);
    } catch {
      // closing a file already failed: its error is the one reported
    }
    this.fd = -1;
  }
}

const writers = new Map<number, Writer>();

type Message = { id: number } & (
  | { open: string }
  | { block: number; bytes: number; memory: ArrayBuffer }
  | { close: boolean }
  | { end: true }
);

parentPort!.on('message', (m: Message) => {
  if ('end' in m) {
    // the writer has ended: a file it still holds is closed
    writers.get(m.id)?.letGo();
    writers.delete(m.id);
    return;
  }
  const writer = writers.get(m.id) ?? new Writer();
  writers.set(m.id, writer);
  if ('open' in m) {
    writer.letGo();
    writer.failed = null;
    writer.hash = createHash('sha256');
    writer.attempt(() => {
      writer.fd = openSync(m.open, 'w');
    });
  } else if ('block' in m) {
    writer.attempt(() => {
      const b = Buffer.from(m.memory, 0, m.bytes);
      writer.hash!.update(b);
      writer.write(b);
    });
    parentPort!.postMessage({ id: m.id, free: m.block, memory: m.memory, failed: writer.failed }, [m.memory]);
  } else {
    // close: the file's SHA-256 (m.close) or just let it go (a failed chunk)
    if (m.close) writer.attempt(() => writer.close());
    writer.letGo();
    const failed = writer.failed;
    parentPort!.postMessage(
      failed ? { id: m.id, failed } : { id: m.id, sha256: m.close ? writer.hash!.digest('hex') : '' },
    );
    writer.hash = null;
  }
});
