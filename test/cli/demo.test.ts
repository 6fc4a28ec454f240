import { chmodSync, existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runSteep, startSteep } from '../support/cli.js';
import { tempDir } from '../support/tempDir.js';
import { HANG_MS } from '../support/topologyFile.js';

/**
 * `steep demo --dir DIR` when another program holds the quickstart's port 55432: the demo copies
 * the quickstart into DIR and runs a copy of it on free ports (under DIR/.steep/demo/), says so,
 * replicates a row, re-plans empty, and its "try next" commands name the copy. It runs in a
 * directory of its own, so the demo a newcomer ran before `npm test` (its nodes on 55432 and
 * 55433, its sandbox under examples/quickstart/.steep/) is neither mistaken for its own nor touched.
 */

const QUICKSTART = join(REPO_ROOT, 'examples', 'quickstart');
const DIR = tempDir('steep-demo-');
// run as root, the sandbox's servers run as postgres, which must enter it
chmodSync(DIR, 0o755);
const COPY = join(DIR, '.steep', 'demo', 'steep.yaml');

/**
 * What a demo run in the quickstart directory leaves there: its sandbox (`.steep/sandbox`) or its
 * copy on free ports (`.steep/demo`). Not `.steep` itself: packFiles.test, in the other worker,
 * puts a directory of its own there for a moment.
 */
function quickstartRuns(): boolean[] {
  return ['sandbox', 'demo'].map((d) => existsSync(join(QUICKSTART, '.steep', d)));
}

/** Holds 127.0.0.1:port with a plain TCP server; if something else holds it already, it stays taken. */
function hold(port: number): Promise<net.Server | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' ? resolve(null) : reject(err),
    );
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('steep demo', () => {
  let held: net.Server | null = null;
  afterAll(async () => {
    if (existsSync(COPY)) await runSteep(['sandbox', 'down', '-c', COPY, '--purge'], { cwd: REPO_ROOT });
    await new Promise<void>((resolve) => (held ? held.close(() => resolve()) : resolve()));
  }, HANG_MS);

  it(
    'with port 55432 held by another program: runs a copy of the quickstart on free ports, replicates, re-plans empty',
    async () => {
      // taken by the test, or already by the newcomer's own demo: another program either way
      held = await hold(55432);
      const before = quickstartRuns();
      // no wait is silent: the demo's first line comes before its nodes start. Held still
      // (SIGSTOP) as that line arrives, the demo has not started west yet: nothing it does
      // later can have been printed with it
      const demo = startSteep(['demo', '--dir', DIR], {});
      let westAtFirstLine: 'not started' | 'accepting' | null = null;
      let matched = false;
      const first = new Promise<void>((resolve) => {
        const onData = () => {
          if (!demo.output.stdout.includes('starting its nodes')) return;
          matched = true;
          demo.child.stdout!.off('data', onData);
          demo.child.kill('SIGSTOP');
          const west = Number(/west:\n\s+url: \S+:(\d+)\/app/.exec(readFileSync(COPY, 'utf8'))?.[1]);
          const probe = net.connect(west, '127.0.0.1');
          const seen = (state: typeof westAtFirstLine) => {
            probe.destroy();
            westAtFirstLine = state;
            demo.child.kill('SIGCONT');
            resolve();
          };
          probe.once('connect', () => seen('accepting'));
          probe.once('error', () => seen('not started'));
        };
        demo.child.stdout!.on('data', onData);
      });
      const r = await demo.exited;
      // (a demo that never printed that line has nothing to probe)
      if (matched) await first;
      const out = `${r.stdout}\n${r.stderr}`;
      expect(r.code, out).toBe(0);
      expect(westAtFirstLine, out).toBe('not started');
      expect(r.stdout).toContain(
        'Port 55432 of node east is taken by another program: the demo runs a copy of the quickstart on free ports.',
      );
      const file = relative(REPO_ROOT, COPY);
      expect(r.stdout).toContain(`1. Sandbox for ${file} (topology quickstart): starting its nodes`);
      expect(r.stdout).toMatch(/ {3}create subscription\.\S+ on west: done in \d+ ms\n/);
      const copy = readFileSync(COPY, 'utf8');
      const port = (node: string) =>
        Number(new RegExp(`${node}:\\n\\s+url: \\S+:(\\d+)/app`).exec(copy)?.[1]);
      expect(port('east')).not.toBe(55432);
      expect(r.stdout).toContain(`node east: created, PostgreSQL 18`);
      expect(r.stdout).toContain(`127.0.0.1:${port('east')}/app`);
      expect(r.stdout).toMatch(/4\. A row inserted on east arrives on west in \d+ ms:/);
      expect(r.stdout).toContain('5. steep plan again: No changes');
      expect(r.stdout).toContain(`./bin/run.js sandbox down -c ${file} --purge`);
      // the nodes it left running match the copy: a plan of it has nothing to change
      const plan = await runSteep(['plan', '-c', COPY, '--detailed-exitcode'], { cwd: REPO_ROOT });
      expect(plan.code, `${plan.stdout}\n${plan.stderr}`).toBe(0);
      // the package's own quickstart directory is left as it was
      expect(quickstartRuns()).toEqual(before);
    },
    3 * HANG_MS,
  );
});
