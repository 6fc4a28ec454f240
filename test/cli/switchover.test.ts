import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type AppWriter, startAppWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep switchover` on a PostgreSQL 18 pair, east (the old primary) → west (the new one), with
 * an application role writing on east throughout: --dry-run changes nothing; a table that
 * differs, a role that cannot be fenced and a subscriber killed during the drain each leave east
 * writable again and replication going; then the switchover with --reverse: 0 rows lost, the
 * writer's next write fails as read-only, sequences ahead of every used value, a write on west
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
  await eventually(async () => writer.since(mark) >= 5, 20_000, 'the writer to commit on east again');
  markers += 1;
  const id = 800_000_000 + markers;
  await east.query(`INSERT INTO public.sw_items (id, v) VALUES (${id}, 'marker')`);
  await eventually(
    async () => (await west.query(`SELECT 1 FROM public.sw_items WHERE id = ${id}`)).length === 1,
    30_000,
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
      await eventually(async () => writer.committed() > 20, 20_000, 'the writer to start');

      // --dry-run: the steps with their SQL, the expected blackout; nothing changes
      const dry = await steep(['switchover', SUB, '--dry-run', '--reverse']);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toContain(
        `ALTER ROLE "${APP.user}" IN DATABASE "app" SET default_transaction_read_only = on`,
      );
      expect(dry.stdout).toMatch(
        /CREATE SUBSCRIPTION "steep_reverse_west_sw" CONNECTION '.*password=\*\*\*\*.*' PUBLICATION "steep_reverse_west_sw" WITH \(copy_data = false, origin = none, create_slot = false, slot_name = 'steep_reverse_west_sw'\)/,
      );
      expect(dry.stdout).toContain(
        "SELECT pg_catalog.pg_create_logical_replication_slot('steep_reverse_west_sw', 'pgoutput')",
      );
      expect(dry.stdout).toMatch(/Expected write blackout: \d+\.\d\d s/);
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
        /east cannot subscribe to west for the way back \(.*\): let east reach west/,
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
      await eventually(async () => (await fenceSetting(east)) !== null, 30_000, 'the fence');
      await new Promise((r) => setTimeout(r, 1500));
      await west.restart('immediate');
      await holder.end().catch(() => {});
      const k = await killed;
      expect(k.code, k.stdout).toBe(1);
      expect(k.stderr).toContain('(the fence was undone)');
      expect(k.stdout).toMatch(/drain\s+failed/);
      await writableAndReplicating(east, west, writer);

      // the switchover itself
      const before = writer.committed();
      const done = await steep(['switchover', SUB, '--reverse', '--grace', '2s', '--json']);
      expect(done.code, done.stderr).toBe(0);
      const report = JSON.parse(done.stdout);
      expect(report.outcome).toBe('released');
      expect(report.roles).toEqual([APP.user, 'zz_batch']);
      expect(report.fenceUndone).toBe(false);
      expect(report.fenceLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(report.blackoutMs).toBeGreaterThan(0);
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
      expect(writer.since(before)).toBeGreaterThan(0);
      // the writer's next write on east fails as read-only
      await eventually(async () => writer.lastError() === '25006', 10_000, 'a read-only error on east');
      const stoppedAt = writer.committed();
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
      20_000,
      'a write on west to arrive on east',
    );
    await waitCaughtUp(west, 'steep_reverse_west_sw');
    expect(await digests(east, TABLES)).toEqual(await digests(west, TABLES));

    // every step in west's apply_log
    const log = await west.query<{ action: string; status: string }>(
      "SELECT action, status FROM steep.apply_log WHERE address = 'subscription.west_sw' AND action = 'switchover.release'",
    );
    expect(log).toEqual([{ action: 'switchover.release', status: 'completed' }]);
  }, 240_000);
});
