import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';
import {
  createManagedRoles,
  createOwnedTables,
  MANAGED_PASSWORD,
  MANAGED_PASSWORD_ENV,
  nodesAs,
  oneWayYaml,
} from '../support/managedRoles.js';
import {
  createTables,
  digests,
  fastCopy,
  fillTables,
  slowCopy,
  startWriter,
  WRITE_PAUSE_MS,
  waitCaughtUp,
  writesGoOn,
} from '../support/replicationData.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * The rest of issue 36's role matrix (managedRoles.test.ts has the others): `sequences sync`,
 * `observe`, `import` and `init cancel` run as the managed `admin` and the `narrow` role
 * (test/support/managedRoles.ts). Each cell works — sequences and rows equal on both
 * sides, the re-plan empty — or is refused before anything changes, naming the GRANT (or the
 * role to run as). On 16+, `replicationPassfile` for admin's subscription is refused in plan (the
 * server wants a password from a non-superuser owner), and a password rotated as narrow (who may
 * not read the subscription's connection) is a connection plan sets again. And a member of a role named rds_superuser is let create subscriptions before
 * 16, as Amazon RDS does, with a warning saying so; anyone else is still refused. On 18 by
 * default; STEEP_TEST_PG=14 or 16 runs the others.
 */
const versions = process.env.STEEP_TEST_PG ? testVersions() : ([18] as const);

describe.each([...versions])('the managed roles matrix on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const east = () => cluster().node('east');
  const west = () => cluster().node('west');
  const both = () => [east(), west()];
  const steep = steepWith({ env: () => MANAGED_PASSWORD_ENV, timeoutMs: 120_000 });
  const pg16 = version >= 16;

  function file(role: string, topology: string, body: string[]): string {
    return writeConfig(
      ['version: 1', `topology: ${topology}`, nodesAs(role, both()), ...body, ''].join('\n'),
    );
  }

  /** publication `sub`_pub of `tables` on east, and (`withSubscription`) subscription `sub` on west. */
  function oneWay(
    role: string,
    sub: string,
    tables: string[],
    withSubscription: boolean,
    extra: string[] = [],
  ) {
    return writeConfig(oneWayYaml(role, [east(), west()], sub, tables, withSubscription ? extra : null));
  }

  let ready = false;
  async function once(): Promise<void> {
    if (ready) return;
    for (const n of both()) await createManagedRoles(n);
    for (const n of both()) {
      await n.query('CREATE ROLE app_owner NOLOGIN');
      // the serial's sequence follows its table to the new owner
      await createOwnedTables(
        n,
        [
          ['ma_items', 'admin'],
          ['mn_items', 'narrow'],
        ],
        'bigserial',
      );
      // a standalone sequence in the tables' schema, the cloud superuser's
      await n.query('CREATE SEQUENCE public.z_tickets');
    }
    ready = true;
  }

  async function lastValue(n: TestNode, seq: string): Promise<string | null> {
    const [r] = await n.query<{ v: string | null }>(
      `SELECT CASE WHEN is_called THEN last_value::text END AS v FROM ${seq}`,
    );
    return r!.v;
  }

  /** Inserts through the defaults and nextval on east until stopped. */
  function sequenceWriter(table: string): { stop: () => Promise<void> } {
    let running = true;
    const done = (async () => {
      const c = await east().client();
      try {
        while (running) {
          await c.query(`INSERT INTO public.${table} (v) VALUES ('w')`);
          await c.query(`SELECT nextval('public.z_tickets')`);
          await new Promise((r) => setTimeout(r, WRITE_PAUSE_MS));
        }
      } finally {
        await c.end();
      }
    })();
    done.catch(() => {});
    return {
      stop: async () => {
        running = false;
        await done;
      },
    };
  }

  it('cloud admin roles before 16: a member of rds_superuser plans its subscription with a warning naming the membership; admin, a member of none, is refused', async () => {
    await once();
    const path = oneWay('cloud', 'cloud_sub', ['ma_items'], true);
    for (const n of both()) {
      await n.query('CREATE ROLE rds_superuser NOLOGIN');
      await n.query(
        `CREATE ROLE cloud LOGIN REPLICATION PASSWORD '${MANAGED_PASSWORD}' IN ROLE rds_superuser`,
      );
      await n.query('GRANT CREATE ON DATABASE app TO cloud');
      await n.query('GRANT pg_read_all_data TO cloud');
    }
    await east().query('ALTER TABLE public.ma_items OWNER TO cloud');
    try {
      const plan = await steep(['plan'], path);
      expect(plan.stderr).not.toContain('CREATE SUBSCRIPTION needs a superuser');
      const note =
        'west: role cloud is a member of rds_superuser, which Amazon RDS lets create subscriptions before PostgreSQL 16';
      if (pg16) {
        // 16+: the membership changes nothing, pg_create_subscription is what counts
        expect(plan.code).toBe(1);
        expect(plan.stderr).toContain('GRANT pg_create_subscription TO "cloud"');
        expect(plan.stdout + plan.stderr).not.toContain(note);
      } else {
        expect(plan.code, plan.stdout + plan.stderr).toBe(0);
        expect(plan.stdout + plan.stderr).toContain(note);
      }
      // not applied: vanilla PostgreSQL would refuse the subscription the service lets through;
      // the table goes back to admin, who may publish only what it owns
      await east().query('ALTER TABLE public.ma_items OWNER TO admin');
      const refused = await steep(['plan'], oneWay('admin', 'cloud_sub', ['ma_items'], true));
      if (pg16) expect(refused.code, refused.stderr).toBe(0);
      else {
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain(
          'west: CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16, and role admin is not one',
        );
        expect(refused.stdout + refused.stderr).not.toContain('rds_superuser');
      }
    } finally {
      await east().query('ALTER TABLE public.ma_items OWNER TO admin');
      for (const n of both()) {
        await n.query('DROP OWNED BY cloud');
        await n.query('DROP ROLE cloud');
        await n.query('DROP ROLE rds_superuser');
      }
    }
  });

  it('replicationPassfile with a subscription owned by admin (16+: PostgreSQL requires a password in its connection): plan refuses naming why and what to write instead, nothing created', async () => {
    await once();
    if (!pg16) return; // before 16 admin may not create the subscription at all
    const text = oneWayYaml('admin', [east(), west()], 'pf_sub', ['ma_items'], []).replace(
      /(\n {2}east:\n(?: {4}.*\n)*?)( {4}password:)/,
      '$1    replicationPassfile: /etc/steep/east.pgpass\n$2',
    );
    expect(text).toContain('replicationPassfile');
    const path = writeConfig(text);
    const plan = await steep(['plan'], path);
    expect(plan.code, plan.stdout + plan.stderr).toBe(1);
    expect(plan.stderr).toContain(
      'west: subscription pf_sub would read its password for east from replicationPassfile, and PostgreSQL 16+ refuses a connection without a password for a subscription owned by role admin, who is not a superuser',
    );
    const apply = await steep(['apply', '--auto-approve'], path);
    expect(apply.code).toBe(1);
    expect(await east().query(`SELECT 1 FROM pg_publication WHERE pubname = 'pf_sub_pub'`)).toEqual([]);
    expect(apply.stdout + apply.stderr).not.toContain(MANAGED_PASSWORD);
  });

  it("a rotated password as narrow (who may not read the subscription's connection): plan shows the CONNECTION to set, masked; applied, rows flow again", async () => {
    await once();
    if (!pg16) return; // before 16 narrow may not create the subscription
    const rotated = 'rotated-Marker6t';
    for (const n of both()) await n.query('GRANT CREATE ON DATABASE app TO narrow');
    const path = oneWay('narrow', 'rot_sub', ['mn_items'], true);
    try {
      const applied = await steep(['apply', '--auto-approve'], path);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      await waitCaughtUp(east(), 'rot_sub');
      for (const n of both()) await n.query(`ALTER ROLE narrow PASSWORD '${rotated}'`);
      const withRotated = { ROLE_PGPASSWORD: rotated };
      const plan = await steep(['plan', '--detailed-exitcode'], path, withRotated);
      expect(plan.code, plan.stdout + plan.stderr).toBe(2);
      expect(plan.stdout).toContain('subscription.rot_sub (west) update');
      expect(plan.stdout).toMatch(/CONNECTION '[^']*password=\*\*\*\*/);
      // narrow may not set log_min_error_statement: a failed ALTER would be logged with the password
      expect(plan.stdout).toContain(
        'west: if ALTER SUBSCRIPTION … CONNECTION of subscription rot_sub fails, west\'s server logs the statement with the password for east (log_min_error_statement), and role narrow may not set log_min_error_statement to keep it out; run GRANT SET ON PARAMETER log_min_error_statement TO "narrow"; on west as a superuser, and steep keeps it out',
      );
      const drift = await steep(['drift'], path, withRotated);
      expect(drift.code, drift.stdout + drift.stderr).toBe(2);
      const fixed = await steep(['apply', '--auto-approve'], path, withRotated);
      expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
      for (const r of [plan, drift, fixed])
        for (const secret of [rotated, MANAGED_PASSWORD]) expect(r.stdout + r.stderr).not.toContain(secret);
      await east().query(
        `INSERT INTO public.mn_items (v) SELECT 'after rotation' FROM generate_series(1, 20)`,
      );
      await waitCaughtUp(east(), 'rot_sub');
      expect(await digests(west(), ['mn_items'])).toEqual(await digests(east(), ['mn_items']));
      const replan = await steep(['plan', '--detailed-exitcode'], path, withRotated);
      expect(replan.code, replan.stdout).toBe(0);
    } finally {
      for (const n of both()) await n.query(`ALTER ROLE narrow PASSWORD '${MANAGED_PASSWORD}'`);
      await west().query('ALTER SUBSCRIPTION rot_sub DISABLE');
      await west().query('ALTER SUBSCRIPTION rot_sub SET (slot_name = NONE)');
      await west().query('DROP SUBSCRIPTION rot_sub');
      // the walsender of the disabled subscription may still hold the slot for a moment
      await eventually(
        async () =>
          (await east().query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'rot_sub' AND active`))
            .length === 0,
        HANG_MS,
        'slot rot_sub released',
      );
      await east().query(`SELECT pg_drop_replication_slot('rot_sub')`);
      await east().query('DROP PUBLICATION rot_sub_pub');
      for (const n of both()) {
        await n.query('REVOKE CREATE ON DATABASE app FROM narrow');
        // the state schema narrow made here: the later cells expect admin's
        const [owner] = await n.query<{ o: string }>(
          `SELECT nspowner::regrole::text AS o FROM pg_namespace WHERE nspname = 'steep'`,
        );
        if (owner?.o === 'narrow') await n.query('DROP SCHEMA steep CASCADE');
      }
    }
  });

  it('observe works read-only as admin and as narrow: plan --observed gives the live plan', async () => {
    await once();
    for (const role of ['admin', 'narrow']) {
      const path = oneWay(role, `obs_${role}`, [`${role === 'admin' ? 'ma' : 'mn'}_items`], true);
      const capture = join(path, '..', 'observed.json');
      const observed = await steep(['observe', '--out', capture], path);
      expect(observed.code, observed.stderr).toBe(0);
      const live = await steep(['plan', '--json'], path);
      const offline = await steepWith({ timeoutMs: 120_000 })(
        ['plan', '--json', '--observed', capture],
        path,
      );
      expect(offline.code, `${role}: ${offline.stderr}`).toBe(live.code);
      const steps = (r: { stdout: string }) =>
        JSON.parse(r.stdout).steps.map((s: { address: string }) => s.address);
      expect(steps(offline)).toEqual(steps(live));
    }
    for (const n of both()) {
      const [r] = await n.query<{ n: number }>(
        `SELECT (SELECT count(*) FROM pg_publication) + (SELECT count(*) FROM pg_subscription) AS n`,
      );
      expect(Number(r!.n), 'observe changed nothing').toBe(0);
    }
  });

  it('sequences sync as admin: its serial and the standalone sequence reach the publisher under writes, exactly once writes stop', async () => {
    await once();
    const withSub = oneWay('admin', 'ma_sub', ['ma_items'], true);
    await east().query(`INSERT INTO public.ma_items (v) SELECT 'x' FROM generate_series(1, 2000)`);
    await east().query(`SELECT nextval('public.z_tickets') FROM generate_series(1, 70)`);
    // 14/15: admin may not create the subscription; the sync reads the publication the file declares
    const applied = await steep(
      ['apply', '--auto-approve'],
      pg16 ? withSub : oneWay('admin', 'ma_sub', ['ma_items'], false),
    );
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const writer = sequenceWriter('ma_items');
    let during: Awaited<ReturnType<typeof steep>>;
    try {
      during = await steep(['sequences', 'sync', 'ma_sub', '--json'], withSub);
    } finally {
      await writer.stop();
    }
    expect(during.code, during.stderr).toBe(0);
    const exact = await steep(['sequences', 'sync', 'ma_sub'], withSub);
    expect(exact.code, exact.stderr).toBe(0);
    for (const s of ['public.ma_items_id_seq', 'public.z_tickets'])
      expect(await lastValue(west(), s), s).toBe(await lastValue(east(), s));
    expect(Number(await lastValue(west(), 'public.ma_items_id_seq'))).toBeGreaterThan(2000);
    if (pg16) {
      await waitCaughtUp(east(), 'ma_sub');
      expect(await digests(west(), ['ma_items'])).toEqual(await digests(east(), ['ma_items']));
      const replan = await steep(['plan', '--detailed-exitcode'], withSub);
      expect(replan.code, replan.stdout).toBe(0);
    }
  });

  it('sequences sync as narrow: a sequence it may not read or set is refused naming the GRANT on each node, nothing set; granted, it syncs', async () => {
    await once();
    // narrow may not create publications (no CREATE on the database): the cloud superuser made it
    await east().query('CREATE PUBLICATION mn_sub_pub FOR TABLE public.mn_items');
    const path = oneWay('narrow', 'mn_sub', ['mn_items'], true);
    await east().query(`INSERT INTO public.mn_items (v) SELECT 'x' FROM generate_series(1, 300)`);
    const before = await lastValue(west(), 'public.mn_items_id_seq');
    const westGrant = 'GRANT SELECT, UPDATE ON SEQUENCE "public"."z_tickets" TO "narrow";';
    const refused = await steep(['sequences', 'sync', 'mn_sub'], path);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'east: role narrow may not read sequence public.z_tickets, which the sequences sync of subscription mn_sub reads there; run GRANT SELECT ON SEQUENCE "public"."z_tickets" TO "narrow"; on east',
    );
    expect(refused.stderr).toContain(
      `west: role narrow may not read and set (setval) sequence public.z_tickets, which the sequences sync of subscription mn_sub sets there; run ${westGrant} on west`,
    );
    expect(await lastValue(west(), 'public.mn_items_id_seq')).toBe(before);

    // the publisher's grant alone: its own sequence would be set, then the standalone one fail
    await east().query('GRANT SELECT ON SEQUENCE "public"."z_tickets" TO "narrow";');
    const half = await steep(['sequences', 'sync', 'mn_sub'], path);
    expect(half.code).toBe(1);
    expect(half.stderr).toContain(westGrant);
    expect(half.stderr).not.toContain('east: role narrow');
    expect(await lastValue(west(), 'public.mn_items_id_seq'), 'nothing set').toBe(before);

    await west().query(westGrant);
    const writer = sequenceWriter('mn_items');
    try {
      const during = await steep(['sequences', 'sync', 'mn_sub'], path);
      expect(during.code, during.stderr).toBe(0);
    } finally {
      await writer.stop();
    }
    const exact = await steep(['sequences', 'sync', 'mn_sub'], path);
    expect(exact.code, exact.stderr).toBe(0);
    for (const s of ['public.mn_items_id_seq', 'public.z_tickets'])
      expect(await lastValue(west(), s), s).toBe(await lastValue(east(), s));
    await east().query('DROP PUBLICATION mn_sub_pub');
  });

  it('import as admin of a superuser-made publication and subscription: the plan names the owner change (before 16: run as the owner), nothing changed; done, it adopts under writes, re-plan empty; init cancel of it is refused, rows kept', async () => {
    await once();
    const e = east();
    await createTables(both(), [{ name: 'im_items', rows: 0 }]);
    for (const n of both()) await n.query('ALTER TABLE public.im_items OWNER TO admin');
    await fillTables(e, [{ name: 'im_items', rows: 3000 }]);
    await e.query('CREATE PUBLICATION im_pub FOR TABLE public.im_items');
    await west().query(
      `CREATE SUBSCRIPTION im_sub CONNECTION 'host=127.0.0.1 port=${e.port} dbname=app user=postgres password=${e.password}' PUBLICATION im_pub`,
    );
    await eventually(
      async () =>
        (await west().query(`SELECT 1 FROM pg_subscription_rel WHERE srsubstate <> 'r'`)).length === 0 &&
        (await west().query('SELECT 1 FROM pg_subscription_rel')).length > 0,
      HANG_MS,
      'the hand-made subscription to be ready',
    );
    const nodesFile = file('admin', 'matrix-import', []);
    const out = join(nodesFile, '..', 'steep.imported.yaml');
    const imported = await steep(['import', '--out', out], nodesFile);
    expect(imported.code, imported.stderr).toBe(0);

    const plan = await steep(['plan'], out);
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain(
      'east: role admin does not own publication im_pub (its owner is postgres), and only its owner or a superuser may alter, adopt or drop it; run ALTER PUBLICATION "im_pub" OWNER TO "admin" on east',
    );
    expect(plan.stderr).toContain(
      'west: role admin does not own subscription im_sub (its owner is postgres), and only its owner or a superuser may alter, adopt or drop it; ' +
        (pg16
          ? 'run ALTER SUBSCRIPTION "im_sub" OWNER TO "admin" on west'
          : 'before PostgreSQL 16 the owner of a subscription must be a superuser: run steep as postgres or a superuser on west'),
    );
    const refused = await steep(['apply', '--auto-approve'], out);
    expect(refused.code).toBe(1);
    // narrow: the same, with the CREATE on the database a publication's or subscription's owner needs first
    const narrowNodes = file('narrow', 'matrix-import', []);
    const narrowOut = join(narrowNodes, '..', 'steep.imported.yaml');
    const narrowImport = await steep(['import', '--out', narrowOut], narrowNodes);
    expect(narrowImport.code, narrowImport.stderr).toBe(0);
    const narrowPlan = await steep(['plan'], narrowOut);
    expect(narrowPlan.code).toBe(1);
    expect(narrowPlan.stderr).toContain(
      'run GRANT CREATE ON DATABASE "app" TO "narrow"; ALTER PUBLICATION "im_pub" OWNER TO "narrow" on east',
    );
    const [comment] = await e.query<{ c: string | null }>(
      `SELECT obj_description(oid, 'pg_publication') AS c FROM pg_publication WHERE pubname = 'im_pub'`,
    );
    expect(comment!.c, 'not adopted').toBeNull();
    if (!pg16) {
      await e.query('DROP PUBLICATION im_pub');
      return; // the subscription stays the superuser's: steep runs as postgres there
    }

    await e.query('ALTER PUBLICATION "im_pub" OWNER TO "admin"');
    await west().query('ALTER SUBSCRIPTION "im_sub" OWNER TO "admin"');
    const writer = startWriter(e, ['im_items']);
    try {
      const adopted = await steep(['apply', '--auto-approve'], out);
      expect(adopted.code, adopted.stdout + adopted.stderr).toBe(0);
      const replan = await steep(['plan', '--detailed-exitcode'], out);
      expect(replan.code, replan.stdout + replan.stderr).toBe(0);
      // adopted and streaming: there is no init to cancel, and nothing is wiped
      const cancel = await steep(['init', 'cancel', 'im_sub'], out);
      expect(cancel.code).toBe(1);
      expect(cancel.stderr).toContain('there is no init to cancel');
      // writes after the refusal, streamed as before
      await writesGoOn(writer);
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(e, 'im_sub');
    const sides = await digests(west(), ['im_items']);
    expect(sides).toEqual(await digests(e, ['im_items']));
    expect(sides.im_items!.count).toBeGreaterThan(2000);
  });

  it('init cancel as admin of a copy under way: a table it may not truncate is refused naming the GRANT before anything is dropped; granted, nothing is left (subscription, slots, origin, rows)', async () => {
    await once();
    if (!pg16) return; // 14/15: admin may not create the subscription (managedRoles.test.ts)
    const tables = [
      { name: 'cx_slow', rows: 60_000 },
      { name: 'cx_ext', rows: 3_000 },
    ];
    await createTables(both(), tables);
    for (const n of both()) await n.query('ALTER TABLE public.cx_slow OWNER TO admin');
    await east().query('ALTER TABLE public.cx_ext OWNER TO admin');
    // the application's table on the subscriber: admin writes it through pg_write_all_data, which gives no TRUNCATE
    await west().query('ALTER TABLE public.cx_ext OWNER TO app_owner');
    await fillTables(east(), tables);
    await slowCopy(west(), 'cx_slow', 1000, 100);
    const path = oneWay(
      'admin',
      'cx_sub',
      tables.map((t) => t.name),
      true,
      ['    options: { runAsOwner: true }'],
    );
    try {
      const applied = await steep(['apply', '--auto-approve', '--no-wait'], path);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      await eventually(
        async () =>
          (await west().query<{ n: string }>('SELECT count(*)::text AS n FROM public.cx_slow'))[0]!.n !== '0',
        HANG_MS,
        'the copy to be under way',
      );
      const subAndSlot = async () => [
        (await west().query(`SELECT 1 FROM pg_subscription WHERE subname = 'cx_sub'`)).length,
        (await east().query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'cx_sub'`)).length,
      ];
      const refused = await steep(['init', 'cancel', 'cx_sub'], path);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        'west: role admin may not truncate public.cx_ext, which init cancel empties (what the copy filled); run GRANT TRUNCATE ON "public"."cx_ext" TO "admin"; on west',
      );
      expect(await subAndSlot(), 'nothing dropped').toEqual([1, 1]);
      // narrow may not drop admin's subscription: refused, naming whom to run it as
      const narrowCancel = await steep(
        ['init', 'cancel', 'cx_sub'],
        oneWay('narrow', 'cx_sub', ['cx_slow', 'cx_ext'], true),
      );
      expect(narrowCancel.code).toBe(1);
      expect(narrowCancel.stderr).toContain(
        "west: role narrow may not use steep's state schema steep (its owner is admin), where init cancel reads and records the init of cx_sub; run steep init cancel cx_sub as admin or a superuser; nothing was changed",
      );
      expect(await subAndSlot(), 'nothing dropped').toEqual([1, 1]);

      const [sub] = await west().query<{ oid: string }>(
        `SELECT oid::text AS oid FROM pg_subscription WHERE subname = 'cx_sub'`,
      );
      await west().query('GRANT TRUNCATE ON "public"."cx_ext" TO "admin";');
      const cancelled = await steep(['init', 'cancel', 'cx_sub'], path);
      expect(cancelled.code, cancelled.stdout + cancelled.stderr).toBe(0);
      expect(cancelled.stdout).toMatch(/Init of cx_sub cancelled \(was copying\)/);
      expect(await subAndSlot()).toEqual([0, 0]);
      expect(
        await east().query(`SELECT 1 FROM pg_replication_slots WHERE slot_name ~ '^pg_\\d+_sync_'`),
      ).toEqual([]);
      expect(
        await west().query('SELECT roname FROM pg_replication_origin WHERE roname = $1 OR roname LIKE $2', [
          `pg_${sub!.oid}`,
          `pg_${sub!.oid}_%`,
        ]),
      ).toEqual([]);
      expect(await digests(west(), ['cx_slow', 'cx_ext'])).toEqual({
        cx_slow: { count: 0, sum: '0' },
        cx_ext: { count: 0, sum: '0' },
      });
      const status = await steep(['init', 'status', 'cx_sub', '--json'], path);
      expect(JSON.parse(status.stdout)[0]).toMatchObject({ state: 'uninitialized' });
    } finally {
      await fastCopy(west(), 'cx_slow');
    }
    // the plan copies it again from the start; done, both sides equal
    const again = await steep(['apply', '--auto-approve'], path);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    await waitCaughtUp(east(), 'cx_sub');
    expect(await digests(west(), ['cx_slow', 'cx_ext'])).toEqual(
      await digests(east(), ['cx_slow', 'cx_ext']),
    );
    const replan = await steep(['plan', '--detailed-exitcode'], path);
    expect(replan.code, replan.stdout).toBe(0);
  });
});
