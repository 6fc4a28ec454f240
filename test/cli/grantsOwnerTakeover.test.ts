import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { createOwnedTables, oneWayYaml } from '../support/managedRoles.js';
import { digests, startWriter, waitCaughtUp } from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * A cloud admin (`cloudadmin`: CREATEROLE CREATEDB REPLICATION, not a superuser, owning the
 * database, as RDS sets its master user up) applied steep first: the publication and the
 * subscription are its own. It then creates steep's runner, on which PostgreSQL 16+ gives it
 * ADMIN OPTION but neither INHERIT nor SET. The runner's plan asks it to give them over (ALTER …
 * OWNER TO the runner), which asks the one who runs it to be able to SET ROLE to the runner: the
 * plan and `steep grants` name that membership first. On 18 and 16 (before 16 a subscription's
 * owner must be a superuser, so a cloud admin never applied one first). The admin's own
 * publication and subscription made by hand, not in steep.yaml, are named nowhere and keep their
 * owner: steep asks to re-own only what it manages. On 18 the admin runs `steep grants`' script,
 * then the ALTERs the next plan names; on 16 the first plan's advice, literally.
 */
const PASSWORD = 'owner-takeover-pw';
const steep = steepWith({ env: () => ({ ROLE_PGPASSWORD: PASSWORD }), timeoutMs: 120_000 });
/** it is a member already (ADMIN OPTION): the GRANT names SET alone, taking none of its options away */
const MEMBERSHIP = 'GRANT "steep_runner" TO "cloudadmin" WITH SET TRUE;';

/**
 * SQL as the cloud admin (not a superuser) on `port`, with psql -v ON_ERROR_STOP=1, as it is. A
 * process of its own, awaited: the test's writer goes on meanwhile (a blocked event loop would
 * hold its open transaction, on which a slot's creation waits).
 */
function admin(port: number, sql: string): Promise<{ status: number | null; stderr: string }> {
  const dir = tempDir('steep-takeover-');
  const file = join(dir, 'run.sql');
  writeFileSync(file, `${sql}\n`);
  return new Promise((resolve) => {
    const child = spawn(
      'psql',
      ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, `postgres://cloudadmin@127.0.0.1:${port}/app`],
      { env: { ...process.env, PGPASSWORD: PASSWORD }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

describe.each([18, 16] as const)(
  'a cloud admin applied first, then steep runs as its runner (%i)',
  (version) => {
    const cluster = useCluster({ nodes: ['east', 'west'], version });
    const east = () => cluster().node('east');
    const west = () => cluster().node('west');
    it('the plan and steep grants name the membership the admin needs to give its publication and subscription to the runner; run as printed, the runner applies and the re-plan is empty', async () => {
      for (const n of [east(), west()]) {
        await n.query(
          `CREATE ROLE cloudadmin LOGIN NOSUPERUSER CREATEROLE CREATEDB REPLICATION PASSWORD '${PASSWORD}'`,
        );
        await n.query('GRANT pg_read_all_data, pg_create_subscription TO cloudadmin WITH ADMIN OPTION');
        await n.query('ALTER DATABASE app OWNER TO cloudadmin');
        await n.query('CREATE ROLE shopapp NOLOGIN');
        await n.query('GRANT shopapp TO cloudadmin WITH ADMIN OPTION');
        await createOwnedTables(n, [
          ['ot_products', 'shopapp'],
          ['ot_orders', 'shopapp'],
        ]);
        expect((await admin(n.port, `CREATE ROLE steep_runner LOGIN PASSWORD '${PASSWORD}'`)).status).toBe(0);
      }
      for (const t of ['ot_products', 'ot_orders'])
        await east().query(`INSERT INTO public.${t} SELECT g, md5(g::text) FROM generate_series(1, 500) g`);
      const nodes = [east(), west()] as const;
      // the admin's apply: publication ot_pub and subscription ot on west, its own
      const first = await steep(
        ['apply', '--auto-approve'],
        writeConfig(oneWayYaml('cloudadmin', nodes, 'ot', ['ot_products'], [])),
      );
      expect(first.code, first.stdout + first.stderr).toBe(0);
      // the application writes through the whole take-over: inserts, updates and deletes
      const writer = startWriter(east(), ['ot_products', 'ot_orders']);
      await waitCaughtUp(east(), 'ot');
      // and by hand, not in steep.yaml: its own table, publication and subscription
      for (const n of nodes)
        expect((await admin(n.port, 'CREATE TABLE public.hand_t (id int PRIMARY KEY)')).status).toBe(0);
      expect((await admin(east().port, 'CREATE PUBLICATION hand_pub FOR TABLE public.hand_t;')).status).toBe(
        0,
      );
      const handConn = `host=127.0.0.1 port=${east().port} dbname=app user=cloudadmin password=${PASSWORD}`;
      const hand = await admin(
        west().port,
        `CREATE SUBSCRIPTION hand_sub CONNECTION '${handConn}' PUBLICATION hand_pub;`,
      );
      expect(hand.status, hand.stderr).toBe(0);
      /** no advice names the hand-made objects: steep re-owns only what it manages */
      const unnamed = (text: string) => {
        for (const line of text.split('\n').filter((l) => /hand_(pub|sub)/.test(l)))
          expect(line).not.toMatch(/OWNER TO|GRANT|DROP|DISABLE/);
      };

      // the runner's file publishes one table more, and connects as the runner: both change
      const path = writeConfig(oneWayYaml('steep_runner', nodes, 'ot', ['ot_products', 'ot_orders'], []));
      const before = await steep(['plan'], path);
      expect(before.code).toBe(1);
      unnamed(before.stdout + before.stderr);
      expect(before.stderr).toContain(
        'east: role steep_runner does not own publication ot_pub (its owner is cloudadmin), and only its owner or a superuser may alter, adopt or drop it; ' +
          `run GRANT CREATE ON DATABASE "app" TO "steep_runner"; ${MEMBERSHIP} (as a role with ADMIN OPTION on steep_runner, such as cloudadmin if it created it: ` +
          'ALTER … OWNER TO needs cloudadmin to be able to SET ROLE to steep_runner), then as cloudadmin ALTER PUBLICATION "ot_pub" OWNER TO "steep_runner" on east',
      );
      expect(before.stderr).toContain(
        `${MEMBERSHIP} (as a role with ADMIN OPTION on steep_runner, such as cloudadmin if it created it: ` +
          'ALTER … OWNER TO needs cloudadmin to be able to SET ROLE to steep_runner), then as cloudadmin ALTER SUBSCRIPTION "ot" OWNER TO "steep_runner" on west',
      );
      // as printed, without the membership, PostgreSQL refuses the admin
      const refused = await admin(east().port, 'ALTER PUBLICATION "ot_pub" OWNER TO "steep_runner";');
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('must be able to SET ROLE "steep_runner"');

      if (version === 16) {
        // every plan error's advice followed literally, as the role it names (the admin; a
        // superuser is named by none): the take-over's GRANTs, then its ALTER, and the others'
        const plan = await steep(['plan', '--json'], path);
        const errors = (JSON.parse(plan.stdout) as { errors: Array<{ message: string; node: string }> })
          .errors;
        expect(errors.length).toBeGreaterThan(0);
        for (const e of errors) {
          const advice = new RegExp(`; run (.*?) on ${e.node}\\b`).exec(e.message);
          expect(advice, e.message).not.toBeNull();
          const sql = `${advice![1]!.replace(/ \([^)]*\)/g, '').replace(/,? then as cloudadmin (.*)$/, '\n$1')};`;
          const followed = await admin(cluster().node(e.node).port, sql);
          expect(followed.status, `${e.message}\n${sql}\n${followed.stderr}`).toBe(0);
        }
      } else {
        // steep grants, read as the runner: each node's script carries the membership; the admin runs it as it is
        const grants = await steep(['grants', '--json'], path);
        expect(grants.code, grants.stderr).toBe(0);
        const scripts = JSON.parse(grants.stdout).nodes as Array<{ node: string; lines: string[] }>;
        for (const s of scripts) {
          const text = s.lines.join('\n');
          expect(text, s.node).not.toContain('hand_');
          expect(text, s.node).not.toContain('-- nothing to grant');
          expect(text, s.node).not.toMatch(/OWNER TO/);
          expect(s.lines, s.node).toContain(MEMBERSHIP);
          const run = await admin(cluster().node(s.node).port, text);
          expect(run.status, `${s.node}:\n${text}\n${run.stderr}`).toBe(0);
        }
        // the admin may give them now: the plan names the ALTER alone, which it runs as written
        const owned = await steep(['plan'], path);
        expect(owned.code).toBe(1);
        expect(owned.stderr).not.toContain(MEMBERSHIP);
        unnamed(owned.stdout + owned.stderr);
        for (const [node, sql] of [
          [east(), 'ALTER PUBLICATION "ot_pub" OWNER TO "steep_runner"'],
          [west(), 'ALTER SUBSCRIPTION "ot" OWNER TO "steep_runner"'],
        ] as const) {
          expect(owned.stderr).toContain(`run ${sql} on ${node.name}`);
          const given = await admin(node.port, `${sql};`);
          expect(given.status, given.stderr).toBe(0);
        }
      }
      const applied = await steep(['apply', '--auto-approve'], path);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      // the joined table's copy done (its sync worker applies as its owner, on the runner's behalf)
      await eventually(
        async () =>
          (
            await west().query<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = 'ot' AND r.srsubstate <> 'r'",
            )
          )[0]!.n === 0,
        HANG_MS,
        'the tables of ot to be ready',
      );
      await eventually(async () => writer.ops() > 20, HANG_MS, 'the writer to write');
      expect(await writer.stop()).toBeGreaterThan(20);
      await waitCaughtUp(east(), 'ot');
      const tables = ['ot_products', 'ot_orders'];
      expect(await digests(west(), tables)).toEqual(await digests(east(), tables));
      const replan = await steep(['plan', '--detailed-exitcode'], path);
      expect(replan.code, replan.stdout + replan.stderr).toBe(0);
      // the hand-made ones keep their owner, and the subscription streams as it did
      expect(
        await east().query(
          "SELECT pubowner::regrole::text AS o FROM pg_publication WHERE pubname = 'hand_pub'",
        ),
      ).toEqual([{ o: 'cloudadmin' }]);
      expect(
        await west().query(
          "SELECT subowner::regrole::text AS o, subenabled AS e FROM pg_subscription WHERE subname = 'hand_sub'",
        ),
      ).toEqual([{ o: 'cloudadmin', e: true }]);
      await east().query('INSERT INTO public.hand_t SELECT generate_series(1, 10)');
      await waitCaughtUp(east(), 'hand_sub');
      expect(await digests(west(), ['hand_t'])).toEqual(await digests(east(), ['hand_t']));
    });
  },
);
