import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { testVersions, useCluster } from '../support/cluster.js';
import {
  createManagedRoles,
  createOwnedTables,
  expectNarrowRefused,
  MANAGED_PASSWORD,
  nodesAs,
  oneWayYaml,
} from '../support/managedRoles.js';
import { digests, startWriter, waitCaughtUp, whileWriting, writesGoOn } from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * The role matrix of issue 36: steep run as the least-privileged roles of a managed PostgreSQL
 * (RDS, Cloud SQL, Azure), never a superuser. `admin` is what a managed service gives its admin
 * (NOSUPERUSER CREATEDB CREATEROLE REPLICATION, pg_create_subscription, pg_monitor,
 * pg_signal_backend, pg_read_all_data, pg_write_all_data, CREATE on the database, owning its
 * tables); `narrow` only LOGIN REPLICATION, owning its tables, pg_create_subscription. Every cell
 * either works (both sides equal: counts and checksums) or is a plan error naming the GRANT
 * that fixes it, with nothing created. On 18 by default; STEEP_TEST_PG=14,16 runs the others.
 */
const versions = process.env.STEEP_TEST_PG ? testVersions() : ([18] as const);

const PASSWORD = MANAGED_PASSWORD;

describe.each([...versions])('least-privileged roles on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const east = () => cluster().node('east');
  const west = () => cluster().node('west');
  const steep = steepWith({ env: () => ({ ROLE_PGPASSWORD: PASSWORD }), timeoutMs: 120_000 });
  const pg16 = version >= 16;
  const pg15 = version >= 15;

  /** The admin role's link of public.a_own between east and west, merged preferring east. */
  function linkFile(): string {
    return writeConfig(
      [
        'version: 1',
        'topology: managed-link',
        nodes('admin'),
        'links:',
        '  a_link:',
        '    nodes: [east, west]',
        '    tables: [public.a_own]',
        '    init: { method: merge, strategy: "prefer:east" }',
        '',
      ].join('\n'),
    );
  }

  function nodes(role: string): string {
    return nodesAs(role, [east(), west()]);
  }

  function config(role: string, sub: string, tables: string[], init: string): string {
    return writeConfig(oneWayYaml(role, [east(), west()], sub, tables, [`    init: ${init}`]));
  }

  /** As postgres (the cloud's own superuser): the two roles, each owning its tables on both nodes. */
  async function setUp(): Promise<void> {
    for (const n of [east(), west()]) {
      await createManagedRoles(n);
      // an application role someone else created, which a switchover fences
      await n.query(`CREATE ROLE app_writer LOGIN PASSWORD '${PASSWORD}'`);
      await createOwnedTables(n, [
        ['a_parent', 'admin'],
        ['a_child', 'admin'],
        ['a_grand', 'admin'],
        ['a_cyc1', 'admin'],
        ['a_cyc2', 'admin'],
        ['a_own', 'admin'],
        ['a_man', 'admin'],
        ['n_items', 'narrow'],
      ]);
      await n.query('ALTER TABLE public.a_child ADD COLUMN parent bigint REFERENCES public.a_parent (id)');
      await n.query('ALTER TABLE public.a_grand ADD COLUMN child bigint REFERENCES public.a_child (id)');
      await n.query('ALTER TABLE public.a_cyc1 ADD COLUMN other bigint REFERENCES public.a_cyc2 (id)');
      await n.query('ALTER TABLE public.a_cyc2 ADD COLUMN other bigint REFERENCES public.a_cyc1 (id)');
      await n.query('GRANT INSERT, UPDATE, DELETE ON public.a_parent, public.a_child TO app_writer');
    }
    const e = east();
    // the parent the biggest, so a child copied beside it (not after it) ends first and finds parents missing
    await e.query(`INSERT INTO public.a_parent SELECT g, md5(g::text) FROM generate_series(1, 40000) g`);
    await e.query(
      `INSERT INTO public.a_child SELECT g, md5(g::text), 40000 - g % 3000 FROM generate_series(1, 5000) g`,
    );
    await e.query(
      `INSERT INTO public.a_grand SELECT g, md5(g::text), 0, 1 + g % 5000 FROM generate_series(1, 2000) g`,
    );
    await e.query(`INSERT INTO public.a_cyc1 SELECT g, md5(g::text) FROM generate_series(1, 1000) g`);
    await e.query(`INSERT INTO public.a_cyc2 SELECT g, md5(g::text), 0, g FROM generate_series(1, 1000) g`);
    await e.query('UPDATE public.a_cyc1 SET other = id');
    await e.query(`INSERT INTO public.a_own SELECT g, md5(g::text) FROM generate_series(1, 2000) g`);
    await e.query(`INSERT INTO public.n_items SELECT g, md5(g::text) FROM generate_series(1, 500) g`);
    await e.query('ANALYZE');
  }

  let ready = false;
  async function once(): Promise<void> {
    if (ready) return;
    await setUp();
    ready = true;
  }

  async function nothingCreated(): Promise<void> {
    for (const n of [east(), west()]) {
      const [r] = await n.query<{ pubs: number; subs: number; slots: number; origins: number }>(
        `SELECT (SELECT count(*)::int FROM pg_publication) AS pubs,
                (SELECT count(*)::int FROM pg_subscription) AS subs,
                (SELECT count(*)::int FROM pg_replication_slots) AS slots,
                (SELECT count(*)::int FROM pg_replication_origin) AS origins`,
      );
      expect(r, n.name).toEqual({ pubs: 0, subs: 0, slots: 0, origins: 0 });
    }
  }

  async function equal(tables: string[]): Promise<void> {
    const want = await digests(east(), tables);
    expect(await digests(west(), tables)).toEqual(want);
    for (const t of tables) expect(want[t]!.count).toBeGreaterThan(0);
  }

  it('narrow: validate works; plan is an error naming GRANT CREATE ON DATABASE, nothing created; a pre-created state schema is accepted', async () => {
    await once();
    const path = config('narrow', 'narrow_sub', ['n_items'], '{ method: snapshot }');
    const validate = await steep(['validate'], path);
    expect(validate.code, validate.stderr).toBe(0);

    const plan = await steep(['plan'], path);
    expect(plan.code).toBe(1);
    expectNarrowRefused(plan.stderr, version);
    // a table narrow does not own: only its owner (or a member of the owner role) may publish it
    const foreign = await steep(
      ['plan'],
      config('narrow', 'narrow_foreign', ['a_own'], '{ method: snapshot }'),
    );
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain(
      "east: role narrow does not own public.a_own (owner admin), and only a table's owner may publish it in publication narrow_foreign_pub; " +
        'run GRANT "admin" TO "narrow"; on east (a member of the owner role may), or run steep as admin',
    );
    // a member of pg_create_subscription is not told to join it: the database privilege is what it lacks
    expect(plan.stderr).not.toContain('GRANT pg_create_subscription');
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code).toBe(1);
    await nothingCreated();
    const [schema] = await east().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'steep'`,
    );
    expect(schema!.n).toBe(0);

    // the DBA creates the state schema for the role: steep uses it, without CREATE SCHEMA
    for (const n of [east(), west()]) await n.query('CREATE SCHEMA steep AUTHORIZATION narrow');
    const again = await steep(['plan'], path);
    expect(again.code).toBe(1);
    expect(again.stderr).not.toContain('state schema');
    expect(again.stderr).toContain('GRANT CREATE ON DATABASE "app" TO "narrow"');
    for (const n of [east(), west()]) await n.query('DROP SCHEMA steep');
  });

  it('admin: snapshot init (PostgreSQL copy) works under writes; drift, status --check, verify work', async () => {
    await once();
    const path = config('admin', 'admin_pg', ['a_own'], '{ method: snapshot }');
    const plan = await steep(['plan'], path);
    if (!pg16) {
      // 14/15: no grant lets a non-superuser create a subscription
      expect(plan.code).toBe(1);
      expect(plan.stderr).toContain(
        'west: CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16, and role admin is not one',
      );
      await nothingCreated();
      return;
    }
    expect(plan.code, plan.stderr).toBe(0);
    const writer = startWriter(east(), ['a_own']);
    let applied: Awaited<ReturnType<typeof steep>>;
    try {
      applied = await steep(['apply', '--auto-approve'], path);
      await writesGoOn(writer);
    } finally {
      await writer.stop();
      await west().query('GRANT pg_write_all_data TO admin');
    }
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await waitCaughtUp(east(), 'admin_pg');
    await equal(['a_own']);
    const [owner] = await east().query<{ owner: string }>(
      `SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = 'steep'`,
    );
    expect(owner!.owner).toBe('admin');

    // both only read the nodes: at once
    const [replan, drift] = await Promise.all([
      steep(['plan', '--detailed-exitcode'], path),
      steep(['drift'], path),
    ]);
    expect(replan.code, replan.stdout).toBe(0);
    expect(drift.code, drift.stdout + drift.stderr).toBe(0);
    const status = await steep(['status', '--check'], path);
    expect(status.code, status.stdout + status.stderr).toBe(0);
    const verify = await steep(['verify', 'admin_pg'], path);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it("admin, who may not set session_replication_role: steep's own copy loads parent → child → grandchild in foreign-key order under writes (the plan says so); a cycle of NOT DEFERRABLE foreign keys is a plan error naming them, nothing written; made DEFERRABLE as it says, the cycle loads in one transaction", async () => {
    await once();
    const cyc = config('admin', 'admin_cyc', ['a_cyc1', 'a_cyc2'], '{ method: snapshot, parallel: 2 }');
    const refused = await steep(['plan'], cyc);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      "west: role admin may not set session_replication_role, so steep's own copy loads the tables of subscription admin_cyc in foreign-key order, " +
        'and the NOT DEFERRABLE foreign keys a_cyc1_other_fkey (public.a_cyc1 → public.a_cyc2), a_cyc2_other_fkey (public.a_cyc2 → public.a_cyc1) form a cycle that no order loads: ' +
        (pg15
          ? 'run GRANT SET ON PARAMETER session_replication_role TO "admin"; on west, or leave init.parallel out so PostgreSQL copies'
          : 'leave init.parallel out so PostgreSQL copies (on PostgreSQL 14 only a superuser may set session_replication_role)') +
        ', or make one of them deferrable (ALTER TABLE "public"."a_cyc1" ALTER CONSTRAINT "a_cyc1_other_fkey" DEFERRABLE;)',
    );
    expect((await steep(['apply', '--auto-approve'], cyc)).code).toBe(1);

    const path = config(
      'admin',
      'admin_own',
      ['a_parent', 'a_child', 'a_grand'],
      '{ method: snapshot, parallel: 3 }',
    );
    const plan = await steep(['plan'], path);
    expect(plan.stderr).not.toContain('session_replication_role');
    if (!pg16) {
      // 14/15: no grant lets a non-superuser create a subscription (the plan's only error)
      expect(plan.code).toBe(1);
      expect(plan.stderr).toContain('west: CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16');
      await nothingCreated();
      return;
    }
    expect(plan.stdout).toContain(
      'loads in foreign-key order: role admin may not set session_replication_role',
    );
    expect(plan.code, plan.stderr).toBe(0);
    const [subs] = await west().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_subscription WHERE subname = 'admin_cyc'`,
    );
    expect(subs!.n).toBe(0);

    // a sequence in the tables' schema that admin may read but not set on west: the copy sets the
    // sequences at its end, so it is refused before anything is copied, naming the GRANT
    for (const n of [east(), west()]) await n.query('CREATE SEQUENCE public.a_own_seq');
    await east().query("SELECT setval('public.a_own_seq', 700)");
    await west().query('REVOKE pg_write_all_data FROM admin');
    const unset = await steep(['apply', '--auto-approve'], path);
    expect(unset.code, unset.stdout + unset.stderr).toBe(1);
    expect(unset.stderr).toContain(
      "west: role admin may not read and set (setval) sequence public.a_own_seq, which steep's copy sets there; " +
        'run GRANT UPDATE ON SEQUENCE "public"."a_own_seq" TO "admin"; on west (as the sequence\'s owner or a superuser); nothing was copied',
    );
    const none = { count: 0, sum: '0' };
    expect(await digests(west(), ['a_parent', 'a_child', 'a_grand'])).toEqual({
      a_parent: none,
      a_child: none,
      a_grand: none,
    });
    const [slots] = await east().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = 'admin_own'`,
    );
    expect(slots!.n, 'no slot made').toBe(0);
    // the hint followed, as printed; the apply below resumes the init
    await west().query('GRANT UPDATE ON SEQUENCE "public"."a_own_seq" TO "admin";');

    const writer = startWriter(east(), ['a_grand']);
    let applied: Awaited<ReturnType<typeof steep>>;
    // a child loaded beside its parent fails its foreign key and is retried: a rollback on west
    const rollbacks = async () =>
      (
        await west().query<{ n: number }>(
          `SELECT xact_rollback::int AS n FROM pg_stat_database WHERE datname = 'app'`,
        )
      )[0]!.n;
    const before = await rollbacks();
    try {
      applied = await steep(['apply', '--auto-approve'], path);
      await writesGoOn(writer);
    } finally {
      await writer.stop();
      await west().query('GRANT pg_write_all_data TO admin');
    }
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    expect(await rollbacks(), 'no chunk of the copy failed and was retried').toBe(before);
    await waitCaughtUp(east(), 'admin_own');
    await equal(['a_parent', 'a_child', 'a_grand']);
    const [seq] = await west().query<{ last: string }>(
      'SELECT last_value::text AS last FROM public.a_own_seq',
    );
    expect(seq!.last, "the copy set west's sequence to east's").toBe('700');
    const replan = await steep(['plan', '--detailed-exitcode'], path);
    expect(replan.code, replan.stdout).toBe(0);

    // the hint followed: one key of the cycle DEFERRABLE, both tables load in one transaction
    await west().query('ALTER TABLE "public"."a_cyc1" ALTER CONSTRAINT "a_cyc1_other_fkey" DEFERRABLE;');
    const deferred = await steep(['apply', '--auto-approve'], cyc);
    expect(deferred.code, `${deferred.stdout}\n${deferred.stderr}`).toBe(0);
    await waitCaughtUp(east(), 'admin_cyc');
    await equal(['a_cyc1', 'a_cyc2']);
  });

  it('admin: manual init is a plan error naming the origin_advance GRANT (nothing created on the subscriber); granted, it starts at the prepared LSN under writes', async () => {
    await once();
    if (!pg16) return; // 14/15 refuse the subscription in plan (above)
    const path = config('admin', 'admin_man', ['a_man'], '{ method: manual }');
    await east().query(`INSERT INTO public.a_man SELECT g, md5(g::text) FROM generate_series(1, 1500) g`);
    const first = await steep(['apply', '--auto-approve'], path); // the publication; the subscription waits for prepare
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const prepared = await steep(['init', 'prepare', 'admin_man'], path);
    expect(prepared.code, prepared.stdout + prepared.stderr).toBe(0);
    // the DBA's restore: the same rows, consistent at the slot's LSN (nothing was written since)
    await west().query(`INSERT INTO public.a_man SELECT g, md5(g::text) FROM generate_series(1, 1500) g`);
    const writer = startWriter(east(), ['a_man'], 30_000_000);
    try {
      const plan = await steep(['plan'], path);
      expect(plan.code).toBe(1);
      expect(plan.stderr).toContain(
        'west: role admin may not execute pg_replication_origin_advance, which the init of subscription admin_man calls; ' +
          'run GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_advance(text, pg_lsn) TO "admin"; on west',
      );
      const refused = await steep(['apply', '--auto-approve'], path);
      expect(refused.code).toBe(1);
      const [subs] = await west().query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_subscription WHERE subname = 'admin_man'`,
      );
      expect(subs!.n).toBe(0);

      await west().query(
        'GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_advance(text, pg_lsn) TO admin',
      );
      const applied = await steep(['apply', '--auto-approve'], path);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      await writesGoOn(writer);
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east(), 'admin_man');
    await equal(['a_man']);
  });

  it('admin: a link (merge init) is a plan error naming the origin GRANT on both nodes, nothing written', async () => {
    await once();
    const path = linkFile();
    const before = await digests(west(), ['a_own']);
    const plan = await steep(['plan'], path);
    expect(plan.code).toBe(1);
    if (!pg16) {
      // links need origin = none (16+): refused before any privilege matters
      expect(plan.stderr).toMatch(/link a_link: node east runs PostgreSQL 1[45]/);
      await nothingCreated();
      return;
    }
    for (const n of ['east', 'west'])
      expect(plan.stderr).toContain(
        `${n}: role admin may not execute pg_replication_origin_create, which the merge init`,
      );
    expect(plan.stderr).toContain(
      'GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_create(text) TO "admin";',
    );
    expect(plan.stderr).toContain(
      'GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_session_setup(text) TO "admin";',
    );
    expect(plan.stderr).toContain(
      'only a superuser, or a role holding EXECUTE WITH GRANT OPTION, may run it',
    );
    // the grants script runs whole as a cloud admin (ON_ERROR_STOP): the function grants, which
    // such a role may not give (permission denied), are comments naming who may
    const grants = await steep(['grants', '--json'], path);
    expect(grants.code, grants.stderr).toBe(0);
    for (const s of JSON.parse(grants.stdout).nodes as Array<{ node: string; lines: string[] }>) {
      expect(s.lines).toContain(
        '-- GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_create(text) TO "admin";',
      );
      const file = join(tempDir('steep-grants-'), `${s.node}.sql`);
      writeFileSync(file, `${s.lines.join('\n')}\n`);
      const port = (s.node === 'east' ? east() : west()).port;
      const run = spawnSync(
        'psql',
        ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, `postgres://admin@127.0.0.1:${port}/app`],
        { encoding: 'utf8', env: { ...process.env, PGPASSWORD: MANAGED_PASSWORD } },
      );
      expect(run.status, `${s.node}:\n${s.lines.join('\n')}\n${run.stderr}`).toBe(0);
    }
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code).toBe(1);
    expect(await digests(west(), ['a_own'])).toEqual(before);
    const [origins] = await west().query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_replication_origin',
    );
    const [subs] = await west().query<{ n: number }>('SELECT count(*)::int AS n FROM pg_subscription');
    // the snapshot cell's subscription(s) are the only ones, each with its own origin
    expect(origins!.n).toBe(subs!.n);
  });

  it('admin: switchover dry-run names the role it may not alter (16+: ADMIN OPTION) and its GRANT', async () => {
    await once();
    if (!pg16) return; // no subscription to switch over: 14/15 refuse it in plan (above)
    const path = config('admin', 'admin_pg', ['a_own'], '{ method: snapshot }');
    await west().query('GRANT INSERT, UPDATE, DELETE ON public.a_own TO app_writer');
    await east().query('GRANT INSERT, UPDATE, DELETE ON public.a_own TO app_writer');
    const dry = await steep(['switchover', 'admin_pg', '--dry-run'], path);
    if (pg16) {
      expect(dry.code).toBe(1);
      expect(dry.stdout + dry.stderr).toContain(
        'may not alter role app_writer, which the fence makes read-only',
      );
      expect(dry.stdout + dry.stderr).toContain(
        'GRANT "app_writer" TO "admin" WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;',
      );
      await east().query('GRANT app_writer TO admin WITH ADMIN OPTION, INHERIT FALSE, SET FALSE');
    }
    const ok = await steep(['switchover', 'admin_pg', '--dry-run'], path);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain(
      'ALTER ROLE "app_writer" IN DATABASE "app" SET default_transaction_read_only = on',
    );

    // --reverse with a passfile for west: the way back's subscription on east, owned by admin,
    // would connect to west without a password, which 16+ refuses a non-superuser: refused
    // before the fence, saying what to write instead
    const passfile = writeConfig(
      oneWayYaml(
        'admin',
        [east(), west()],
        'admin_pg',
        ['a_own'],
        ['    init: { method: snapshot }'],
      ).replace(
        /(\n {2}west:\n(?: {4}.*\n)*?)( {4}password:)/,
        '$1    replicationPassfile: /etc/steep/west.pgpass\n$2',
      ),
    );
    const reverse = await steep(['switchover', 'admin_pg', '--reverse', '--dry-run'], passfile);
    expect(reverse.code, reverse.stdout + reverse.stderr).toBe(1);
    expect(reverse.stdout + reverse.stderr).toContain(
      "east cannot subscribe to west for the way back (password is required): PostgreSQL 16+ wants the subscription's owner on east, " +
        'who is not a superuser, to connect with a password that west asks for: give node west a password in steep.yaml rather than replicationPassfile',
    );

    // a sequence in the tables' schema that admin may read but not set on west (the new primary):
    // refused before the fence, which a setval after it would have had to undo
    for (const n of [east(), west()]) await n.query('CREATE SEQUENCE public.a_seq');
    await east().query("SELECT setval('public.a_seq', 500)");
    await west().query('REVOKE pg_write_all_data FROM admin');
    for (const args of [['--dry-run'], ['--grace', '1s']]) {
      const refused = await steep(['switchover', 'admin_pg', ...args], path);
      expect(refused.code, refused.stdout + refused.stderr).toBe(1);
      expect(refused.stdout + refused.stderr).toContain(
        'west: role admin may not read and set (setval) sequence public.a_seq, which the switchover sets there; run GRANT UPDATE ON SEQUENCE "public"."a_seq" TO "admin"; on west',
      );
    }
    const [fenced] = await east().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = 'app_writer'`,
    );
    expect(fenced!.n).toBe(0);
    await west().query('GRANT pg_write_all_data TO admin');

    // the real switchover: the drain is proven by the slot's confirmed position (origin_progress is denied)
    const done = await steep(['switchover', 'admin_pg', '--grace', '1s', '--json'], path);
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(JSON.parse(done.stdout).outcome).toBe('released');
    await eventually(
      async () => {
        const a = await digests(east(), ['a_own']);
        const b = await digests(west(), ['a_own']);
        return JSON.stringify(a) === JSON.stringify(b);
      },
      HANG_MS,
      'both sides equal',
    );
    await equal(['a_own']);
    // the sequence moved to west past east's value
    const [seq] = await west().query<{ last: string }>('SELECT last_value::text AS last FROM public.a_seq');
    expect(BigInt(seq!.last)).toBeGreaterThan(500n);
    // the old primary keeps the data fence on a_own (every writer refused there)
    await expect(east().query('INSERT INTO public.a_own (id) VALUES (990001)')).rejects.toThrow(/is fenced/);
    // the link cases below write on east again: lift the data fence as the printed rollback does
    await east().query('DROP TRIGGER steep_fence_admin_pg ON public.a_own');
    await east().query('DROP FUNCTION steep.switchover_fence_admin_pg()');
  });
  it('admin: steep grants prints the script; run as the cloud admin, the link plans clean and its merge makes both sides equal', async () => {
    await once();
    const path = linkFile();
    // the script for the version alone, and the one read from the nodes: at once
    const [offline, live] = await Promise.all([
      steep(['grants', '--pg-version', String(version), '--json'], path),
      steep(['grants', '--json'], path),
    ]);
    expect(offline.code, offline.stderr).toBe(0);
    expect(live.code, live.stderr).toBe(0);
    const scripts = JSON.parse(live.stdout).nodes as Array<{ node: string; lines: string[] }>;
    // read from the nodes, the script holds only what admin lacks: each of its statements is one
    // the script for the version alone (all it may lack) holds too, or names a table owner it read
    const statements = (nodes: Array<{ lines: string[] }>) =>
      nodes.map((n) => n.lines.filter((l) => !l.startsWith('--')).map((l) => l.replace(/ -- .*$/, '')));
    const all = statements(JSON.parse(offline.stdout).nodes);
    statements(scripts).forEach((node, i) => {
      for (const s of node)
        expect(all[i]!.includes(s) || /^GRANT "\w+" TO "admin" WITH/.test(s), s).toBe(true);
    });
    expect(scripts.flatMap((s) => s.lines)).not.toContain('ALTER ROLE "admin" REPLICATION;');
    const text = await steep(['grants'], path);
    expect(text.stdout).toContain(
      'GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_create(text) TO "admin";',
    );
    if (!pg16) {
      expect(text.stdout).toContain('-- CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16');
      return;
    }
    // the earlier cells' one-way subscriptions go (as the superuser): the link replaces them
    for (const n of [east(), west()]) {
      for (const { subname } of await n.query<{ subname: string }>('SELECT subname FROM pg_subscription')) {
        await n.query(`ALTER SUBSCRIPTION ${subname} DISABLE`);
        await n.query(`ALTER SUBSCRIPTION ${subname} SET (slot_name = NONE)`);
        await n.query(`DROP SUBSCRIPTION ${subname}`);
      }
    }
    for (const n of [east(), west()]) {
      await n.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots');
      for (const { pubname } of await n.query<{ pubname: string }>('SELECT pubname FROM pg_publication'))
        await n.query(`DROP PUBLICATION ${pubname}`);
    }
    // the DBA runs it as a superuser, statement by statement, with the function grants the script
    // leaves to one (commented: a cloud admin role is refused them)
    for (const s of scripts) {
      const node = cluster().node(s.node);
      const superuserOnly = s.lines.filter((l) => l.startsWith('-- GRANT EXECUTE ON FUNCTION'));
      expect(superuserOnly.length, s.node).toBeGreaterThan(0);
      for (const line of [
        ...s.lines.filter((l) => !l.startsWith('--')),
        ...superuserOnly.map((l) => l.slice(3)),
      ])
        await node.query(line);
    }
    // a row only west holds, and one both hold differently: the merge reconciles them
    await west().query(`INSERT INTO public.a_own (id, v) VALUES (900001, 'west only')`);
    const plan = await steep(['plan'], path);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    const applied = await steep(['apply', '--auto-approve', '--allow-hazard', 'blocks-writes'], path);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    await eventually(
      async () => {
        const a = await digests(east(), ['a_own']);
        const b = await digests(west(), ['a_own']);
        return JSON.stringify(a) === JSON.stringify(b);
      },
      HANG_MS,
      'both sides equal',
    );
    await equal(['a_own']);
    const [row] = await east().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM public.a_own WHERE id = 900001`,
    );
    expect(row!.n).toBe(1);
  });
  it('admin: reinit of the linked table refuses naming the origin GRANT when it is revoked (nothing changed), and works once granted', async () => {
    await once();
    if (!pg16) return; // no link: 14/15 refuse its subscriptions in plan (above)
    const path = linkFile();
    const fn = 'pg_catalog.pg_replication_origin_create(text)';
    await west().query(`REVOKE EXECUTE ON FUNCTION ${fn} FROM admin`);
    const before = await digests(west(), ['a_own']);
    const refused = await steep(
      ['reinit', 'a_link_west', '--auto-approve', '--tables', 'public.a_own'],
      path,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `west: role admin may not execute pg_replication_origin_create, which the reinit of tables replicated both ways (public.a_own) calls; run GRANT EXECUTE ON FUNCTION ${fn} TO "admin"; on west`,
    );
    expect(await digests(west(), ['a_own'])).toEqual(before);
    const [origins] = await west().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_replication_origin WHERE roname LIKE 'steep%'`,
    );
    expect(origins!.n).toBe(0);
    const status = await steep(['status', '--check'], path);
    expect(status.code, status.stdout + status.stderr).toBe(0);

    await west().query(`GRANT EXECUTE ON FUNCTION ${fn} TO admin`);
    const writer = startWriter(east(), ['a_own'], 20_000_000);
    let done: Awaited<ReturnType<typeof steep>>;
    try {
      done = await steep(['reinit', 'a_link_west', '--auto-approve', '--tables', 'public.a_own'], path);
      await writesGoOn(writer);
    } finally {
      await writer.stop();
    }
    expect(done.code, done.stdout + done.stderr).toBe(0);
    await eventually(
      async () =>
        JSON.stringify(await digests(east(), ['a_own'])) === JSON.stringify(await digests(west(), ['a_own'])),
      HANG_MS,
      'both sides equal',
    );
    await equal(['a_own']);
  });

  it("admin, 16+: a subscriber table owned by a role admin may not SET ROLE to (the workers apply as the table's owner) is a plan error naming the GRANT, nothing created; the GRANT run as written, it copies and streams under writes", async () => {
    await once();
    if (!pg16) return; // 14/15: no subscription as admin (above)
    for (const n of [east(), west()]) {
      await n.query('CREATE ROLE shopapp NOLOGIN');
      await createOwnedTables(n, [['s_shop', 'shopapp']]);
    }
    await east().query('GRANT shopapp TO admin'); // on east admin publishes it as a member of its owner
    await east().query(`INSERT INTO public.s_shop SELECT g, md5(g::text) FROM generate_series(1, 1000) g`);
    const path = config('admin', 'shop_sub', ['s_shop'], '{ method: snapshot }');
    const refused = await steep(['plan'], path);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      "west: subscription shop_sub applies changes as each table's owner (runAsOwner: false), and role admin may not SET ROLE to shopapp, which owns public.s_shop; " +
        'run GRANT "shopapp" TO "admin" WITH SET TRUE; on west, or set runAsOwner: true on the subscription',
    );
    expect((await steep(['apply', '--auto-approve'], path)).code).toBe(1);
    const [made] = await west().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_subscription WHERE subname = 'shop_sub'`,
    );
    expect(made!.n).toBe(0);

    await west().query('GRANT "shopapp" TO "admin" WITH SET TRUE;');
    const applied = await whileWriting(east(), ['s_shop'], () => steep(['apply', '--auto-approve'], path));
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    await waitCaughtUp(east(), 'shop_sub');
    await equal(['s_shop']);

    // the membership loses SET later: the apply worker fails on each change; status names
    // PostgreSQL's reason (which only the server log has) and the GRANT, not a pointer to the log
    await west().query('GRANT "shopapp" TO "admin" WITH SET FALSE');
    await east().query(`INSERT INTO public.s_shop SELECT g, 'after' FROM generate_series(5001, 5010) g`);
    const why =
      'role admin, the owner of subscription shop_sub, may not SET ROLE to shopapp, which owns public.s_shop, ' +
      'and its workers apply as each table\'s owner (runAsOwner false): run GRANT "shopapp" TO "admin" WITH SET TRUE; on west';
    await eventually(
      async () => {
        const s = await steep(['status', '--check'], path);
        return s.code === 2 && (s.stdout + s.stderr).includes(why);
      },
      HANG_MS,
      'status failing with the SET ROLE reason',
    );
    await west().query('GRANT "shopapp" TO "admin" WITH SET TRUE');
    await waitCaughtUp(east(), 'shop_sub');
    await equal(['s_shop']);
  });
});
