import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { prepareHolding, steepWith, writeConfig } from '../support/cli.js';
import { testVersions, useCluster } from '../support/cluster.js';
import { HAS_PSQL, passfile } from '../support/psqlClient.js';
import {
  copyAtSnapshot,
  createTables,
  digests,
  fillTables,
  startWriter,
  type TableDef,
  waitCaughtUp,
} from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Manual init through the CLI, on PostgreSQL 18 and 14: `init prepare --hold` makes the slot
 * with an exported snapshot; the test copies the tables at that snapshot (as pg_dump --snapshot
 * would) while a writer keeps changing the publisher; `apply` refuses an LSN earlier than the
 * slot's, then creates the subscription on the slot, starts its origin at the prepared LSN,
 * enables it and follows it to synchronized; every write made after prepare arrives exactly once.
 */

const TABLES: TableDef[] = [
  { name: 'man_a', rows: 150_000 },
  { name: 'man_b', rows: 20_000 },
];
const NAMES = TABLES.map((t) => t.name);

/** The major version of pg_dump on PATH (0: none); it dumps servers of its version and older. */
const PG_DUMP_MAJOR = Number(
  /(\d+)\./.exec(spawnSync('pg_dump', ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 0,
);

describe.each(testVersions())('manual init on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  /** a table published with a row filter and a column list (15+) */
  const filtered = version >= 15;

  function config(): string {
    const [east, west] = cluster().nodes;
    return writeConfig(
      [
        'version: 1',
        'topology: init-manual',
        nodesYaml([east!, west!]),
        'publications:',
        '  man_pub:',
        '    node: east',
        `    tables: [${NAMES.map((t) => `public.${t}`).join(', ')}]`,
        ...(filtered
          ? [
              '  man_f_pub:',
              '    node: east',
              `    tables: [{ name: public.man_f, columns: [id, region], where: "region = 'eu'" }]`,
            ]
          : []),
        'subscriptions:',
        '  west_man:',
        '    node: west',
        '    from: east',
        `    publications: [man_pub${filtered ? ', man_f_pub' : ''}]`,
        '    init:',
        '      method: manual',
        '',
      ].join('\n'),
    );
  }

  const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

  it('prepare → copy at the exported snapshot → apply → synchronized, writes arriving exactly once', {
    timeout: 150_000,
  }, async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    if (filtered) {
      // its row filter uses region: the replica identity must cover it (else every UPDATE fails)
      for (const n of [east, west])
        await n.query(`CREATE TABLE public.man_f (id int PRIMARY KEY, region text NOT NULL, secret text);
          CREATE UNIQUE INDEX man_f_identity ON public.man_f (id, region);
          ALTER TABLE public.man_f REPLICA IDENTITY USING INDEX man_f_identity`);
      await east.query(
        "INSERT INTO public.man_f SELECT g, CASE WHEN g % 3 = 0 THEN 'eu' ELSE 'us' END, 's' || g FROM generate_series(1, 1500) g",
      );
    }
    const path = config();

    // the first apply makes the publication and the state schemas; the subscription waits for prepare
    const first = await steep(['apply', '--auto-approve'], path);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(
      'subscription west_man uses init method manual and is not created until it is prepared',
    );
    expect(await west.query('SELECT 1 FROM pg_subscription')).toEqual([]);

    const writer = startWriter(east, NAMES);
    const { child, doc } = await prepareHolding(
      ['init', 'prepare', 'west_man', '--hold', '--json', '-c', path],
      passwordEnv(cluster().nodes),
    );
    expect(doc).toMatchObject({ subscription: 'west_man', slot: 'west_man' });
    expect(doc.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(doc.pgDump).toContain(`--snapshot=${doc.snapshotName}`);
    expect(doc.pgDump).toContain(`--table='"public"."man_a"'`);

    // preparing: visible in init status and status, the prepared slot reported with its LSN
    const st = await steep(['init', 'status', 'west_man', '--json'], path);
    expect(JSON.parse(st.stdout)[0]).toMatchObject({ state: 'preparing', exists: false });
    const status = await steep(['status', '--json'], path);
    const report = JSON.parse(status.stdout) as {
      slots: Array<{
        node: string;
        name: string;
        kind: string;
        preparedLsn: string | null;
        retainedWalBytes: number;
      }>;
      subscriptions: Array<{ name: string; state: string }>;
    };
    expect(report.slots.find((s) => s.name === 'west_man')).toMatchObject({
      node: 'east',
      kind: 'prepared',
      preparedLsn: doc.lsn,
    });
    expect(report.subscriptions.find((s) => s.name === 'west_man')?.state).toBe('preparing');
    // and plan does not call it an orphan
    const planned = await steep(['plan', '--json'], path);
    expect((JSON.parse(planned.stdout) as { orphanSlots: unknown[] }).orphanSlots).toEqual([]);

    // the DBA's dump and restore, at exactly the slot's consistent point: the printed commands
    // where the local pg_dump can dump this server, else the same COPY at the snapshot
    if (PG_DUMP_MAJOR >= version) {
      expect(doc.pgRestore).toMatch(/--single-transaction --disable-triggers /);
      const dir = tempDir('steep-dump-');
      const env = { ...process.env, PGPASSFILE: passfile([east, west]) };
      execFileSync('bash', ['-o', 'pipefail', '-c', `${doc.pgDump} && ${doc.pgRestore}`], { cwd: dir, env });
    } else {
      await copyAtSnapshot(east, west, NAMES, doc.snapshotName);
    }
    if (filtered) {
      // pg_dump would restore man_f whole: a COPY of exactly what the subscription carries instead
      expect(doc.pgDump).not.toContain('man_f');
      expect(doc.copies).toHaveLength(1);
      expect(doc.copies[0]).toContain(
        `COPY (SELECT "id", "region" FROM "public"."man_f" WHERE (region = '\\''eu'\\'')) TO STDOUT`,
      );
      // run with psql where there is one (the content above is checked either way)
      if (HAS_PSQL) {
        execFileSync('bash', ['-o', 'pipefail', '-c', doc.copies[0]!], {
          env: { ...process.env, PGPASSFILE: passfile([east, west]) },
        });
        expect(
          await west.query('SELECT count(*)::int AS n, count(secret)::int AS s FROM public.man_f'),
        ).toEqual([{ n: 500, s: 0 }]);
      }
    }
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    // an LSN earlier than the slot's is refused: the changes in between would be lost
    const early = await steep(['apply', '--auto-approve', '--lsn', 'west_man=0/1'], path);
    expect(early.code).toBe(1);
    expect(`${early.stdout}${early.stderr}`).toMatch(
      new RegExp(`--lsn 0/1 is earlier than slot west_man's LSN ${doc.lsn.replace('/', '\\/')} on east`),
    );

    const applied = await steep(['apply', '--auto-approve', '--log-format', 'json'], path);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    const changes = applied.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event: string; phase?: string })
      .filter((e) => e.event === 'init.state_change')
      .map((e) => e.phase);
    expect(changes).toEqual(['catching_up', 'synchronized']);

    const ops = await writer.stop();
    expect(ops).toBeGreaterThan(10);
    await waitCaughtUp(east, 'west_man');
    expect(await digests(west, NAMES)).toEqual(await digests(east, NAMES));
    if (filtered && HAS_PSQL)
      expect(await west.query('SELECT count(*)::int AS n FROM public.man_f')).toEqual(
        await east.query("SELECT count(*)::int AS n FROM public.man_f WHERE region = 'eu'"),
      );

    expect(await west.query(`SELECT 1 FROM steep.init_slots WHERE subscription = 'west_man'`)).toEqual([]);
    const done = JSON.parse((await steep(['status', '--json'], path)).stdout) as typeof report;
    expect(done.slots.find((s) => s.name === 'west_man')?.kind).toBe('subscription');
    expect(done.subscriptions.find((s) => s.name === 'west_man')?.state).toBe('synchronized');
    expect((await steep(['plan', '--detailed-exitcode'], path)).code).toBe(0);
  });
});
