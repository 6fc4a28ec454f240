import { beforeAll, describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { startSteep, steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digests, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep reinit` killed (SIGKILL: no handler runs) while PostgreSQL copies the table again, with
 * an application writing both tables: until a reinit finishes it, status, status --check, drift
 * and plan are not green (the copy runs, or it is over but the temporary publications are left);
 * the reinit run again drops what the killed one left (docs/commands.md, `steep reinit`), and the
 * table ends equal on both sides with every acknowledged id on the subscriber. Stopped after its
 * copy but before it dropped its temporary publications, the same command only drops them: the
 * table is not emptied and copied a second time.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'rk_app', password: 'rk-app-secret-1' };
const SUB = 'rk_sub';
const ROWS = 300_000;
let path = '';
const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

interface Sub {
  name: string;
  state: string;
  verdict: { verdict: string; reasons: string[] } | null;
}

describe('reinit stopped part way', () => {
  beforeAll(async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      for (const t of ['big', 'small']) {
        await n.query(`CREATE TABLE public.${t} (id bigserial PRIMARY KEY, v text NOT NULL)`);
        await n.query(`GRANT SELECT, INSERT ON public.${t} TO ${APP.user}`);
        await n.query(`GRANT USAGE ON SEQUENCE public.${t}_id_seq TO ${APP.user}`);
      }
    }
    await east.query(
      `INSERT INTO public.big (v) SELECT repeat(md5(g::text), 4) FROM generate_series(1, ${ROWS}) g`,
    );
    await east.query('INSERT INTO public.small (v) SELECT md5(g::text) FROM generate_series(1, 100) g');
    await east.query('ANALYZE');
    path = writeConfig(
      [
        'version: 1',
        'topology: reinit-kill',
        nodesYaml(cluster().nodes),
        'publications:',
        '  rk_pub:',
        '    node: east',
        '    tables: [public.big, public.small]',
        'subscriptions:',
        `  ${SUB}:`,
        '    node: west',
        '    from: east',
        '    publications: [rk_pub]',
        '',
      ].join('\n'),
    );
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await untilHealthy(steep);
  }, 120_000);

  it('is not green until a reinit finishes it; the rerun drops the leftovers and the rows are all there', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    // the copy into west pauses 100 ms every 2,000 rows (15 s for big) while rk_speed says slow,
    // so the readings below see it half done; a new snapshot per row sees the switch to fast
    await west.query(`CREATE TABLE public.rk_speed (slow boolean NOT NULL);
      INSERT INTO public.rk_speed VALUES (true);
      CREATE FUNCTION public.rk_slow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.id % 2000 = 0 AND (SELECT slow FROM public.rk_speed) THEN PERFORM pg_sleep(0.1); END IF;
          RETURN NEW;
        END $$;
      CREATE TRIGGER rk_slow BEFORE INSERT ON public.big FOR EACH ROW EXECUTE FUNCTION public.rk_slow();
      ALTER TABLE public.big ENABLE ALWAYS TRIGGER rk_slow;`);

    const writers = ['big', 'small'].map((t) => startIdWriter({ east }, APP, `public.${t}`, () => 'east'));
    const acked = (i: number) => writers[i]!.acknowledged().get('east') ?? [];
    try {
      await eventually(async () => acked(0).length > 20 && acked(1).length > 20, HANG_MS, 'writes on east');
      const reinit = startSteep(
        ['reinit', SUB, '--tables', 'public.big', '--auto-approve', '--log-format', 'json', '-c', path],
        passwordEnv(cluster().nodes),
      );
      // PostgreSQL's table sync copies big into west: COPY has loaded rows, not all of them
      await eventually(
        async () => {
          const rows = await west.query<{ n: string }>(
            `SELECT tuples_processed::text AS n FROM pg_stat_progress_copy WHERE relid = 'public.big'::regclass`,
          );
          return rows.length > 0 && Number(rows[0]!.n) > 0;
        },
        HANG_MS,
        'the copy of public.big under way on west',
      );
      reinit.child.kill('SIGKILL');
      const killed = await reinit.exited;
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      const temporary = await temporaryPublications();
      console.log(`reinitKill: killed mid-copy; temporary publications ${temporary.join(', ') || 'none'}`);

      // half-copied: nothing is green
      await notGreen('mid-copy');
      expect(await tableStates(), 'still copying after the readings').toContain('d');
      await west.query('UPDATE public.rk_speed SET slow = false');

      // PostgreSQL finishes the copy on its own; the temporary publications are left: still not green
      await eventually(async () => (await tableStates()).every((s) => s === 'r'), HANG_MS, 'the copy over');
      await notGreen('copied, leftovers remain');

      // run again: it resumes, finishes and drops what the killed run left
      const again = await steep(['reinit', SUB, '--tables', 'public.big', '--auto-approve']);
      expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
      expect(again.stdout).toMatch(/Reinit of public\.big in subscription rk_sub done \(resumed: copying\)/);
      expect(await temporaryPublications()).toEqual([]);
      expect(await leftoverSlots()).toEqual([]);
      const subs = await west.query<{ subname: string }>('SELECT subname FROM pg_subscription ORDER BY 1');
      expect(subs.map((s) => s.subname)).toEqual([SUB]);
      // only the subscription's own origin (pg_<oid>), no table sync's (pg_<oid>_<relid>)
      const origins = await west.query<{ roname: string }>(
        "SELECT roname FROM pg_replication_origin WHERE roname ~ '^pg_[0-9]+_[0-9]+$'",
      );
      expect(origins).toEqual([]);
      await untilHealthy(steep);
      expect((await steep(['drift'])).code).toBe(0);

      const before = acked(0).length;
      await eventually(async () => acked(0).length > before + 50, HANG_MS, 'writes after the rerun');
      for (const w of writers) await w.stop();
      await waitCaughtUp(east, SUB);
      expect(await digests(west, ['big', 'small'])).toEqual(await digests(east, ['big', 'small']));
      const lost = [
        await idsMissing(west, 'public.big', acked(0)),
        await idsMissing(west, 'public.small', acked(1)),
      ];
      console.log(
        `reinitKill: acknowledged big ${acked(0).length}, small ${acked(1).length}; missing on west ${lost.join(', ')}`,
      );
      expect(lost).toEqual([0, 0]);
    } finally {
      for (const w of writers) await w.stop();
    }
  }, 180_000);
  it('stopped after the copy, before its temporary publications are dropped: the rerun drops them and copies nothing again', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    // the same state as a kill between the copy's end and the drop of the temporary publications
    // (recorded synchronized, the subscription back on rk_pub, steep_reinit_0_rk_sub still on
    // east), made certain: east refuses DROP PUBLICATION of a reinit's publication until told
    await east.query(`CREATE FUNCTION public.rk_keep() RETURNS event_trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'rk_keep: the reinit is stopped here'; END $$;
      CREATE EVENT TRIGGER rk_keep ON sql_drop WHEN TAG IN ('DROP PUBLICATION')
        EXECUTE FUNCTION public.rk_keep();`);
    const writer = startIdWriter({ east }, APP, 'public.small', () => 'east');
    const acked = () => writer.acknowledged().get('east') ?? [];
    const filenode = async () =>
      (await west.query<{ f: string }>(`SELECT pg_relation_filenode('public.small')::text AS f`))[0]!.f;
    try {
      await eventually(async () => acked().length > 20, HANG_MS, 'writes on east');
      const before = await filenode();
      const stopped = await steep(['reinit', SUB, '--tables', 'public.small', '--auto-approve']);
      expect(stopped.code, `${stopped.stdout}\n${stopped.stderr}`).toBe(1);
      expect(stopped.stderr).toContain('rk_keep: the reinit is stopped here');
      const copied = await filenode();
      expect(copied, 'the first run truncated public.small and copied it').not.toBe(before);
      expect(await tableStates()).toEqual(['r', 'r']);
      expect(await temporaryPublications()).toEqual(['steep_reinit_0_rk_sub']);
      await notGreen('copied, the drop refused', 'public.small');

      await east.query('DROP EVENT TRIGGER rk_keep; DROP FUNCTION public.rk_keep()');
      const again = await steep(['reinit', SUB, '--tables', 'public.small', '--auto-approve']);
      expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
      expect(again.stdout).toMatch(/Reinit of public\.small in subscription rk_sub done \(resumed: copied\)/);
      expect(await filenode(), 'the rerun emptied and copied public.small again').toBe(copied);
      expect(await temporaryPublications()).toEqual([]);
      await untilHealthy(steep);
      expect((await steep(['drift'])).code).toBe(0);

      const n = acked().length;
      await eventually(async () => acked().length > n + 20, HANG_MS, 'writes after the rerun');
      await writer.stop();
      await waitCaughtUp(east, SUB);
      expect(await digests(west, ['big', 'small'])).toEqual(await digests(east, ['big', 'small']));
      const lost = await idsMissing(west, 'public.small', acked());
      console.log(
        `reinitKill (stopped before the drop): acknowledged ${acked().length}; missing on west ${lost}`,
      );
      expect(lost).toBe(0);
    } finally {
      await writer.stop();
    }
  }, 180_000);
});

/** the reinit's temporary publications on east */
async function temporaryPublications(): Promise<string[]> {
  const rows = await cluster()
    .node('east')
    .query<{ pubname: string }>(
      "SELECT pubname FROM pg_publication WHERE pubname LIKE 'steep_reinit_%' ORDER BY 1",
    );
  return rows.map((r) => r.pubname);
}

/** slots on east other than the subscription's own */
async function leftoverSlots(): Promise<string[]> {
  const rows = await cluster()
    .node('east')
    .query<{ slot_name: string }>(
      'SELECT slot_name FROM pg_replication_slots WHERE slot_name <> $1 ORDER BY 1',
      [SUB],
    );
  return rows.map((r) => r.slot_name);
}

async function tableStates(): Promise<string[]> {
  const rows = await cluster()
    .node('west')
    .query<{ s: string }>(
      `SELECT r.srsubstate AS s FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1`,
      [SUB],
    );
  return rows.map((r) => r.s);
}

/** status, status --check, drift and plan all say the reinit of `table` is not finished */
async function notGreen(when: string, table = 'public.big'): Promise<void> {
  const [status, check, drift, plan] = await Promise.all([
    steep(['status', '--json']),
    steep(['status', '--check']),
    steep(['drift']),
    steep(['plan']),
  ]);
  const sub = (JSON.parse(status.stdout) as { subscriptions: Sub[] }).subscriptions.find(
    (s) => s.name === SUB,
  )!;
  console.log(
    `reinitKill ${when}: status ${sub.state} (${sub.verdict?.verdict}: ${sub.verdict?.reasons.join('; ')}); ` +
      `--check ${check.code}; drift ${drift.code}; plan ${plan.code}\n${check.stdout}\n${drift.stdout}\n${plan.stdout}${plan.stderr}`,
  );
  expect.soft(sub.state, `${when}: ${status.stdout}`).not.toBe('synchronized');
  expect.soft(check.code, `${when}: ${check.stdout}`).not.toBe(0);
  expect.soft(drift.code, `${when}: ${drift.stdout}`).not.toBe(0);
  expect.soft(plan.stdout, `${when}: plan`).not.toMatch(/No changes/);
  expect.soft(`${check.stdout}${drift.stdout}`, when).toContain(`steep reinit ${SUB} --tables ${table}`);
  // the reinit's own publication, named by that advice, is not also an object nobody manages
  expect.soft(`${drift.stdout}${plan.stdout}`, when).not.toContain('Unmanaged');
}
