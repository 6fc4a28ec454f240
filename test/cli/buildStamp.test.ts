import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBuilt } from '../../scripts/build-stamp.mjs';
import { REPO_ROOT } from '../support/cli.js';

/**
 * `npm test` on a built tree must not rebuild dist/ under a steep started from it (a rebuild
 * removes dist/bundle/ and writes it again: "Cannot find module '../dist/bundle/main.cjs'").
 * pretest builds only when dist/ is not built from the tree as it is (scripts/build-stamp.mjs).
 */

const BIN = join(REPO_ROOT, 'bin', 'run.js');
const MAIN = join(REPO_ROOT, 'dist', 'bundle', 'main.cjs');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const version = () => run(process.execPath, [BIN, '--version']);

describe('npm test on a built tree', () => {
  it('its pretest builds nothing: steep --version started again and again meanwhile always runs', async () => {
    expect(isBuilt(REPO_ROOT), 'dist/ is not built from this tree: run npm run build first').toBe(true);
    const before = statSync(MAIN).mtimeMs;
    let pretestDone = false;
    const pretest = run('npm', ['run', 'pretest']).finally(() => {
      pretestDone = true;
    });
    const runs: Ran[] = [];
    // at least one run after pretest ended, and runs all the while it ran
    do runs.push(await version());
    while (!pretestDone);
    runs.push(await version());
    const r = await pretest;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr).toContain('dist/ is built from this tree (dist/.build-stamp): no build');
    expect(runs.filter((x) => x.code !== 0)).toEqual([]);
    expect(statSync(MAIN).mtimeMs).toBe(before);
  });
});
