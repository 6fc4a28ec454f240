import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { testVersions, useCluster } from '../support/cluster.js';
import { createOwnedTables, oneWayYaml } from '../support/managedRoles.js';
import { digests, waitCaughtUp, whileWriting } from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';

/**
 * `steep grants` as a managed service's DBA meets it: the cloud's admin role (`cloudadmin`:
 * CREATEROLE CREATEDB REPLICATION, not a superuser, owning the database, pg_create_subscription
 * and the application role `shopapp` WITH ADMIN OPTION, as RDS sets its master user up) creates
 * steep's runner, `steep grants` read as the runner prints each node's script, and the admin runs
 * it as it is with psql -v ON_ERROR_STOP=1. The application keeps its tables (owned by shopapp, a
 * foreign key between them). Then, as the runner: plan, apply under writes, verify equal. On 18;
 * STEEP_TEST_PG=14,16 for the others (before 16 no grant lets a non-superuser create a
 * subscription: the script still runs whole, and the plan says what remains).
 */
const versions = process.env.STEEP_TEST_PG ? testVersions() : ([18] as const);
const PASSWORD = 'grants-script-pw';

describe.each([...versions])('steep grants run by the cloud admin on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const east = () => cluster().node('east');
  const west = () => cluster().node('west');
  const steep = steepWith({ env: () => ({ ROLE_PGPASSWORD: PASSWORD }), timeoutMs: 120_000 });

  it('the script runs as the admin with ON_ERROR_STOP, takes no table from its owner, and the runner then plans, applies under writes and verifies', async () => {
    for (const n of [east(), west()]) {
      await n.query(
        `CREATE ROLE cloudadmin LOGIN NOSUPERUSER CREATEROLE CREATEDB REPLICATION PASSWORD '${PASSWORD}'`,
      );
      await n.query('GRANT pg_read_all_data, pg_write_all_data, pg_monitor TO cloudadmin WITH ADMIN OPTION');
      if (version >= 16) await n.query('GRANT pg_create_subscription TO cloudadmin WITH ADMIN OPTION');
      await n.query('ALTER DATABASE app OWNER TO cloudadmin');
      await n.query('CREATE ROLE shopapp NOLOGIN');
      await n.query('GRANT shopapp TO cloudadmin WITH ADMIN OPTION');
      await createOwnedTables(n, [
        ['products', 'shopapp'],
        ['orders', 'shopapp'],
      ]);
      await n.query('ALTER TABLE public.orders ADD COLUMN product bigint REFERENCES public.products (id)');
      // the admin creates steep's runner
      await admin(n.port, `CREATE ROLE steep_runner LOGIN PASSWORD '${PASSWORD}'`);
    }
    await east().query(`INSERT INTO public.products SELECT g, md5(g::text) FROM generate_series(1, 3000) g`);
    await east().query(
      `INSERT INTO public.orders SELECT g, md5(g::text), 0, 1 + g % 100 FROM generate_series(1, 3000) g`,
    );
    const path = writeConfig(
      oneWayYaml(
        'steep_runner',
        [east(), west()],
        'shop',
        ['products', 'orders'],
        ['    init: { method: snapshot }'],
      ),
    );

    const grants = await steep(['grants', '--json'], path);
    expect(grants.code, grants.stderr).toBe(0);
    const scripts = JSON.parse(grants.stdout).nodes as Array<{ node: string; lines: string[] }>;
    const text = scripts.flatMap((s) => s.lines).join('\n');
    expect(text).not.toMatch(/ALTER TABLE .* OWNER TO/);
    expect(text).not.toMatch(/<\w+>/);
    expect(text).toContain(`GRANT "shopapp" TO "steep_runner"`);
    const dir = tempDir('steep-grants-');
    for (const s of scripts) {
      const file = join(dir, `${s.node}.sql`);
      writeFileSync(file, `${s.lines.join('\n')}\n`);
      const node = cluster().node(s.node);
      const run = spawnSync(
        'psql',
        ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, `postgres://cloudadmin@127.0.0.1:${node.port}/app`],
        { encoding: 'utf8', env: { ...process.env, PGPASSWORD: PASSWORD } },
      );
      expect(run.status, `${s.node}:\n${s.lines.join('\n')}\n${run.stderr}`).toBe(0);
    }
    // the application still owns its tables
    for (const n of [east(), west()]) {
      const owners = await n.query<{ owner: string }>(
        `SELECT DISTINCT relowner::regrole::text AS owner FROM pg_class WHERE relname IN ('products', 'orders')`,
      );
      expect(owners).toEqual([{ owner: 'shopapp' }]);
    }
    // run again, read from the nodes: nothing left to grant but what a superuser must
    const again = await steep(['grants', '--json'], path);
    const left = (JSON.parse(again.stdout).nodes as Array<{ lines: string[] }>).flatMap((s) =>
      s.lines.filter((l) => !l.startsWith('--')),
    );
    expect(left).toEqual([]);

    const plan = await steep(['plan'], path);
    if (version < 16) {
      expect(plan.code).toBe(1);
      expect(plan.stderr).toContain('CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16');
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
  });

  /** A statement as the cloud admin (not a superuser) on the node at `port`. */
  async function admin(port: number, sql: string): Promise<void> {
    const run = spawnSync(
      'psql',
      ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql, `postgres://cloudadmin@127.0.0.1:${port}/app`],
      { encoding: 'utf8', env: { ...process.env, PGPASSWORD: PASSWORD } },
    );
    expect(run.status, run.stderr).toBe(0);
  }
});
