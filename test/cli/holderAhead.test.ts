import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { HolderProcess } from '../../src/copy/snapshotHolder.js';
import type { ConnectionSpec } from '../../src/model/topology.js';
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
  spawnHolder(extraCaCerts: boolean): ChildProcessByStdio<Writable, Readable, null>;
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

  /** A stand-in holder, stashed as bin/run.js stashes one: it answers a request with a made-up snapshot. */
  function standIn(): void {
    const answer = '{"lsn":"0/16B3748","snapshot":"00000003-00000002-1"}';
    const script = `let t='';process.stdin.on('data',(d)=>{t+=d});process.stdin.on('end',()=>{if(t)console.log('${answer}')})`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.unref();
    (process as unknown as Record<symbol, unknown>)[Symbol.for('steep.holderAhead')] = child;
  }

  const request = (connection: ConnectionSpec) => ({
    node: 'pub',
    connection,
    serverVersion: 180000,
    slot: 'sub',
    heartbeatFile: join(tempDir('steep-ahead-'), 'hold'),
  });
  const server = { host: '127.0.0.1', port: 1, database: 'app', user: 'nobody' };

  it('is the holder generate takes, once', async () => {
    standIn();
    const held = await new HolderProcess().start(request(server));
    held.heartbeat.stop(true);
    expect(held).toMatchObject({ lsn: '0/16B3748', snapshot: '00000003-00000002-1' });
    // taken once: the next holder is a new one
    expect((process as unknown as Record<symbol, unknown>)[Symbol.for('steep.holderAhead')]).toBeUndefined();
  });

  it.runIf(existsSync('/proc/self/environ'))(
    'starts without NODE_EXTRA_CA_CERTS, which Node reads at every start, unless asked for it',
    async () => {
      const saved = process.env.NODE_EXTRA_CA_CERTS;
      process.env.NODE_EXTRA_CA_CERTS = '/nonexistent/steep-test-ca.pem';
      try {
        const environ = async (extra: boolean) => {
          const child = ahead.spawnHolder(extra);
          try {
            await new Promise((r) => child.once('spawn', r));
            return readFileSync(`/proc/${child.pid}/environ`, 'latin1').split('\0');
          } finally {
            child.stdin.end();
          }
        };
        expect(await environ(false)).not.toContain('NODE_EXTRA_CA_CERTS=/nonexistent/steep-test-ca.pem');
        expect(await environ(true)).toContain('NODE_EXTRA_CA_CERTS=/nonexistent/steep-test-ca.pem');
      } finally {
        if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
        else process.env.NODE_EXTRA_CA_CERTS = saved;
      }
    },
  );

  it('is replaced by a holder with NODE_EXTRA_CA_CERTS for a server checked against the default CA store', async () => {
    const saved = process.env.NODE_EXTRA_CA_CERTS;
    process.env.NODE_EXTRA_CA_CERTS = '/nonexistent/steep-test-ca.pem';
    try {
      // sslmode require checks no certificate: the holder started ahead answers
      standIn();
      const held = await new HolderProcess().start(request({ ...server, sslmode: 'require' }));
      held.heartbeat.stop(true);
      expect(held.snapshot).toBe('00000003-00000002-1');
      // verify-full without sslrootcert: a real holder, started now, tries the server (none there)
      standIn();
      await expect(new HolderProcess().start(request({ ...server, sslmode: 'verify-full' }))).rejects.toThrow(
        /cannot create slot sub with an exported snapshot on pub: .*(ECONNREFUSED|connect|refused)/i,
      );
    } finally {
      if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
      else process.env.NODE_EXTRA_CA_CERTS = saved;
    }
  });
});
