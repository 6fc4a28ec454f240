import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { roleClient, startAppWriter } from '../support/appWriter.js';
import { hasStackTrace, type Started, startSteep, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, pairYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A switchover stopped by a signal mid-drain (issue 80, item 3), east → west on 18, with the
 * application writing on east: SIGTERM and SIGHUP (an ssh session that drops) undo the fence —
 * the role logs in and writes again, no fence trigger or function is left, the report says the
 * fence was undone — and exit 143 / 129; SIGHUP with stdout and stderr already gone (the
 * session's pipes closed: every write fails with EPIPE) undoes it all the same.
 */
const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });
const PASSWORD = 'sighup-app-secret-3';
const env = () => passwordEnv(cluster().nodes);
const steep = steepWith({ env, timeoutMs: 120_000 });

/** Table `<p>_orders` on both nodes, written by role `<p>_app`; east publishes it to west's `west_<p>`. */
async function setUp(p: string): Promise<string> {
  const east = cluster().node('east');
  const west = cluster().node('west');
  for (const n of [east, west]) {
    await n.query(`CREATE ROLE ${p}_app LOGIN PASSWORD '${PASSWORD}'`);
    await n.query(
      `CREATE TABLE public.${p}_orders (id bigserial PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0)`,
    );
    await n.query(`CREATE SEQUENCE public.${p}_tickets`);
    await n.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON public.${p}_orders TO ${p}_app`);
    await n.query(`GRANT USAGE ON SEQUENCE public.${p}_orders_id_seq, public.${p}_tickets TO ${p}_app`);
  }
  await east.query(`INSERT INTO public.${p}_orders (v) SELECT md5(g::text) FROM generate_series(1, 2000) g`);
  const path = writeConfig(
    pairYaml({
      topology: `signals-${p}`,
      publisher: east,
      subscriber: west,
      p,
      tables: [`public.${p}_orders`],
    }),
  );
  const applied = await steep(['apply', '--auto-approve'], path);
  expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
  await waitCaughtUp(east, `west_${p}`);
  return path;
}

/** What the fence left on east: the role's login and setting, the trigger, the function. */
async function fenceLeft(east: TestNode, p: string) {
  const [role] = await east.query<{ login: boolean; settings: string[] | null }>(
    `SELECT r.rolcanlogin AS login,
            (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setrole = r.oid) AS settings
       FROM pg_roles r WHERE r.rolname = $1`,
    [`${p}_app`],
  );
  const triggers = await east.query<{ t: string }>(
    `SELECT tgname AS t FROM pg_trigger WHERE tgrelid = 'public.${p}_orders'::regclass AND NOT tgisinternal`,
  );
  const functions = await east.query<{ f: string }>(
    `SELECT proname AS f FROM pg_proc WHERE proname LIKE 'switchover\\_fence\\_%' AND proname = $1`,
    [`switchover_fence_west_${p}`],
  );
  return {
    login: role!.login,
    settings: role!.settings ?? [],
    triggers: triggers.map((r) => r.t),
    functions: functions.map((r) => r.f),
  };
}

/**
 * `steep switchover west_<p>` with its drain held up (west's apply waits for a lock the test
 * holds), started once the drain step has begun; `release` lets west's apply go on.
 */
async function midDrain(p: string, path: string): Promise<{ run: Started; release: () => Promise<void> }> {
  const west = cluster().node('west');
  const holder: pg.Client = await west.client();
  await holder.query('BEGIN');
  await holder.query(`LOCK TABLE public.${p}_orders IN ACCESS EXCLUSIVE MODE`);
  const run = startSteep(
    ['switchover', `west_${p}`, '--grace', '1s', '--max-lag', '64MB', '--log-format', 'json', '-c', path],
    env(),
  );
  await run.when((e) => e.event === 'switchover.step_started' && e.step === 'drain');
  const release = async () => {
    await holder.query('ROLLBACK').catch(() => {});
    await holder.end().catch(() => {});
  };
  return { run, release };
}

const CASES = [
  { signal: 'SIGTERM', code: 143, p: 'hterm', outputGone: false },
  { signal: 'SIGHUP', code: 129, p: 'hhup', outputGone: false },
  { signal: 'SIGHUP', code: 129, p: 'hgone', outputGone: true },
] as const;

describe('a switchover stopped by a signal mid-drain undoes its fence (18 → 18)', () => {
  it.each(CASES)(
    '$signal mid-drain (output gone: $outputGone): exit $code, the role logs in and writes again, no fence trigger or function left',
    async ({ signal, code, p, outputGone }) => {
      const east = cluster().node('east');
      const west = cluster().node('west');
      const path = await setUp(p);
      const app = { user: `${p}_app`, password: PASSWORD };
      const writer = startAppWriter(east, app, {
        table: `public.${p}_orders`,
        sequence: `public.${p}_tickets`,
      });
      try {
        await eventually(async () => writer.committed() > 20, HANG_MS, 'the writer to start');
        const { run, release } = await midDrain(p, path);
        let exited: Awaited<Started['exited']>;
        try {
          expect((await fenceLeft(east, p)).login).toBe(false);
          // an ssh session that drops takes the terminal or the pipes with it: every write fails
          if (outputGone) {
            run.child.stdout!.destroy();
            run.child.stderr!.destroy();
          }
          run.child.kill(signal);
          exited = await run.exited;
        } finally {
          await release();
        }
        expect(hasStackTrace(exited.stderr), exited.stderr).toBe(false);
        expect(exited.code, `${exited.stdout}\n${exited.stderr}`).toBe(code);
        if (!outputGone) {
          const messages = run.events.map((e) => e.message ?? '');
          expect(messages).toContain(
            `interrupted (${signal}): stopping before the release: the fence is undone first (a second Ctrl-C exits at once)`,
          );
          expect(run.events.some((e) => e.event === 'switchover.fence_undone')).toBe(true);
          expect(exited.stdout).toMatch(
            new RegExp(`interrupted: .*The fence was undone: ${p}_app can write on east again`),
          );
        }
        expect(await fenceLeft(east, p)).toEqual({ login: true, settings: [], triggers: [], functions: [] });
        const mark = writer.committed();
        await eventually(async () => writer.since(mark) >= 5, HANG_MS, 'the writer to commit on east again');
        const c = await roleClient(east, app);
        await c.query(`INSERT INTO public.${p}_orders (v) VALUES ('after the ${signal}')`);
        await c.end();
      } finally {
        await writer.stop();
      }
      // replication goes on as before: west holds every row east does
      await waitCaughtUp(east, `west_${p}`);
      expect(await digests(west, [`${p}_orders`])).toEqual(await digests(east, [`${p}_orders`]));
    },
    240_000,
  );
});

describe('a switchover killed by SIGKILL mid-drain: status, drift and plan name the fence it left (18 → 18)', () => {
  it('each names the fence and the statements that lift it; run as printed, the role writes again, nothing of the fence is left, and the warning goes', async () => {
    const east = cluster().node('east');
    const p = 'hkill';
    const path = await setUp(p);
    const { run, release } = await midDrain(p, path);
    try {
      run.child.kill('SIGKILL');
      const killed = await run.exited;
      expect(killed.signal).toBe('SIGKILL');
    } finally {
      await release();
    }
    // nothing could undo it: the fence stands, and replication goes on as if nothing happened
    expect(await fenceLeft(east, p)).toMatchObject({ login: false, triggers: [`steep_fence_west_${p}`] });
    const lift = `ALTER ROLE "${p}_app" LOGIN; ALTER ROLE "${p}_app" IN DATABASE "app" RESET default_transaction_read_only; DROP TRIGGER IF EXISTS "steep_fence_west_${p}" ON "public"."${p}_orders"; DROP FUNCTION IF EXISTS "steep"."switchover_fence_west_${p}"()`;
    const said = `a switchover of west_${p} stopped without its undo (killed, or its host lost) left its fence on east: ${p}_app cannot log in there and public.${p}_orders is fenced against every writer, while west_${p} still replicates from it; if no switchover of west_${p} runs now, lift it: run ${lift} on east`;
    const status = await steep(['status'], path);
    expect(status.stdout + status.stderr).toContain(said);
    const drift = await steep(['drift'], path);
    expect(drift.code, `${drift.stdout}\n${drift.stderr}`).toBe(2);
    expect(drift.stdout + drift.stderr).toContain(said);
    const plan = await steep(['plan'], path);
    expect(plan.stdout + plan.stderr).toContain(said);

    // as printed: each statement on east
    const statements = /lift it: run (.+) on east/.exec(said)![1]!.split('; ');
    for (const sql of statements) await east.query(sql);
    expect(await fenceLeft(east, p)).toEqual({ login: true, settings: [], triggers: [], functions: [] });
    const c = await roleClient(east, { user: `${p}_app`, password: PASSWORD });
    await c.query(`INSERT INTO public.${p}_orders (v) VALUES ('after the lift')`);
    await c.end();
    const again = await steep(['status'], path);
    expect(again.stdout + again.stderr).not.toContain('left its fence');
    const plan2 = await steep(['plan', '--detailed-exitcode'], path);
    expect(plan2.code, `${plan2.stdout}\n${plan2.stderr}`).toBe(0);
  }, 240_000);
});
