import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, steepEnv, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * The loser of two applies: while another steep command holds steep's advisory lock on a node
 * the plan changes, `steep apply` says who holds it, in one line, and exits 1 — no plan, no step
 * line (❯, SKIPPED) of steps that never started. Taken after its plan (while it waits for the
 * piped yes), the plan it printed stays, and no step line follows it.
 */
const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

describe('apply while another steep holds the lock', () => {
  it('says only who holds the lock, exit 1', async () => {
    const [east, west] = cluster().nodes as [TestNode, TestNode];
    for (const n of [east, west]) await n.query('CREATE TABLE public.lk (id int PRIMARY KEY)');
    const path = writeConfig(
      [
        'version: 1',
        'topology: lk',
        nodesYaml(cluster().nodes),
        'publications:',
        '  lk_pub: { node: east, tables: [public.lk] }',
        'subscriptions:',
        '  lk_sub: { node: west, from: east, publications: [lk_pub] }',
        '',
      ].join('\n'),
    );
    // the winner: a steep apply holding the lock on west
    const holder = await west.client();
    try {
      await holder.query("SET application_name = 'steep apply'");
      await holder.query('SELECT pg_advisory_lock(495474672)');
      const pid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const lost = await steep(['apply', '--auto-approve'], path);
      expect(lost.code, `${lost.stdout}\n${lost.stderr}`).toBe(1);
      expect(`${lost.stdout}\n${lost.stderr}`).not.toMatch(/❯|SKIPPED|\[STARTED\]/);
      expect(lost.stdout).toBe('');
      expect(lost.stderr.trim()).toMatch(
        new RegExp(
          `^error: node west: another steep command holds the lock: steep apply \\(pid ${pid}, since [^)]+\\); wait for it to finish, or end that session$`,
        ),
      );
    } finally {
      await holder.end();
    }

    // the lock taken between its plan and its own locking: it waits for the piped yes meanwhile
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/run.js'), 'apply', '-c', path], {
      env: steepEnv(passwordEnv(cluster().nodes)),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const output = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (output.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output.stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const late = await west.client();
    try {
      await eventually(async () => /^Plan: /m.test(output.stdout), HANG_MS, 'its plan');
      await late.query("SET application_name = 'steep apply'");
      await late.query('SELECT pg_advisory_lock(495474672)');
      child.stdin.end('yes\n');
      const code = await exited;
      expect(code, `${output.stdout}\n${output.stderr}`).toBe(1);
      expect(`${output.stdout}\n${output.stderr}`).not.toMatch(/❯|SKIPPED|\[STARTED\]/);
      // the question it asked, then the one line
      expect(
        output.stderr.replace(/^Apply these \d+ steps\? Only 'yes' is accepted: (yes)?\n?/, '').trim(),
      ).toMatch(
        /^error: node west: another steep command holds the lock: steep apply \(pid \d+, since [^)]+\); wait for it to finish, or end that session$/,
      );
    } finally {
      await late.end();
    }
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
  }, 300_000);
});
