import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findFreePort, isPortFree } from '../../src/sandbox/ports.js';
import { runSteep } from '../support/cli.js';
import { tempDir } from '../support/tempDir.js';
import { HANG_MS } from '../support/topologyFile.js';

/**
 * `steep sandbox up` with one of its nodes' ports held by another program: it refuses before it
 * starts or creates anything (no half sandbox), naming the node, the port and what to do; once
 * the port is free, up starts both, and up again finds them its own (already running).
 */
const DIR = tempDir('steep-sandbox-');
// run as root, the servers run as postgres, which must enter it
chmodSync(DIR, 0o755);
const FILE = join(DIR, 'steep.yaml');

describe('steep sandbox up', () => {
  afterAll(async () => {
    await runSteep(['sandbox', 'down', '-c', FILE, '--purge']);
  }, HANG_MS);

  it(
    'with one port held by another program: refuses before starting anything, naming the port and what to do',
    async () => {
      const [a, b] = [await findFreePort(), await findFreePort()];
      writeFileSync(
        FILE,
        [
          'version: 1',
          'topology: half',
          'nodes:',
          `  east: { url: "postgres://postgres@127.0.0.1:${a}/app", sandbox: true }`,
          `  west: { url: "postgres://postgres@127.0.0.1:${b}/app", sandbox: true }`,
          '',
        ].join('\n'),
      );
      const held = net.createServer((s) => s.destroy());
      await new Promise<void>((r) => held.listen(b, '127.0.0.1', () => r()));
      try {
        const up = await runSteep(['sandbox', 'up', '-c', FILE], { timeoutMs: HANG_MS });
        expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(1);
        // no node started: no half sandbox
        expect(up.stdout).toBe('');
        expect(up.stderr.trim()).toBe(
          `error: node west: port ${b} on 127.0.0.1 is already in use by another program; nothing was started (stop that program or give the node another port, then run steep sandbox up again)`,
        );
        // nothing was created or started for east
        expect(existsSync(join(DIR, '.steep', 'sandbox', 'east'))).toBe(false);
        expect(await isPortFree(a)).toBe(true);
      } finally {
        await new Promise<void>((r) => held.close(() => r()));
      }
      const up = await runSteep(['sandbox', 'up', '-c', FILE], { timeoutMs: HANG_MS });
      expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);
      const again = await runSteep(['sandbox', 'up', '-c', FILE], { timeoutMs: HANG_MS });
      expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
      expect(again.stdout).toMatch(/^east: already running/m);
      expect(again.stdout).toMatch(/^west: already running/m);
    },
    3 * HANG_MS,
  );
});
