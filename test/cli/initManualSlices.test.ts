import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { type Prepared, prepareHolding, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { HAS_PSQL, passfile } from '../support/psqlClient.js';
import { queryDigest, waitCaughtUp } from '../support/replicationData.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Manual init of tables pg_dump cannot restore as the subscription carries them, copied by the
 * psql pipelines `init prepare` prints, followed literally: a row filter over a table with a
 * stored generated column (COPY FROM takes none), a row filter over a subscriber table whose
 * columns are in another order (logical replication matches columns by name, COPY by position),
 * and (18) a stored generated column its publication sends into the subscriber's plain column
 * (pg_dump leaves generated columns out); and a partitioned table published through its root
 * (pg_dump --table of it dumps none of its partitions' rows). A superuser's copy fires no trigger
 * of the subscriber's (ms_order's refuses every row), as its restore and replication's own copy.
 * Writes go on between prepare and apply; every carried row arrives exactly once, compared by
 * steep verify and by column name on both sides.
 */

/** count and an order-independent checksum of `columns` of the rows of `table` that `where` picks */
const digest = (n: TestNode, table: string, columns: string, where = 'true') =>
  queryDigest(n, `SELECT ${columns} FROM public.${table} WHERE ${where}`);

describe.skipIf(!HAS_PSQL).each([18, 14] as const)(
  'manual init: the copies init prepare prints, on %i',
  (version) => {
    const cluster = useCluster({ nodes: ['east', 'west'], version });
    const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

    /**
     * The manual init of `sub` as a DBA runs it: steep.yaml applied; `init prepare --hold`, and
     * while its snapshot is held `held` (writes, then checks of what it printed); the printed
     * copies run as printed, and `copied` checks what they loaded; apply; `more` writes; caught
     * up, verify finds every table equal.
     */
    async function manualInit(
      path: string,
      sub: string,
      steps: {
        held: (doc: Prepared) => Promise<void>;
        copied?: () => Promise<void>;
        more: () => Promise<unknown>;
      },
    ): Promise<void> {
      const { held, copied, more } = steps;
      const [east, west] = [cluster().node('east'), cluster().node('west')];
      const first = await steep(['apply', '--auto-approve'], path);
      expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
      const { child, doc } = await prepareHolding(
        ['init', 'prepare', sub, '--hold', '--json', '-c', path],
        passwordEnv(cluster().nodes),
      );
      try {
        await held(doc);
        const env = { ...process.env, PGPASSFILE: passfile([east, west]) };
        for (const c of doc.copies) execFileSync('bash', ['-o', 'pipefail', '-c', c], { env, stdio: 'pipe' });
      } finally {
        const exited = new Promise<void>((r) => child.on('close', () => r()));
        child.kill('SIGTERM');
        await exited;
      }
      await copied?.();
      const applied = await steep(['apply', '--auto-approve'], path);
      expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
      await more();
      await waitCaughtUp(east, sub);
      const verified = await steep(['verify', sub], path);
      expect(verified.code, `${verified.stdout}\n${verified.stderr}`).toBe(0);
    }

    // row filters (15+), generated columns sent (18)
    it.runIf(version === 18)(
      'copy the carried columns by name: generated ones left out unless sent, another column order kept',
      async () => {
        const [east, west] = [cluster().node('east'), cluster().node('west')];
        const generated = `CREATE TABLE public.ms_gen (id bigint PRIMARY KEY, v text, g text GENERATED ALWAYS AS (upper(v)) STORED)`;
        await east.query(`${generated};
      CREATE TABLE public.ms_order (id bigint PRIMARY KEY, a text, b text);
      CREATE TABLE public.ms_sent (id bigint PRIMARY KEY, v text, g text GENERATED ALWAYS AS (v || '!') STORED)`);
        await west.query(`${generated};
      CREATE TABLE public.ms_order (id bigint PRIMARY KEY, b text, a text);
      CREATE FUNCTION public.ms_local() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a local trigger fired'; END $$;
      CREATE TRIGGER ms_local BEFORE INSERT ON public.ms_order FOR EACH ROW EXECUTE FUNCTION public.ms_local();
      CREATE TABLE public.ms_sent (id bigint PRIMARY KEY, v text, g text)`);
        const fill = (from: number, to: number) =>
          east.query(`INSERT INTO public.ms_gen (id, v) SELECT i, 'v' || i FROM generate_series(${from}, ${to}) i;
        INSERT INTO public.ms_order SELECT i, 'a' || i, 'b' || i FROM generate_series(${from}, ${to}) i;
        INSERT INTO public.ms_sent (id, v) SELECT i, 'v' || i FROM generate_series(${from}, ${to}) i`);
        await fill(1, 400);
        const path = writeConfig(
          [
            'version: 1',
            'topology: init-manual-slices',
            nodesYaml([east, west]),
            'publications:',
            '  ms_pub:',
            '    node: east',
            '    tables:',
            '      - { name: public.ms_gen, where: "id > 10" }',
            '      - { name: public.ms_order, where: "id > 10" }',
            '  ms_sent_pub:',
            '    node: east',
            '    tables: [public.ms_sent]',
            '    generatedColumns: stored',
            'subscriptions:',
            '  ms_sub:',
            '    node: west',
            '    from: east',
            '    publications: [ms_pub, ms_sent_pub]',
            '    init: { method: manual }',
            '',
          ].join('\n'),
        );
        await manualInit(path, 'ms_sub', {
          held: async (doc) => {
            // written after the snapshot: these arrive by the stream, not by the copies
            await fill(401, 600);
            await east.query(`UPDATE public.ms_gen SET v = 'u' || id WHERE id % 7 = 0;
              UPDATE public.ms_order SET a = 'ua' || id WHERE id % 5 = 0;
              UPDATE public.ms_sent SET v = 'u' || id WHERE id % 3 = 0`);
            // nothing left to pg_dump: every table is copied by a pipeline naming its columns
            expect(doc.pgDump, JSON.stringify(doc)).toBeNull();
            expect(doc.copies).toHaveLength(3);
            const of = (t: string) => doc.copies.find((c) => c.includes(`"public"."${t}"`)) ?? '';
            expect(of('ms_gen')).toContain(
              `COPY (SELECT "id", "v" FROM "public"."ms_gen" WHERE (id > 10)) TO STDOUT`,
            );
            expect(of('ms_gen')).toContain(`COPY "public"."ms_gen" ("id", "v") FROM STDIN`);
            expect(of('ms_order')).toContain(`COPY "public"."ms_order" ("id", "a", "b") FROM STDIN`);
            expect(of('ms_sent')).toContain(`COPY (SELECT "id", "v", "g" FROM "public"."ms_sent") TO STDOUT`);
            expect(of('ms_sent')).toContain(`COPY "public"."ms_sent" ("id", "v", "g") FROM STDIN`);
          },
          more: () => fill(601, 700),
        });
        // by name on both sides: the subscriber's other column order holds the same values
        expect(await digest(west, 'ms_gen', 'id, v, g')).toEqual(
          await digest(east, 'ms_gen', 'id, v, g', 'id > 10'),
        );
        expect(await digest(west, 'ms_order', 'id, a, b')).toEqual(
          await digest(east, 'ms_order', 'id, a, b', 'id > 10'),
        );
        expect(await digest(west, 'ms_sent', 'id, v, g')).toEqual(await digest(east, 'ms_sent', 'id, v, g'));
        expect(await west.query('SELECT count(*)::int AS n FROM public.ms_sent WHERE g IS NULL')).toEqual([
          { n: 0 },
        ]);
      },
    );

    // a partitioned table published through its root: pg_dump --table of a partitioned table dumps
    // none of its partitions' rows, so its copy goes through the root (COPY routes them)
    it('copies the rows of every partition through the root, by the printed line', async () => {
      const [east, west] = [cluster().node('east'), cluster().node('west')];
      for (const n of [east, west])
        await n.query(`CREATE TABLE public.mp (id bigint PRIMARY KEY, v text) PARTITION BY RANGE (id);
        CREATE TABLE public.mp_1 PARTITION OF public.mp FOR VALUES FROM (1) TO (1000);
        CREATE TABLE public.mp_2 PARTITION OF public.mp FOR VALUES FROM (1000) TO (100000)`);
      const fill = (from: number, to: number) =>
        east.query(`INSERT INTO public.mp SELECT i, 'v' || i FROM generate_series(${from}, ${to}) i`);
      await fill(1, 1500);
      const path = writeConfig(
        [
          'version: 1',
          'topology: init-manual-root',
          nodesYaml([east, west]),
          'publications:',
          '  mp_pub: { node: east, tables: [public.mp], viaPartitionRoot: true }',
          'subscriptions:',
          '  mp_sub: { node: west, from: east, publications: [mp_pub], init: { method: manual } }',
          '',
        ].join('\n'),
      );
      await manualInit(path, 'mp_sub', {
        held: async (doc) => {
          await fill(1501, 1700);
          expect(doc.pgDump, JSON.stringify(doc)).toBeNull();
          expect(doc.copies).toHaveLength(1);
          expect(doc.copies[0]).toContain(`COPY (SELECT "id", "v" FROM "public"."mp") TO STDOUT`);
        },
        // the rows at the snapshot: those written after it come by the stream
        copied: async () =>
          expect(await digest(west, 'mp', 'id, v')).toEqual(await digest(east, 'mp', 'id, v', 'id <= 1500')),
        more: () => fill(1701, 1800),
      });
      expect(await digest(west, 'mp', 'id, v')).toEqual(await digest(east, 'mp', 'id, v'));
    });
  },
);
