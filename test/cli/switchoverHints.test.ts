import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { otherDatabase, useCluster } from '../support/cluster.js';
import { createOwnedTables, MANAGED_PASSWORD, oneWayYaml } from '../support/managedRoles.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * Issue 51, item 4: every hint `steep switchover` prints is followed here, literally, and what
 * worked before still works. steep runs as `steep_runner`, a managed service's kind of role (no
 * superuser: CREATEROLE, REPLICATION, pg_create_subscription, pg_signal_backend, CREATE on the
 * database), reading the application's tables as a member of their owner `shopapp`; postgres
 * plays the cloud's admin, who runs the hints. PostgreSQL 18 (16+: membership options).
 */
const SUB = 'orders_sub';
// the way back's slot as steep names it for database app (planner/switchover/switchoverChecks.ts reverseSlotName)
const REVERSE = `steep_reverse_${SUB}_a172cedc`;

describe('switchover hints, followed as printed', () => {
  const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });
  const east = () => cluster().node('east');
  const west = () => cluster().node('west');
  const steep = steepWith({ env: () => ({ ROLE_PGPASSWORD: MANAGED_PASSWORD }), timeoutMs: 120_000 });
  const file = () =>
    writeConfig(
      oneWayYaml('steep_runner', [east(), west()], SUB, ['orders'], ['    init: { method: snapshot }']),
    );

  let ready: string | null = null;
  /** The roles on both nodes, orders owned by shopapp, and orders_sub applied and caught up as steep_runner. */
  async function once(): Promise<string> {
    if (ready) return ready;
    for (const n of [east(), west()]) {
      await n.query(`CREATE ROLE shopapp LOGIN PASSWORD '${MANAGED_PASSWORD}'`);
      await n.query(
        `CREATE ROLE steep_runner LOGIN NOSUPERUSER CREATEROLE REPLICATION PASSWORD '${MANAGED_PASSWORD}'`,
      );
      await n.query('GRANT pg_signal_backend, pg_create_subscription TO steep_runner');
      await n.query('GRANT CREATE ON DATABASE app TO steep_runner');
      // the runner reads and writes the application's tables as a member of their owner (INHERIT, SET)
      await n.query('GRANT shopapp TO steep_runner');
      await createOwnedTables(n, [['orders', 'shopapp']]);
    }
    await east().query(`INSERT INTO public.orders SELECT g, md5(g::text) FROM generate_series(1, 3000) g`);
    const path = file();
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    await waitCaughtUp(east(), SUB);
    ready = path;
    return path;
  }

  it("the ADMIN OPTION hint adds to the runner's membership and keeps INHERIT and SET: verify works after it as before, and the dry run passes", async () => {
    const path = await once();
    const before = await steep(['verify', SUB], path);
    expect(before.code, before.stdout + before.stderr).toBe(0);

    const dry = await steep(['switchover', SUB, '--dry-run'], path);
    expect(dry.code).toBe(1);
    const out = dry.stdout + dry.stderr;
    expect(out).toContain('may not alter role shopapp, which the fence makes read-only');
    expect(out).toContain(
      'run GRANT "shopapp" TO "steep_runner" WITH ADMIN OPTION; on east as the role\'s creator or the cloud admin role (steep_runner is a member of shopapp already: this adds ADMIN OPTION and keeps its INHERIT and SET)',
    );
    expect(out).not.toContain('INHERIT FALSE');
    await east().query('GRANT "shopapp" TO "steep_runner" WITH ADMIN OPTION;');
    // one membership, its INHERIT and SET as they were, ADMIN OPTION added
    const held = await east().query<{ admin: boolean; inherit: boolean; set: boolean }>(
      `SELECT admin_option AS admin, inherit_option AS inherit, set_option AS set FROM pg_auth_members
        WHERE roleid = 'shopapp'::regrole AND member = 'steep_runner'::regrole`,
    );
    expect(held).toEqual([{ admin: true, inherit: true, set: true }]);

    const after = await steep(['verify', SUB], path);
    expect(after.code, after.stdout + after.stderr).toBe(0);
    const ok = await steep(['switchover', SUB, '--dry-run'], path);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain(
      'ALTER ROLE "shopapp" IN DATABASE "app" SET default_transaction_read_only = on',
    );
  });

  it("a runner without REPLICATION on the new primary is named as such (not pg_hba or network): the ALTER ROLE printed, run there, lets the way back's probe connect", async () => {
    const path = await once();
    await west().query('ALTER ROLE steep_runner NOREPLICATION');
    const dry = await steep(['switchover', SUB, '--dry-run', '--reverse'], path);
    expect(dry.code).toBe(1);
    const out = dry.stdout + dry.stderr;
    expect(out).toContain(
      'role steep_runner on west lacks the REPLICATION attribute a subscriber\'s connection needs: run ALTER ROLE "steep_runner" REPLICATION; on west as a superuser or the cloud admin role',
    );
    expect(out).not.toContain('pg_hba.conf, network, password');
    await west().query('ALTER ROLE "steep_runner" REPLICATION;');
    const ok = await steep(['switchover', SUB, '--dry-run', '--reverse'], path);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  });

  it('needs no pg_signal_backend when the runner inherits the application role, which lets it end its sessions (the switchover below runs so)', async () => {
    const path = await once();
    // a cloud admin may not grant pg_signal_backend; a member of shopapp WITH INHERIT may
    // terminate shopapp's sessions, as pg_terminate_backend allows
    await east().query('REVOKE pg_signal_backend FROM steep_runner');
    const dry = await steep(['switchover', SUB, '--dry-run'], path);
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    expect(dry.stdout).toContain(
      'CREATE TRIGGER "steep_fence_orders_sub" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.orders',
    );
    // (without the membership's INHERIT the runner could not read orders either; the refusal
    // naming both GRANTs is planner/switchover.test's)
  });

  it('disabled by PostgreSQL at a conflict (disableOnError), which steep apply leaves so: the refusal names its cause and the ENABLE; followed as printed, the dry run passes', async () => {
    // (after the ADMIN OPTION hint of the first case, as the dry runs of the cases before)
    const path = await once();
    const enabled = async () =>
      (
        await west().query<{ on: boolean }>(
          'SELECT subenabled AS on FROM pg_subscription WHERE subname = $1',
          [SUB],
        )
      )[0]!.on;
    const withOption = writeConfig(
      oneWayYaml(
        'steep_runner',
        [east(), west()],
        SUB,
        ['orders'],
        ['    init: { method: snapshot }', '    options: { disableOnError: true }'],
      ),
    );
    try {
      const set = await steep(['apply', '--auto-approve'], withOption);
      expect(set.code, set.stdout + set.stderr).toBe(0);
      // a row in the way on west: east's insert of the same key stops apply, PostgreSQL disables it
      await west().query(`INSERT INTO public.orders (id, v) VALUES (-1, 'in the way')`);
      await east().query(`INSERT INTO public.orders (id, v) VALUES (-1, 'from east')`);
      await eventually(async () => !(await enabled()), HANG_MS, 'PostgreSQL to disable it at the conflict');
      // what the refusal used to advise: steep apply, which leaves it disabled
      await steep(['apply', '--auto-approve'], withOption);
      expect(await enabled()).toBe(false);

      const dry = await steep(['switchover', SUB, '--dry-run', '--reverse'], withOption);
      expect(dry.code).toBe(1);
      const out = dry.stdout + dry.stderr;
      expect(out).toContain(
        `subscription ${SUB} on west is disabled by PostgreSQL after an error (disable_on_error; errors apply and sync 1 counted since the statistics were reset): ` +
          `its message is in the server log of west ("logical replication subscription "${SUB}" has been disabled due to an error" and the error before it); ` +
          `fix its cause, then run ALTER SUBSCRIPTION "${SUB}" ENABLE on west`,
      );
      expect(out).not.toContain('enable it (steep apply)');
      // its cause (the server log's error before it): the row in the way; then the ENABLE as printed
      await west().query('DELETE FROM public.orders WHERE id = -1');
      const enable = /then run (ALTER SUBSCRIPTION "\w+" ENABLE) on west/.exec(out)![1]!;
      await west().query(enable);
      await waitCaughtUp(east(), SUB);
      const ok = await steep(['switchover', SUB, '--dry-run', '--reverse'], withOption);
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    } finally {
      // the file the other cases use: disable_on_error off again
      await west().query('DELETE FROM public.orders WHERE id = -1');
      await east().query('DELETE FROM public.orders WHERE id = -1');
      if (!(await enabled())) await west().query(`ALTER SUBSCRIPTION ${SUB} ENABLE`);
      const back = await steep(['apply', '--auto-approve'], path);
      expect(back.code, back.stdout + back.stderr).toBe(0);
      await waitCaughtUp(east(), SUB);
    }
  });

  it("the way back's slot name taken by another database of the new primary's server is never named for dropping; switched over without --reverse as it says, the switchover is released and that slot is untouched", async () => {
    const path = await once();
    await west().query('CREATE DATABASE shop2');
    const shop2 = otherDatabase(west(), 'shop2');
    await shop2.query(`SELECT pg_catalog.pg_create_logical_replication_slot('${REVERSE}', 'pgoutput')`);
    try {
      const dry = await steep(['switchover', SUB, '--dry-run', '--reverse'], path);
      expect(dry.code).toBe(1);
      const out = dry.stdout + dry.stderr;
      expect(out).toContain(`slot ${REVERSE} on west belongs to database shop2, not app`);
      expect(out).toContain('switch over without --reverse');
      expect(out).not.toContain('pg_drop_replication_slot');

      // a session of the application, which the runner ends as a member of shopapp (no pg_signal_backend)
      const app = new pg.Client({
        host: '127.0.0.1',
        port: east().port,
        database: 'app',
        user: 'shopapp',
        password: MANAGED_PASSWORD,
      });
      app.on('error', () => {});
      await app.connect();
      const done = await steep(['switchover', SUB, '--grace', '1s', '--json'], path);
      await app.end().catch(() => {});
      expect(done.code, done.stdout + done.stderr).toBe(0);
      expect(JSON.parse(done.stdout).outcome).toBe('released');
      expect(done.stderr).toMatch(
        /shopapp read-only and without login on east, 1 session\(s\) ended, 1 table\(s\) fenced/,
      );
      await eventually(
        async () =>
          JSON.stringify(await digests(east(), ['orders'])) ===
          JSON.stringify(await digests(west(), ['orders'])),
        HANG_MS,
        'both sides equal',
      );
      const [slot] = await west().query<{ database: string }>(
        'SELECT database::text AS database FROM pg_replication_slots WHERE slot_name = $1',
        [REVERSE],
      );
      expect(slot?.database).toBe('shop2');
    } finally {
      await shop2.query(`SELECT pg_catalog.pg_drop_replication_slot('${REVERSE}')`);
    }
  });
});
