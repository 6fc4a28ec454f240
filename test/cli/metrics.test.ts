import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSteep, steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { createTables, digests, fillTables, startWriter } from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Prometheus metrics, checked with the real tools (Debian's `prometheus` package, which .ci/run
 * installs): `promtool check metrics` on `status --format prometheus` and on what `steep metrics`
 * serves, and a real Prometheus scraping `steep metrics` on a live pair: the lag rises while the
 * subscription is disabled under writes, and the state turns `diverged` once a verify finds a
 * difference. The endpoint reads the nodes at most once per --interval.
 */

const HAS_PROMETHEUS = ['promtool', 'prometheus'].every(
  (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0,
);

const cluster = useCluster({ nodes: ['east', 'west'] });
const TABLES = [{ name: 'mx_a', rows: 1_000 }];

function promtoolCheck(text: string): { code: number; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { code: r.status ?? 1, output: r.stdout + r.stderr };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

// CI installs the tools (.ci/run): there the test runs, and fails if they are missing
describe.runIf(HAS_PROMETHEUS || process.env.CI)('Prometheus metrics (promtool, a real Prometheus)', () => {
  it('status --format prometheus and steep metrics pass promtool; Prometheus sees the lag rise and the state turn diverged', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    const config = writeConfig(
      [
        'version: 1',
        'topology: metrics',
        nodesYaml([east, west]),
        'publications:',
        '  mx_pub: { node: east, tables: [public.mx_a] }',
        'subscriptions:',
        '  west_mx: { node: west, from: east, publications: [mx_pub] }',
        '',
      ].join('\n'),
    );
    const env = passwordEnv([east, west]);
    const steep = steepWith({ config, env });
    expect((await steep(['apply', '--auto-approve'])).code).toBe(0);
    await eventually(async () => (await steep(['status', '--check'])).code === 0, HANG_MS, 'synchronized');

    // the textfile collector's format: promtool's lint passes, the figures are there
    const once = await steep(['status', '--format', 'prometheus']);
    expect(once.code, once.stderr).toBe(0);
    expect(promtoolCheck(once.stdout)).toEqual({ code: 0, output: '' });
    expect(once.stdout).toContain('steep_node_up{topology="metrics",node="east"} 1');
    expect(once.stdout).toContain(
      'steep_subscription_state{topology="metrics",subscription="west_mx",node="west",from="east",state="synchronized"} 1',
    );
    expect(once.stdout).toMatch(
      /^steep_subscription_tables_not_ready\{topology="metrics",subscription="west_mx",node="west",from="east"\} 0$/m,
    );
    expect(once.stdout).toMatch(/^# TYPE steep_subscription_lag_bytes gauge$/m);
    // the init's comparison is its first verify: the last-verify series is there from the apply on
    // (without one there is none: the example rules' SteepSubscriptionNeverVerified)
    expect(once.stdout).toMatch(
      /^steep_subscription_last_verify_timestamp_seconds\{topology="metrics",subscription="west_mx",node="west",from="east"\} \d+(\.\d+)?$/m,
    );
    if (west.version >= 18)
      expect(once.stdout).toMatch(
        /^steep_subscription_conflicts_since_verify\{topology="metrics",subscription="west_mx",node="west",from="east",type="update_missing"\} 0$/m,
      );

    // steep metrics: HTTP /metrics, read at most every 2 s, with drift
    const port = await freePort();
    const served = startSteep(
      ['metrics', '-c', config, '--listen', `127.0.0.1:${port}`, '--interval', '2', '--log-format', 'json'],
      env,
    );
    children.push(served.child);
    await served.when((e) => (e.message ?? '').includes('serving'));
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const first = await scrape();
    expect(promtoolCheck(first)).toEqual({ code: 0, output: '' });
    expect(first).toMatch(/^steep_drift_planned_changes\{topology="metrics"\} 0$/m);
    const readAt = (text: string) => /^steep_read_timestamp_seconds\{[^}]*\} (\S+)$/m.exec(text)?.[1];
    // a second scrape within 2 s of the read is served from it; a later one reads again, 2 s or more on
    const second = await scrape();
    const sinceRead = Date.now() / 1000 - Number(readAt(first));
    if (sinceRead < 2) expect(readAt(second)).toBe(readAt(first));
    else expect(Number(readAt(second)) - Number(readAt(first))).toBeGreaterThanOrEqual(2);

    // a real Prometheus scraping it every second
    const promPort = await freePort();
    const dir = tempDir('steep-prometheus-');
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: steep',
        `    static_configs: [{ targets: ["127.0.0.1:${port}"] }]`,
        '',
      ].join('\n'),
    );
    const prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: 'ignore' },
    );
    children.push(prometheus);
    const query = async (q: string): Promise<number | null> => {
      const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`).catch(
        () => null,
      );
      if (!r?.ok) return null;
      const body = (await r.json()) as { data: { result: Array<{ value: [number, string] }> } };
      const v = body.data.result[0]?.value[1];
      return v === undefined ? null : Number(v);
    };
    const sub = '{subscription="west_mx"}';
    await eventually(
      async () => (await query(`steep_subscription_lag_bytes${sub}`)) !== null,
      HANG_MS,
      'scraped',
    );

    // disabled under writes: the lag Prometheus records rises
    await west.query('ALTER SUBSCRIPTION west_mx DISABLE');
    const before = (await query(`steep_subscription_lag_bytes${sub}`))!;
    const writer = startWriter(east, ['mx_a']);
    await eventually(
      async () => ((await query(`steep_subscription_lag_bytes${sub}`)) ?? 0) > before + 10_000,
      HANG_MS,
      'lag rising',
    );
    expect((await query(`max_over_time(steep_subscription_lag_bytes${sub}[1m])`))!).toBeGreaterThan(before);
    await writer.stop();
    await west.query('ALTER SUBSCRIPTION west_mx ENABLE');
    await eventually(async () => {
      const [e, w] = await Promise.all([digests(east, ['mx_a']), digests(west, ['mx_a'])]);
      return JSON.stringify(e) === JSON.stringify(w);
    });

    // a row deleted behind steep's back: verify finds it, and Prometheus sees the state change
    await west.query('DELETE FROM public.mx_a WHERE id = 5');
    const verifyStart = Math.floor(Date.now() / 1000);
    expect((await steep(['verify', 'west_mx'])).code).toBe(2);
    // the verify is recorded: its time is a gauge, the age alert's input
    await eventually(
      async () =>
        ((await query(`steep_subscription_last_verify_timestamp_seconds${sub}`)) ?? 0) >= verifyStart,
      HANG_MS,
      'last verify in Prometheus',
    );
    expect(
      await query(`time() - steep_subscription_last_verify_timestamp_seconds${sub} < 7 * 86400`),
    ).not.toBeNull();
    await eventually(
      async () => (await query(`steep_subscription_state{subscription="west_mx",state="diverged"}`)) === 1,
      HANG_MS,
      'diverged in Prometheus',
    );
    expect(await query(`steep_subscription_diverged_tables${sub}`)).toBe(1);
    expect(await query(`steep_subscription_state{subscription="west_mx",state="synchronized"}`)).toBe(0);
    // the endpoint was read at most once per 2 s while Prometheus scraped every second
    const reads = await query('count_over_time(steep_read_timestamp_seconds[1m])');
    const distinct = await query('changes(steep_read_timestamp_seconds[1m])');
    expect(distinct!).toBeLessThan(reads!);

    prometheus.kill('SIGTERM');
    served.child.kill('SIGTERM');
    const exited = await served.exited;
    expect(exited.code).toBe(0);
    // no password in anything served (startSteep checks its own output)
    for (const n of [east, west]) expect(first).not.toContain(n.password);
  });

  it('the example alert rules pass promtool check rules', () => {
    const out = execFileSync('promtool', ['check', 'rules', 'examples/prometheus/steep-alerts.yml'], {
      cwd: join(import.meta.dirname, '../..'),
      encoding: 'utf8',
    });
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
  });
});
