import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type CliResult, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { createTables, digests, fillTables, startWriter, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv, passwordVar } from '../support/topologyFile.js';

/**
 * `steep status` says `synchronized`, and `status --check` healthy, only when it is proven
 * (docs/status.md): each case below is one where replication had stopped and status said
 * synchronized / healthy (issue 49). A column the subscriber lacks and an insert conflict
 * crash-loop the apply worker: `failing`, with the column named, and `--check` exits 2 naming
 * the subscription; fixed, it is synchronized again. A disabled subscription whose slot is gone
 * is `stopped`. A role that may not read the walsender's lag in seconds gets `unknown` with the
 * reason from `--check --max-lag 30s` (exit 1), never healthy.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

interface Sub {
  name: string;
  state: string;
  verdict: { verdict: string; reasons: string[] } | null;
  applyErrors: number | null;
  unknown: string | null;
}
interface Report {
  subscriptions: Sub[];
  check?: { unknown: boolean; unhealthy: boolean; problems: string[] };
}

interface DriftDoc {
  failing?: Array<{ subscription: string; node: string; reasons: string[] }>;
}

const TABLE_ROWS = 1_000;

/** A file with one publication of `table` on east and its subscription on west. */
function topologyFile(
  east: TestNode,
  west: TestNode,
  table: string,
  nodes = nodesYaml([east, west]),
  subscriptionLines: string[] = [],
): string {
  return writeConfig(topologyText(table, nodes, subscriptionLines));
}

function topologyText(table: string, nodes: string, subscriptionLines: string[]): string {
  return [
    'version: 1',
    `topology: verdict-${table}`,
    nodes,
    'publications:',
    `  ${table}_pub:`,
    '    node: east',
    `    tables: [public.${table}]`,
    'subscriptions:',
    `  west_${table}:`,
    '    node: west',
    '    from: east',
    `    publications: [${table}_pub]`,
    ...subscriptionLines,
    '',
  ].join('\n');
}

/** Tables on both nodes, rows on east, the subscription applied and proven healthy (its first reading recorded). */
async function subscribed(table: string, subscriptionLines: string[] = []) {
  const east = cluster().node('east');
  const west = cluster().node('west');
  await createTables([east, west], [{ name: table, rows: TABLE_ROWS }]);
  await fillTables(east, [{ name: table, rows: TABLE_ROWS }]);
  const path = topologyFile(east, west, table, nodesYaml([east, west]), subscriptionLines);
  const steep = steepWith({ config: path, env: passwordEnv(cluster().nodes) });
  /** The file as written, or with the subscription disabled. */
  const enableInFile = (on: boolean) =>
    writeFileSync(
      path,
      topologyText(table, nodesYaml([east, west]), [
        ...(on ? [] : ['    enabled: false']),
        ...subscriptionLines,
      ]),
    );
  const applied = await steep(['apply', '--auto-approve']);
  expect(applied.code, applied.stdout + applied.stderr).toBe(0);
  const sub = `west_${table}`;
  await eventually(
    async () => (await steep(['status', '--check', '--max-lag', '30s'])).code === 0,
    HANG_MS,
    `${sub} healthy after apply`,
  );
  const status = async (): Promise<Sub> => {
    const r = await steep(['status', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as Report).subscriptions.find((s) => s.name === sub)!;
  };
  return { east, west, steep, sub, status, enableInFile };
}

/**
 * Until the apply worker has failed twice (pg_stat_subscription_stats, 15+). PostgreSQL 14
 * counts nothing: until no apply worker runs and the slot is inactive, which a crash loop shows
 * most of the time (and status, by the same evidence, says failing: docs/status.md).
 */
async function untilApplyFails(east: TestNode, west: TestNode, sub: string): Promise<void> {
  const counted = async () => {
    const [r] = await west.query<{ n: string }>(
      'SELECT apply_error_count::text AS n FROM pg_stat_subscription_stats WHERE subname = $1',
      [sub],
    );
    return Number(r?.n ?? 0) >= 2;
  };
  const stopped = async () => {
    const [w] = await west.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_subscription WHERE subname = $1 AND pid IS NOT NULL AND relid IS NULL`,
      [sub],
    );
    const [s] = await east.query<{ active: boolean }>(
      'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
      [sub],
    );
    return w?.n === 0 && s?.active === false;
  };
  await eventually(west.version >= 15 ? counted : stopped, 120_000, 'the apply worker to fail');
}

function expectUnhealthy(r: CliResult, sub: string, why: RegExp): void {
  expect(r.code, r.stdout + r.stderr).toBe(2);
  expect(r.stdout).toContain('Check: unhealthy:');
  expect(r.stdout).toMatch(
    new RegExp(`✗ subscription\\.${sub} on west: failing, not synchronized: .*${why.source}`),
  );
}

/**
 * The cause fixed, the errors stop rising: on 15+, which counts them, `unverified` (no comparison
 * from before them counts: a skip by hand would look the same, docs/status.md "After errors"),
 * naming the verify; that verify, followed as printed, finds the rows equal: `synchronized`. 14
 * counts no error: `synchronized` at once.
 */
async function healedAfterErrors(
  west: TestNode,
  steep: ReturnType<typeof steepWith>,
  status: () => Promise<Sub>,
): Promise<void> {
  let s = await status();
  await eventually(
    async () => {
      s = await status();
      return s.state === 'unverified' || s.state === 'synchronized';
    },
    180_000,
    'the errors to stop rising',
  );
  if (west.version >= 15) {
    expect(s.state, JSON.stringify(s.verdict)).toBe('unverified');
    const reasons = s.verdict?.reasons.join('\n') ?? '';
    expect(reasons).toMatch(/the errors of \S+ on west \(apply [1-9]\d*, sync 0\) last rose at/);
    const verify = /`(steep verify [^`]+)`/.exec(reasons);
    expect(verify, reasons).not.toBeNull();
    const verified = await steep(verify![1]!.replace(/^steep /, '').split(' '));
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  }
  await eventually(async () => (await status()).state === 'synchronized', HANG_MS, 'synchronized');
}

/**
 * The two crash-loop cases run at once (each on its own table and subscription): most of each is
 * steep's wait for a seen rise of the error counters to age out (30 s, docs/status.md), and the
 * two waits overlap. Their applies take steep's lock on both nodes, so they subscribe in turn.
 */
let subscribing: Promise<unknown> = Promise.resolve();
function subscribedInTurn(table: string, subscriptionLines: string[] = []): ReturnType<typeof subscribed> {
  const next = subscribing.then(() => subscribed(table, subscriptionLines));
  subscribing = next.catch(() => {});
  return next;
}

describe('steep status: synchronized only when proven', () => {
  it.concurrent('a column added on the publisher only, writes running: failing, naming the column; --check exits 2; the column added on the subscriber: synchronized', async () => {
    const { east, west, steep, sub, status } = await subscribedInTurn('vd_col');
    await east.query('ALTER TABLE public.vd_col ADD COLUMN note text');
    const writer = startWriter(east, ['vd_col']);
    try {
      await untilApplyFails(east, west, sub);
      const s = await status();
      expect(s.state).toBe('failing');
      expect(s.verdict?.verdict).toBe('failing');
      expect(s.verdict?.reasons).toContain(
        'public.vd_col on west lacks column note, which east publishes: the apply worker cannot apply its changes',
      );
      const text = await steep(['status']);
      expect(text.stdout).toMatch(new RegExp(`${sub}\\s+west ← east\\s+failing\\s`));
      expect(text.stdout).not.toMatch(new RegExp(`${sub}\\s+west ← east\\s+synchronized`));
      expect(text.stdout).toContain('public.vd_col on west lacks column note');
      expectUnhealthy(await steep(['status', '--check', '--max-lag', '30s']), sub, /lacks column note/);
      // drift names the column (a schema difference) and that replication stopped on it (15+:
      // on 14 a reading may catch the worker between two errors)
      const drift = await steep(['drift', '--json']);
      expect(drift.code, drift.stderr).toBe(2);
      if (west.version >= 15) {
        expect(
          (JSON.parse(drift.stdout) as DriftDoc).failing?.find((f) => f.subscription === sub)?.reasons,
        ).toContain(
          'public.vd_col on west lacks column note, which east publishes: the apply worker cannot apply its changes',
        );
        expect((await steep(['drift'])).stdout).toMatch(
          new RegExp(`Replication failing:\\n  subscription ${sub} on west ← east: .*lacks column note`),
        );
        // and plan, which proposes the column, says the rows have stopped meanwhile
        const planned = await steep(['plan']);
        expect(planned.stdout + planned.stderr).toMatch(
          new RegExp(`subscription ${sub} on west: replication from east has stopped: .*lacks column note`),
        );
      }
      // the same reading, again and again while it fails: never healthy (15+: the counters keep
      // a rise in view; 14 has only the worker, which a reading may catch between two errors)
      if (west.version >= 15)
        for (let i = 0; i < 5; i++)
          expect((await steep(['status', '--check', '--max-lag', '30s'])).code, `reading ${i}`).toBe(2);

      // the subscriber gets the column: the worker applies again, errors stop rising; compared
      // since (15+), synchronized
      await west.query('ALTER TABLE public.vd_col ADD COLUMN note text');
      await healedAfterErrors(west, steep, status);
      await eventually(
        async () => (await steep(['status', '--check', '--max-lag', '30s'])).code === 0,
        180_000,
        'healthy once the column is there',
      );
      const healed = await status();
      expect(healed.state).toBe('synchronized');
      expect(healed.verdict?.verdict).toBe('synchronized');
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, sub);
    expect(await digests(west, ['vd_col'])).toEqual(await digests(east, ['vd_col']));
  }, 600_000);

  it.concurrent('an insert conflict (insert_exists) crash-loops the apply worker: failing, the errors that rose; the row removed: synchronized', async () => {
    const { east, west, steep, sub, status } = await subscribedInTurn('vd_ins');
    await west.query(`INSERT INTO public.vd_ins (id, v) VALUES (424242, 'here first')`);
    await east.query(`INSERT INTO public.vd_ins (id, v) VALUES (424242, 'from east')`);
    await untilApplyFails(east, west, sub);
    const s = await status();
    expect(s.state).toBe('failing');
    // a reading that finds the counter where the last one left it names the rise it keeps
    expect(s.verdict?.reasons.join(' ')).toMatch(
      /apply worker not running on west|apply errors rose from \d+ to \d+|errors \(apply [1-9]\d*, sync \d+\) last rose at/,
    );
    expectUnhealthy(
      await steep(['status', '--check']),
      sub,
      /(apply worker not running on west|apply errors rose from \d+ to \d+|errors .* last rose at)/,
    );
    if (west.version >= 15)
      for (let i = 0; i < 5; i++) expect((await steep(['status', '--check'])).code, `reading ${i}`).toBe(2);
    if (west.version >= 15) {
      const drift = await steep(['drift', '--json']);
      expect(drift.code, drift.stderr).toBe(2);
      expect((JSON.parse(drift.stdout) as DriftDoc).failing?.map((f) => f.subscription)).toContain(sub);
    }

    await west.query('DELETE FROM public.vd_ins WHERE id = 424242');
    // compared since the errors (15+; on 18 that verify also covers the conflict counted,
    // status.test.ts), synchronized
    await healedAfterErrors(west, steep, status);
    await waitCaughtUp(east, sub);
    const healthy = await steep(['status', '--check', '--max-lag', '30s']);
    expect(healthy.code, healthy.stdout).toBe(0);
    expect(await digests(west, ['vd_ins'])).toEqual(await digests(east, ['vd_ins']));
  }, 600_000);

  it.concurrent('disable_on_error: PostgreSQL disables it at an insert conflict: failing with its reason, apply does not enable it again; the cause fixed and ENABLE as advised: synchronized (issue 63)', async () => {
    const west0 = cluster().node('west');
    if (west0.version < 15) return; // disable_on_error is 15+
    const { east, west, steep, sub, status, enableInFile } = await subscribedInTurn('vd_doe', [
      '    options:',
      '      disableOnError: true',
    ]);
    const enabled = async () =>
      (
        await west.query<{ on: boolean }>('SELECT subenabled AS on FROM pg_subscription WHERE subname = $1', [
          sub,
        ])
      )[0]?.on;
    await west.query(`INSERT INTO public.vd_doe (id, v) VALUES (515151, 'here first')`);
    await east.query(`INSERT INTO public.vd_doe (id, v) VALUES (515151, 'from east')`);
    await eventually(
      async () => (await enabled()) === false,
      120_000,
      'PostgreSQL to disable the subscription',
    );
    const why = 'disabled by PostgreSQL after an error (disable_on_error; errors apply ';
    const s = await status();
    expect(s.state).toBe('failing');
    expect(s.verdict?.reasons[0]).toContain(why);
    expect(s.verdict?.reasons[0]).toContain(`then run ALTER SUBSCRIPTION "${sub}" ENABLE on west`);
    expectUnhealthy(await steep(['status', '--check']), sub, /disabled by PostgreSQL after an error/);
    // drift: not a change made outside steep to undo, but replication failing, with PostgreSQL's reason
    const drift = await steep(['drift']);
    expect(drift.code, drift.stdout + drift.stderr).toBe(2);
    expect(drift.stdout).not.toContain(`subscription.${sub} enabled`);
    expect(drift.stdout).toContain(why);
    // apply does not fight it: no ENABLE, and it says what to do
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(applied.stdout + applied.stderr).toContain(`${sub} on west: ${why}`);
    expect(await enabled()).toBe(false);
    // the advice followed literally: the cause removed, ENABLE on west
    await west.query('DELETE FROM public.vd_doe WHERE id = 515151');
    await west.query(`ALTER SUBSCRIPTION "${sub}" ENABLE`);
    // compared since the errors (on 18 that verify also covers the conflict counted), synchronized
    await healedAfterErrors(west, steep, status);
    await waitCaughtUp(east, sub);
    const healthy = await steep(['status', '--check']);
    expect(healthy.code, healthy.stdout).toBe(0);
    expect(await digests(west, ['vd_doe'])).toEqual(await digests(east, ['vd_doe']));

    // later the file disables it, east writes on, and the file enables it again: steep's own
    // DISABLE, not PostgreSQL's (the errors of the incident stay counted), so apply enables it
    // (issue 62, torture disable-on-error then a file disable)
    enableInFile(false);
    const disabled = await steep(['apply', '--auto-approve']);
    expect(disabled.code, disabled.stdout + disabled.stderr).toBe(0);
    expect(await enabled()).toBe(false);
    const stopped = await status();
    expect(stopped.state).toBe('stopped');
    expect(stopped.verdict?.reasons.join(' ')).not.toContain('disabled by PostgreSQL');
    await east.query(
      `INSERT INTO public.vd_doe (id, v) SELECT g, 'while disabled' FROM generate_series(700001, 700050) g`,
    );
    enableInFile(true);
    const again = await steep(['apply', '--auto-approve']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout + again.stderr).not.toContain(why);
    expect(await enabled()).toBe(true);
    await eventually(
      async () => (await status()).state === 'synchronized',
      180_000,
      'synchronized once the file enables it again',
    );
    await waitCaughtUp(east, sub);
    expect(await digests(west, ['vd_doe'])).toEqual(await digests(east, ['vd_doe']));
  }, 600_000);

  it('a disabled subscription whose slot is gone from the publisher: stopped, not synchronized', async () => {
    const { east, west, steep, sub, status } = await subscribed('vd_dis');
    await waitCaughtUp(east, sub);
    expect(await digests(west, ['vd_dis'])).toEqual(await digests(east, ['vd_dis']));
    await west.query(`ALTER SUBSCRIPTION ${sub} DISABLE`);
    await eventually(
      async () =>
        (
          await east.query<{ active: boolean }>(
            'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
            [sub],
          )
        )[0]?.active === false,
      HANG_MS,
      'the slot to go inactive',
    );
    await east.query('SELECT pg_drop_replication_slot($1)', [sub]);
    const s = await status();
    expect(s.state).toBe('stopped');
    expect(s.verdict?.reasons).toEqual([
      'disabled: no apply worker runs',
      'its slot is gone from east: enabling the subscription cannot resume it',
    ]);
    const text = await steep(['status']);
    expect(text.stdout).not.toMatch(new RegExp(`${sub}\\s+west ← east\\s+synchronized`));
    const check = await steep(['status', '--check']);
    expect(check.code, check.stdout).toBe(2);
    expect(check.stdout).toContain(
      `✗ subscription.${sub} on west: disabled: its slot is gone from east: enabling the subscription cannot resume it`,
    );
    await west.query(`ALTER SUBSCRIPTION ${sub} SET (slot_name = NONE)`);
    await west.query(`DROP SUBSCRIPTION ${sub}`);
  }, 300_000);

  it('a role that may not read the lag in seconds: --max-lag 30s is unknown with the reason (exit 1), a size still works; with pg_read_all_stats healthy', async () => {
    const { east, west, sub } = await subscribed('vd_lag');
    const password = 'vd-monitor-pw';
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE vd_monitor LOGIN PASSWORD '${password}'`);
      await n.query('GRANT USAGE ON SCHEMA steep TO vd_monitor');
      await n.query('GRANT SELECT ON ALL TABLES IN SCHEMA steep TO vd_monitor');
      // where status keeps its reading of the error counters (absent before state migration 11)
      await n.query(
        `DO $$ BEGIN IF to_regclass('steep.status_readings') IS NOT NULL THEN GRANT INSERT, UPDATE ON steep.status_readings TO vd_monitor; END IF; END $$`,
      );
    }
    const nodes = [
      'nodes:',
      ...[east, west].flatMap((n) => [
        `  ${n.name}:`,
        `    url: postgres://vd_monitor@127.0.0.1:${n.port}/app`,
        `    password: \${env:${passwordVar(n)}}`,
      ]),
    ].join('\n');
    const monitor = steepWith({
      config: topologyFile(east, west, 'vd_lag', nodes),
      env: { [passwordVar(east)]: password, [passwordVar(west)]: password },
    });
    // caught up, the lag is 0 s whoever reads it (the slot confirmed all the WAL there is): the
    // subscriber must lag for the seconds to be unknown. Its apply waits on a lock meanwhile.
    const holder = await west.client();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE public.vd_lag IN ACCESS EXCLUSIVE MODE');
    await east.query(
      `INSERT INTO public.vd_lag (id, v, n) SELECT g, md5(g::text), 1 FROM generate_series(900001, 900100) g`,
    );
    await eventually(
      async () =>
        (
          await east.query<{ behind: boolean }>(
            'SELECT confirmed_flush_lsn < pg_current_wal_lsn() AS behind FROM pg_replication_slots WHERE slot_name = $1',
            [sub],
          )
        )[0]?.behind === true,
      HANG_MS,
      'the subscriber to lag',
    );
    const seconds = await monitor(['status', '--check', '--max-lag', '30s', '--json']);
    expect(seconds.code, seconds.stdout + seconds.stderr).toBe(1);
    const doc = JSON.parse(seconds.stdout) as Report;
    expect(doc.subscriptions.find((s) => s.name === sub)?.state).toBe('synchronized');
    expect(doc.check).toMatchObject({ unknown: true, unhealthy: false });
    expect(doc.check!.problems).toEqual([
      `subscription.${sub} on west: lag in seconds unknown: steep's role may not read the walsender's replay_lag on the publisher (pg_stat_replication shows it to superusers and members of pg_read_all_stats); --max-lag with a size needs no such right`,
    ]);
    const text = await monitor(['status', '--check', '--max-lag', '30s']);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('Check: unknown (not proven healthy):');
    expect(text.stdout).not.toContain('Check: healthy');
    expect((await monitor(['status', '--check', '--max-lag', '64MB'])).code).toBe(0);
    await holder.query('ROLLBACK');
    await holder.end();

    await east.query('GRANT pg_read_all_stats TO vd_monitor');
    await eventually(
      async () => (await monitor(['status', '--check', '--max-lag', '30s'])).code === 0,
      HANG_MS,
      'healthy once the role may read the lag',
    );
    await waitCaughtUp(east, sub);
    expect(await digests(west, ['vd_lag'])).toEqual(await digests(east, ['vd_lag']));
  }, 300_000);
});
