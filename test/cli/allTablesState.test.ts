import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * An `allTables` publication publishes steep's own state schema too (PostgreSQL 14–18 have no
 * EXCEPT), so the subscription receives the publisher's state rows (issue 62): `verify` compares
 * only the application's tables (steep's state schema is never part of a comparison), and the
 * subscription can be dropped and created again (`existingData: truncate` empties only the
 * application's tables; the state rows its first life received do not stop the second copy).
 * An application writes on the publisher throughout, counted by acknowledged ids.
 */
const SUB = 'west_at';
const APP = { user: 'at_app', password: 'at-app-secret-1' };

describe.each(testVersions())('allTables and steep state schema on %i', { timeout: 300_000 }, (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

  function config(subscribed: boolean, existingData?: string): string {
    return writeConfig(
      [
        'version: 1',
        'topology: all-tables',
        nodesYaml(cluster().nodes),
        'publications:',
        '  at_pub:',
        '    node: east',
        '    allTables: true',
        ...(subscribed
          ? [
              'subscriptions:',
              `  ${SUB}:`,
              '    node: west',
              '    from: east',
              '    publications: [at_pub]',
              ...(existingData ? [`    init: { method: snapshot, existingData: ${existingData} }`] : []),
            ]
          : []),
        '',
      ].join('\n'),
    );
  }

  /** Every relation of the subscription ready on west (steep's state tables included). */
  async function allReady(west: TestNode): Promise<void> {
    await eventually(
      async () => {
        const [r] = await west.query<{ n: string; ready: string }>(
          `SELECT count(*)::text AS n, count(*) FILTER (WHERE r.srsubstate = 'r')::text AS ready
             FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1`,
          [SUB],
        );
        return Number(r!.n) > 1 && r!.n === r!.ready;
      },
      HANG_MS,
      `every relation of ${SUB} ready on west`,
    );
  }

  it('verify compares only the application tables; dropped and created again, it copies again under writes', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query('CREATE TABLE public.at_items (id bigserial PRIMARY KEY, v text NOT NULL)');
      await n.query(`GRANT SELECT, INSERT ON public.at_items TO ${APP.user}`);
      await n.query(`GRANT USAGE ON SEQUENCE public.at_items_id_seq TO ${APP.user}`);
    }
    await east.query(`INSERT INTO public.at_items (v) SELECT md5(g::text) FROM generate_series(1, 10) g`);
    const created = await steep(['apply', '--auto-approve'], config(true));
    expect(created.code, created.stdout + created.stderr).toBe(0);
    await allReady(west);

    const writer = startIdWriter({ east }, APP, 'public.at_items', () => 'east');
    const acked = () => writer.acknowledged().get('east')?.length ?? 0;
    const written = async (n: number) => {
      const from = acked();
      await eventually(async () => acked() >= from + n, HANG_MS, `${n} more writes`);
    };
    try {
      await written(10);
      // right after a correct init: only the application's table is compared, and it is equal
      await waitCaughtUp(east, SUB);
      const verified = await steep(['verify', SUB], config(true));
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      expect(verified.stdout).toContain('1 table');
      expect(verified.stdout).not.toMatch(/steep\.\w+/);
      const check = await steep(['status', '--check'], config(true));
      expect(check.code, check.stdout + check.stderr).toBe(0);

      // dropped (its rows and the state rows it received stay on west), then created again
      const dropped = await steep(['apply', '--auto-approve', '--allow-destroy'], config(false));
      expect(dropped.code, dropped.stdout + dropped.stderr).toBe(0);
      await written(30);
      const again = await steep(
        ['apply', '--auto-approve', '--allow-hazard', 'truncates-data'],
        config(true, 'truncate'),
      );
      expect(again.code, again.stdout + again.stderr).toBe(0);
      await allReady(west);
      // the table syncs never failed: no sync error (15+)
      if (version >= 15) {
        const [s] = await west.query<{ e: string }>(
          `SELECT sync_error_count::text AS e FROM pg_stat_subscription_stats WHERE subname = $1`,
          [SUB],
        );
        expect(s!.e).toBe('0');
      }
      await written(20);
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, SUB);
    const ids = new Set(
      (await west.query<{ id: string }>('SELECT id::text FROM public.at_items')).map((r) => Number(r.id)),
    );
    const ack = writer.acknowledged().get('east') ?? [];
    const lost = ack.filter((id) => !ids.has(id)).length;
    console.info(`allTables on ${version}: acknowledged ${ack.length}, lost ${lost}`);
    expect(lost).toBe(0);
    expect(await digests(west, ['at_items'])).toEqual(await digests(east, ['at_items']));
    // west's own state survived: its record of the subscription is there, and synchronized
    const [own] = await west.query<{ state: string }>(
      `SELECT state FROM steep.subscription_state WHERE node_name = 'west' AND subscription = $1`,
      [SUB],
    );
    expect(own?.state).toBe('synchronized');
    const verified = await steep(['verify', SUB], config(true, 'truncate'));
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const check = await steep(['status', '--check'], config(true, 'truncate'));
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const quiet = await steep(['plan', '--detailed-exitcode'], config(true, 'truncate'));
    expect(quiet.code, quiet.stdout + quiet.stderr).toBe(0);
  });
});
