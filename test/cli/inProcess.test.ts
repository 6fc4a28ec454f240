import { describe, expect, it } from 'vitest';
import { runSteep, writeConfig } from '../support/cli.js';
import { BASE, envRef } from '../unit/config/support.js';

/**
 * The tests run steep's commands inside their own process (test/support/inProcess.ts): each call
 * must still be what a process of its own would be — its own output, exit code, environment and
 * stdin, side by side with another — and leave nothing behind in the process for the next.
 */
const WITH_ENV = BASE.replace('url: postgres://steep@west.internal:5432/app', `url: ${envRef('WEST_URL')}`);

describe('steep in-process', () => {
  it('calls side by side keep their own environment, output and exit code', async () => {
    const path = writeConfig(WITH_ENV);
    const url = 'postgres://steep@west.internal:5432/app';
    const calls = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        runSteep(['validate', '-c', path], {
          env: i % 2 === 0 ? { WEST_URL: url } : { WEST_URL: undefined },
        }),
      ),
    );
    for (const [i, r] of calls.entries()) {
      if (i % 2 === 0) {
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe(`${path} is valid: 2 nodes, 1 publication, 1 subscription\n`);
        expect(r.stderr).toBe('');
      } else {
        expect(r.code).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(/environment variable `WEST_URL` is not set/);
      }
    }
    // the test's own environment is as it was
    expect(process.env.WEST_URL).toBeUndefined();
  });

  it('a call adds no listener to the process and reads no stdin but its own', async () => {
    const path = writeConfig(BASE);
    const before = {
      drain: process.stdout.listenerCount('drain'),
      sigint: process.listenerCount('SIGINT'),
      sigterm: process.listenerCount('SIGTERM'),
    };
    // more calls than the 10 listeners after which Node warns of a leak
    for (let i = 0; i < 12; i++) {
      const r = await runSteep(['validate', '-c', path], { input: 'yes\n' });
      expect(r.code, r.stderr).toBe(0);
    }
    expect({
      drain: process.stdout.listenerCount('drain'),
      sigint: process.listenerCount('SIGINT'),
      sigterm: process.listenerCount('SIGTERM'),
    }).toEqual(before);
  });

  it('an unknown command and a parse error exit 1 with their sentence, the next call unaffected', async () => {
    const unknown = await runSteep(['plna']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown command `steep plna`; did you mean/);
    const misuse = await runSteep(['validate', '--no-such-flag']);
    expect(misuse.code).toBe(1);
    expect(misuse.stderr).toMatch(/has no flag --no-such-flag/);
    const version = await runSteep(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^steep 0\.1\.0 · PostgreSQL 14–18/);
  });
});
