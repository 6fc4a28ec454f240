import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fastCopy,
  fillTables,
  oneTableCopying,
  slowCopy,
  type TableDef,
  tableDigest,
  waitCaughtUp,
} from '../support/replicationData.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * The publisher stops in the middle of a snapshot init: apply records `failed` with a reason
 * that names the publisher and says what to do, keeps the slot, and exits 1; `init status` and
 * `status` show it; once the publisher is back, `apply` plans the init again and follows it to
 * synchronized, with both sides equal.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

const TABLES: TableDef[] = [
  { name: 'fl_a', rows: 120_000 },
  { name: 'fl_b', rows: 5_000 },
];
const NAMES = TABLES.map((t) => t.name);

describe('publisher stopped mid-init', () => {
  it('fails with the reason, keeps the slot, and a later apply resumes to synchronized', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    await slowCopy(west, 'fl_a', 1000, 100);
    const path = writeConfig(
      [
        'version: 1',
        'topology: init-failure',
        nodesYaml([east, west]),
        'publications:',
        '  fl_pub:',
        '    node: east',
        `    tables: [${NAMES.map((t) => `public.${t}`).join(', ')}]`,
        'subscriptions:',
        '  west_fl:',
        '    node: west',
        '    from: east',
        '    publications: [fl_pub]',
        '',
      ].join('\n'),
    );
    const env = { ...passwordEnv(cluster().nodes), STEEP_INIT_FAIL_AFTER_MS: '3000' };
    const steep = steepWith({ config: path, env, timeoutMs: 180_000 });

    const applying = steep(['apply', '--auto-approve']);
    await oneTableCopying(west, 'west_fl');
    await east.stop();

    const failed = await applying;
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(
      /init of subscription west_fl on west failed: the publisher east cannot be reached \(.*\).*; the slot west_fl on east is kept: once east is back, run steep apply again to resume/,
    );
    expect(failed.stderr).toContain('tables not yet ready: public.fl_a');
    const [state] = await west.query<{ state: string; error: string }>(
      `SELECT state, error FROM steep.subscription_state WHERE subscription = 'west_fl'`,
    );
    expect(state?.state).toBe('failed');
    expect(state?.error).toContain('the publisher east cannot be reached');

    const initStatus = await steep(['init', 'status', 'west_fl', '--json']);
    expect(JSON.parse(initStatus.stdout)[0]).toMatchObject({ state: 'failed', exists: true });
    expect(JSON.parse(initStatus.stdout)[0].publisherError).toMatch(/east/);
    const status = await steep(['status', '--json']);
    expect(status.code).toBe(1); // east is unreachable
    const report = JSON.parse(status.stdout) as {
      nodes: Array<{ name: string; reachable: boolean }>;
      subscriptions: Array<{ name: string; state: string; error: string | null }>;
    };
    expect(report.nodes.find((n) => n.name === 'east')?.reachable).toBe(false);
    expect(report.subscriptions.find((s) => s.name === 'west_fl')).toMatchObject({ state: 'failed' });

    // the publisher is back: apply plans the init again (the slot was kept) and follows it
    await east.restart();
    await fastCopy(west, 'fl_a');
    const plan = await steep(['plan']);
    expect(plan.stdout).toMatch(
      /> subscription\.west_fl \(west\) init: its init failed .*apply follows it again/,
    );
    const resumed = await steep(['apply', '--auto-approve']);
    expect(resumed.code, `${resumed.stdout}\n${resumed.stderr}`).toBe(0);
    const [after] = await west.query<{ state: string; error: string | null }>(
      `SELECT state, error FROM steep.subscription_state WHERE subscription = 'west_fl'`,
    );
    expect(after).toEqual({ state: 'synchronized', error: null });
    await waitCaughtUp(east, 'west_fl');
    expect(await digests(west, NAMES)).toEqual(await digests(east, NAMES));
    expect((await steep(['plan', '--detailed-exitcode'])).code).toBe(0);
  });

  it('a table sync that keeps failing → failed, pointing at the server log; cancel cleans it up', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await createTables([east, west], [{ name: 'fl_dup', rows: 0 }]);
    await east.query(`INSERT INTO public.fl_dup (id, v) SELECT g, 'same' FROM generate_series(1, 100) g`);
    // the subscriber's table refuses what the publisher holds: every copy attempt fails
    await west.query('CREATE UNIQUE INDEX fl_dup_v ON public.fl_dup (v)');
    const path = writeConfig(
      [
        'version: 1',
        'topology: init-failure-sync',
        nodesYaml([east, west]),
        'publications:',
        '  fl_dup_pub:',
        '    node: east',
        '    tables: [public.fl_dup]',
        'subscriptions:',
        '  west_fl_dup:',
        '    node: west',
        '    from: east',
        '    publications: [fl_dup_pub]',
        '',
      ].join('\n'),
    );
    const env = { ...passwordEnv(cluster().nodes), STEEP_INIT_FAIL_AFTER_MS: '3000' };
    const steep = steepWith({ config: path, env, timeoutMs: 180_000 });
    const r = await steep(['apply', '--auto-approve']);
    expect(r.code).toBe(1);
    if (cluster().node('west').serverVersionNum >= 150000) {
      expect(r.stderr).toMatch(
        /init of subscription west_fl_dup on west failed: its table synchronisation worker failed \d+ times \(pg_stat_subscription_stats: sync_error_count \d+/,
      );
      expect(r.stderr).toContain("PostgreSQL's message is in the server log of west");
    } else {
      // 14 counts no worker errors: the copy that stops moving tells
      expect(r.stderr).toMatch(
        /init of subscription west_fl_dup on west failed: its copy has not moved for \d+ s: a table synchronisation worker keeps failing \(PostgreSQL 14 counts no worker errors\)/,
      );
      expect(r.stderr).toContain("PostgreSQL's message is in the server log of west");
    }
    expect(r.stderr).toContain('tables not yet ready: public.fl_dup');
    const cancelled = await steep(['init', 'cancel', 'west_fl_dup']);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toContain('cancelled (was failed)');
    expect(await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'west_fl_dup'`)).toEqual(
      [],
    );
  });
  it('init cancel after a failed copy empties tables a foreign key ties together, in one TRUNCATE', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query('CREATE TABLE public.fk_parent (id bigint PRIMARY KEY, v text NOT NULL)');
      await n.query(
        'CREATE TABLE public.fk_child (id bigint PRIMARY KEY, parent_id bigint NOT NULL REFERENCES public.fk_parent (id), v text NOT NULL)',
      );
    }
    await east.query(
      `INSERT INTO public.fk_parent (id, v) SELECT g, md5(g::text) FROM generate_series(1, 200) g`,
    );
    await east.query(
      `INSERT INTO public.fk_child (id, parent_id, v) SELECT g, g, 'same' FROM generate_series(1, 100) g`,
    );
    // the parent copies; the child's copy fails on the subscriber's unique index
    await west.query('CREATE UNIQUE INDEX fk_child_v ON public.fk_child (v)');
    const path = writeConfig(
      [
        'version: 1',
        'topology: init-failure-fk',
        nodesYaml([east, west]),
        'publications:',
        '  fk_pub:',
        '    node: east',
        '    tables: [public.fk_parent, public.fk_child]',
        'subscriptions:',
        '  west_fk:',
        '    node: west',
        '    from: east',
        '    publications: [fk_pub]',
        // steep's own copy: its record of what it copied names the parent only
        '    init: { method: snapshot, parallel: 2 }',
        '',
      ].join('\n'),
    );
    const env = { ...passwordEnv(cluster().nodes), STEEP_INIT_FAIL_AFTER_MS: '3000' };
    const steep = steepWith({ config: path, env, timeoutMs: 180_000 });
    const r = await steep(['apply', '--auto-approve']);
    expect(r.code, r.stderr).toBe(1);
    const cancelled = await steep(['init', 'cancel', 'west_fk']);
    expect(cancelled.code, `${cancelled.stdout}\n${cancelled.stderr}`).toBe(0);
    expect(cancelled.stdout).toContain('cancelled (was failed)');
    expect(cancelled.stdout).toMatch(
      /truncated public\.fk_child, public\.fk_parent|truncated public\.fk_parent, public\.fk_child/,
    );
    for (const t of ['fk_parent', 'fk_child'])
      expect(await tableDigest(west, t)).toEqual({ count: 0, sum: '0' });
    expect(await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'west_fk'`)).toEqual([]);
    // the cause gone, apply copies both again: equal on both sides
    await west.query('DROP INDEX public.fk_child_v');
    const again = await steepWith({ config: path, env: passwordEnv(cluster().nodes), timeoutMs: 180_000 })([
      'apply',
      '--auto-approve',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(await digests(west, ['fk_parent', 'fk_child'])).toEqual(
      await digests(east, ['fk_parent', 'fk_child']),
    );
  });
});
