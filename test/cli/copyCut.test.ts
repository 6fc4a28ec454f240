import { afterEach, describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { faultVersions, useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fastCopy,
  fillTables,
  oneTableCopying,
  slowCopy,
  startWriter,
  type TableDef,
  waitCaughtUp,
} from '../support/replicationData.js';
import { TcpProxy } from '../support/tcpProxy.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * The subscriber's connection to the publisher is cut in the middle of a snapshot init's COPY,
 * on faultVersions() (18, or what STEEP_TEST_PG names). The publisher's `replicationUrl` points at a TCP proxy in the test
 * process, so only the subscriber's walreceiver and table-sync connections go through it; steep
 * reaches both nodes directly all along.
 *
 * - A cut that lasts (the proxy resets every connection and refuses new ones): apply ends with
 *   `failed`, a reason naming the subscription, both nodes and the subscriber's path, exit 1;
 *   once the path is back, `plan` shows the init followed again and `apply` resumes it to
 *   synchronized, both sides equal.
 * - A cut that heals at once (every connection reset once, new ones accepted): PostgreSQL's
 *   table-sync worker starts the copy over and apply reaches synchronized without failing.
 */
describe.each(faultVersions())('a connection cut mid-COPY on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  let proxy: TcpProxy | undefined;
  let cleanup: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await cleanup?.().catch(() => {});
    cleanup = undefined;
    await proxy?.stop();
    proxy = undefined;
  });

  /** steep.yaml for publication `<prefix>_pub` on east and subscription `west_<prefix>` on west, through the proxy. */
  function config(prefix: string, tables: string[], proxyPort: number): string {
    const [east, west] = [cluster().node('east'), cluster().node('west')];
    const line = `    url: postgres://postgres@127.0.0.1:${east.port}/app\n`;
    return writeConfig(
      [
        'version: 1',
        `topology: copy-cut-${prefix}`,
        nodesYaml([east, west]).replace(
          line,
          `${line}    replicationUrl: postgres://127.0.0.1:${proxyPort}/app\n`,
        ),
        'publications:',
        `  ${prefix}_pub:`,
        '    node: east',
        `    tables: [${tables.map((t) => `public.${t}`).join(', ')}]`,
        'subscriptions:',
        `  west_${prefix}:`,
        '    node: west',
        '    from: east',
        `    publications: [${prefix}_pub]`,
        '',
      ].join('\n'),
    );
  }

  /** steep on this file; `failAfterMs` shortens how long a broken init may last before it is failed (default 15 s) */
  function cli(path: string, failAfterMs?: number) {
    const env = {
      ...passwordEnv(cluster().nodes),
      ...(failAfterMs ? { STEEP_INIT_FAIL_AFTER_MS: String(failAfterMs) } : {}),
    };
    // well under the test's own timeout: a command that hangs fails with its output, not a bare timeout
    return steepWith({ config: path, env, timeoutMs: 120_000 });
  }

  /** Drop what a scenario made (while the proxy still lets DROP SUBSCRIPTION reach the slot). */
  function dropLater(prefix: string, tables: string[]): void {
    cleanup = async () => {
      const [east, west] = [cluster().node('east'), cluster().node('west')];
      await proxy?.open();
      await west.query(`DROP SUBSCRIPTION IF EXISTS west_${prefix}`);
      await east.query(`DROP PUBLICATION IF EXISTS ${prefix}_pub`);
      for (const { slot_name } of await east.query<{ slot_name: string }>(
        'SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE $1',
        [`%west_${prefix}%`],
      ))
        await east.query('SELECT pg_drop_replication_slot($1)', [slot_name]);
      for (const n of [east, west]) for (const t of tables) await n.query(`DROP TABLE IF EXISTS public.${t}`);
    };
  }

  it('a lasting cut: failed with the reason, exit 1; once the path is back, apply resumes to synchronized', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const TABLES: TableDef[] = [
      { name: 'cc_a', rows: 120_000 },
      { name: 'cc_b', rows: 5_000 },
    ];
    const names = TABLES.map((t) => t.name);
    dropLater('cc', names);
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    await slowCopy(west, 'cc_a', 1000, 100);
    proxy = await TcpProxy.start(east.port);
    const steep = cli(config('cc', names, proxy.port), 3000);

    const applying = steep(['apply', '--auto-approve']);
    await oneTableCopying(west, 'west_cc');
    const cutAt = Date.now();
    await proxy.refuse();

    const failed = await applying;
    const msToFailed = Date.now() - cutAt;
    console.log(
      `PG ${version}: lasting cut → failed, apply exited ${failed.code} ${msToFailed} ms after the cut`,
    );
    expect(failed.code, `${failed.stdout}\n${failed.stderr}`).toBe(1);
    // it gives up after its 3 s patience (the message below names the seconds), not never
    expect(msToFailed, `apply still running ${msToFailed} ms after the cut: a hang`).toBeLessThan(HANG_MS);
    // the subscriber's path is what broke, not the publisher: steep says so, and where to look
    const reason = new RegExp(
      `init of subscription west_cc on west failed: no worker of west has streamed from the slot west_cc on east for \\d+ s, although steep reaches east: ` +
        `west cannot connect \\(or stay connected\\) to east at 127\\.0\\.0\\.1:${proxy.port} \\(its replicationUrl\\)`,
    );
    expect(failed.stderr).toMatch(reason);
    expect(failed.stderr).toContain('tables not yet ready: public.cc_a');
    expect(failed.stderr).toMatch(
      /check that west can reach east there \(network, firewall, pg_hba\.conf on east\)/,
    );
    expect(failed.stderr).toContain(
      'the slot west_cc on east is kept: once west reaches east again, run steep apply again to resume',
    );
    expect(failed.stderr).not.toContain('the publisher east cannot be reached');
    const [state] = await west.query<{ state: string; error: string }>(
      `SELECT state, error FROM steep.subscription_state WHERE subscription = 'west_cc'`,
    );
    expect(state?.state).toBe('failed');
    expect(state?.error).toMatch(reason);
    const initStatus = await steep(['init', 'status', 'west_cc', '--json']);
    const shown = JSON.parse(initStatus.stdout)[0];
    expect(shown).toMatchObject({ state: 'failed', exists: true, publisherError: null });
    expect(shown.error).toMatch(reason);
    // nothing was given up: the subscription and its slot are still there
    expect(await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'west_cc'`)).toHaveLength(
      1,
    );

    // the path is back: plan shows the init followed again, apply resumes it to synchronized
    await proxy.open();
    await fastCopy(west, 'cc_a');
    await eventually(
      async () =>
        (
          await east.query<{ active: boolean }>(
            `SELECT active FROM pg_replication_slots WHERE slot_name = 'west_cc'`,
          )
        )[0]?.active === true,
      HANG_MS,
      'west to stream from east again',
    );
    const plan = await steep(['plan']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(
      /> subscription\.west_cc \(west\) init: its init failed .*apply follows it again/,
    );
    const resumed = await steep(['apply', '--auto-approve']);
    expect(resumed.code, `${resumed.stdout}\n${resumed.stderr}`).toBe(0);
    const [after] = await west.query<{ state: string; error: string | null }>(
      `SELECT state, error FROM steep.subscription_state WHERE subscription = 'west_cc'`,
    );
    expect(after).toEqual({ state: 'synchronized', error: null });
    await waitCaughtUp(east, 'west_cc');
    expect(await digests(west, names)).toEqual(await digests(east, names));
    expect((await steep(['plan', '--detailed-exitcode'])).code).toBe(0);
  }, 240_000);

  it('a cut that heals at once: the table sync starts over by itself and apply reaches synchronized', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const TABLES: TableDef[] = [
      { name: 'ct_a', rows: 120_000 },
      { name: 'ct_b', rows: 5_000 },
    ];
    const names = TABLES.map((t) => t.name);
    dropLater('ct', names);
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    await slowCopy(west, 'ct_a', 1000, 100);
    proxy = await TcpProxy.start(east.port);
    // steep's own patience (15 s): a cut PostgreSQL recovers from must not fail the init
    const steep = cli(config('ct', names, proxy.port));
    const writer = startWriter(east, names);
    try {
      const applying = steep(['apply', '--auto-approve']);
      await oneTableCopying(west, 'west_ct');
      // the cut breaks a copy under way: rows of ct_a have come through the proxy
      await eventually(
        async () =>
          (
            await west.query(
              "SELECT 1 FROM pg_stat_progress_copy WHERE relid = 'public.ct_a'::regclass AND tuples_processed > 0",
            )
          ).length > 0,
        HANG_MS,
        'rows of ct_a copied',
      );
      const before = proxy.accepted;
      const cutAt = Date.now();
      const cut = proxy.cut();
      // the table sync starts over by itself: its second copy at full speed (the cut is over;
      // the trigger's drop waits for the cut copy's transaction to end)
      await fastCopy(west, 'ct_a');
      const done = await applying;
      expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
      const reconnects = proxy.accepted - before;
      const stats =
        west.serverVersionNum >= 150000
          ? (
              await west.query<{ sync: string; apply: string }>(
                `SELECT sync_error_count::text AS sync, apply_error_count::text AS apply
                   FROM pg_stat_subscription_stats st JOIN pg_subscription s ON s.oid = st.subid
                  WHERE s.subname = 'west_ct'`,
              )
            )[0]
          : undefined;
      console.log(
        `PG ${version}: transient cut of ${cut} connections (${before} before it); synchronized ${Date.now() - cutAt} ms after the cut; ` +
          `${reconnects} connections through the proxy after it${stats ? `; sync_error_count ${stats.sync}, apply_error_count ${stats.apply}` : ''}`,
      );
      expect(cut).toBeGreaterThan(0);
      // the apply worker and the table sync came back through the proxy: the copy started over
      expect(reconnects).toBeGreaterThanOrEqual(2);
      if (stats) expect(Number(stats.sync)).toBeGreaterThanOrEqual(1);
      const [state] = await west.query<{ state: string; error: string | null }>(
        `SELECT state, error FROM steep.subscription_state WHERE subscription = 'west_ct'`,
      );
      expect(state).toEqual({ state: 'synchronized', error: null });
    } finally {
      const ops = await writer.stop();
      expect(ops).toBeGreaterThan(0);
    }
    await waitCaughtUp(east, 'west_ct');
    expect(await digests(west, names)).toEqual(await digests(east, names));
    expect((await steep(['plan', '--detailed-exitcode'])).code).toBe(0);
  }, 240_000);
});
