import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { createTables, digests, fillTables, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv, passwordVar } from '../support/topologyFile.js';

/**
 * `steep status --check` for cron and monitors (SPEC §4): 0 healthy; 2 when a declared
 * subscription is not created, disabled, not synchronized or over --max-lag, or a slot's
 * wal_status is lost or unreserved; 1 when a node cannot be read — and then what depends on it
 * is `unknown` (text and JSON, with and without --check), never "not created" or orphaned.
 * The nodes keep at most 64 MB of WAL for a slot, so an abandoned slot is soon unreserved, then lost
 * (a few WAL segment switches), while the subscription's own slot keeps up.
 */
const cluster = useCluster({ nodes: ['east', 'west'], settings: { max_slot_wal_keep_size: '64MB' } });

interface Report {
  subscriptions: Array<{
    name: string;
    node: string;
    state: string;
    exists: boolean | null;
    unknown: string | null;
  }>;
  slots: Array<{ node: string; name: string; kind: string; walStatus: string | null }>;
  check?: { unknown: boolean; problems: string[] };
}

const TABLES = [{ name: 'ck_a', rows: 2_000 }];

describe('steep status --check', () => {
  it('exit 0 healthy, 2 unhealthy (disabled, lag, not created, lost slot), 1 unreadable node with its dependants unknown', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    const file = (extra: string[] = []) =>
      writeConfig(
        [
          'version: 1',
          'topology: status-check',
          nodesYaml([east, west]),
          'publications:',
          '  ck_pub:',
          '    node: east',
          '    tables: [public.ck_a]',
          'subscriptions:',
          '  west_ck:',
          '    node: west',
          '    from: east',
          '    publications: [ck_pub]',
          ...extra,
          '',
        ].join('\n'),
      );
    const path = file();
    const env = passwordEnv(cluster().nodes);
    const steep = steepWith({ config: path, env });
    const report = (stdout: string) => JSON.parse(stdout) as Report;

    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, applied.stderr).toBe(0);
    const healthy = await steep(['status', '--check', '--max-lag', '64MB']);
    expect(healthy.code, healthy.stdout + healthy.stderr).toBe(0);
    expect(healthy.stdout).toMatch(/\nCheck: healthy\.\n$/);

    // disabled behind steep's back, while the publisher writes on: disabled, and lag over 1 kB
    await west.query('ALTER SUBSCRIPTION west_ck DISABLE');
    await east.query(
      `INSERT INTO public.ck_a (id, v, n) SELECT g, md5(g::text), 1 FROM generate_series(100001, 100200) g`,
    );
    const disabled = await steep(['status', '--check', '--max-lag', '1kB', '--json']);
    expect(disabled.code, disabled.stdout + disabled.stderr).toBe(2);
    const problems = report(disabled.stdout).check!.problems;
    expect(problems).toContain('subscription.west_ck on west: disabled');
    expect(
      problems.some((p) =>
        /^subscription\.west_ck on west: lag \d+(\.\d)? kB, over --max-lag 1\.0 kB$/.test(p),
      ),
    ).toBe(true);
    // without --check the same report exits 0: it only reports
    expect((await steep(['status'])).code).toBe(0);
    // a duration works too; a value that is neither is misuse
    expect((await steep(['status', '--check', '--max-lag', '5min'])).code).toBe(2);
    const bad = await steep(['status', '--check', '--max-lag', '5 parsecs']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--max-lag 5 parsecs is neither a size');
    await west.query('ALTER SUBSCRIPTION west_ck ENABLE');
    await waitCaughtUp(east, 'west_ck');
    expect((await steep(['status', '--check', '--max-lag', '1kB'])).code).toBe(0);

    // declared, not created yet: not healthy
    const more = file(['  west_ck2:', '    node: west', '    from: east', '    publications: [ck_pub]']);
    const pending = await steep(['status', '--check'], more);
    expect(pending.code).toBe(2);
    expect(pending.stdout).toContain('✗ subscription.west_ck2 on west: not created');

    // the subscriber cannot be read (wrong password): its subscriptions are unknown, not "not created"
    const wrongWest = { ...env, [passwordVar(west)]: 'wrong-password' };
    const text = await steep(['status'], path, wrongWest);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/west_ck\s+west ← east\s+unknown\s+\(west cannot be read/);
    expect(text.stdout).not.toContain('not created');
    const json = await steep(['status', '--json'], path, wrongWest);
    expect(json.code).toBe(1);
    const doc = report(json.stdout);
    expect(doc.subscriptions.find((s) => s.name === 'west_ck')).toMatchObject({
      state: 'unknown',
      exists: null,
    });
    // its slot on east: no readable subscription uses it, but it is no orphan either
    expect(doc.slots.find((s) => s.name === 'west_ck')).toMatchObject({ node: 'east', kind: 'unknown' });
    const checked = await steep(['status', '--check', '--json'], path, wrongWest);
    expect(checked.code).toBe(1);
    expect(report(checked.stdout).check).toMatchObject({ unknown: true });
    expect(report(checked.stdout).check!.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^node west cannot be read: /),
        expect.stringMatching(/^subscription\.west_ck on west: unknown, west cannot be read/),
      ]),
    );

    // the publisher cannot be read: the subscriber's view stands, the lag is unknown
    const wrongEast = { ...env, [passwordVar(east)]: 'wrong-password' };
    const pub = await steep(['status', '--check', '--max-lag', '1kB', '--json'], path, wrongEast);
    expect(pub.code).toBe(1);
    const sub = report(pub.stdout).subscriptions.find((s) => s.name === 'west_ck')!;
    expect(sub.state).toBe('synchronized');
    expect(sub.unknown).toBe('east (its publisher) cannot be read: lag unknown');

    // a slot nobody consumes falls more than max_slot_wal_keep_size behind: unreserved, then lost;
    // the subscription's slot, streaming, stays reserved
    await east.query(`SELECT pg_create_logical_replication_slot('ck_abandoned', 'pgoutput')`);
    await eventually(
      async () => {
        await east.query(
          `INSERT INTO public.ck_a (id, v, n) SELECT g, md5(g::text), 2 FROM generate_series(200001, 200100) g`,
        );
        await east.query('DELETE FROM public.ck_a WHERE id > 200000');
        await east.query('SELECT pg_switch_wal()');
        await east.query('CHECKPOINT');
        const [s] = await east.query<{ wal_status: string }>(
          `SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'ck_abandoned'`,
        );
        return s?.wal_status === 'unreserved' || s?.wal_status === 'lost';
      },
      HANG_MS,
      'ck_abandoned unreserved or lost',
    );
    const lost = await steep(['status', '--check']);
    expect(lost.code, lost.stdout).toBe(2);
    expect(lost.stdout).toMatch(/✗ slot east\/ck_abandoned: wal_status (unreserved|lost)/);
    expect(lost.stdout).not.toMatch(/✗ slot east\/west_ck/);
    await east.query(`SELECT pg_drop_replication_slot('ck_abandoned')`);

    await waitCaughtUp(east, 'west_ck');
    expect(await digests(west, ['ck_a'])).toEqual(await digests(east, ['ck_a']));
    expect((await steep(['status', '--check', '--max-lag', '1MB'])).code).toBe(0);
    expect((await steep(['plan', '--detailed-exitcode'])).code).toBe(0);
  }, 300_000);
});
