import { Worker } from 'node:worker_threads';
import { MODULES_DIR } from '../location.js';

/**
 * SHA-256 of snapshot files on threads (hashThreadMain.ts), several files at once. Node's
 * bundled OpenSSL does use the SHA extensions here (`sha256_block_data_order_shaext`),
 * but on a loaded machine one thread's wall rate is a
 * fraction of that, and `snapshot apply` can load nothing until every file is verified.
 */

type Reply = { ok: true; sha256: string } | { ok: false; message: string };

class HashThread {
  private readonly worker = new Worker(new URL('copy/hashThreadMain.js', MODULES_DIR));

  hash(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const onMessage = (r: Reply) => {
        this.worker.off('error', onError);
        if (r.ok) resolve(r.sha256);
        else reject(new Error(r.message));
      };
      const onError = (e: Error) => {
        this.worker.off('message', onMessage);
        reject(e);
      };
      this.worker.once('message', onMessage);
      this.worker.once('error', onError);
      this.worker.postMessage(path);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** The SHA-256 of each file, `parallel` threads at once. */
export async function hashFiles(paths: readonly string[], parallel: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const queue = [...paths];
  await Promise.all(
    Array.from({ length: Math.min(parallel, queue.length) }, async () => {
      const thread = new HashThread();
      try {
        for (let p = queue.shift(); p !== undefined; p = queue.shift()) out.set(p, await thread.hash(p));
      } finally {
        await thread.close();
      }
    }),
  );
  return out;
}
