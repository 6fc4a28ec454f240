import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stateMigrations } from '../../src/state/migrations.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { testVersions, useCluster } from '../support/cluster.js';
import { createOwnedTables, nodesAs, oneWayYaml } from '../support/managedRoles.js';
import { digests, waitCaughtUp, whileWriting } from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';
import { prepareTlsOnly, tlsOnlyOptions } from '../support/tlsServer.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * `steep grants` as a managed service's DBA meets it: the cloud's admin role (`cloudadmin`:
 * CREATEROLE CREATEDB REPLICATION, not a superuser, owning the database, pg_create_subscription
 * and the application role `shopapp` WITH ADMIN OPTION, as RDS sets its master user up) applies
 * steep first (its state schema is the admin's; with an older steep: its newest migration, which
 * alters a table the admin owns, is still to run), then creates steep's runner; the runner's plan
 * names grants on that schema (never its ownership) and that migration, `steep grants` read as the runner prints
 * each node's script (steep's own parallel copy: session_replication_role only as a comment), and
 * the admin runs it as it is with psql -v ON_ERROR_STOP=1. The application keeps its tables (owned by shopapp, a
 * foreign key between them). Then, as the runner: plan, apply under writes, verify equal,
 * sequences sync, a switchover dry-run (refused naming what the script only names in comments,
 * until the admin runs it), the switchover with the way back, which streams. Each twice: plain, and with servers that take connections
 * only over TLS (test/support/tlsServer.ts), steep, psql and the subscription all connecting with
 * sslmode verify-full. On 18; STEEP_TEST_PG=14,16 for the others (before 16 no grant lets a
 * non-superuser create a subscription: the script still runs whole, and the plan says what remains).
 */
const versions = process.env.STEEP_TEST_PG ? testVersions() : ([18] as const);
const PASSWORD = 'grants-script-pw';
const cells = versions.flatMap((version) => [
  [version, 'plain TCP', false] as const,
  [version, 'servers that take only TLS', true] as const,
]);

/** The state schema's migrations after version 16 (where the admin's first script leaves it), and its latest. */
const NEEDED = stateMigrations('steep')
  .map((m) => m.version)
  .filter((v) => v > 16)
  .sort((a, b) => a - b);
const LATEST_MIGRATION = NEEDED.at(-1);

describe.each(cells)('steep grants run by the cloud admin on PostgreSQL %i, %s', (version, _over, tls) => {
  const certs = tls ? tempDir('steep-grants-tls-') : undefined;
  if (certs) beforeAll(() => prepareTlsOnly(certs));
  const cluster = useCluster({ nodes: ['east', 'west'], version, ...(certs ? tlsOnlyOptions(certs) : {}) });
  const ca = certs ? join(certs, 'ca.crt') : undefined;
  const east = () => cluster().node('east');
  const west = () => cluster().node('west');
  const steep = steepWith({ env: () => ({ ROLE_PGPASSWORD: PASSWORD }), timeoutMs: 120_000 });

  /** `steep grants --json` as the runner: each node's script, and all of them as one text, which takes no ownership. */
  async function grantsOf(path: string) {
    const grants = await steep(['grants', '--json'], path);
    expect(grants.code, grants.stderr).toBe(0);
    const scripts = JSON.parse(grants.stdout).nodes as Array<{ node: string; lines: string[] }>;
    const text = scripts.flatMap((s) => s.lines).join('\n');
    expect(text).not.toMatch(/OWNER TO/);
    return { scripts, text };
  }

  /** Each node's script run as the admin with psql -v ON_ERROR_STOP=1, as it is. */
  function runScripts(scripts: Array<{ node: string; lines: string[] }>): void {
    const dir = tempDir('steep-grants-');
    for (const s of scripts) {
      const file = join(dir, `${s.node}.sql`);
      writeFileSync(file, `${s.lines.join('\n')}\n`);
      const run = spawnSync(
        'psql',
        ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, adminUrl(cluster().node(s.node).port)],
        {
          encoding: 'utf8',
          env: { ...process.env, PGPASSWORD: PASSWORD },
        },
      );
      expect(run.status, `${s.node}:\n${s.lines.join('\n')}\n${run.stderr}`).toBe(0);
    }
  }

  it('the script runs as the admin with ON_ERROR_STOP, takes no table from its owner; the runner then plans, applies under writes, verifies and syncs sequences; the switchover dry-run names each GRANT it lacks, which the admin runs as written; the switchover with --reverse then releases and the way back streams', async () => {
    for (const n of [east(), west()]) {
      await n.query(
        `CREATE ROLE cloudadmin LOGIN NOSUPERUSER CREATEROLE CREATEDB REPLICATION PASSWORD '${PASSWORD}'`,
      );
      await n.query(
        'GRANT pg_read_all_data, pg_write_all_data, pg_monitor, pg_signal_backend TO cloudadmin WITH ADMIN OPTION',
      );
      if (version >= 16) await n.query('GRANT pg_create_subscription TO cloudadmin WITH ADMIN OPTION');
      await n.query('ALTER DATABASE app OWNER TO cloudadmin');
      await n.query('CREATE ROLE shopapp NOLOGIN');
      await n.query('GRANT shopapp TO cloudadmin WITH ADMIN OPTION');
      await createOwnedTables(
        n,
        [
          ['products', 'shopapp'],
          ['orders', 'shopapp'],
        ],
        'bigserial',
      );
      await n.query('ALTER TABLE public.orders ADD COLUMN product bigint REFERENCES public.products (id)');
      // the admin creates steep's runner
      await admin(n.port, `CREATE ROLE steep_runner LOGIN PASSWORD '${PASSWORD}'`);
    }
    await east().query(`INSERT INTO public.products SELECT g, md5(g::text) FROM generate_series(1, 3000) g`);
    await east().query(
      `INSERT INTO public.orders SELECT g, md5(g::text), 0, 1 + g % 100 FROM generate_series(1, 3000) g`,
    );
    // the cloud admin applied first: steep's state schema exists on both nodes, the admin's
    const first = await steep(
      ['apply', '--auto-approve'],
      writeConfig(
        ['version: 1', 'topology: managed-shop', nodesAs('cloudadmin', [east(), west()], ca), ''].join('\n'),
      ),
    );
    expect(first.code, first.stdout + first.stderr).toBe(0);
    for (const n of [east(), west()])
      expect(
        await n.query(`SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = 'steep'`),
      ).toEqual([{ owner: 'cloudadmin' }]);
    // …by a steep one migration older: the newest, which alters a table the admin owns, is pending
    for (const n of [east(), west()])
      await admin(
        n.port,
        'ALTER TABLE steep.schema_fingerprints DROP COLUMN saved_by; DELETE FROM steep.migrations WHERE version >= 17',
      );
    // steep's own parallel copy: the script names session_replication_role, which no admin may grant
    const path = writeConfig(
      oneWayYaml(
        'steep_runner',
        [east(), west()],
        'shop',
        ['products', 'orders'],
        ['    init: { method: snapshot, parallel: 2 }'],
        ca,
      ),
    );
    // the runner's plan asks for grants the admin may run on the schema, never its ownership
    const before = await steep(['plan'], path);
    expect(before.code).toBe(1);
    expect(before.stderr).not.toContain('OWNER TO');
    expect(before.stderr).toContain(
      'east: role steep_runner may not use steep\'s state schema steep (its owner is cloudadmin); run GRANT USAGE, CREATE ON SCHEMA "steep" TO "steep_runner";',
    );
    const { scripts, text } = await grantsOf(path);
    expect(text).toContain('ON SCHEMA "steep" TO "steep_runner"');
    expect(text).not.toMatch(/<\w+>/);
    expect(text).toContain(`GRANT "shopapp" TO "steep_runner"`);
    runScripts(scripts);
    // the runner reads the schema's version now: the migration it may not run is a plan error
    // naming the owner, and the next script carries it, first, as the admin
    const owned = await steep(['plan'], path);
    expect(owned.code).toBe(1);
    expect(owned.stderr).toContain(
      `east: steep's state schema steep is at version 16 and this steep needs migrations ${NEEDED.join(', ')}, which alter steep.schema_fingerprints: only its owner cloudadmin (or a member of it) may, not role steep_runner; have cloudadmin run the script \`steep grants\` prints for east`,
    );
    const { scripts: migrating, text: steps } = await grantsOf(path);
    expect(
      steps.indexOf('ALTER TABLE "steep".schema_fingerprints ADD COLUMN IF NOT EXISTS saved_by'),
    ).toBeGreaterThan(0);
    expect(steps.indexOf('ALTER TABLE "steep".schema_fingerprints')).toBeLessThan(
      steps.indexOf('ON ALL TABLES IN SCHEMA "steep" TO "steep_runner"'),
    );
    runScripts(migrating);
    for (const n of [east(), west()])
      expect(
        await n.query(
          `SELECT max(version)::int AS v, (SELECT count(*)::int FROM pg_attribute WHERE attrelid = 'steep.schema_fingerprints'::regclass AND attname = 'saved_by') AS col FROM steep.migrations`,
        ),
        `${n.name}: migrated by the script`,
      ).toEqual([{ v: LATEST_MIGRATION, col: 1 }]);
    // the application still owns its tables
    for (const n of [east(), west()]) {
      const owners = await n.query<{ owner: string }>(
        `SELECT DISTINCT relowner::regrole::text AS owner FROM pg_class WHERE relname IN ('products', 'orders')`,
      );
      expect(owners).toEqual([{ owner: 'shopapp' }]);
    }
    // run again, read from the nodes: nothing left to grant but what a superuser must
    const again = await steep(['grants', '--json'], path);
    expect(again.code, again.stderr).toBe(0);
    const left = (JSON.parse(again.stdout).nodes as Array<{ lines: string[] }>).flatMap((s) =>
      s.lines.filter((l) => !l.startsWith('--')),
    );
    expect(left).toEqual([]);

    const plan = await steep(['plan'], path);
    if (version < 16) {
      expect(plan.code).toBe(1);
      expect(plan.stderr).toContain('CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16');
      // what the runner may do there: publish, and sync the sequences of what it publishes
      const pubOnly = writeConfig(
        oneWayYaml('steep_runner', [east(), west()], 'shop', ['products', 'orders'], null, ca),
      );
      const published = await steep(['apply', '--auto-approve'], pubOnly);
      expect(published.code, published.stdout + published.stderr).toBe(0);
      // before 16 the script makes the runner no member of the owner on the subscriber (no
      // worker applies as it): the sync names the GRANT, which the admin may run as written
      const refused = await steep(['sequences', 'sync', 'shop'], path);
      expect(refused.code).toBe(1);
      const grant =
        'GRANT SELECT, UPDATE ON SEQUENCE "public"."orders_id_seq", "public"."products_id_seq" TO "steep_runner";';
      expect(refused.stderr).toContain(`${grant} on west`);
      await admin(west().port, grant);
      await sequencesReachSubscriber(path);
      return;
    }
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    const applied = await whileWriting(east(), ['products'], () => steep(['apply', '--auto-approve'], path));
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    await waitCaughtUp(east(), 'shop');
    const verify = await steep(['verify', 'shop'], path);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(await digests(west(), ['products', 'orders'])).toEqual(
      await digests(east(), ['products', 'orders']),
    );
    if (ca) {
      // the subscriber's libpq got the file's sslmode and CA path, and streams over TLS
      const [sub] = await west().query<{ conninfo: string }>(
        `SELECT subconninfo AS conninfo FROM pg_subscription WHERE subname = 'shop'`,
      );
      expect(sub!.conninfo).toContain('sslmode=verify-full');
      expect(sub!.conninfo).toContain(`sslrootcert=${ca}`);
      const senders = await east().query<{ ssl: boolean }>(
        `SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.backend_type = 'walsender'`,
      );
      expect(senders.length).toBeGreaterThan(0);
      expect(senders.every((s) => s.ssl)).toBe(true);
    }

    await sequencesReachSubscriber(path);

    // a switchover needs what the script only names in comments: the dry-run names each GRANT
    // and fences nothing; run as the admin, each adds and takes nothing away (verify still works)
    const dryRun = () => steep(['switchover', 'shop', '--dry-run', '--roles', 'shopapp'], path);
    const refused = await dryRun();
    expect(refused.code, refused.stdout + refused.stderr).toBe(1);
    expect(refused.stderr).toContain('grant it CREATEROLE');
    // the script made it a member of shopapp that inherits its privileges: it may end shopapp's
    // sessions itself, so pg_signal_backend (which a cloud admin cannot grant) is not asked for
    expect(refused.stderr).not.toContain('pg_signal_backend');
    await admin(east().port, 'ALTER ROLE steep_runner CREATEROLE');
    const needsAdminOption = await dryRun();
    expect(needsAdminOption.code, needsAdminOption.stdout + needsAdminOption.stderr).toBe(1);
    expect(needsAdminOption.stderr).toContain('GRANT "shopapp" TO "steep_runner" WITH ADMIN OPTION;');
    await admin(east().port, 'GRANT "shopapp" TO "steep_runner" WITH ADMIN OPTION');
    const dry = await dryRun();
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    expect(dry.stdout).toContain(
      'ALTER ROLE "shopapp" IN DATABASE "app" SET default_transaction_read_only = on',
    );
    const [fenced] = await east().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = 'shopapp'`,
    );
    expect(fenced!.n).toBe(0);
    const verifyAgain = await steep(['verify', 'shop'], path);
    expect(verifyAgain.code, verifyAgain.stdout + verifyAgain.stderr).toBe(0);
    const replan = await steep(['plan', '--detailed-exitcode'], path);
    expect(replan.code, replan.stdout + replan.stderr).toBe(0);

    // the way back (--reverse) needs what the script names in its last comment: the dry-run
    // names each in turn, the old primary's first, then the new primary's (tried by connecting)
    const reverse = (...more: string[]) =>
      steep(['switchover', 'shop', '--roles', 'shopapp', '--reverse', ...more], path);
    const noSubscribe = await reverse('--dry-run');
    expect(noSubscribe.code).toBe(1);
    expect(noSubscribe.stderr).toContain(
      'cannot create subscriptions: GRANT pg_create_subscription TO steep_runner',
    );
    await admin(east().port, 'GRANT pg_create_subscription TO steep_runner');
    const noReplication = await reverse('--dry-run');
    expect(noReplication.code).toBe(1);
    expect(noReplication.stderr).toContain('role steep_runner on west lacks the REPLICATION attribute');
    await admin(west().port, 'ALTER ROLE steep_runner REPLICATION');
    const done = await reverse('--grace', '1s', '--json');
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(JSON.parse(done.stdout).outcome).toBe('released');
    // writes on the new primary come back to the old one, over TLS when the servers take only TLS
    const [back] = await east().query<{ conninfo: string }>(
      `SELECT subconninfo AS conninfo FROM pg_subscription WHERE subname = 'steep_reverse_shop'`,
    );
    if (ca) expect(back!.conninfo).toContain(`sslmode=verify-full sslrootcert=${ca}`);
    await west().query(`INSERT INTO public.products (v) SELECT 'back' FROM generate_series(1, 50)`);
    await eventually(
      async () =>
        JSON.stringify(await digests(west(), ['products', 'orders'])) ===
        JSON.stringify(await digests(east(), ['products', 'orders'])),
      HANG_MS,
      'the old primary to hold what the new one holds',
    );
  });

  /** `steep sequences sync` as the runner sets the publisher's serial on the subscriber. */
  async function sequencesReachSubscriber(path: string): Promise<void> {
    await east().query(`SELECT setval('public.products_id_seq', 5000)`);
    const synced = await steep(['sequences', 'sync', 'shop'], path);
    expect(synced.code, synced.stdout + synced.stderr).toBe(0);
    const [seq] = await west().query<{ last: string }>(
      'SELECT last_value::text AS last FROM public.products_id_seq',
    );
    expect(seq!.last).toBe('5000');
  }

  /** psql's URL for the cloud admin: over TLS, as steep's nodes, with sslmode verify-full. */
  function adminUrl(port: number): string {
    return ca
      ? `postgres://cloudadmin@localhost:${port}/app?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`
      : `postgres://cloudadmin@127.0.0.1:${port}/app`;
  }

  /** A statement as the cloud admin (not a superuser) on the node at `port`. */
  async function admin(port: number, sql: string): Promise<void> {
    const run = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql, adminUrl(port)], {
      encoding: 'utf8',
      env: { ...process.env, PGPASSWORD: PASSWORD },
    });
    expect(run.status, run.stderr).toBe(0);
  }
});
