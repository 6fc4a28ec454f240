import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { faultVersions, useCluster } from '../support/cluster.js';
import { digests, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A restart of the publisher is not a failure (issue 65, docs/status.md "A publisher's
 * restart"): the apply worker's lost connection counts one apply error, and once the worker
 * streams again `status --check` and `drift` say healthy, whichever ran before, with no
 * acknowledged id lost. The rule can answer no: a conflict that repeats after the restart keeps
 * the subscription `failing` reading after reading. PostgreSQL 15+ (error counters), on
 * faultVersions() (a restart).
 */
const version = faultVersions()[0]!;
const cluster = useCluster({ nodes: ['east', 'west'], version });
const SUB = 'west_rc';
const APP = { user: 'rc_app', password: 'rc-app-secret-1' };
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

describe('a restart of the publisher under writes', { timeout: 600_000 }, () => {
  it('is a reconnect, not failing: status --check and drift exit 0 once the worker streams again; a conflict after it still fails', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    if (west.version < 15) return; // no error counters before 15: nothing to tell apart
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query('CREATE TABLE public.rc_events (id bigserial PRIMARY KEY, v text NOT NULL)');
      await n.query(`GRANT SELECT, INSERT ON public.rc_events TO ${APP.user}`);
      await n.query(`GRANT USAGE ON SEQUENCE public.rc_events_id_seq TO ${APP.user}`);
    }
    const path = writeConfig(
      [
        'version: 1',
        'topology: reconnect',
        nodesYaml([east, west]),
        'publications:',
        '  rc_pub:',
        '    node: east',
        '    tables: [public.rc_events]',
        'subscriptions:',
        `  ${SUB}:`,
        '    node: west',
        '    from: east',
        '    publications: [rc_pub]',
        '',
      ].join('\n'),
    );
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const check = () => steep(['status', '--check'], path);
    await eventually(async () => (await check()).code === 0, HANG_MS, 'healthy before the restart');
    const applyErrors = async () =>
      Number(
        (
          await west.query<{ n: string }>(
            `SELECT st.apply_error_count::text AS n FROM pg_stat_subscription_stats st
               JOIN pg_subscription s ON s.oid = st.subid WHERE s.subname = $1`,
            [SUB],
          )
        )[0]?.n ?? 0,
      );
    const before = await applyErrors();
    const verdictOf = async () => {
      const json = JSON.parse((await steep(['status', '--json'], path)).stdout) as {
        subscriptions: Array<{ name: string; verdict: { verdict: string; reasons: string[] } }>;
      };
      return json.subscriptions.find((x) => x.name === SUB)!.verdict;
    };

    const writer = startIdWriter({ east }, APP, 'public.rc_events', () => 'east');
    try {
      await eventually(async () => (writer.acknowledged().get('east')?.length ?? 0) > 30, HANG_MS, 'writes');
      await east.restart('fast');
      // a reading before the worker is back may say what it sees; it must not keep later ones failing
      await check();
      await eventually(
        async () =>
          (
            await east.query<{ active: boolean }>(
              'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
              [SUB],
            )
          )[0]?.active === true &&
          (
            await west.query(`SELECT 1 FROM pg_stat_subscription WHERE subname = $1 AND pid IS NOT NULL`, [
              SUB,
            ])
          ).length > 0,
        HANG_MS,
        'the apply worker streaming again',
      );
      await eventually(
        async () => (writer.acknowledged().get('east')?.length ?? 0) > 60,
        HANG_MS,
        'writes after the restart',
      );
      // the restart counted as PostgreSQL's error: what the rule must not take for a failure
      expect(await applyErrors()).toBeGreaterThan(before);
      // from here on no reading says failing (exit 2); it says healthy once caught up
      await eventually(
        async () => {
          const r = await check();
          expect(r.code, r.stdout + r.stderr).not.toBe(2);
          return r.code === 0;
        },
        HANG_MS,
        'status --check healthy after the reconnect',
      );
      const drift = await steep(['drift'], path);
      expect(drift.code, drift.stdout + drift.stderr).toBe(0);
      expect((await verdictOf()).verdict).toBe('synchronized');
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, SUB);
    const acked = writer.acknowledged().get('east') ?? [];
    console.log(
      `reconnect: ${acked.length} acknowledged ids, ${await idsMissing(west, 'public.rc_events', acked)} lost`,
    );
    expect(await idsMissing(west, 'public.rc_events', acked)).toBe(0);
    expect(await digests(west, ['rc_events'])).toEqual(await digests(east, ['rc_events']));

    // the rule answers no: a conflict that repeats after the restart is failing, reading after reading
    const afterRestart = await applyErrors();
    await west.query(`INSERT INTO public.rc_events (id, v) VALUES (900000001, 'here first')`);
    await east.query(`INSERT INTO public.rc_events (id, v) VALUES (900000001, 'from east')`);
    await eventually(async () => (await applyErrors()) > afterRestart, HANG_MS, 'the conflict to err');
    for (let i = 0; i < 5; i++) {
      const r = await check();
      expect(r.code, `reading ${i}: ${r.stdout}`).toBe(2);
      // the verdict itself, not only 18's conflicts since the last verify
      expect((await verdictOf()).verdict, `reading ${i}`).toBe('failing');
    }
    const drift = await steep(['drift'], path);
    expect(drift.code, drift.stdout).toBe(2);
    expect(drift.stdout).toContain('Replication failing:');
    await west.query('DELETE FROM public.rc_events WHERE id = 900000001');
    await waitCaughtUp(east, SUB);
    expect(await digests(west, ['rc_events'])).toEqual(await digests(east, ['rc_events']));
  });
});
