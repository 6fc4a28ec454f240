import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The writers' threads run dist/copy/fileWriterMain.js (`npm test` builds first): the module is
// loaded from dist, where its thread's script sits beside it, and typed as its source.
const DIST = new URL('../../../dist/copy/fileWriter.js', import.meta.url).href;
const { WriterThreads, BLOCK_BYTES } = (await import(
  DIST
)) as typeof import('../../../src/copy/fileWriter.js');
type FileWriter = ReturnType<InstanceType<typeof WriterThreads>['writer']>;

const dir = mkdtempSync(join(tmpdir(), 'steep-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Put `data` into `w` in pieces of `piece` bytes, waiting for room when it says so. */
async function putAll(w: FileWriter, data: Buffer, piece: number): Promise<void> {
  for (let at = 0; at < data.length; at += piece)
    if (!w.put(data.subarray(at, Math.min(data.length, at + piece)))) await w.room();
}

describe('file writers sharing threads', () => {
  it('three sessions on one thread write their files side by side, each exact, with its SHA-256', async () => {
    // one core: all three writers share one thread, their blocks interleaved on it
    const threads = new WriterThreads(3, 1);
    const writers = [threads.writer(), threads.writer(), threads.writer()];
    const sizes = [3 * BLOCK_BYTES + 4097, 1, BLOCK_BYTES];
    const data = sizes.map((n) => randomBytes(n));
    const paths = sizes.map((_, i) => join(dir, `shared-${i}.copy`));
    await Promise.all(writers.map((w, i) => w.open(paths[i]!)));
    // pieces of different sizes, so the writers' blocks fill and go at different times
    await Promise.all(writers.map((w, i) => putAll(w, data[i]!, [65_536, 1, 777][i]!)));
    const sums = await Promise.all(writers.map((w) => w.close(true)));
    for (const [i, p] of paths.entries()) {
      expect(readFileSync(p).equals(data[i]!)).toBe(true);
      expect(sums[i]).toBe(sha256(data[i]!));
    }
    // a second file on a writer that stays, while another has ended
    await writers[1]!.end();
    const again = randomBytes(2 * BLOCK_BYTES + 3);
    await writers[0]!.open(join(dir, 'again.copy'));
    await putAll(writers[0]!, again, 100_000);
    expect(await writers[0]!.close(true)).toBe(sha256(again));
    expect(readFileSync(join(dir, 'again.copy')).equals(again)).toBe(true);
    await Promise.all([writers[0]!.end(), writers[2]!.end()]);
  });

  it('pieces larger than its blocks wait for room in turn, exact', async () => {
    // 2.5 blocks at a time: what finds no free block waits, and part of it waits again
    const threads = new WriterThreads(1, 1);
    const w = threads.writer();
    const data = randomBytes(7 * BLOCK_BYTES + 12_345);
    const path = join(dir, 'large-pieces.copy');
    await w.open(path);
    await putAll(w, data, 2.5 * BLOCK_BYTES);
    expect(await w.close(true)).toBe(sha256(data));
    expect(readFileSync(path).equals(data)).toBe(true);
    await w.end();
  });

  it("one writer's failure is its own: the others on the thread finish their files", async () => {
    const threads = new WriterThreads(2, 1);
    const [bad, good] = [threads.writer(), threads.writer()];
    const data = randomBytes(BLOCK_BYTES + 10);
    await bad.open(join(dir, 'no-such-dir', 'bad.copy'));
    await good.open(join(dir, 'good.copy'));
    await Promise.all([putAll(bad, data, 65_536), putAll(good, data, 65_536)]);
    await expect(bad.close(true)).rejects.toThrow(/ENOENT/);
    expect(await good.close(true)).toBe(sha256(data));
    expect(readFileSync(join(dir, 'good.copy')).equals(data)).toBe(true);
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
    await Promise.all([bad.end(), good.end()]);
  });

  it('once the last writer of a thread has ended, the next writer gets a thread of its own', async () => {
    const threads = new WriterThreads(1, 1);
    const first = threads.writer();
    await first.end();
    // the ended thread takes no new writer: this one would wait on it forever
    const next = threads.writer();
    const data = randomBytes(5000);
    await next.open(join(dir, 'next.copy'));
    await putAll(next, data, 4096);
    expect(await next.close(true)).toBe(sha256(data));
    await next.end();
  });

  it('a thread that crashes fails its writers, and the next writer gets a new thread', async () => {
    const threads = new WriterThreads(2, 1);
    const [a, b] = [threads.writer(), threads.writer()];
    await a.open(join(dir, 'crash-a.copy'));
    await b.open(join(dir, 'crash-b.copy'));
    // a block message without its memory: the thread's answer cannot transfer it, and it ends
    (a as unknown as { thread: { post(m: object): void } }).thread.post({ id: 999, block: 0, bytes: 1 });
    const data = randomBytes(BLOCK_BYTES + 1);
    for (const w of [a, b]) {
      const failed = (async () => {
        await putAll(w, data, 65_536);
        return w.close(true);
      })();
      await expect(failed).rejects.toThrow();
    }
    // the crashed thread has room again, and is not given the next writer
    await b.end();
    const next = threads.writer();
    await next.open(join(dir, 'after-crash.copy'));
    await putAll(next, data, 65_536);
    expect(await next.close(true)).toBe(sha256(data));
    await Promise.all([a.end(), next.end()]);
  });

  it('spreads sessions over a thread a core: 4 sessions on 2 cores, 2 a thread', () => {
    const threads = new WriterThreads(4, 2) as unknown as { perThread: number };
    expect(threads.perThread).toBe(2);
    expect((new WriterThreads(4, 16) as unknown as { perThread: number }).perThread).toBe(1);
    expect((new WriterThreads(3, 2) as unknown as { perThread: number }).perThread).toBe(2);
  });
});
