import { describe, expect, it } from 'vitest';
import { type CliResult, steepWith, writeConfig } from '../support/cli.js';
import { defaultVersion, type TestNode, useCluster } from '../support/cluster.js';
import { createTables, digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A copy PostgreSQL has stopped is not followed on: with `disableOnError: true`, a table copy that
 * fails (a row the subscriber's table refuses) makes PostgreSQL disable the subscription, and
 * nothing moves until someone enables it again. apply, reinit and `init status --watch` say so at
 * their next reading, with the cause and the way out, instead of printing "copying" until a
 * ceiling; the way out they print, followed, converges.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const env = () => passwordEnv(cluster().nodes);
// the default patience (STEEP_INIT_FAIL_AFTER_MS unset): the stop must not wait on it
const steep = steepWith({ env, timeoutMs: 90_000 });
/** A disabled subscription is told at the next reading: well within the default 15 s patience. */
const NOTICED_MS = 10_000;

const out = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

function fileOf(n: string): string {
  return writeConfig(
    [
      'version: 1',
      `topology: ${n}`,
      nodesYaml(cluster().nodes),
      'publications:',
      `  ${n}_pub:`,
      '    node: east',
      `    tables: [public.${n}]`,
      'subscriptions:',
      `  ${n}_sub:`,
      '    node: west',
      '    from: east',
      `    publications: [${n}_pub]`,
      '    options:',
      '      disableOnError: true',
      '',
    ].join('\n'),
  );
}

async function enabled(west: TestNode, sub: string): Promise<boolean> {
  const [r] = await west.query<{ subenabled: boolean }>(
    `SELECT subenabled FROM pg_subscription WHERE subname = $1`,
    [sub],
  );
  return r?.subenabled === true;
}

/** Rows the subscriber's table refuses: 100 rows with the same `v`, under a unique index on west. */
async function refusedRows(n: string): Promise<void> {
  const [east, west] = cluster().nodes as [TestNode, TestNode];
  await createTables([east, west], [{ name: n, rows: 0 }]);
  await east.query(`INSERT INTO public.${n} (id, v) SELECT g, 'same' FROM generate_series(1, 100) g`);
  await west.query(`CREATE UNIQUE INDEX ${n}_v ON public.${n} (v)`);
}

describe.skipIf(defaultVersion() < 15)('a copy PostgreSQL disabled at an error', () => {
  it('apply stops at its next reading, names the cause and the way out; followed, it converges', async () => {
    const [east, west] = cluster().nodes as [TestNode, TestNode];
    const n = 'sc_apply';
    await refusedRows(n);
    const path = fileOf(n);
    const r = await steep(['apply', '--auto-approve'], path);
    expect(r.code, out(r)).toBe(1);
    expect(await enabled(west, `${n}_sub`)).toBe(false);
    expect(r.stderr).toMatch(
      new RegExp(
        `init of subscription ${n}_sub on west failed: PostgreSQL disabled it at an error of its table synchronisation worker \\(disable_on_error; pg_stat_subscription_stats: sync_error_count [1-9]`,
      ),
    );
    expect(r.stderr).toContain(`tables not yet ready: public.${n}`);
    expect(r.stderr).toContain('the server log of west');
    expect(r.stderr).toContain(`ALTER SUBSCRIPTION "${n}_sub" ENABLE on west`);
    expect(r.stderr).not.toContain('goes on in PostgreSQL');
    // the way out, followed: the cause fixed, enabled, apply follows the copy to synchronized
    await west.query(`DROP INDEX public.${n}_v`);
    await west.query(`ALTER SUBSCRIPTION ${n}_sub ENABLE`);
    const resumed = await steep(['apply', '--auto-approve'], path);
    expect(resumed.code, out(resumed)).toBe(0);
    await waitCaughtUp(east, `${n}_sub`);
    expect(await digests(west, [n])).toEqual(await digests(east, [n]));
  });

  it('init status --watch stops at the disabled copy and says why (apply --no-wait)', async () => {
    const [, west] = cluster().nodes as [TestNode, TestNode];
    const n = 'sc_watch';
    await refusedRows(n);
    const path = fileOf(n);
    const started = await steep(['apply', '--auto-approve', '--no-wait'], path);
    expect(started.code, out(started)).toBe(0);
    await eventually(async () => !(await enabled(west, `${n}_sub`)), HANG_MS, 'PostgreSQL to disable it');
    const t0 = Date.now();
    const watched = await steep(['init', 'status', `${n}_sub`, '--watch'], path);
    expect(Date.now() - t0).toBeLessThan(NOTICED_MS);
    expect(watched.code, out(watched)).toBe(1);
    expect(out(watched)).toMatch(/disabled by PostgreSQL after an error \(disable_on_error/);
    expect(out(watched)).toContain(`ALTER SUBSCRIPTION "${n}_sub" ENABLE on west`);
  });

  it('reinit stops at its next reading once the copy is disabled; its way out, followed, converges', async () => {
    const [east, west] = cluster().nodes as [TestNode, TestNode];
    const n = 'sc_reinit';
    await createTables([east, west], [{ name: n, rows: 0 }]);
    await east.query(`INSERT INTO public.${n} (id, v) SELECT g, 'x' FROM generate_series(1, 100) g`);
    const path = fileOf(n);
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, out(applied)).toBe(0);
    // streamed rows never meet it; the copy of every row again does
    await west.query(`ALTER TABLE public.${n} ADD CONSTRAINT ${n}_not_x CHECK (v <> 'x') NOT VALID`);
    const t0 = Date.now();
    const r = await steep(['reinit', `${n}_sub`, '--tables', `public.${n}`, '--auto-approve'], path);
    const took = Date.now() - t0;
    expect(r.code, out(r)).toBe(1);
    expect(took).toBeLessThan(NOTICED_MS + 10_000);
    expect(r.stderr).toContain('PostgreSQL disabled it at an error of its table synchronisation worker');
    expect(r.stderr).toContain(`ALTER SUBSCRIPTION "${n}_sub" ENABLE on west`);
    expect(r.stderr).toContain(`steep reinit ${n}_sub --tables public.${n}`);
    expect(r.stderr).not.toContain('goes on in PostgreSQL');
    await west.query(`ALTER TABLE public.${n} DROP CONSTRAINT ${n}_not_x`);
    await west.query(`ALTER SUBSCRIPTION ${n}_sub ENABLE`);
    const resumed = await steep(['reinit', `${n}_sub`, '--tables', `public.${n}`, '--auto-approve'], path);
    expect(resumed.code, out(resumed)).toBe(0);
    await east.query(`INSERT INTO public.${n} (id, v) VALUES (101, 'after')`);
    await waitCaughtUp(east, `${n}_sub`);
    expect(await digests(west, [n])).toEqual(await digests(east, [n]));
    expect(await east.query(`SELECT pubname FROM pg_publication WHERE pubname LIKE 'steep_reinit%'`)).toEqual(
      [],
    );
  });
});
