import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { testVersions, useCluster } from '../support/cluster.js';
import {
  createManagedRoles,
  createOwnedTables,
  expectNarrowRefused,
  MANAGED_PASSWORD_ENV,
  madeObjects,
  oneWayYaml,
} from '../support/managedRoles.js';
import { digests, indexesOf, startWriter, waitCaughtUp, writesGoOn } from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';

/**
 * The two-phase cells of issue 36's role matrix (managedRoles.test.ts has the others): `steep
 * snapshot generate` + `steep snapshot apply` run as a managed service's `admin` (who may not set
 * session_replication_role, so the files load in foreign-key order) and as the `narrow` role.
 * Each cell works (both sides equal: counts and checksums, re-plan empty) or is refused before
 * anything is written, naming the GRANT. A table that references itself, split into several
 * files: with a DEFERRABLE key its files load in one transaction with the keys deferred; with a
 * NOT DEFERRABLE one generate writes it as one file (one COPY statement checks it at its end),
 * and a snapshot split all the same is refused before anything loads, naming the fixes. On 18 by
 * default; STEEP_TEST_PG=14,16 runs the others (14/15: no non-superuser may create a
 * subscription, so those cells are that plan error).
 */
const versions = process.env.STEEP_TEST_PG ? testVersions() : ([18] as const);

/** rows of the self-referencing tables: each row's parent is the next one in key order */
const TREE_ROWS = 3000;
const ADMIN_TABLES = ['a_parent', 'a_child', 'a_grand', 'a_tree', 'a_strict'];

describe.each([...versions])('two-phase init as least-privileged roles on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const east = () => cluster().node('east');
  const west = () => cluster().node('west');
  const steep = steepWith({ env: MANAGED_PASSWORD_ENV, timeoutMs: 120_000 });
  const pg16 = version >= 16;

  function config(role: string, sub: string, tables: string[]): string {
    // small key ranges: the bigger tables are split into several files
    const init = '    init: { method: two-phase, parallel: 3, splitAbove: 64kB }';
    return writeConfig(oneWayYaml(role, [east(), west()], sub, tables, [init]));
  }

  /** As postgres: the roles, and the tables on both nodes, each owned by its role; rows on east. */
  let ready = false;
  async function once(): Promise<void> {
    if (ready) return;
    for (const n of [east(), west()]) {
      await createManagedRoles(n);
      await createOwnedTables(n, [...ADMIN_TABLES.map((t) => [t, 'admin'] as const), ['n_items', 'narrow']]);
      await n.query('ALTER TABLE public.a_child ADD COLUMN parent bigint REFERENCES public.a_parent (id)');
      await n.query('ALTER TABLE public.a_grand ADD COLUMN child bigint REFERENCES public.a_child (id)');
      await n.query(
        'ALTER TABLE public.a_tree ADD COLUMN parent bigint REFERENCES public.a_tree (id) DEFERRABLE',
      );
      await n.query('ALTER TABLE public.a_strict ADD COLUMN parent bigint REFERENCES public.a_strict (id)');
    }
    const e = east();
    // the parent the biggest, its children pointing at its last rows: loaded beside it, they fail
    await e.query(`INSERT INTO public.a_parent SELECT g, md5(g::text) FROM generate_series(1, 6000) g`);
    await e.query(
      `INSERT INTO public.a_child SELECT g, md5(g::text), 0, 6000 - g % 500 FROM generate_series(1, 2000) g`,
    );
    await e.query(
      `INSERT INTO public.a_grand SELECT g, md5(g::text), 0, 1 + g % 2000 FROM generate_series(1, 1000) g`,
    );
    // every row's parent is the next row in key order, so in a later file once the table is split
    for (const t of ['a_tree', 'a_strict'])
      await e.query(
        `INSERT INTO public.${t} SELECT g, md5(g::text), 0, nullif(g + 1, ${TREE_ROWS + 1}) FROM generate_series(1, ${TREE_ROWS}) g`,
      );
    await e.query(`INSERT INTO public.n_items SELECT g, md5(g::text) FROM generate_series(1, 500) g`);
    // a sequence in the tables' schema, which snapshot apply sets on west
    for (const n of [e, west()]) await n.query('CREATE SEQUENCE public.a_tp_seq');
    await e.query("SELECT setval('public.a_tp_seq', 900)");
    await e.query('ANALYZE');
    ready = true;
  }

  async function nothingCreated(): Promise<void> {
    const none = { pubs: 0, subs: 0, slots: 0, origins: 0 };
    expect(await madeObjects([east(), west()])).toEqual({ east: none, west: none });
  }

  async function manifestFiles(dir: string): Promise<Record<string, number>> {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      tables: Array<{ name: string; files: unknown[] }>;
    };
    return Object.fromEntries(m.tables.map((t) => [t.name, t.files.length]));
  }

  it('narrow: two-phase is a plan error naming GRANT CREATE ON DATABASE; apply and snapshot generate create nothing', async () => {
    await once();
    const path = config('narrow', 'narrow_tp', ['n_items']);
    const plan = await steep(['plan'], path);
    expect(plan.code).toBe(1);
    expectNarrowRefused(plan.stderr, version);
    expect((await steep(['apply', '--auto-approve'], path)).code).toBe(1);
    // generate before apply made the state schema: refused before any slot is made
    const generate = await steep(
      ['snapshot', 'generate', 'narrow_tp', '--output', tempDir('steep-narrow-')],
      path,
    );
    expect(generate.code).toBe(1);
    expect(generate.stderr).toContain('run steep apply first');
    await nothingCreated();
  });

  it('admin: snapshot generate + apply load parent → child → grandchild in foreign-key order under writes; a self-referencing table in several files loads in one deferred transaction, a NOT DEFERRABLE one is written as one file; a split one whose key is NOT DEFERRABLE is refused before anything loads, naming the fixes', async () => {
    await once();
    const sub = 'admin_tp';
    const path = config('admin', sub, ADMIN_TABLES);
    const plan = await steep(['plan'], path);
    if (!pg16) {
      // 14/15: no grant lets a non-superuser create a subscription, and generate needs steep apply first
      expect(plan.code).toBe(1);
      expect(plan.stderr).toContain(
        'west: CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16, and role admin is not one',
      );
      expect((await steep(['apply', '--auto-approve'], path)).code).toBe(1);
      const generate = await steep(['snapshot', 'generate', sub, '--output', tempDir('steep-admin-')], path);
      expect(generate.code).toBe(1);
      expect(generate.stderr).toContain('run steep apply first');
      await nothingCreated();
      return;
    }
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toContain(
      'steep snapshot apply loads in foreign-key order: role admin may not set session_replication_role',
    );
    const created = await steep(['apply', '--auto-approve'], path);
    expect(created.code, created.stdout + created.stderr).toBe(0);

    const dir = tempDir('steep-admin-tp-');
    // a sequence admin may not read on east: its value goes into the manifest, so refused before the slot
    await east().query('REVOKE pg_read_all_data FROM admin');
    const unread = await steep(['snapshot', 'generate', sub, '--output', dir], path);
    expect(unread.code, unread.stdout + unread.stderr).toBe(1);
    expect(unread.stderr).toContain(
      'east: role admin may not read sequence public.a_tp_seq, which the snapshot reads there; ' +
        'run GRANT SELECT ON SEQUENCE "public"."a_tp_seq" TO "admin"; on east (as the sequence\'s owner or a superuser); no slot was made',
    );
    const [slots] = await east().query<{ n: number }>('SELECT count(*)::int AS n FROM pg_replication_slots');
    expect(slots!.n, 'no slot made').toBe(0);
    // the hint followed, as printed
    await east().query('GRANT SELECT ON SEQUENCE "public"."a_tp_seq" TO "admin";');

    const writer = startWriter(east(), ['a_grand']);
    try {
      const generated = await steep(['snapshot', 'generate', sub, '--output', dir, '--json'], path);
      expect(generated.code, generated.stderr).toBe(0);
      const files = await manifestFiles(dir);
      expect(files.a_parent, 'a_parent split').toBeGreaterThan(1);
      expect(files.a_tree, 'a_tree (DEFERRABLE) split').toBeGreaterThan(1);
      // as big as a_tree, but its NOT DEFERRABLE self-reference loads only in one COPY statement
      expect(files.a_strict, 'a_strict in one file').toBe(1);

      // the key made NOT DEFERRABLE after generate split the table: refused before anything loads
      await west().query('ALTER TABLE public.a_tree ALTER CONSTRAINT a_tree_parent_fkey NOT DEFERRABLE');
      const refused = await steep(['snapshot', 'apply', sub, '--input', dir], path);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        "west: role admin may not set session_replication_role, so steep's own copy loads the tables of subscription admin_tp in foreign-key order, " +
          'and public.a_tree references itself through the NOT DEFERRABLE foreign key a_tree_parent_fkey while the snapshot holds it in several files, ' +
          'one COPY statement each, at whose end PostgreSQL checks it, so a row whose referenced row is in a later file would fail: ' +
          'run GRANT SET ON PARAMETER session_replication_role TO "admin"; on west, ' +
          'or make it deferrable (ALTER TABLE "public"."a_tree" ALTER CONSTRAINT "a_tree_parent_fkey" DEFERRABLE;) and its files load in one transaction',
      );
      const empty = Object.fromEntries(ADMIN_TABLES.map((t) => [t, { count: 0, sum: '0' }]));
      expect(await digests(west(), ADMIN_TABLES)).toEqual(empty);
      const [state] = await west().query<{ enabled: boolean; status: string }>(
        `SELECT (SELECT subenabled FROM pg_subscription WHERE subname = $1) AS enabled,
                (SELECT status FROM steep.snapshots WHERE subscription = $1) AS status`,
        [sub],
      );
      expect(state).toEqual({ enabled: false, status: 'generated' });

      // the hint followed: the files load, each table after those it references, a_tree's in one transaction
      await west().query('ALTER TABLE "public"."a_tree" ALTER CONSTRAINT "a_tree_parent_fkey" DEFERRABLE;');

      // a sequence admin may read but not set on west: set after the last file, so refused before the first
      await west().query('REVOKE pg_write_all_data FROM admin');
      const unset = await steep(['snapshot', 'apply', sub, '--input', dir], path);
      expect(unset.code, unset.stdout + unset.stderr).toBe(1);
      expect(unset.stderr).toContain(
        'west: role admin may not read and set (setval) sequence public.a_tp_seq, which steep snapshot apply sets there; ' +
          'run GRANT UPDATE ON SEQUENCE "public"."a_tp_seq" TO "admin"; on west (as the sequence\'s owner or a superuser); nothing was loaded',
      );
      expect(await digests(west(), ADMIN_TABLES)).toEqual(empty);
      // the hint followed, as printed
      await west().query('GRANT UPDATE ON SEQUENCE "public"."a_tp_seq" TO "admin";');
      const rollbacks = async () =>
        (
          await west().query<{ n: number }>(
            `SELECT xact_rollback::int AS n FROM pg_stat_database WHERE datname = 'app'`,
          )
        )[0]!.n;
      const before = await rollbacks();
      const applied = await steep(['snapshot', 'apply', sub, '--input', dir], path);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      expect(await rollbacks(), 'no file failed its foreign keys and rolled back').toBe(before);
      const [seq] = await west().query<{ last: string }>(
        'SELECT last_value::text AS last FROM public.a_tp_seq',
      );
      expect(seq!.last, "west's sequence set to east's at the snapshot").toBe('900');
      // writes after the load, streamed from the snapshot's slot
      await writesGoOn(writer);
    } finally {
      await writer.stop();
      await west().query('GRANT pg_write_all_data TO admin');
      await east().query('GRANT pg_read_all_data TO admin');
    }
    await waitCaughtUp(east(), sub);
    const want = await digests(east(), ADMIN_TABLES);
    expect(await digests(west(), ADMIN_TABLES)).toEqual(want);
    for (const t of ADMIN_TABLES) {
      expect(want[t]!.count, t).toBeGreaterThan(0);
      // indexes are built after a big table's load only where the role may build them again
      expect(await indexesOf(west(), t), t).toEqual(await indexesOf(east(), t));
    }
    const replan = await steep(['plan', '--detailed-exitcode'], path);
    expect(replan.code, replan.stdout + replan.stderr).toBe(0);
  });
});
