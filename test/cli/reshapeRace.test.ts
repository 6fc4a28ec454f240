import { describe, expect, it } from 'vitest';
import { idsGoOn, startIdWriter } from '../support/appWriter.js';
import { steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { idsMissing, partitionedOrders, queryDigest, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A partition tree switched to `viaPartitionRoot: true` over a subscriber that holds rows it
 * cannot be shown to hold all of (a row deleted there by hand: the counts differ), so the refresh
 * copies the root (`init.existingData: truncate`): the subscription step empties the subscriber's
 * table, then its REFRESH copies the root. Changes to the leaves the publisher sent before the
 * ALTER PUBLICATION that reach the subscriber after the TRUNCATE and before the REFRESH are
 * applied to the emptied table, and the copy then carries the same rows: the table sync fails on
 * duplicate keys for ever (a CI run under load hung 120 s here). The window is made wide: the
 * subscription's walsender is stopped (SIGSTOP) while the application writes, and the REFRESH is
 * held behind a lock on the subscription until the walsender, resumed, has delivered what it held.
 * The step must first wait until the subscription has confirmed a position past the ALTER
 * PUBLICATION (planner/publications/publicationCatchUp.ts, catchUpBefore), saying so.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'reshape_app', password: 'reshape-app-secret-1' };
const SUB = 'reshape_sub';
let path = '';
const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

function config(via: boolean): string {
  return writeConfig(
    [
      'version: 1',
      'topology: reshape-race',
      nodesYaml(cluster().nodes),
      'publications:',
      '  reshape_pub:',
      '    node: east',
      '    tables:',
      '      - part.orders',
      `    viaPartitionRoot: ${via}`,
      'subscriptions:',
      `  ${SUB}:`,
      '    node: west',
      '    from: east',
      '    publications: [reshape_pub]',
      '    schemaSync: auto',
      ...(via ? ['    init:', '      existingData: truncate'] : []),
      '',
    ].join('\n'),
  );
}

describe('a partition tree re-shaped with a copy while changes are on their way (18)', {
  timeout: 300_000,
}, () => {
  it('the subscriber is emptied only once the changes from before the ALTER PUBLICATION are applied', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await partitionedOrders(east, west, APP);
    path = config(false);
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await untilHealthy(steep);

    const writer = startIdWriter({ east }, APP, 'part.orders', () => 'east');
    const acked = () => writer.acknowledged().get('east') ?? [];
    const [sender] = await east.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_replication WHERE application_name = $1',
      [SUB],
    );
    expect(sender, 'the subscription streams from east').toBeDefined();
    const holder = await west.client();
    let stopped = false;
    try {
      await idsGoOn(writer, 'east');
      // one row lost on west: the tree's rows are not shown to be there, the refresh copies
      await west.query('DELETE FROM part.orders WHERE id = 1');
      // the leaves' changes from here on wait in the stopped walsender
      process.kill(sender!.pid, 'SIGSTOP');
      stopped = true;
      await idsGoOn(writer, 'east', 30);
      // the REFRESH (ALTER SUBSCRIPTION) waits behind this lock; the TRUNCATE before it does not
      await holder.query('BEGIN');
      await holder.query(`COMMENT ON SUBSCRIPTION ${SUB} IS 'held by the test'`);

      path = config(true);
      let ended = false;
      const switching = steep(['apply', '--auto-approve', '--allow-hazard', 'truncates-data']).finally(() => {
        ended = true;
      });
      // either the step waits for the subscription to catch up (on a session of east), or it has
      // emptied the table and its REFRESH waits for the lock: then the walsender goes on
      await eventually(
        async () =>
          ended ||
          (
            await east.query(
              "SELECT 1 FROM pg_stat_activity WHERE application_name = 'steep apply (catch-up)'",
            )
          ).length > 0 ||
          (
            await west.query(
              "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE 'ALTER SUBSCRIPTION%REFRESH%'",
            )
          ).length > 0,
        HANG_MS,
        'the apply at its catch-up wait or at the REFRESH',
      );
      process.kill(sender!.pid, 'SIGCONT');
      stopped = false;
      await waitCaughtUp(east, SUB);
      await holder.query('ROLLBACK');
      const switched = await switching;
      expect(switched.code, `${switched.stdout}\n${switched.stderr}`).toBe(0);
      await idsGoOn(writer, 'east', 30);
      await writer.stop();
      await waitCaughtUp(east, SUB);
      // every relation ready, and no table sync that fails (a duplicate key fails it for ever;
      // counted from 15 on, and on 14 the wait below ends at its ceiling instead)
      const [{ counted }] = (await west.query<{ counted: boolean }>(
        "SELECT current_setting('server_version_num')::int >= 150000 AS counted",
      )) as [{ counted: boolean }];
      await eventually(
        async () => {
          if (counted) {
            const [e] = await west.query<{ n: string }>(
              'SELECT sync_error_count::text AS n FROM pg_stat_subscription_stats WHERE subname = $1',
              [SUB],
            );
            expect(Number(e?.n ?? 0), 'table sync errors on west').toBe(0);
          }
          const [s] = await west.query<{ pending: string }>(
            "SELECT count(*)::text AS pending FROM pg_subscription_rel WHERE srsubstate <> 'r'",
          );
          return s!.pending === '0';
        },
        HANG_MS,
        'the root copied',
      );
      await waitCaughtUp(east, SUB);
      const lost = await idsMissing(west, 'part.orders', acked());
      console.log(`acknowledged ${acked().length}, missing on west ${lost}`);
      expect(lost).toBe(0);
      expect(await queryDigest(west, 'SELECT * FROM part.orders')).toEqual(
        await queryDigest(east, 'SELECT * FROM part.orders'),
      );
      expect(switched.stdout + switched.stderr).toMatch(/waiting|first waits until slot/);
    } finally {
      if (stopped) process.kill(sender!.pid, 'SIGCONT');
      await holder.end().catch(() => {});
      await writer.stop();
    }
  });
});
