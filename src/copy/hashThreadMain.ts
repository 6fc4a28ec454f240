import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/** The thread side of hashThread.ts: one file at a time, read in 1 MB blocks (blocking is fine here). */

const BLOCK = 1 << 20;
const buf = Buffer.allocUnsafe(BLOCK);

function sha256(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, buf, 0, BLOCK, null); n > 0; n = readSync(fd, buf, 0, BLOCK, null))
      h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

parentPort!.on('message', (path: string) => {
  try {
    parentPort!.postMessage({ ok: true, sha256: sha256(path) });
  } catch (err) {
    parentPort!.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) });
  }
});
