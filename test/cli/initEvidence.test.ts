import { describe, expect, it } from 'vitest';
import { startIdStatementWriter } from '../support/appWriter.js';
import { prepareHolding, steepWith, writeConfig } from '../support/cli.js';
import { startStandby, useCluster } from '../support/cluster.js';
import {
  copyAtSnapshot,
  createTables,
  digests,
  fillTables,
  queryDigest,
  startWriter,
  waitCaughtUp,
} from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Every init ends with evidence, under a writer, on PostgreSQL 18 and 16: a manual init applied
 * before anything was restored is refused before its subscription is enabled, and converges once
 * the rows are restored; a `none` init over rows that are not the publisher's ends `diverged`,
 * not `synchronized` (a small table compared row by row, a big one by a sample of 64 of its
 * segments), and the printed way out converges; a big table's sample is said in status and the
 * rolling verify starts with the segments it left; an init not followed (`--no-wait`) is
 * `unverified` until compared; a physical init under a publication with a row filter (the clone
 * holds every row, the subscription carries the filtered ones) ends `diverged`, and the printed
 * reinit converges.
 */

interface Status {
  subscriptions: Array<{
    name: string;
    state: string;
    verdict: { verdict: string; reasons: string[] } | null;
  }>;
}

describe.each([18, 16] as const)('every init ends with evidence on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 240_000 });
  const stateOf = async (config: string, name: string, env?: Record<string, string>) => {
    const r = await steep(['status', '--json'], config, env);
    expect([0, 1, 2], r.stderr).toContain(r.code);
    return (JSON.parse(r.stdout) as Status).subscriptions.find((s) => s.name === name)!;
  };

  it('a manual init over nothing restored is refused before it is enabled; restored, it is compared and synchronized', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const tables = [
      { name: 'ev_m', rows: 30_000 },
      { name: 'ev_m_empty', rows: 0 },
    ];
    await createTables([east, west], tables);
    await fillTables(east, tables);
    const config = writeConfig(
      [
        'version: 1',
        'topology: evidence-manual',
        nodesYaml([east, west]),
        'publications:',
        '  ev_m_pub: { node: east, tables: [public.ev_m, public.ev_m_empty] }',
        'subscriptions:',
        '  ev_man: { node: west, from: east, publications: [ev_m_pub], init: { method: manual } }',
        '',
      ].join('\n'),
    );
    const first = await steep(['apply', '--auto-approve'], config);
    expect(first.code, first.stderr).toBe(0);
    const writer = startWriter(east, ['ev_m']);
    try {
      const { child, doc } = await prepareHolding(
        ['init', 'prepare', 'ev_man', '--hold', '--json', '-c', config],
        passwordEnv(cluster().nodes),
      );
      // applied before anything was restored: refused, the subscription not enabled
      const early = await steep(['apply', '--auto-approve'], config);
      expect(early.code, early.stdout).toBe(1);
      expect(early.stderr).toMatch(
        /the manual init of ev_man on west was not enabled: public\.ev_m is empty while the publisher holds about 30,000 rows\. Restore the rows from east/,
      );
      // the empty table is empty on both: no complaint about it
      expect(early.stderr).not.toContain('ev_m_empty');
      expect(
        await west.query('SELECT subenabled FROM pg_subscription WHERE subname = $1', ['ev_man']),
      ).toEqual([{ subenabled: false }]);

      // the way out, literally: restore at the slot, apply again
      await copyAtSnapshot(east, west, ['ev_m'], doc.snapshotName);
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const applied = await steep(['apply', '--auto-approve', '--log-format', 'json'], config);
      expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
      expect(applied.stderr).toMatch(/"event":"init.compared".*2 tables: 0 diverged, 2 equal/);
      const st = await stateOf(config, 'ev_man');
      expect(st.state, JSON.stringify(st)).toBe('synchronized');
      expect(st.verdict?.reasons.join('\n')).toMatch(/every table found equal within its verify window 7d/);
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, 'ev_man');
    expect(await digests(west, ['ev_m', 'ev_m_empty'])).toEqual(await digests(east, ['ev_m', 'ev_m_empty']));
  }, 300_000);

  it("a none init over rows that are not the publisher's ends diverged, by row and by sample; the printed way out converges", async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const tables = [
      { name: 'ev_small', rows: 500 },
      { name: 'ev_big', rows: 20_000 },
    ];
    await createTables([east, west], tables);
    await fillTables(east, tables);
    await fillTables(west, tables);
    // the DBA vouched wrongly: five rows changed on the small table, every 331st row (60) lost on
    // the big one, spread so that a sample of 64 of its ~200 segments cannot miss them all
    await west.query("UPDATE public.ev_small SET v = 'stale' WHERE id IN (10, 20, 30, 40, 50)");
    await west.query('DELETE FROM public.ev_big WHERE id % 331 = 0');
    const config = writeConfig(
      [
        'version: 1',
        'topology: evidence-none',
        nodesYaml([east, west]),
        'publications:',
        '  ev_n_pub: { node: east, tables: [public.ev_small, public.ev_big] }',
        'subscriptions:',
        // ev_big (~1.5 MB) is sampled, ev_small (~50 kB) compared row by row
        '  ev_none: { node: west, from: east, publications: [ev_n_pub], init: { method: none }, verify: { fullBelow: 500kB } }',
        '',
      ].join('\n'),
    );
    const env = { STEEP_VERIFY_SEGMENT_ROWS: '100' };
    // the writer stays off ev_small: its updates would heal the stale rows with the publisher's
    const writer = startWriter(east, ['ev_big']);
    try {
      const applied = await steep(['apply', '--auto-approve'], config, env);
      expect(applied.code, applied.stdout).toBe(1);
      expect(applied.stderr).toMatch(
        /the init of ev_none ended with rows that differ from east's: .*public\.ev_small \(missing 0, extra 0, different 5\)/,
      );
      // the big table by its sample: 64 of its ~200 segments, some missing rows (and the writes
      // made before its slot existed, which a none init never receives, differ too)
      const big = /public\.ev_big \(missing (\d+), extra \d+, different \d+\)/.exec(applied.stderr);
      expect(big, applied.stderr).not.toBeNull();
      expect(Number(big![1])).toBeGreaterThan(0);
      // at most what west lacks: the 60 deleted, and the writer's inserts (ids from 10,000,001)
      // made before the slot existed, of which there can be no more than east holds now
      const [inserted] = await east.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM public.ev_big WHERE id > 10000000',
      );
      expect(Number(big![1])).toBeLessThanOrEqual(60 + Number(inserted!.n));
      const hint = /repair with: (steep reinit ev_none --tables [^\s"]+)/.exec(applied.stderr);
      expect(hint, applied.stderr).not.toBeNull();
      expect((await stateOf(config, 'ev_none')).state).toBe('diverged');

      // the way out, as printed (apply's confirmation given by flag)
      const repaired = await steep([...hint![1]!.split(' ').slice(1), '--auto-approve'], config, env);
      expect(repaired.code, `${repaired.stdout}\n${repaired.stderr}`).toBe(0);
      // the reinit compared what it copied: synchronized without another verify
      expect((await stateOf(config, 'ev_none')).state).toBe('synchronized');
      const verified = await steep(['verify', 'ev_none'], config);
      expect(verified.code, verified.stdout).toBe(0);
      await eventually(
        async () => (await stateOf(config, 'ev_none')).state === 'synchronized',
        HANG_MS,
        'synchronized',
      );
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, 'ev_none');
    expect(await digests(west, ['ev_small', 'ev_big'])).toEqual(await digests(east, ['ev_small', 'ev_big']));
  }, 300_000);

  it('a big table is compared by a sample its status names, the rolling verify goes on with the rest; an init not followed is unverified', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const tables = [
      { name: 'ev_s', rows: 20_000 },
      { name: 'ev_w', rows: 1_000 },
    ];
    await createTables([east, west], tables);
    await fillTables(east, tables);
    const config = writeConfig(
      [
        'version: 1',
        'topology: evidence-sample',
        nodesYaml([east, west]),
        'settings:',
        '  verify: { fullBelow: 500kB }',
        'publications:',
        '  ev_s_pub: { node: east, tables: [public.ev_s] }',
        '  ev_w_pub: { node: east, tables: [public.ev_w] }',
        'subscriptions:',
        '  ev_sample: { node: west, from: east, publications: [ev_s_pub] }',
        '',
      ].join('\n'),
    );
    const env = { STEEP_VERIFY_SEGMENT_ROWS: '100' };
    const writer = startWriter(east, ['ev_s', 'ev_w']);
    try {
      const applied = await steep(['apply', '--auto-approve', '--log-format', 'json'], config, env);
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stderr).toMatch(/"event":"init.compared".*1 table: 0 diverged, 1 equal; 1 by a sample/);
      const st = await stateOf(config, 'ev_sample');
      expect(st.state, JSON.stringify(st)).toBe('synchronized');
      const sampled = st.verdict?.reasons.find((r) => r.includes("by its init's sample"));
      expect(sampled, JSON.stringify(st)).toMatch(
        /^public\.ev_s by its init's sample \(64 of \d+ segments\): `steep verify --rolling` compares the rest$/,
      );
      const of = Number(/64 of (\d+)/.exec(sampled!)![1]);
      // the rolling verify starts with the segments the sample left
      const rolled = await steep(['verify', '--rolling', '--budget', '1ms', 'ev_sample', '--json'], config);
      expect(rolled.code, rolled.stderr).toBe(0);
      const report = JSON.parse(rolled.stdout) as {
        coverage: Array<{ table: string; segments: number; equal: number }>;
      };
      expect(report.coverage.find((c) => c.table === 'public.ev_s')).toMatchObject({ segments: of });
      expect(report.coverage.find((c) => c.table === 'public.ev_s')!.equal).toBeGreaterThanOrEqual(65);

      // an init apply does not follow is not compared: unverified, never synchronized, until a verify
      const noWait = writeConfig(
        [
          'version: 1',
          'topology: evidence-sample',
          nodesYaml([east, west]),
          'settings:',
          '  verify: { fullBelow: 500kB }',
          'publications:',
          '  ev_s_pub: { node: east, tables: [public.ev_s] }',
          '  ev_w_pub: { node: east, tables: [public.ev_w] }',
          'subscriptions:',
          '  ev_sample: { node: west, from: east, publications: [ev_s_pub] }',
          '  ev_nowait: { node: west, from: east, publications: [ev_w_pub] }',
          '',
        ].join('\n'),
        'nowait.yaml',
      );
      const started = await steep(['apply', '--auto-approve', '--no-wait'], noWait);
      expect(started.code, started.stderr).toBe(0);
      await eventually(
        async () => (await stateOf(noWait, 'ev_nowait')).state === 'unverified',
        HANG_MS,
        'unverified',
      );
      const never = await stateOf(noWait, 'ev_nowait');
      expect(never.verdict?.reasons[0]).toBe('public.ev_w was never compared (verify window 7d)');
      const check = await steep(['status', '--check'], noWait);
      expect(check.code, check.stdout).toBe(2);
      const verified = await steep(['verify', 'ev_nowait'], noWait);
      expect(verified.code, verified.stdout).toBe(0);
      expect((await stateOf(noWait, 'ev_nowait')).state).toBe('synchronized');
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, 'ev_sample');
    await waitCaughtUp(east, 'ev_nowait');
    expect(await digests(west, ['ev_s', 'ev_w'])).toEqual(await digests(east, ['ev_s', 'ev_w']));
  }, 300_000);

  it('a physical init under a row filter ends diverged, not synchronized; the printed reinit converges', async () => {
    const east = cluster().node('east');
    await east.query(`CREATE TABLE public.ev_ph (id bigint PRIMARY KEY, region text NOT NULL, v text);
      CREATE UNIQUE INDEX ev_ph_identity ON public.ev_ph (id, region);
      ALTER TABLE public.ev_ph REPLICA IDENTITY USING INDEX ev_ph_identity;
      INSERT INTO public.ev_ph SELECT g, CASE WHEN g % 3 = 0 THEN 'eu' ELSE 'us' END, md5(g::text) FROM generate_series(1, 3000) g`);
    const file = (clone: typeof east | null) =>
      [
        'version: 1',
        'topology: evidence-physical',
        nodesYaml(clone ? [east, clone] : [east]),
        'publications:',
        `  ev_ph_pub: { node: east, tables: [{ name: public.ev_ph, where: "region = 'eu'" }] }`,
        ...(clone
          ? [
              'subscriptions:',
              `  ev_phys: { node: ${clone.name}, from: east, publications: [ev_ph_pub], init: { method: physical } }`,
            ]
          : []),
        '',
      ].join('\n');
    const first = await steep(['apply', '--auto-approve'], writeConfig(file(null)));
    expect(first.code, first.stderr).toBe(0);
    // a standby streaming from east (its copy stops east for a moment: made before the writer),
    // promoted once it has replayed past the prepared slot
    const clone = await startStandby(cluster(), 'east', { name: 'evclone', slot: 'evclone_phys' });
    let next = 100_000;
    const writer = startIdStatementWriter(
      { east },
      { user: 'postgres', password: east.password },
      () => 'east',
      async (c) => {
        const id = next++;
        await c.query(`INSERT INTO public.ev_ph VALUES ($1::bigint, 'eu', md5($1::text))`, [id]);
        return id;
      },
    );
    try {
      const config = writeConfig(file(clone));
      const env = passwordEnv([east, clone]);
      const prepared = await steep(['init', 'prepare', 'ev_phys', '--json'], config, env);
      expect(prepared.code, prepared.stderr).toBe(0);
      const { lsn } = JSON.parse(prepared.stdout) as { lsn: string };
      await eventually(
        async () =>
          (
            await clone.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn])
          )[0]!.ok,
        HANG_MS,
        'the clone past the prepared slot',
      );
      await clone.promote();
      await eventually(
        async () => (await clone.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r === false,
        HANG_MS,
        'the clone promoted',
      );
      const applied = await steep(['apply', '--auto-approve', '--allow-destroy'], config, env);
      expect(applied.code, applied.stdout).toBe(1);
      // the clone's 2,000 rows outside the filter: rows the subscription does not carry
      expect(applied.stderr).toMatch(
        /the init of ev_phys ended with rows that differ from east's: public\.ev_ph \(missing 0, extra 2000, different 0\)/,
      );
      const hint = /repair with: (steep reinit ev_phys --tables \S+)/.exec(applied.stderr);
      expect(hint, applied.stderr).not.toBeNull();
      expect((await stateOf(config, 'ev_phys', env)).state).toBe('diverged');
      const repaired = await steep([...hint![1]!.split(' ').slice(1), '--auto-approve'], config, env);
      expect(repaired.code, `${repaired.stdout}\n${repaired.stderr}`).toBe(0);
      expect((await stateOf(config, 'ev_phys', env)).state).toBe('synchronized');
      await writer.stop();
      expect(writer.lastError()).toBeNull();
      await waitCaughtUp(east, 'ev_phys');
      const acked = writer.acknowledged().get('east') ?? [];
      expect(acked.length).toBeGreaterThan(0);
      const have = new Set(
        (await clone.query<{ id: string }>('SELECT id::text AS id FROM public.ev_ph')).map((r) =>
          Number(r.id),
        ),
      );
      expect(acked.filter((id) => !have.has(id))).toEqual([]);
      expect(await queryDigest(clone, 'SELECT * FROM public.ev_ph')).toEqual(
        await queryDigest(east, "SELECT * FROM public.ev_ph WHERE region = 'eu'"),
      );
    } finally {
      await writer.stop();
    }
  }, 300_000);
});
