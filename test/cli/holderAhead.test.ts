import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HolderProcess } from '../../src/copy/snapshotHolder.js';
import { REPO_ROOT, runSteep } from '../support/cli.js';
import { tempDir } from '../support/tempDir.js';

/*
 * The snapshot holder bin/run.js starts for `snapshot generate` before the CLI loads
 * (bin/holderAhead.js): generate takes it, and a steep that ends before generate runs (a bad
 * flag, --help, a missing config) or needs no new holder (an interrupted snapshot) leaves no
 * holder behind. No node needed: the holder's request never comes.
 */

const ahead = createRequire(import.meta.url)(join(REPO_ROOT, 'bin/holderAhead.js')) as {
  generates(args: string[]): boolean;
};

/** The processes whose environment holds `mark` (Linux: /proc/PID/environ). */
function marked(mark: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(mark)) pids.push(Number(pid));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

async function noneLeft(mark: string): Promise<number[]> {
  // a holder whose input ended exits once it has loaded (~0.1 s)
  for (let i = 0; i < 50 && marked(mark).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  return marked(mark);
}

describe('the snapshot holder started before the CLI loads', () => {
  it('is started for `snapshot generate` and `snapshot:generate` only', () => {
    expect(ahead.generates(['snapshot', 'generate', 'sub'])).toBe(true);
    expect(ahead.generates(['snapshot:generate', 'sub'])).toBe(true);
    expect(ahead.generates(['snapshot', 'apply', 'sub'])).toBe(false);
    expect(ahead.generates(['plan'])).toBe(false);
    expect(ahead.generates([])).toBe(false);
  });

  it.runIf(existsSync('/proc/self/environ'))(
    'is left behind by no steep that ends before generate runs, or resumes a snapshot',
    async () => {
      const dir = tempDir('steep-ahead-');
      // an interrupted snapshot's directory: it resumes with the holder it has
      const resumed = join(dir, 'resumed');
      mkdirSync(resumed);
      writeFileSync(join(resumed, 'manifest.json'), '{}');
      for (const args of [
        ['snapshot', 'generate', '--bogus'],
        ['snapshot', 'generate', '--help'],
        ['snapshot:generate', 'sub', '--output', join(dir, 'out'), '-c', join(dir, 'none.yaml')],
        ['snapshot', 'generate', 'sub', '--output', resumed, '-c', join(dir, 'none.yaml')],
      ]) {
        const mark = `STEEP_TEST_MARK=${randomUUID()}`;
        const r = await runSteep(args, { env: { STEEP_TEST_MARK: mark.split('=')[1] }, timeoutMs: 20_000 });
        expect(r.code, r.stderr).toBe(args.includes('--help') ? 0 : 1);
        expect(await noneLeft(mark), `steep ${args.join(' ')}`).toEqual([]);
      }
    },
  );

  it('is the holder generate takes, once', async () => {
    // a stand-in holder: it answers the request it reads with a made-up snapshot
    const answer = '{"lsn":"0/16B3748","snapshot":"00000003-00000002-1"}';
    const script = `process.stdin.resume();process.stdin.on('end',()=>console.log('${answer}'))`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.unref();
    const stash = process as unknown as Record<symbol, unknown>;
    stash[Symbol.for('steep.holderAhead')] = child;
    const dir = tempDir('steep-ahead-');
    const held = await new HolderProcess().start({
      node: 'pub',
      connection: { host: '127.0.0.1', port: 1, database: 'app', user: 'nobody' },
      serverVersion: 180000,
      slot: 'sub',
      heartbeatFile: join(dir, 'hold'),
    });
    held.heartbeat.stop(true);
    expect(held).toMatchObject({ lsn: '0/16B3748', snapshot: '00000003-00000002-1' });
    // taken once: the next holder is a new one
    expect(stash[Symbol.for('steep.holderAhead')]).toBeUndefined();
  });
});
