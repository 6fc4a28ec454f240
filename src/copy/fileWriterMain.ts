import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/**
 * The thread side of fileWriter.ts: hashes and writes the blocks a copy session fills, in the
 * order they come, and hands each block back once written. A block's memory comes with its
 * message (transferred, not copied) and goes back with the answer.
 */

let fd = -1;
let hash: Hash | null = null;
/** the first error of the current file: its remaining blocks are handed back unwritten */
let failed: { message: string; code?: string } | null = null;

type Message = { open: string } | { block: number; bytes: number; memory: ArrayBuffer } | { close: boolean };

function closeFile(): void {
  if (fd >= 0) closeSync(fd);
  fd = -1;
}

function attempt(fn: () => void): void {
  if (failed) return;
  try {
    fn();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    failed = { message: e instanceof Error ? e.message : String(e), code: e.code };
  }
}

parentPort!.on('message', (m: Message) => {
  if ('open' in m) {
    closeFile();
    failed = null;
    hash = createHash('sha256');
    attempt(() => {
      fd = openSync(m.open, 'w');
    });
  } else if ('block' in m) {
    attempt(() => {
      const b = Buffer.from(m.memory, 0, m.bytes);
      hash!.update(b);
      for (let at = 0; at < b.length; ) at += writeSync(fd, b, at, b.length - at);
    });
    parentPort!.postMessage({ free: m.block, memory: m.memory, failed }, [m.memory]);
  } else {
    // close: the file's SHA-256 (m.close) or just let it go (a failed chunk)
    attempt(closeFile);
    closeFile();
    parentPort!.postMessage(failed ? { failed } : { sha256: m.close ? hash!.digest('hex') : '' });
    hash = null;
  }
});
