import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { DirectFile, StagingMemory } from './directFile.js';
import { BLOCK_BYTES } from './fileWriter.js';

/**
 * The thread side of fileWriter.ts: hashes and writes the blocks a copy session fills, in the
 * order they come, and hands each block back once written. A block's memory comes with its
 * message (transferred, not copied) and goes back with the answer. The file is written with
 * direct I/O where the file system allows it (directFile.ts).
 */

const staging = new StagingMemory(BLOCK_BYTES);
let file: DirectFile | null = null;
let hash: Hash | null = null;
/** the first error of the current file: its remaining blocks are handed back unwritten */
let failed: { message: string; code?: string } | null = null;

type Message = { open: string } | { block: number; bytes: number; memory: ArrayBuffer } | { close: boolean };

function attempt(fn: () => void): void {
  if (failed) return;
  try {
    fn();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    failed = { message: e instanceof Error ? e.message : String(e), code: e.code };
  }
}

function letGo(): void {
  try {
    file?.release();
  } catch {
    // closing a file already failed: its error is the one reported
  }
  file = null;
}

parentPort!.on('message', (m: Message) => {
  if ('open' in m) {
    letGo();
    failed = null;
    hash = createHash('sha256');
    attempt(() => {
      file = new DirectFile(m.open, staging);
    });
  } else if ('block' in m) {
    attempt(() => {
      const b = Buffer.from(m.memory, 0, m.bytes);
      hash!.update(b);
      file!.write(b);
    });
    parentPort!.postMessage({ free: m.block, memory: m.memory, failed }, [m.memory]);
  } else {
    // close: the file's SHA-256 (m.close) or just let it go (a failed chunk)
    if (m.close) attempt(() => file!.close());
    letGo();
    parentPort!.postMessage(failed ? { failed } : { sha256: m.close ? hash!.digest('hex') : '' });
    hash = null;
  }
});
