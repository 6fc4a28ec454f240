import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { lsnValue } from '../../src/model/lsn.js';
import type { SwitchoverReport } from '../../src/model/switchover.js';
import { renderSwitchoverText } from '../../src/render/switchover.js';
import {
  type AppWriter,
  type IdWriter,
  roleClient,
  startAppWriter,
  startIdWriter,
} from '../support/appWriter.js';
import { startSteep, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { digests, tableDigest, waitCaughtUp } from '../support/replicationData.js';
import { followRollback } from '../support/rollback.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep switchover` on a PostgreSQL 18 pair, east (the old primary) → west (the new one), with
 * an application role writing on east throughout: --dry-run changes nothing; a table that
 * differs, a role that cannot be fenced and a subscriber killed during the drain each leave east
 * writable again and replication going; then the switchover with --reverse: 0 rows lost, the
 * writer's next write fails (its role may no longer log in), sequences ahead of every used value, a write on west
 * arrives on east, the cutover report and apply_log.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'west_sw';
const TABLES = ['sw_orders', 'sw_items'];
const APP = { user: 'sw_app', password: 'sw-app-secret-1' };

let path = '';
let markers = 0;

const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

/** The fence's trace on east: sw_app's per-database setting (null: none, writable). */
async function fenceSetting(east: TestNode, role = APP.user): Promise<string | null> {
  const rows = await east.query<{ c: string }>(
    `SELECT c FROM pg_db_role_setting s, unnest(s.setconfig) c
      WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = $1) AND c LIKE 'default_transaction_read_only=%'`,
    [role],
  );
  return rows[0]?.c ?? null;
}

async function subscriptionEnabled(west: TestNode): Promise<boolean> {
  const [r] = await west.query<{ e: boolean }>(
    'SELECT subenabled AS e FROM pg_subscription WHERE subname = $1',
    [SUB],
  );
  return r!.e;
}

/** east writable again (the writer commits), and replication going: a row written on east now reaches west. */
async function writableAndReplicating(east: TestNode, west: TestNode, writer: AppWriter): Promise<void> {
  expect(await fenceSetting(east)).toBeNull();
  const mark = writer.committed();
  await eventually(async () => writer.since(mark) >= 5, HANG_MS, 'the writer to commit on east again');
  markers += 1;
  const id = 800_000_000 + markers;
  await east.query(`INSERT INTO public.sw_items (id, v) VALUES (${id}, 'marker')`);
  await eventually(
    async () => (await west.query(`SELECT 1 FROM public.sw_items WHERE id = ${id}`)).length === 1,
    HANG_MS,
    `marker ${id} to reach west`,
  );
}

describe('steep switchover (18 → 18)', () => {
  it('refuses or undoes on failure, then moves writes with the way back ready and nothing lost', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query('CREATE ROLE zz_batch LOGIN');
      await n.query(
        'CREATE TABLE public.sw_orders (id bigserial PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0)',
      );
      // a sequence a default calls without owning it, and one the application calls directly
      await n.query('CREATE SEQUENCE public.sw_item_ids');
      await n.query(
        "CREATE TABLE public.sw_items (id bigint PRIMARY KEY DEFAULT nextval('public.sw_item_ids'), v text NOT NULL, n int NOT NULL DEFAULT 0)",
      );
      await n.query('CREATE SEQUENCE public.sw_tickets');
      await n.query(
        `GRANT SELECT, INSERT, UPDATE, DELETE ON public.sw_orders, public.sw_items TO ${APP.user}, zz_batch`,
      );
      await n.query(
        `GRANT USAGE ON SEQUENCE public.sw_orders_id_seq, public.sw_item_ids, public.sw_tickets TO ${APP.user}`,
      );
    }
    await east.query('INSERT INTO public.sw_orders (v) SELECT md5(g::text) FROM generate_series(1, 5000) g');
    await east.query('INSERT INTO public.sw_items (v) SELECT md5(g::text) FROM generate_series(1, 3000) g');
    await east.query("SELECT setval('public.sw_tickets', 500)");
    path = writeConfig(
      [
        'version: 1',
        'topology: switchover',
        nodesYaml([east, west]),
        'settings:',
        '  lockTimeout: 1s',
        'publications:',
        '  sw_pub:',
        '    node: east',
        '    tables: [public.sw_orders, public.sw_items]',
        'subscriptions:',
        `  ${SUB}:`,
        '    node: west',
        '    from: east',
        '    publications: [sw_pub]',
        '',
      ].join('\n'),
    );
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);

    const writer = startAppWriter(east, APP, { table: 'public.sw_orders', sequence: 'public.sw_tickets' });
    const items = startAppWriter(east, APP, { table: 'public.sw_items', sequence: 'public.sw_tickets' });
    try {
      await eventually(async () => writer.committed() > 20, HANG_MS, 'the writer to start');

      // --dry-run: the steps with their SQL, the expected blackout; nothing changes
      const dry = await steep(['switchover', SUB, '--dry-run', '--reverse']);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toContain(
        `ALTER ROLE "${APP.user}" IN DATABASE "app" SET default_transaction_read_only = on`,
      );
      expect(dry.stdout).toMatch(
        /CREATE SUBSCRIPTION "steep_reverse_west_sw" CONNECTION '.*password=\*\*\*\*.*' PUBLICATION "steep_reverse_west_sw" WITH \(copy_data = false, origin = none, create_slot = false, slot_name = 'steep_reverse_west_sw_a172cedc'\)/,
      );
      expect(dry.stdout).toContain(
        "SELECT pg_catalog.pg_create_logical_replication_slot('steep_reverse_west_sw_a172cedc', 'pgoutput')",
      );
      const estimated = /Expected write blackout: (\d+\.\d\d) s/.exec(dry.stdout)?.[1];
      expect(estimated, dry.stdout).toBeDefined();
      expect(dry.stdout).toContain('pg_catalog.setval(\'"public"."sw_tickets"\'::regclass');
      expect(dry.stdout).toContain(
        'ALTER ROLE "zz_batch" IN DATABASE "app" SET default_transaction_read_only = on',
      );
      expect(await fenceSetting(east)).toBeNull();
      expect(await subscriptionEnabled(west)).toBe(true);
      expect(
        await west.query("SELECT 1 FROM pg_publication WHERE pubname = 'steep_reverse_west_sw'"),
      ).toEqual([]);

      // --reverse when east cannot reach west as west's replication URL says: refused in
      // preflight (the probe subscription is rolled back), nothing fenced, nothing left
      const unreachable = writeConfig(
        readFileSync(path, 'utf8').replace(
          `url: postgres://postgres@127.0.0.1:${west.port}/app`,
          `url: postgres://postgres@127.0.0.1:${west.port}/app\n    replicationUrl: postgres://postgres@127.0.0.1:1/app`,
        ),
      );
      const refused = await steep(['switchover', SUB, '--reverse', '--grace', '1s'], unreachable);
      expect(refused.code, refused.stdout).toBe(1);
      expect(refused.stderr).toMatch(
        /east cannot subscribe to west for the way back \(.*Connection refused.*\): east cannot reach west's host and port: open the network path from east to west/,
      );
      expect(await fenceSetting(east)).toBeNull();
      expect(await subscriptionEnabled(west)).toBe(true);
      expect(
        await east.query("SELECT 1 FROM pg_subscription WHERE subname = 'steep_reverse_west_sw'"),
      ).toEqual([]);

      // a table that differs: verify stops it, the fence is undone, east writes again
      await west.query("INSERT INTO public.sw_items (id, v) VALUES (900000001, 'only on west')");
      const diverged = await steep(['switchover', SUB, '--grace', '1s']);
      expect(diverged.code, diverged.stdout).toBe(1);
      expect(diverged.stderr).toMatch(
        /public\.sw_items differ between east and west; repair with steep verify west_sw --repair/,
      );
      expect(diverged.stderr).toContain('(the fence was undone)');
      expect(diverged.stdout).toMatch(/fence\s+undone/);
      await west.query('DELETE FROM public.sw_items WHERE id = 900000001');
      await writableAndReplicating(east, west, writer);
      expect((await steep(['verify', SUB])).code).toBe(0);

      // a role that cannot be fenced: another session holds its setting; sw_app's fence is undone
      const blocker = await east.client();
      await blocker.query('BEGIN');
      await blocker.query('ALTER ROLE zz_batch IN DATABASE app SET default_transaction_read_only = off');
      const locked = await steep(['switchover', SUB, '--grace', '1s']);
      await blocker.query('ROLLBACK');
      await blocker.end();
      expect(locked.code, locked.stdout).toBe(1);
      expect(locked.stderr).toMatch(/lock timeout/);
      expect(locked.stderr).toContain('(the fence was undone)');
      await writableAndReplicating(east, west, writer);

      // the subscriber killed during the drain (its apply held up by a lock, then the node restarted)
      const holder = await west.client();
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE public.sw_orders IN ACCESS EXCLUSIVE MODE');
      const killed = steep([
        'switchover',
        SUB,
        '--grace',
        '1s',
        '--max-lag',
        '64MB',
        '--fence-timeout',
        '60s',
      ]);
      await eventually(async () => (await fenceSetting(east)) !== null, HANG_MS, 'the fence');
      // the drain under way: steep reads west's origin, which the held-up apply keeps behind
      await eventually(
        async () =>
          (
            await west.query(
              "SELECT 1 FROM pg_stat_activity WHERE application_name = 'steep switchover' AND query LIKE '%pg_replication_origin_progress%'",
            )
          ).length > 0,
        HANG_MS,
        'the drain',
      );
      await west.restart('immediate');
      await holder.end().catch(() => {});
      const k = await killed;
      expect(k.code, k.stdout).toBe(1);
      expect(k.stderr).toContain('(the fence was undone)');
      expect(k.stdout).toMatch(/drain\s+failed/);
      await writableAndReplicating(east, west, writer);

      // the way back's publication name taken by one steep cannot show it made: renamed, never dropped
      await west.query('CREATE PUBLICATION steep_reverse_west_sw FOR TABLE public.sw_orders');
      const taken = await steep(['switchover', SUB, '--reverse', '--grace', '1s']);
      expect(taken.code, taken.stdout).toBe(1);
      expect(taken.stderr).not.toContain('DROP PUBLICATION');
      const rename =
        /publication steep_reverse_west_sw already exists on west, and steep cannot show it made it \(no comment of steep's\): rename it \((ALTER PUBLICATION .+) on west\) or switch over without --reverse/.exec(
          taken.stderr,
        );
      expect(rename, taken.stderr).not.toBeNull();
      expect(await fenceSetting(east)).toBeNull();
      await west.query(rename![1]!);

      // the switchover itself
      const before = writer.committed();
      const done = await steep(['switchover', SUB, '--reverse', '--grace', '2s', '--json']);
      expect(done.code, done.stderr).toBe(0);
      const report = JSON.parse(done.stdout);
      expect(report.outcome).toBe('released');
      expect(report.roles).toEqual([APP.user, 'zz_batch']);
      // the way back carries steep's comment, which a later switchover reads before it advises a DROP
      const marker = 'managed by steep: the way back of subscription west_sw';
      expect(
        await west.query(
          "SELECT obj_description(oid, 'pg_publication') AS c FROM pg_publication WHERE pubname = 'steep_reverse_west_sw'",
        ),
      ).toEqual([{ c: marker }]);
      expect(
        await east.query(
          "SELECT obj_description(oid, 'pg_subscription') AS c FROM pg_subscription WHERE subname = 'steep_reverse_west_sw'",
        ),
      ).toEqual([{ c: marker }]);
      expect(
        await west.query("SELECT 1 FROM pg_publication WHERE pubname = 'steep_reverse_west_sw_old'"),
      ).toHaveLength(1);
      expect(report.fenceUndone).toBe(false);
      expect(report.fenceLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(report.blackoutMs).toBeGreaterThan(0);
      console.info(
        `switchover blackout: ${report.blackoutMs} ms measured, ${estimated} s estimated by --dry-run`,
      );
      expect(report.steps.map((s: { id: string; status: string }) => `${s.id}:${s.status}`)).toEqual([
        'preflight:completed',
        'fence:completed',
        'drain:completed',
        'sequences:completed',
        'verify:completed',
        'reverse:completed',
        'release:completed',
      ]);
      expect(report.verify.tables.map((t: { status: string }) => t.status)).toEqual(['equal', 'equal']);
      expect(done.stderr).toMatch(/^drain {2}completed {2}\d+\.\d\d s/m);
      // every comparison the drain line prints holds, as numbers
      const printed = [
        ...done.stderr.matchAll(/([0-9A-F]+\/[0-9A-F]+) ([≥<]) fence ([0-9A-F]+\/[0-9A-F]+)/g),
      ];
      expect(printed.length).toBeGreaterThan(0);
      for (const [, a, rel, fence] of printed)
        expect(rel === '≥' ? lsnValue(a!) >= lsnValue(fence!) : lsnValue(a!) < lsnValue(fence!)).toBe(true);
      expect(writer.since(before)).toBeGreaterThan(0);
      // the writer cannot write on east any more: its session ended, it may not log in again (28000)
      await eventually(async () => writer.lastError() === '28000', HANG_MS, 'a refused login on east');
      const stoppedAt = writer.committed();
      // a fixed wait: that nothing more commits has no condition to wait for
      await new Promise((r) => setTimeout(r, 300));
      expect(writer.committed()).toBe(stoppedAt);
    } finally {
      await writer.stop();
      await items.stop();
    }
    // 0 rows lost: every row committed on east is on west
    expect(await digests(west, TABLES)).toEqual(await digests(east, TABLES));
    expect(await subscriptionEnabled(west)).toBe(false);
    expect(await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = '${SUB}'`)).toEqual([]);

    // sequences on west ahead of every value east handed out: inserts by default do not collide
    const [eastMax] = await east.query<{ o: string; i: string; t: string }>(
      "SELECT (SELECT max(id) FROM public.sw_orders)::text AS o, (SELECT max(id) FROM public.sw_items WHERE v <> 'marker')::text AS i, (SELECT last_value FROM public.sw_tickets)::text AS t",
    );
    const [next] = await west.query<{ o: string; i: string; t: string }>(
      "WITH o AS (INSERT INTO public.sw_orders (v) VALUES ('west 1') RETURNING id), i AS (INSERT INTO public.sw_items (v) VALUES ('west 1') RETURNING id) SELECT (SELECT id FROM o)::text AS o, (SELECT id FROM i)::text AS i, nextval('public.sw_tickets')::text AS t",
    );
    expect(BigInt(next!.o)).toBeGreaterThan(BigInt(eastMax!.o));
    expect(BigInt(next!.i)).toBeGreaterThan(BigInt(eastMax!.i));
    expect(BigInt(next!.t)).toBeGreaterThan(BigInt(eastMax!.t) + 999n);

    // the way back: west's writes arrive on east
    await eventually(
      async () => (await east.query(`SELECT 1 FROM public.sw_orders WHERE id = ${next!.o}`)).length === 1,
      HANG_MS,
      'a write on west to arrive on east',
    );
    await waitCaughtUp(west, 'steep_reverse_west_sw_a172cedc');
    expect(await digests(east, TABLES)).toEqual(await digests(west, TABLES));

    // every step in west's apply_log
    const log = await west.query<{ action: string; status: string }>(
      "SELECT action, status FROM steep.apply_log WHERE address = 'subscription.west_sw' AND action = 'switchover.release'",
    );
    expect(log).toEqual([{ action: 'switchover.release', status: 'completed' }]);
  }, 240_000);
});

/** One write as `role` past the fence's read-only default; the SQLSTATE it failed with, or null when it committed. */
async function bypassWrite(
  node: TestNode,
  role: { user: string; password: string },
  how: 'pgoptions' | 'begin-read-write',
  sql: string,
): Promise<string | null> {
  let c: pg.Client | undefined;
  try {
    c = await roleClient(
      node,
      role,
      how === 'pgoptions' ? '-c default_transaction_read_only=off' : undefined,
    );
    if (how === 'begin-read-write') await c.query('BEGIN READ WRITE');
    await c.query(sql);
    if (how === 'begin-read-write') await c.query('COMMIT');
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? 'connection';
  } finally {
    await c?.end().catch(() => {});
  }
}

describe('steep switchover of asynchronous commits (18 → 18)', () => {
  it('loses no asynchronously committed row, holds the fence against bypasses, and the printed rollback goes back without key collisions', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const AS = { user: 'as_app', password: 'as-app-secret-3' };
    // a role that writes only by SET ROLE as_app (no privilege of its own, none inherited)
    const SNEAKY = { user: 'as_sneaky', password: 'as-sneaky-secret-4' };
    const SUB_AS = 'west_as';
    const REV = `steep_reverse_${SUB_AS}`;
    const AS_TABLES = ['as_orders', 'as_owned'];
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${AS.user} LOGIN PASSWORD '${AS.password}'`);
      await n.query(`CREATE ROLE ${SNEAKY.user} LOGIN PASSWORD '${SNEAKY.password}'`);
      await n.query(`GRANT ${AS.user} TO ${SNEAKY.user} WITH INHERIT FALSE, SET TRUE`);
      await n.query(
        'CREATE TABLE public.as_orders (id bigserial PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0)',
      );
      await n.query('CREATE SEQUENCE public.as_tickets');
      // a table the application role owns: privileges cannot fence an owner
      await n.query('CREATE TABLE public.as_owned (id bigserial PRIMARY KEY, v text NOT NULL)');
      await n.query(`ALTER TABLE public.as_owned OWNER TO ${AS.user}`);
      await n.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON public.as_orders TO ${AS.user}`);
      await n.query(`GRANT USAGE ON SEQUENCE public.as_orders_id_seq, public.as_tickets TO ${AS.user}`);
    }
    await east.query('INSERT INTO public.as_orders (v) SELECT md5(g::text) FROM generate_series(1, 2000) g');
    const asPath = writeConfig(
      [
        'version: 1',
        'topology: switchover-async',
        nodesYaml([east, west]),
        'publications:',
        '  as_pub:',
        '    node: east',
        '    tables: [public.as_orders, public.as_owned]',
        'subscriptions:',
        `  ${SUB_AS}:`,
        '    node: west',
        '    from: east',
        '    publications: [as_pub]',
        // east subscribes to west already (the case above's way back)
        '    options:',
        '      origin: none',
        '',
      ].join('\n'),
    );
    try {
      const applied = await steep(['apply', '--auto-approve'], asPath);
      expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
      await waitCaughtUp(east, SUB_AS);

      // lag over --max-lag at preflight: steep waits for it to drop (up to --lag-timeout), and
      // refuses, changing nothing, only when it does not
      const holder = await west.client();
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE public.as_orders IN ACCESS EXCLUSIVE MODE');
      await east.query(
        "INSERT INTO public.as_orders (v) SELECT repeat('x', 200) FROM generate_series(1, 3000)",
      );
      // west's apply worker blocked on the lock, and the slot 400 kB behind: until the worker
      // blocks, the slot may confirm positions east's walsender reads inside those rows' WAL (a
      // worker with no commit left to flush confirms what it received), so more rows after it
      await eventually(
        async () => {
          const blocked = await west.query(
            "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND a.backend_type LIKE 'logical replication%worker'",
          );
          if (blocked.length === 0) return false;
          const [slot] = await east.query<{ lag: string }>(
            "SELECT (pg_current_wal_insert_lsn() - confirmed_flush_lsn)::bigint::text AS lag FROM pg_replication_slots WHERE slot_name = 'west_as'",
          );
          if (Number(slot?.lag) > 400_000) return true;
          await east.query(
            "INSERT INTO public.as_orders (v) SELECT repeat('x', 200) FROM generate_series(1, 1000)",
          );
          return false;
        },
        HANG_MS,
        'the lag to build up behind the lock',
      );
      const refused = await steep(['switchover', SUB_AS, '--dry-run', '--lag-timeout', '1s'], asPath);
      expect(refused.code, refused.stdout).toBe(1);
      expect(refused.stderr).toMatch(
        /subscription west_as lagged more than --max-lag 200\.0 kB behind east throughout --lag-timeout 1s \(\d+(\.\d)? kB at the least\)/,
      );
      // no wait is silent: a longer one says what it waits for at most 10 s apart
      const longer = await steep(
        ['switchover', SUB_AS, '--dry-run', '--lag-timeout', '12s', '--log-format', 'json'],
        asPath,
      );
      expect(longer.code, longer.stdout).toBe(1);
      const said = longer.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { timestamp: string; event: string; message: string })
        .filter((e) => e.event === 'switchover.lag_wait' || e.event === 'switchover.waiting');
      const at = said.map((e) => Date.parse(e.timestamp));
      const gaps = at.slice(1).map((t, i) => (t - at[i]!) / 1000);
      expect(said.length, longer.stderr).toBeGreaterThanOrEqual(3);
      expect(Math.max(...gaps)).toBeLessThanOrEqual(10);
      expect(said[1]!.message).toMatch(
        /^waiting for slot west_as's lag to drop under --max-lag 204800 bytes: \d+ bytes now \(\d+ s of at most 12 s, --lag-timeout\)$/,
      );
      console.log(`switchover lag wait: ${said.length} messages, gaps ${gaps.join(', ')} s`);
      // behind the blocked apply, east's walsender times out and lets the slot go: the wait covers
      // the worker coming back, and the slot's state is read again when it ends
      await east.query("ALTER SYSTEM SET wal_sender_timeout = '1s'");
      await east.query('SELECT pg_reload_conf()');
      await eventually(
        async () =>
          (await east.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'west_as' AND NOT active"))
            .length === 1,
        HANG_MS,
        "east's walsender to time out behind the blocked apply",
      );
      await east.query('ALTER SYSTEM RESET wal_sender_timeout');
      await east.query('SELECT pg_reload_conf()');
      const waiting = startSteep(
        ['switchover', SUB_AS, '--dry-run', '--lag-timeout', '30s', '--log-format', 'json', '-c', asPath],
        passwordEnv(cluster().nodes),
      );
      await waiting.when((e) => e.event === 'switchover.lag_wait');
      await holder.query('ROLLBACK');
      await holder.end();
      const waited = await waiting.exited;
      expect(waited.code, waited.stderr).toBe(0);
      expect(waited.stdout).toContain('dry run: nothing changed');
      expect(await fenceSetting(east, AS.user)).toBeNull();

      // the application commits asynchronously, and east's WAL writer flushes only every 10 s:
      // a commit the application saw succeed can lie past the WAL write position for seconds
      await east.query(`ALTER ROLE ${AS.user} SET synchronous_commit = off`);
      await east.query("ALTER SYSTEM SET wal_writer_delay = '10s'");
      await east.query('SELECT pg_reload_conf()');

      const writer = startAppWriter(east, AS, { table: 'public.as_orders', sequence: 'public.as_tickets' });
      const sneaky = startAppWriter(east, SNEAKY, {
        table: 'public.as_orders',
        sequence: 'public.as_tickets',
        setRole: AS.user,
      });
      let report!: {
        outcome: string;
        roles: string[];
        unsent?: { changes: number; transactions: number };
        fenceLsn: string;
        blackoutMs: number;
        expectedBlackoutMs: number;
        rollback: Array<{ node: string | null; sql: string | null; command?: string | null; why: string }>;
      };
      try {
        await eventually(async () => writer.committed() > 200, HANG_MS, 'the writer to commit');
        // a transaction under way at the fence, committed (asynchronously) during the grace,
        // once the switchover said what it waits for (no wait is silent)
        const late = await roleClient(east, AS);
        await late.query('BEGIN');
        await late.query("INSERT INTO public.as_orders (v) VALUES ('committed during the grace')");
        // the lag counts WAL the WAL writer has not flushed yet: up to 10 s of writes here
        const running = startSteep(
          [
            'switchover',
            SUB_AS,
            '--reverse',
            '--grace',
            '60s',
            '--max-lag',
            '16MB',
            '--json',
            '--log-format',
            'json',
            '-c',
            asPath,
          ],
          passwordEnv(cluster().nodes),
        );
        const said = await running.when((e) => e.event === 'switchover.waiting' && e.step === 'fence');
        expect(said.message).toMatch(
          new RegExp(
            `^waiting for \\d+ session\\(s\\) of ${AS.user}, ${SNEAKY.user} on east to end the transaction each had open at the fence \\(\\d+ s of at most 60 s, --grace; then every one is ended\\)$`,
          ),
        );
        expect(await fenceSetting(east, AS.user)).not.toBeNull();
        await late.query('COMMIT');
        await late.end().catch(() => {});
        const done = await running.exited;
        expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
        report = JSON.parse(done.stdout);
        expect(report.outcome).toBe('released');
        expect(report.roles).toEqual([AS.user, SNEAKY.user]);
        // the release's proof: no change committed after the fence was left in the slot
        expect(report.unsent).toEqual({ changes: 0, transactions: 0 });
        await eventually(async () => writer.lastError() !== null, HANG_MS, 'the writer to be fenced');
        await eventually(
          async () => sneaky.lastError() !== null,
          HANG_MS,
          'the SET ROLE writer to be fenced',
        );
        expect(sneaky.committed(), 'the SET ROLE writer committed').toBeGreaterThan(0);
      } finally {
        await writer.stop();
        await sneaky.stop();
      }
      // 0 rows lost: every row east committed (asynchronously) is on west
      const [eastRows, westRows] = [
        await tableDigest(east, 'as_orders'),
        await tableDigest(west, 'as_orders'),
      ];
      expect(westRows.count, `rows lost: ${eastRows.count - westRows.count}`).toBe(eastRows.count);
      expect(await digests(west, AS_TABLES)).toEqual(await digests(east, AS_TABLES));
      // and the fence LSN lies past every transaction west applied from east
      const [origin] = await west.query<{ ok: boolean; lsn: string }>(
        "SELECT pg_replication_origin_progress('pg_' || oid, true) <= $2::pg_lsn AS ok, pg_replication_origin_progress('pg_' || oid, true)::text AS lsn FROM pg_subscription WHERE subname = $1",
        [SUB_AS, report.fenceLsn],
      );
      expect(origin!.ok, `west applied up to ${origin!.lsn}, past the fence LSN ${report.fenceLsn}`).toBe(
        true,
      );

      // the file the report tells you to write plans clean, and drift is green
      expect(renderSwitchoverText(report as unknown as SwitchoverReport)).toContain(
        `steep.yaml still declares ${SUB_AS}: set \`enabled: false\` on it`,
      );
      const advised = writeConfig(
        readFileSync(asPath, 'utf8').replace(
          '    publications: [as_pub]\n',
          '    publications: [as_pub]\n    enabled: false\n',
        ),
      );
      const replanned = await steep(['plan'], advised);
      expect(replanned.code, `${replanned.stdout}\n${replanned.stderr}`).toBe(0);
      expect(replanned.stdout).not.toMatch(/would be replaced|[~+-] subscription/);
      const drift = await steep(['drift'], advised);
      expect(drift.code, `${drift.stdout}\n${drift.stderr}`).toBe(0);

      // the fence holds against a session that turns the read-only default off, as the owner too
      const before = await digests(east, AS_TABLES);
      for (const how of ['pgoptions', 'begin-read-write'] as const) {
        expect(
          await bypassWrite(east, AS, how, "INSERT INTO public.as_orders (v) VALUES ('bypass')"),
          how,
        ).not.toBeNull();
        expect(
          await bypassWrite(east, AS, how, "INSERT INTO public.as_owned (v) VALUES ('bypass')"),
          how,
        ).not.toBeNull();
      }
      expect(await digests(east, AS_TABLES)).toEqual(before);

      // the way back applies on east, whose flushes (what it acknowledges) need no 10 s wait now
      await east.query('ALTER SYSTEM RESET wal_writer_delay');
      await east.query('SELECT pg_reload_conf()');
      // west is the primary: the application writes there, and it comes back to east
      for (let i = 0; i < 50; i++) await west.query(`INSERT INTO public.as_orders (v) VALUES ('west ${i}')`);
      await waitCaughtUp(west, `${REV}_a172cedc`);

      // the printed rollback, run as printed
      await followRollback(report, { east, west }, steep, asPath);
      expect(await digests(east, AS_TABLES)).toEqual(await digests(west, AS_TABLES));
      // nothing of the way back is left to retain WAL on west
      expect(
        await west.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`${REV}_a172cedc`]),
      ).toEqual([]);
      expect(await east.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [REV])).toEqual([]);
      // after the rollback the role writes on east again, past everything west handed out
      const c = await roleClient(east, AS);
      try {
        for (let i = 0; i < 1100; i++)
          await c.query(`INSERT INTO public.as_orders (v) VALUES ('east again ${i}')`);
        await c.query("INSERT INTO public.as_owned (v) VALUES ('east again')");
      } finally {
        await c.end();
      }
      // and west is fenced now, bypasses included
      for (const how of ['pgoptions', 'begin-read-write'] as const)
        expect(
          await bypassWrite(west, AS, how, "INSERT INTO public.as_orders (v) VALUES ('bypass')"),
          how,
        ).not.toBeNull();
    } finally {
      await east.query('ALTER SYSTEM RESET wal_writer_delay');
      await east.query('SELECT pg_reload_conf()');
    }
  }, 300_000);
});

/** The session of steep's on `node` waiting for a lock, running a statement that contains `sql`. */
async function steepWaits(node: TestNode, sql: string): Promise<boolean> {
  const rows = await node.query(
    "SELECT 1 FROM pg_stat_activity WHERE application_name = 'steep switchover' AND wait_event_type = 'Lock' AND strpos(query, $1) > 0",
    [sql],
  );
  return rows.length > 0;
}

/** A superuser's session on `node` whose triggers do not fire (session_replication_role = replica): the data fence lets it through. */
async function bypassingClient(node: TestNode): Promise<pg.Client> {
  const c = await node.client();
  await c.query('SET session_replication_role = replica');
  return c;
}

/** A session on `node` in a transaction holding subscription `sub`'s lock (COMMENT takes it): an ALTER SUBSCRIPTION waits for it. */
async function holdSubscription(node: TestNode, sub: string): Promise<pg.Client> {
  const c = await node.client();
  await c.query('BEGIN');
  await c.query(`COMMENT ON SUBSCRIPTION ${sub} IS 'held by the test'`);
  return c;
}

describe('steep switchover with a writer the fence cannot stop (18 → 18)', () => {
  /** Table `t` published by east to west's subscription `sub`, applied; the config's path. */
  async function setUp(east: TestNode, west: TestNode, t: string, sub: string): Promise<string> {
    for (const n of [east, west]) {
      await n.query(`CREATE TABLE public.${t} (id bigint PRIMARY KEY, v text NOT NULL)`);
      // the application's role, which the fence stops
      await n.query(`CREATE ROLE ${t}_app LOGIN PASSWORD '${t}-app-secret-5'`);
      await n.query(`GRANT SELECT, INSERT ON public.${t} TO ${t}_app`);
    }
    const file = writeConfig(
      [
        'version: 1',
        `topology: switchover-${t.replace('_', '-')}`,
        nodesYaml([east, west]),
        // the test holds the subscription's lock while it arranges what the release finds
        'settings:',
        '  lockTimeout: 60s',
        'publications:',
        `  ${t}_pub:`,
        '    node: east',
        `    tables: [public.${t}]`,
        'subscriptions:',
        `  ${sub}:`,
        '    node: west',
        '    from: east',
        `    publications: [${t}_pub]`,
        '',
      ].join('\n'),
    );
    const applied = await steep(['apply', '--auto-approve'], file);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await waitCaughtUp(east, sub);
    return file;
  }

  /** Ids 1..100 committed on east, each logged once its COMMIT returned. */
  async function write100(east: TestNode, t: string): Promise<number[]> {
    const acknowledged: number[] = [];
    for (let id = 1; id <= 100; id++) {
      await east.query(`INSERT INTO public.${t} (id, v) VALUES ($1, $2)`, [id, `su ${id}`]);
      acknowledged.push(id);
    }
    return acknowledged;
  }

  const idsOn = async (node: TestNode, t: string) =>
    new Set((await node.query<{ id: string }>(`SELECT id FROM public.${t}`)).map((r) => Number(r.id)));

  /** The kept slot's advice as printed, followed: ENABLE on west, until east's slot is caught up, DISABLE. False when not printed. */
  async function followEnableAdvice(
    east: TestNode,
    west: TestNode,
    sub: string,
    stderr: string,
  ): Promise<boolean> {
    const enable = new RegExp(`ALTER SUBSCRIPTION ("${sub}") ENABLE on west`).exec(stderr);
    if (!enable) return false;
    await west.query(`ALTER SUBSCRIPTION ${enable[1]} ENABLE`);
    await waitCaughtUp(east, sub);
    await west.query(`ALTER SUBSCRIPTION ${enable[1]} DISABLE`);
    return true;
  }

  it('keeps the slot and says how many changes it holds, and its advice, as printed, delivers every one', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const SUB_LB = 'west_lb';
    const lbPath = await setUp(east, west, 'lb_items', SUB_LB);

    // a superuser (steep's own role here) writes on east throughout, its session's triggers
    // turned off (session_replication_role = replica, a superuser's privilege): no fence stops
    // it; every id whose COMMIT returned is logged
    const acknowledged: number[] = [];
    let writing = true;
    const su = await bypassingClient(east);
    const writes = (async () => {
      for (let id = 1; writing; id++) {
        await su.query('INSERT INTO public.lb_items (id, v) VALUES ($1, $2)', [id, `su ${id}`]);
        acknowledged.push(id);
      }
    })();
    let done!: Awaited<ReturnType<typeof steep>>;
    // the release's DISABLE waits for the subscription's lock, held here until west's apply is
    // stopped: what the writer commits from then on west never confirms, and the release finds it
    const heldSub = await holdSubscription(west, SUB_LB);
    let heldApply: pg.Client | undefined;
    try {
      await eventually(async () => acknowledged.length > 1000, HANG_MS, 'the superuser to write');
      const running = steep(['switchover', SUB_LB, '--grace', '1s', '--json'], lbPath);
      await eventually(async () => steepWaits(west, 'DISABLE'), HANG_MS, 'the release to wait to DISABLE');
      // west's apply stops at its next insert into lb_items (granted once its transaction in flight ends)
      heldApply = await west.client();
      await heldApply.query('BEGIN');
      await heldApply.query('LOCK TABLE public.lb_items IN SHARE MODE');
      const stopped = acknowledged.length;
      await eventually(
        async () => acknowledged.length > stopped + 10,
        HANG_MS,
        'commits west does not apply',
      );
      await heldSub.query('ROLLBACK');
      await eventually(
        async () =>
          (await west.query(`SELECT 1 FROM pg_subscription WHERE subname = '${SUB_LB}' AND NOT subenabled`))
            .length === 1,
        HANG_MS,
        'the DISABLE',
      );
      // the apply worker, free again, sees the DISABLE at its next change and stops
      await heldApply.query('ROLLBACK');
      done = await running;
      // it goes on writing after the release too
      const mark = acknowledged.length;
      await eventually(async () => acknowledged.length > mark + 200, HANG_MS, 'writes after the release');
    } finally {
      writing = false;
      await writes;
      await su.end();
      await heldSub.end().catch(() => {});
      await heldApply?.end().catch(() => {});
    }
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(1);
    const report = JSON.parse(done.stdout) as SwitchoverReport;
    expect(report.outcome).toBe('released');
    expect(report.slotKept).toBe(true);
    const unsent = report.unsent as { changes: number; transactions: number };
    expect(unsent.changes).toBeGreaterThan(0);
    expect(unsent.transactions).toBe(unsent.changes);
    expect(done.stderr).toContain(
      `slot ${SUB_LB} on east holds ${unsent.changes} row change(s) in ${unsent.transactions} transaction(s) committed after the fence that west never received`,
    );
    // and what wrote them, as far as the WAL tells: local sessions, into lb_items
    expect(done.stderr).toContain(
      `(${unsent.changes} in ${unsent.transactions} transaction(s) to public.lb_items by local sessions (no replication origin;`,
    );
    // not done: the text's first and last sentences say so, as the exit code does
    const rendered = renderSwitchoverText(report);
    expect(rendered).not.toContain('done: writes move');
    expect(rendered.split('\n')[0]).toMatch(/^Switchover of west_lb NOT done: /);
    expect(rendered.split('\n').at(-1)).toMatch(/^Not done: follow the advice above/);
    // before the advice: the ids missing on west are at least what the slot held at the release
    const before = await idsOn(west, 'lb_items');
    const missingBefore = acknowledged.filter((id) => !before.has(id));
    expect(missingBefore.length).toBeGreaterThan(0);
    const [slot] = await east.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [SUB_LB]);
    expect(slot, 'the slot is kept').toBeDefined();

    // the advice as printed: the writer stopped above; ENABLE delivers exactly them, then DISABLE
    expect(await followEnableAdvice(east, west, SUB_LB, done.stderr), done.stderr).toBe(true);
    const after = await idsOn(west, 'lb_items');
    const lost = acknowledged.filter((id) => !after.has(id));
    expect(lost, `acknowledged ${acknowledged.length}, lost ${lost.length}`).toEqual([]);
    expect(await digests(west, ['lb_items'])).toEqual(await digests(east, ['lb_items']));
  }, 180_000);

  it('a change committed after the release looked into the slot, before it dropped it, is counted and kept, not dropped with the slot', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const SUB_LD = 'west_ld';
    const ldPath = await setUp(east, west, 'ld_items', SUB_LD);
    const acknowledged = await write100(east, 'ld_items');
    // a superuser's transaction, its triggers off, begun once the fence stands (the fence waits
    // for every transaction writing the table), committed where the test says
    const late = await bypassingClient(east);
    // the DISABLE waits for the subscription's lock held here; a second holder queued behind it
    // gets the lock when the DISABLE commits, so the release's next ALTER SUBSCRIPTION (slot_name =
    // NONE, before the drop) waits for it
    const first = await holdSubscription(west, SUB_LD);
    const second = await west.client();
    let done!: Awaited<ReturnType<typeof steep>>;
    try {
      const running = steep(['switchover', SUB_LD, '--grace', '1s', '--json'], ldPath);
      await eventually(async () => steepWaits(west, 'DISABLE'), HANG_MS, 'the release to wait to DISABLE');
      await late.query('BEGIN');
      await late.query("INSERT INTO public.ld_items (id, v) VALUES (101, 'committed before the drop')");
      await second.query('BEGIN');
      const pid = (await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const queued = second.query(`COMMENT ON SUBSCRIPTION ${SUB_LD} IS 'held by the test'`);
      await eventually(
        async () =>
          (
            await west.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'", [
              pid,
            ])
          ).length === 1,
        HANG_MS,
        'the second holder to queue',
      );
      await first.query('ROLLBACK');
      await queued;
      await eventually(
        async () => steepWaits(west, 'slot_name = NONE'),
        HANG_MS,
        'the release to wait before the drop',
      );
      await late.query('COMMIT');
      acknowledged.push(101);
      await second.query('ROLLBACK');
      done = await running;
    } finally {
      await late.end().catch(() => {});
      await first.end().catch(() => {});
      await second.end().catch(() => {});
    }
    const report = JSON.parse(done.stdout) as SwitchoverReport;
    expect(report.outcome).toBe('released');
    // id 101's COMMIT returned while the slot existed: west has it, or steep counts it, keeps the
    // slot and its advice, as printed, delivers it
    const followed = report.slotKept === true && (await followEnableAdvice(east, west, SUB_LD, done.stderr));
    const after = await idsOn(west, 'ld_items');
    const lost = acknowledged.filter((id) => !after.has(id));
    expect(lost, `${done.stdout}\n${done.stderr}`).toEqual([]);
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(1);
    expect(report.slotKept).toBe(true);
    expect(report.unsent).toMatchObject({ changes: 1, transactions: 1 });
    expect(followed, done.stderr).toBe(true);
    expect(await digests(west, ['ld_items'])).toEqual(await digests(east, ['ld_items']));
  }, 180_000);

  it('a change committed after the fence that west applied before the DISABLE leaves no change in the slot: dropped, with its copy, nothing lost', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const SUB_LN = 'west_ln';
    const lnPath = await setUp(east, west, 'ln_items', SUB_LN);
    const acknowledged = await write100(east, 'ln_items');
    // the DISABLE waits while a superuser commits on east and west applies it
    const held = await holdSubscription(west, SUB_LN);
    let done!: Awaited<ReturnType<typeof steep>>;
    try {
      const running = steep(['switchover', SUB_LN, '--grace', '1s', '--json'], lnPath);
      await eventually(async () => steepWaits(west, 'DISABLE'), HANG_MS, 'the release to wait to DISABLE');
      const su = await bypassingClient(east);
      await su.query("INSERT INTO public.ln_items (id, v) VALUES (101, 'after the fence')");
      await su.end();
      acknowledged.push(101);
      await eventually(
        async () => (await west.query('SELECT 1 FROM public.ln_items WHERE id = 101')).length === 1,
        HANG_MS,
        'id 101 on west',
      );
      await held.query('ROLLBACK');
      done = await running;
    } finally {
      await held.end().catch(() => {});
    }
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    const report = JSON.parse(done.stdout) as SwitchoverReport;
    expect(report.unsent).toEqual({ changes: 0, transactions: 0 });
    expect(report.slotKept).toBe(false);
    // the slot and the release's copy of it are gone; every acknowledged id is on west
    expect(
      await east.query(
        "SELECT slot_name FROM pg_replication_slots WHERE slot_name = $1 OR slot_name LIKE 'steep\\_release\\_%'",
        [SUB_LN],
      ),
    ).toEqual([]);
    const after = await idsOn(west, 'ln_items');
    expect(acknowledged.filter((id) => !after.has(id))).toEqual([]);
    expect(await digests(west, ['ln_items'])).toEqual(await digests(east, ['ln_items']));
  }, 180_000);
});
describe('steep switchover without --reverse, rolled back as printed (18 → 18)', () => {
  it('the rollback fences the new primary, counts the rows that stay there, and no later plan keeps a gap quietly', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const SUB_RB = 'west_rb';
    const RB = { user: 'rb_app', password: 'rb-app-secret-6' };
    for (const n of [east, west]) {
      await n.query('CREATE TABLE public.rb_orders (id bigserial PRIMARY KEY, v text NOT NULL)');
      await n.query(`CREATE ROLE ${RB.user} LOGIN PASSWORD '${RB.password}'`);
      await n.query(`GRANT SELECT, INSERT ON public.rb_orders TO ${RB.user}`);
      await n.query(`GRANT USAGE ON SEQUENCE public.rb_orders_id_seq TO ${RB.user}`);
    }
    const file = [
      'version: 1',
      'topology: switchover-rollback',
      nodesYaml([east, west]),
      'publications:',
      '  rb_pub:',
      '    node: east',
      '    tables: [public.rb_orders]',
      'subscriptions:',
      `  ${SUB_RB}:`,
      '    node: west',
      '    from: east',
      '    publications: [rb_pub]',
      '',
    ].join('\n');
    const rbPath = writeConfig(file);
    const applied = await steep(['apply', '--auto-approve'], rbPath);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await waitCaughtUp(east, SUB_RB);

    const nodes = { east, west };
    let primary = 'east';
    const app = startIdWriter(nodes, RB, 'public.rb_orders', () => primary);
    // a client the application forgot: it stays on the new primary whatever the rollback says
    let stale: IdWriter | undefined;
    let report!: SwitchoverReport;
    try {
      await eventually(
        async () => (app.acknowledged().get('east')?.length ?? 0) > 100,
        HANG_MS,
        'writes on east',
      );
      const done = await steep(['switchover', SUB_RB, '--grace', '1s', '--json'], rbPath);
      expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
      report = JSON.parse(done.stdout) as SwitchoverReport;
      expect(report.outcome).toBe('released');
      primary = 'west';
      stale = startIdWriter(nodes, RB, 'public.rb_orders', () => 'west');
      await eventually(
        async () => (app.acknowledged().get('west')?.length ?? 0) > 100,
        HANG_MS,
        'writes on west',
      );

      // the rollback, exactly as the report prints it
      let counted: string | null = null;
      for (const r of report.rollback) {
        if (r.command) {
          const ran = await steep(r.command.replace(/^steep /, '').split(' '), rbPath);
          expect([0, 2], `${r.command}\n${ran.stdout}\n${ran.stderr}`).toContain(ran.code);
          if (r.command.startsWith('steep verify')) counted = ran.stdout;
        } else if (r.sql && r.node) await nodes[r.node as 'east' | 'west'].query(r.sql);
        else if (/point the application back/.test(r.why)) primary = 'east';
      }
      expect(primary).toBe('east');
      // the new primary is fenced: the forgotten client is refused there
      await eventually(
        async () => stale!.lastError() !== null,
        HANG_MS,
        'the stale client to be refused on west',
      );
      await eventually(
        async () => (app.acknowledged().get('east')?.length ?? 0) > 200,
        HANG_MS,
        'writes on east again',
      );

      // what stays on west is what the rollback said, counted by acknowledged ids; east's taken
      // before its rows are read, the writer going on there meanwhile
      const ackedEast = [...(app.acknowledged().get('east') ?? [])];
      const onEast = new Set(
        (await east.query<{ id: string }>('SELECT id FROM public.rb_orders')).map((r) => Number(r.id)),
      );
      const stayed = [
        ...(app.acknowledged().get('west') ?? []),
        ...(stale.acknowledged().get('west') ?? []),
      ].filter((id) => !onEast.has(id));
      expect(stayed.length).toBeGreaterThan(0);
      // the rollback counts what stays on west, and prints no repair that would delete it: those
      // rows may be the only copy (model/advice.ts), so the read-only count and a copy by hand
      expect(counted).toContain(`extra ${stayed.length},`);
      expect(counted).toContain(
        "so rows only west holds may be the only copy: steep suggests no repair that replaces west's rows with east's",
      );
      expect(counted).not.toMatch(/steep reinit|--repair/);
      const lostOnEast = ackedEast.filter((id) => !onEast.has(id));
      expect(lostOnEast).toEqual([]);
    } finally {
      await app.stop();
      await stale?.stop();
    }

    // the file as before the switchover: the subscription enabled again on a dropped slot; a plan
    // that kept west's rows would leave a gap: it is refused, and (issue 65) it never advises the
    // truncate that would delete the rows only west holds
    const plan = await steep(['plan'], rbPath);
    expect(plan.code, `${plan.stdout}\n${plan.stderr}`).not.toBe(0);
    expect(plan.stdout + plan.stderr).toMatch(/rows only west holds may be the only copy/);
    expect(plan.stdout + plan.stderr).not.toMatch(/or keep|existingData: truncate/);
  }, 240_000);
});
