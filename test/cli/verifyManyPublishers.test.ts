import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { idsMissing, tableDigest, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * One table fed by two publishers (PostgreSQL's 030_origin.pl: node C subscribes to A and B
 * with `origin = none`), under verify and its advice (issue 62): west holds east's rows and
 * north's, as PostgreSQL replicates them. A comparison with east alone would call north's rows
 * extra and a reinit from east would empty the table, north's rows with it. verify says once, with
 * why, that the table is not comparable with one publisher (never `diverged`), and `reinit` of
 * it is refused naming the other subscription; every id acknowledged on either publisher stays
 * on west.
 */
const cluster = useCluster({ nodes: ['east', 'north', 'west'] });
const APP = { user: 'mp_app', password: 'mp-app-secret-1' };
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

describe('a table two publishers feed', { timeout: 240_000 }, () => {
  it('is not comparable with one of them, never diverged; reinit of it is refused; nothing is lost', async () => {
    const east = cluster().node('east');
    const north = cluster().node('north');
    const west = cluster().node('west');
    for (const n of [east, north, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query('CREATE TABLE public.mp (id bigint PRIMARY KEY, v text NOT NULL)');
      await n.query('CREATE TABLE public.mp_own (id bigint PRIMARY KEY, v text NOT NULL)');
      await n.query(`GRANT SELECT, INSERT ON public.mp TO ${APP.user}`);
    }
    await east.query('INSERT INTO public.mp SELECT g, md5(g::text) FROM generate_series(1, 50) g');
    await east.query('INSERT INTO public.mp_own SELECT g, md5(g::text) FROM generate_series(1, 20) g');
    await north.query('INSERT INTO public.mp SELECT g, md5(g::text) FROM generate_series(500001, 500050) g');
    const path = writeConfig(
      [
        'version: 1',
        'topology: many-publishers',
        nodesYaml([east, north, west]),
        'publications:',
        '  mp_east:',
        '    node: east',
        '    tables: [public.mp, public.mp_own]',
        '  mp_north:',
        '    node: north',
        '    tables: [public.mp]',
        'subscriptions:',
        '  west_e:',
        '    node: west',
        '    from: east',
        '    publications: [mp_east]',
        '    options:',
        '      origin: none',
        '  west_n:',
        '    node: west',
        '    from: north',
        '    publications: [mp_north]',
        '    options:',
        '      origin: none',
        '',
      ].join('\n'),
    );
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);

    let eastId = 1_000;
    let northId = 600_000;
    const writers = [
      startIdWriter(
        { east },
        APP,
        'public.mp',
        () => 'east',
        () => eastId++,
      ),
      startIdWriter(
        { north },
        APP,
        'public.mp',
        () => 'north',
        () => northId++,
      ),
    ];
    try {
      await eventually(
        async () => writers.every((w) => [...w.acknowledged().values()].flat().length > 30),
        HANG_MS,
        'writes on east and north',
      );
      const verified = await steep(['verify', 'west_e', '--json'], path);
      const report = JSON.parse(verified.stdout) as {
        tables: Array<{ table: string; status: string; reason?: string }>;
      };
      expect(Object.fromEntries(report.tables.map((t) => [t.table, t.status]))).toEqual({
        'public.mp': 'not_verifiable',
        'public.mp_own': 'equal',
      });
      expect(report.tables.find((t) => t.table === 'public.mp')!.reason).toBe(
        "public.mp is not comparable with east alone: subscription west_n on west applies into it too, so rows west holds that east never had may be that subscription's",
      );
      // not verified is not equal (exit 2), and never diverged: the subscription is not marked so
      expect(verified.code).toBe(2);
      const [state] = await west.query<{ state: string }>(
        `SELECT state FROM steep.subscription_state WHERE node_name = 'west' AND subscription = 'west_e'`,
      );
      expect(state!.state).toBe('synchronized');
      const check = await steep(['status', '--check'], path);
      expect(check.code, check.stdout + check.stderr).toBe(0);

      // a reinit from east alone would empty north's rows on west: refused before anything is done
      const reinit = await steep(['reinit', 'west_e', '--tables', 'public.mp', '--auto-approve'], path);
      expect(reinit.code, reinit.stdout + reinit.stderr).toBe(1);
      expect(reinit.stderr).toContain(
        'public.mp on west also receives rows from subscription west_n: a copy from east alone would delete them',
      );
    } finally {
      for (const w of writers) await w.stop();
    }
    await waitCaughtUp(east, 'west_e');
    await waitCaughtUp(north, 'west_n');
    const acked = writers.flatMap((w) => [...w.acknowledged().values()].flat());
    expect(acked.length).toBeGreaterThan(60);
    expect(await idsMissing(west, 'public.mp', acked)).toBe(0);
    // west holds exactly the union: counts and order-independent checksums add up
    const [w, e, n] = await Promise.all([west, east, north].map((node) => tableDigest(node, 'mp')));
    expect(w!.count).toBe(e!.count + n!.count);
    expect(BigInt(w!.sum)).toBe(BigInt(e!.sum) + BigInt(n!.sum));
    expect(await tableDigest(west, 'mp_own')).toEqual(await tableDigest(east, 'mp_own'));
  });
});
