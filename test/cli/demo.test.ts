import { existsSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runSteep } from '../support/cli.js';
import { HANG_MS } from '../support/topologyFile.js';

/**
 * `npm run demo` when another program holds the quickstart's port 55432: the demo runs a copy of
 * examples/quickstart/steep.yaml on free ports (under examples/quickstart/.steep/demo/), says so,
 * replicates a row, re-plans empty, and its "try next" commands name the copy.
 */

const QUICKSTART = join(REPO_ROOT, 'examples', 'quickstart');
const COPY_DIR = join(QUICKSTART, '.steep', 'demo');
const COPY = join(COPY_DIR, 'steep.yaml');

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
    rmSync(COPY_DIR, { recursive: true, force: true });
    await new Promise<void>((resolve) => (held ? held.close(() => resolve()) : resolve()));
  }, HANG_MS);

  it(
    'with port 55432 held by another program: runs a copy of the quickstart on free ports, replicates, re-plans empty',
    async () => {
      held = await hold(55432);
      const r = await runSteep(['demo'], { cwd: REPO_ROOT, timeoutMs: HANG_MS });
      const out = `${r.stdout}\n${r.stderr}`;
      expect(r.code, out).toBe(0);
      expect(r.stdout).toContain(
        'Port 55432 of node east is taken by another program: the demo runs a copy of the quickstart on free ports.',
      );
      const file = 'examples/quickstart/.steep/demo/steep.yaml';
      expect(r.stdout).toContain(`1. Sandbox for ${file} (topology quickstart):`);
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
    },
    3 * HANG_MS,
  );
});
