import { describe, expect, it } from 'vitest';
import { withDatabaseTag } from '../../src/model/databaseTag.js';
import { startSteep, steepWith, writeConfig } from '../support/cli.js';
import { otherDatabase, useCluster } from '../support/cluster.js';
import { createTables, digests, fillTables, holdCopy } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep status` on two nodes (the first of testVersions(): 18 by default): nodes and versions,
 * an `init: none` subscription synchronized once created, its lag, its error counts (15+) and
 * PostgreSQL 18's conflict counters (a real insert conflict), slots with wal_status and
 * retained WAL, an orphaned slot called out, `--watch --json` refreshing.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
/** a slot steep named itself (a switchover's way back, its database's tag), left behind: orphaned */
const ST_ORPHAN = withDatabaseTag('steep_reverse_st_gone', 'app');

interface Report {
  nodes: Array<{ name: string; reachable: boolean; serverVersion: number | null; version: string | null }>;
  subscriptions: Array<{
    name: string;
    node: string;
    from: string;
    state: string;
    initMethod: string | null;
    lagBytes: number | null;
    applyErrors: number | null;
    syncErrors: number | null;
    conflicts: Record<string, number> | null;
    tablesReady: number;
    tablesTotal: number;
    verdict?: { verdict: string; reasons: string[] } | null;
  }>;
  slots: Array<{
    node: string;
    name: string;
    kind: string;
    subscription: string | null;
    walStatus: string | null;
    retainedWalBytes: number | null;
  }>;
}

/**
 * The cases run at once, each on its own tables and subscription: most of the first is steep's
 * wait for a seen rise of the error counters to age out (30 s, docs/status.md), which the others
 * overlap. An apply takes steep's lock on both nodes, so the applies run in turn.
 */
let applying: Promise<unknown> = Promise.resolve();
function inTurn<T>(run: () => Promise<T>): Promise<T> {
  const next = applying.then(run);
  applying = next.catch(() => {});
  return next;
}

describe.concurrent('steep status', () => {
  it('shows nodes, subscriptions with lag, errors and conflicts, and slots with orphans', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await createTables([east, west], [{ name: 'st_a', rows: 1000 }]);
    await fillTables(east, [{ name: 'st_a', rows: 1000 }]);
    // init none: the data is vouched equal
    await west.query(
      `INSERT INTO public.st_a (id, v, n) SELECT g, md5(g::text), g % 1000 FROM generate_series(1, 1000) g`,
    );
    const path = writeConfig(
      [
        'version: 1',
        'topology: status-test',
        nodesYaml([east, west]),
        'publications:',
        '  st_pub:',
        '    node: east',
        '    tables: [public.st_a]',
        'subscriptions:',
        '  west_st:',
        '    node: west',
        '    from: east',
        '    publications: [st_pub]',
        '    init:',
        '      method: none',
        '',
      ].join('\n'),
    );
    const env = passwordEnv(cluster().nodes);
    const steep = steepWith({ config: path, env });
    const applied = await inTurn(() => steep(['apply', '--auto-approve', '--log-format', 'json']));
    expect(applied.code, applied.stderr).toBe(0);
    // none: no init step, synchronized once created
    expect(applied.stderr).toMatch(/"event":"init.state_change".*"phase":"synchronized"/);
    await east.query(`SELECT pg_create_logical_replication_slot('${ST_ORPHAN}', 'pgoutput')`);

    const json = async (): Promise<Report> => {
      const r = await steep(['status', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Report;
    };
    const report = await json();
    expect(report.nodes).toEqual([
      expect.objectContaining({ name: 'east', reachable: true, serverVersion: east.serverVersionNum }),
      expect.objectContaining({ name: 'west', reachable: true, serverVersion: west.serverVersionNum }),
    ]);
    expect(report.subscriptions.find((s) => s.name === 'west_st')).toMatchObject({
      node: 'west',
      from: 'east',
      state: 'synchronized',
      initMethod: 'none',
      tablesReady: 1,
      tablesTotal: 1,
    });
    expect(report.slots.find((s) => s.name === 'west_st')).toMatchObject({
      node: 'east',
      kind: 'subscription',
    });
    expect(report.slots.find((s) => s.name === ST_ORPHAN)).toMatchObject({
      node: 'east',
      kind: 'orphan',
      walStatus: 'reserved',
    });

    // an insert conflict: the apply worker errors, 15+ count it (apply_error_count), 18 names it (confl_insert_exists)
    const version = east.version;
    await west.query(`INSERT INTO public.st_a (id, v) VALUES (424242, 'here first')`);
    await east.query(`INSERT INTO public.st_a (id, v) VALUES (424242, 'from east')`);
    if (version >= 15) {
      await eventually(
        async () => {
          const s = (await json()).subscriptions.find((x) => x.name === 'west_st')!;
          return (s.applyErrors ?? 0) > 0 && (version < 18 || (s.conflicts?.insert_exists ?? 0) > 0);
        },
        HANG_MS,
        'the conflict to be counted',
      );
    }
    const counted = (await json()).subscriptions.find((x) => x.name === 'west_st')!;
    if (version < 18) expect(counted.conflicts).toBeNull();
    if (version < 15) expect(counted.applyErrors).toBeNull();
    const text = await steep(['status']);
    expect(text.stdout).toMatch(new RegExp(`east\\s+reachable\\s+PostgreSQL ${version}`));
    const errors = version >= 15 ? ' · errors: apply [1-9]\\d*, sync 0' : '';
    const conflicts = version >= 18 ? ' · conflicts: [1-9]\\d* \\(insert_exists [1-9]' : '';
    // the apply worker crash-loops on the conflict: failing, never synchronized (issue 49), with why
    expect(text.stdout).toMatch(
      new RegExp(`west_st\\s+west ← east\\s+failing\\s+lag .* · tables 1/1 ready${errors}${conflicts}`),
    );
    expect(text.stdout).toMatch(
      version >= 15
        ? /\n\s+(apply worker not running on west|apply errors rose from \d+ to \d+|errors \(apply \d+, sync 0\) last rose at)/
        : /\n\s+apply worker not running on west/,
    );
    expect(text.stdout).toMatch(
      /east\/west_st\s+subscription west_st\s+(active|inactive)\s+wal_status reserved\s+retains/,
    );
    expect(text.stdout).toMatch(
      new RegExp(
        `Orphaned replication slots[^\\n]*\\n\\s+east/${ST_ORPHAN}: retains .*, wal_status reserved`,
      ),
    );
    await west.query('DELETE FROM public.st_a WHERE id = 424242');
    await eventually(
      async () => (await west.query(`SELECT v FROM public.st_a WHERE id = 424242`))[0]?.v === 'from east',
      HANG_MS,
      'the row to arrive',
    );
    // the worker applies again and its errors stay put; 15+ counted them, so no comparison from
    // before counts (docs/status.md, "After errors"): unverified, naming the verify, which
    // finds the rows equal; synchronized once more
    if (version >= 15) {
      let after = (await json()).subscriptions.find((x) => x.name === 'west_st');
      await eventually(
        async () => {
          after = (await json()).subscriptions.find((x) => x.name === 'west_st');
          return after?.state === 'unverified';
        },
        HANG_MS,
        'west_st unverified once its errors stop rising',
      );
      const reasons = after?.verdict?.reasons.join('\n') ?? '';
      expect(reasons).toMatch(/the errors of west_st on west \(apply [1-9]\d*, sync 0\) last rose at/);
      const printed = /`(steep verify west_st[^`]*)`/.exec(reasons);
      expect(printed, reasons).not.toBeNull();
      const verified = await steep(printed![1]!.replace(/^steep /, '').split(' '));
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    }
    await eventually(
      async () => (await json()).subscriptions.find((x) => x.name === 'west_st')?.state === 'synchronized',
      120_000,
      'west_st synchronized again',
    );

    // --watch --json: one document per refresh
    const watch = startSteep(['status', '--watch', '--json', '--interval', '500', '-c', path], env);
    await eventually(
      async () => watch.output.stdout.split('\n').filter((l) => l.startsWith('{')).length >= 2,
      HANG_MS,
      'two refreshes',
    );
    watch.child.kill('SIGINT');
    expect((await watch.exited).code).toBe(0);
    const docs = watch.output.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Report);
    expect(docs[1]!.subscriptions.find((s) => s.name === 'west_st')?.state).toBe('synchronized');

    await east.query(`SELECT pg_drop_replication_slot('${ST_ORPHAN}')`);
  }, 120_000);

  it('a slot a subscription of another database of the subscriber’s server uses is not orphaned: status and drift', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    // the file knows west's app database only; west2 is another database of the same server
    await west.query('CREATE DATABASE west2');
    const west2 = otherDatabase(west, 'west2');
    const tables = [{ name: 'st_other', rows: 500 }];
    await createTables([east, west2], tables);
    await fillTables(east, tables);
    await east.query('CREATE PUBLICATION st_other_pub FOR TABLE public.st_other');
    const conn = `host=127.0.0.1 port=${east.port} dbname=app user=postgres password=${east.password}`;
    await west2.query(`CREATE SUBSCRIPTION west2_other CONNECTION '${conn}' PUBLICATION st_other_pub`);
    await eventually(
      async () =>
        JSON.stringify(await digests(east, ['st_other'])) ===
        JSON.stringify(await digests(west2, ['st_other'])),
      HANG_MS,
      'west2 to hold st_other',
    );
    const path = writeConfig(
      ['version: 1', 'topology: status-other-db', nodesYaml([east, west]), ''].join('\n'),
    );
    const steep = steepWith({ config: path, env: passwordEnv(cluster().nodes) });
    const slotOf = async () => {
      const r = await steep(['status', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as Report).slots.find((x) => x.name === 'west2_other');
    };
    expect(await slotOf()).toMatchObject({ node: 'east', kind: 'subscription', subscription: 'west2_other' });
    // disabled: its slot goes inactive, and is still that subscription's, never an orphan to drop
    await west2.query('ALTER SUBSCRIPTION west2_other DISABLE');
    await eventually(
      async () =>
        (
          await east.query<{ active: boolean }>(
            "SELECT active FROM pg_replication_slots WHERE slot_name = 'west2_other'",
          )
        )[0]?.active === false,
      HANG_MS,
      'the slot to go inactive',
    );
    expect(await slotOf()).toMatchObject({ node: 'east', kind: 'subscription', subscription: 'west2_other' });
    const text = await steep(['status']);
    expect(text.stdout).not.toMatch(/Orphaned replication slots[\s\S]*west2_other/);
    const drift = await steep(['drift', '--json']);
    const orphans = (JSON.parse(drift.stdout) as { orphanSlots: Array<{ slot: string }> }).orphanSlots;
    expect(orphans.map((o) => o.slot)).not.toContain('west2_other');
    await west2.query('ALTER SUBSCRIPTION west2_other ENABLE');
    await east.query(
      'INSERT INTO public.st_other (id, v) SELECT g, md5(g::text) FROM generate_series(1001, 1100) g',
    );
    await eventually(
      async () =>
        JSON.stringify(await digests(east, ['st_other'])) ===
        JSON.stringify(await digests(west2, ['st_other'])),
      HANG_MS,
      'west2 to catch up',
    );
    await west2.query('DROP SUBSCRIPTION west2_other');
    await west.query('DROP DATABASE west2');
  });

  it('apply adding a table to a running subscription says PostgreSQL still copies it and the command that follows it; that command shows it until ready', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const tables = [
      { name: 'jn_a', rows: 200 },
      { name: 'jn_b', rows: 3_000 },
    ];
    await createTables([east, west], tables);
    await fillTables(east, tables);
    const file = (names: string[]) =>
      writeConfig(
        [
          'version: 1',
          'topology: status-join',
          nodesYaml([east, west]),
          'publications:',
          '  jn_pub:',
          '    node: east',
          `    tables: [${names.map((n) => `public.${n}`).join(', ')}]`,
          'subscriptions:',
          '  west_jn:',
          '    node: west',
          '    from: east',
          '    publications: [jn_pub]',
          '',
        ].join('\n'),
      );
    const steep = steepWith({ config: file(['jn_a']), env: passwordEnv(cluster().nodes) });
    const first = await inTurn(() => steep(['apply', '--auto-approve']));
    expect(first.code, first.stderr).toBe(0);
    // jn_b joins; its copy is held, and apply does not wait for it (--no-wait: an apply that waits
    // follows the copy and compares it), so it ends while PostgreSQL still copies it
    const release = await holdCopy(west, 'jn_b');
    const path = file(['jn_a', 'jn_b']);
    const joined = await inTurn(() => steep(['apply', '--auto-approve', '--no-wait'], path));
    expect(joined.code, joined.stdout + joined.stderr).toBe(0);
    expect(joined.stdout).toContain(
      'PostgreSQL still copies 1 table that joined subscription west_jn on west (public.jn_b): follow it with `steep init status west_jn --watch`; ' +
        'once it is ready, `steep verify west_jn --tables public.jn_b` compares it (until then the subscription is unverified)',
    );
    // the advice, run: it names the table being copied
    const followed = await steep(['init', 'status', 'west_jn'], path);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout).toContain('public.jn_b');
    await release();
    // ready, never compared: unverified, naming it, until the advised verify
    await eventually(
      async () =>
        (await steep(['status', '--check'], path)).stdout.includes('public.jn_b was never compared'),
      HANG_MS,
      'jn_b ready',
    );
    const verified = await steep(['verify', 'west_jn', '--tables', 'public.jn_b'], path);
    expect(verified.code, verified.stdout).toBe(0);
    const healthy = await steep(['status', '--check'], path);
    expect(healthy.code, healthy.stdout).toBe(0);
    expect(await digests(west, ['jn_a', 'jn_b'])).toEqual(await digests(east, ['jn_a', 'jn_b']));
  });
});
