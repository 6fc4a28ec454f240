import { describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/model/statusReport.js';
import { idsGoOn, startIdWriter } from '../support/appWriter.js';
import { steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { idsMissing, queryDigest, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, pairYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A worker that failed and went on (docs/status.md, "After errors"): an insert on the publisher
 * meets a row of the same key on the subscriber, the apply worker fails at every retry, and the
 * DBA moves it on by hand past the conflict (disable, `pg_replication_origin_advance` to the
 * publisher's position, enable) — what `ALTER SUBSCRIPTION … SKIP` does for one transaction. The
 * changes skipped never arrive, and no catalog says so: steep must not call the subscription
 * `synchronized` on a comparison from before the errors (before: synchronized, acknowledged ids
 * missing). It is `unverified`, naming the verify; the verify finds the hole, and its printed
 * repair, followed under writes, converges with 0 acknowledged ids missing. PostgreSQL 15+
 * counts the errors; 14 does not.
 */
const major = Number((process.env.STEEP_TEST_PG ?? '18').split(',')[0]);
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'episode_app', password: 'episode-app-secret-1' };
const SUB = 'west_ep';
let path = '';
const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

async function statusOf(): Promise<{ code: number; state: string; reasons: string[]; out: string }> {
  const r = await steep(['status', '--check', '--json']);
  const report = JSON.parse(r.stdout) as StatusReport;
  const s = report.subscriptions.find((x) => x.name === SUB)!;
  return { code: r.code, state: s.state, reasons: s.verdict?.reasons ?? [], out: r.stdout + r.stderr };
}

describe.skipIf(major < 15)(
  'a subscription whose worker failed, then went on (18)',
  { timeout: 300_000 },
  () => {
    it('is unverified until compared since the errors; the printed verify and repair converge; a rolling verify settles a fixed one', async () => {
      const east = cluster().node('east');
      const west = cluster().node('west');
      for (const n of [east, west]) {
        await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
        await n.query('CREATE TABLE public.items (id bigserial PRIMARY KEY, v text NOT NULL)');
        await n.query(`GRANT SELECT, INSERT ON public.items TO ${APP.user}`);
        await n.query(`GRANT USAGE ON SEQUENCE public.items_id_seq TO ${APP.user}`);
      }
      // a failed worker is retried every second: status's window for a rise is 10 s, not 30
      await west.query("ALTER SYSTEM SET wal_retrieve_retry_interval = '1s'");
      await west.query('SELECT pg_reload_conf()');
      await east.query('INSERT INTO public.items (v) SELECT md5(g::text) FROM generate_series(1, 200) g');
      path = writeConfig(
        pairYaml({
          topology: 'error-episode',
          publisher: east,
          subscriber: west,
          p: 'ep',
          tables: ['public.items'],
        }),
      );
      const applied = await steep(['apply', '--auto-approve']);
      expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
      // compared at the init's end, a reading recorded with no error
      await untilHealthy(steep);

      const writer = startIdWriter({ east }, APP, 'public.items', () => 'east');
      const acked = () => writer.acknowledged().get('east') ?? [];
      try {
        await idsGoOn(writer, 'east');
        // a row on west with a key the application will take on east in a moment
        const [{ next }] = (await east.query<{ next: string }>(
          'SELECT (last_value + 40)::text AS next FROM public.items_id_seq',
        )) as [{ next: string }];
        await west.query("INSERT INTO public.items (id, v) VALUES ($1, 'west only')", [next]);
        await eventually(
          async () => {
            const [e] = await west.query<{ n: string }>(
              'SELECT apply_error_count::text AS n FROM pg_stat_subscription_stats WHERE subname = $1',
              [SUB],
            );
            return Number(e?.n ?? 0) > 0;
          },
          HANG_MS,
          'the apply worker to fail on the duplicate key',
        );
        const failing = await statusOf();
        expect(failing.code, failing.out).toBe(2);
        expect(failing.state, failing.out).toBe('failing');

        // the DBA moves it on by hand: past the conflict, and whatever else east sent meanwhile
        await west.query(`ALTER SUBSCRIPTION ${SUB} DISABLE`);
        await eventually(
          async () =>
            (
              await west.query('SELECT 1 FROM pg_stat_subscription WHERE subname = $1 AND pid IS NOT NULL', [
                SUB,
              ])
            ).length === 0,
          HANG_MS,
          'the apply worker to stop',
        );
        const [{ lsn }] = (await east.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')) as [
          { lsn: string },
        ];
        await west.query(
          `SELECT pg_replication_origin_advance('pg_' || oid, $1::pg_lsn) FROM pg_subscription WHERE subname = $2`,
          [lsn, SUB],
        );
        await west.query(`ALTER SUBSCRIPTION ${SUB} ENABLE`);
        await idsGoOn(writer, 'east', 30);
        await waitCaughtUp(east, SUB);

        // streaming again with no error: never synchronized on the comparison from before them
        let after = await statusOf();
        await eventually(
          async () => {
            after = await statusOf();
            return after.state !== 'failing' && after.state !== 'stopped';
          },
          HANG_MS,
          'status past the errors',
        );
        const lostBefore = await idsMissing(west, 'public.items', acked());
        console.log(
          `after the errors: ${after.state}; acknowledged ${acked().length}, missing on west ${lostBefore}`,
        );
        expect(lostBefore).toBeGreaterThan(0);
        expect(after.state, after.out).toBe('unverified');
        expect(after.code, after.out).toBe(2);
        expect(after.reasons.join('\n')).toMatch(
          /the errors of west_ep on west \(apply \d+, sync 0\) last rose at/,
        );
        const verify = /`(steep verify west_ep)`/.exec(after.reasons.join('\n'));
        expect(verify, after.out).not.toBeNull();

        // the printed verify finds the hole; its printed repair, followed literally under writes
        const found = await steep(verify![1]!.split(' ').slice(1));
        expect(found.code, found.stdout + found.stderr).toBe(2);
        const repair = /repair with: (steep reinit west_ep --tables \S+)/.exec(found.stdout + found.stderr);
        expect(repair, found.stdout + found.stderr).not.toBeNull();
        const repaired = await steep([...repair![1]!.split(' ').slice(1), '--auto-approve']);
        expect(repaired.code, repaired.stdout + repaired.stderr).toBe(0);
        await idsGoOn(writer, 'east', 30);
        await writer.stop();
        await waitCaughtUp(east, SUB);
        const lost = await idsMissing(west, 'public.items', acked());
        console.log(`after the repair: acknowledged ${acked().length}, missing on west ${lost}`);
        expect(lost).toBe(0);
        expect(await queryDigest(west, 'SELECT * FROM public.items')).toEqual(
          await queryDigest(east, 'SELECT * FROM public.items'),
        );
        // compared since the errors: synchronized again
        await untilHealthy(steep);

        // the cause fixed the right way (the row in the way removed on west): nothing is lost, and
        // the schedule's rolling verify, which compares every segment since, settles it unaided
        const [{ later }] = (await east.query<{ later: string }>(
          'SELECT (max(id) + 1000)::text AS later FROM public.items',
        )) as [{ later: string }];
        await west.query("INSERT INTO public.items (id, v) VALUES ($1, 'west only')", [later]);
        await east.query(
          'INSERT INTO public.items (id, v) SELECT g, md5(g::text) FROM generate_series($1::bigint, $1::bigint + 50) g',
          [later],
        );
        await eventually(async () => (await statusOf()).state === 'failing', HANG_MS, 'failing again');
        await west.query('DELETE FROM public.items WHERE id = $1', [later]);
        let fixed = await statusOf();
        await eventually(
          async () => {
            fixed = await statusOf();
            return fixed.state === 'unverified';
          },
          HANG_MS,
          'unverified once the errors stop rising',
        );
        expect(fixed.reasons.join('\n')).toMatch(/last rose at/);
        const rolled = await steep(['verify', '--rolling', '--budget', '2min', SUB]);
        expect(rolled.code, rolled.stdout + rolled.stderr).toBe(0);
        await eventually(
          async () => (await statusOf()).state === 'synchronized',
          HANG_MS,
          'synchronized once the rolling verify compared it',
        );
        // PostgreSQL 18 counted the conflict before the rolling verify compared every segment:
        // it is confirmed too, and --check asks for no verify
        await untilHealthy(steep);
        await waitCaughtUp(east, SUB);
        expect(await queryDigest(west, 'SELECT * FROM public.items')).toEqual(
          await queryDigest(east, 'SELECT * FROM public.items'),
        );
      } finally {
        await writer.stop();
      }
    });
  },
);
