import { beforeAll, describe, expect, it } from 'vitest';
import { startSteep, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fastCopy,
  fillTables,
  slowCopy,
  startWriter,
  WRITE_PAUSE_MS,
  waitCaughtUp,
} from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep verify` and `steep reinit` on a live pair (the first of testVersions(); run the file
 * with STEEP_TEST_PG=14 for the oldest catalog): no false positives while a writer runs; hand-made
 * differences counted exactly, with their keys; row filters, column lists and extra subscriber
 * columns (15+); composite and collation-sensitive keys, NULLs, 1-row, empty and keyless tables;
 * `diverged` in status and init status; reinit of some tables (--tables, --schema, --full) while
 * another table keeps receiving writes and is never copied again; refusals; verify --repair; a
 * reinit interrupted and resumed.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'vsub';
const SLOT = 'vsub';

interface Verdict {
  table: string;
  status: string;
  reason: string | null;
  rows: number;
  chunks: number;
  missing: number;
  extra: number;
  different: number;
  examples: { missing: string[][]; extra: string[][]; different: string[][] };
}
interface Report {
  diverged: boolean;
  state: string | null;
  tables: Verdict[];
}

let path = '';
let rowFilters = false;

function env() {
  // many chunks out of small tables: the chunk bounds, re-hash rounds and row diffs all run
  return { ...passwordEnv(cluster().nodes), STEEP_VERIFY_CHUNK_ROWS: '2000' };
}

const steep = steepWith({ config: () => path, env, timeoutMs: 240_000 });

async function verify(extra: string[] = []): Promise<{ code: number; report: Report; stderr: string }> {
  const r = await steep(['verify', SUB, '--json', ...extra]);
  expect([0, 2], r.stderr).toContain(r.code);
  return { code: r.code, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
}

function table(r: Report, name: string): Verdict {
  const t = r.tables.find((x) => x.table === name);
  expect(t, `${name} in ${JSON.stringify(r.tables.map((x) => x.table))}`).toBeDefined();
  return t!;
}

async function collation(node: TestNode, wanted: string): Promise<string> {
  const rows = await node.query<{ n: string }>('SELECT collname AS n FROM pg_collation WHERE collname = $1', [
    wanted,
  ]);
  return rows.length > 0 ? `"${wanted}"` : '"C"';
}

async function nTupIns(node: TestNode, t: string): Promise<number> {
  const [r] = await node.query<{ n: string }>(
    `SELECT n_tup_ins::text AS n FROM pg_stat_user_tables WHERE relid = '${t}'::regclass`,
  );
  return Number(r!.n);
}

const PLAIN = ['v_main', 'v_other', 'v_parent', 'v_child'];
const ALL = [...PLAIN, 'v_comp', 'v_one', 'v_empty', 'v_nokey', 'v_ri'];

async function allEqual(): Promise<void> {
  const [east, west] = cluster().nodes;
  await waitCaughtUp(east!, SLOT);
  const tables = [...ALL, ...(rowFilters ? [] : [])];
  expect(await digests(west!, tables)).toEqual(await digests(east!, tables));
  const [a] = await east!.query<{ n: string }>('SELECT count(*)::text AS n FROM vs2.v_sch');
  const [b] = await west!.query<{ n: string }>('SELECT count(*)::text AS n FROM vs2.v_sch');
  expect(b!.n).toBe(a!.n);
}

beforeAll(async () => {
  const [east, west] = cluster().nodes;
  rowFilters = east!.serverVersionNum >= 150000;
  await createTables(
    [east!, west!],
    [
      { name: 'v_main', rows: 20_000 },
      { name: 'v_other', rows: 6_000 },
    ],
  );
  await fillTables(east!, [
    { name: 'v_main', rows: 20_000 },
    { name: 'v_other', rows: 6_000 },
  ]);
  // text keys in collations that order them differently on each side
  const collations = [await collation(east!, 'en-x-icu'), await collation(west!, 'sv-x-icu')];
  for (const [i, node] of [east!, west!].entries()) {
    await node.query(
      `CREATE TABLE public.v_comp (a int, b text COLLATE ${collations[i]}, c text, PRIMARY KEY (a, b))`,
    );
    await node.query('CREATE TABLE public.v_one (id int PRIMARY KEY, v text)');
    await node.query('CREATE TABLE public.v_empty (id int PRIMARY KEY, v text)');
    await node.query('CREATE TABLE public.v_nokey (x int, y text)');
    await node.query('ALTER TABLE public.v_nokey REPLICA IDENTITY FULL');
    await node.query('CREATE TABLE public.v_ri (k int NOT NULL, v text)');
    await node.query('CREATE UNIQUE INDEX v_ri_k ON public.v_ri (k)');
    await node.query('ALTER TABLE public.v_ri REPLICA IDENTITY USING INDEX v_ri_k');
    await node.query('CREATE TABLE public.v_parent (id int PRIMARY KEY, v text)');
    await node.query(
      'CREATE TABLE public.v_child (id int PRIMARY KEY, parent_id int REFERENCES public.v_parent (id))',
    );
    await node.query('CREATE SCHEMA vs2');
    await node.query('CREATE TABLE vs2.v_sch (id int PRIMARY KEY, v text)');
  }
  await east!.query(`INSERT INTO public.v_comp SELECT a, b || s, CASE WHEN a % 2 = 0 THEN NULL ELSE 'c' || s END
      FROM generate_series(1, 3) a, unnest(ARRAY['a', 'ä', 'z', 'Z', 'b', 'å', 'o', 'ö', 'aa', 'A b', 'é', 'e', 'tab	x', 'back\\slash']) b,
           generate_series(1, 300) s`);
  await east!.query("INSERT INTO public.v_one VALUES (1, 'only')");
  await east!.query("INSERT INTO public.v_nokey SELECT g, 'n' || g FROM generate_series(1, 50) g");
  await east!.query("INSERT INTO public.v_ri SELECT g, 'r' || g FROM generate_series(1, 500) g");
  await east!.query("INSERT INTO public.v_parent SELECT g, 'p' || g FROM generate_series(1, 100) g");
  await east!.query('INSERT INTO public.v_child SELECT g, g FROM generate_series(1, 100) g');
  await east!.query("INSERT INTO vs2.v_sch SELECT g, 's' || g FROM generate_series(1, 3000) g");
  if (rowFilters) {
    await east!.query('CREATE TABLE public.v_filt (id int PRIMARY KEY, region text NOT NULL, secret text)');
    // its row filter uses region: the replica identity must cover it (else every UPDATE fails)
    await east!.query('CREATE UNIQUE INDEX v_filt_identity ON public.v_filt (id, region)');
    await east!.query('ALTER TABLE public.v_filt REPLICA IDENTITY USING INDEX v_filt_identity');
    // the subscriber has no `secret` (left out by the column list) and a column of its own
    await west!.query(
      "CREATE TABLE public.v_filt (id int PRIMARY KEY, region text NOT NULL, local_note text DEFAULT 'mine')",
    );
    await east!.query(
      "INSERT INTO public.v_filt SELECT g, CASE WHEN g % 3 = 0 THEN 'us' ELSE 'eu' END, 's' || g FROM generate_series(1, 3000) g",
    );
  }
  await east!.query('ANALYZE');
  const filtPub = rowFilters
    ? [
        '  vpub_f:',
        '    node: east',
        '    tables:',
        '      - name: public.v_filt',
        '        columns: [id, region]',
        `        where: "region = 'eu'"`,
      ]
    : [];
  const body = [
    'version: 1',
    'topology: verify',
    nodesYaml([east!, west!]),
    'publications:',
    '  vpub:',
    '    node: east',
    `    tables: [${[...ALL.map((t) => `public.${t}`), 'vs2.v_sch'].join(', ')}]`,
    ...filtPub,
    'subscriptions:',
    `  ${SUB}:`,
    '    node: west',
    '    from: east',
    `    publications: [vpub${rowFilters ? ', vpub_f' : ''}]`,
    '    schemaSync: manual',
    '',
  ].join('\n');
  path = writeConfig(body);
  const applied = await steep(['apply', '--auto-approve', '--accept-schema-drift']);
  expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
  await allEqual();
}, 300_000);

describe('steep verify', () => {
  it('finds nothing while a writer runs (5 runs), then exactly the rows changed by hand on the subscriber', async () => {
    const [east, west] = cluster().nodes;
    const writer = startWriter(east!, ['v_main', 'v_other']);
    try {
      for (let run = 0; run < 5; run++) {
        const { code, report } = await verify();
        expect(code, JSON.stringify(report)).toBe(0);
        expect(report.diverged).toBe(false);
        for (const t of report.tables) expect(t.status, `${t.table}: ${t.reason}`).toBe('equal');
        // no key: compared as a multiset of whole rows
        expect(table(report, 'public.v_nokey')).toMatchObject({ rows: 50, keyColumns: [] });
        expect(table(report, 'public.v_main').chunks).toBeGreaterThan(5);
        expect(table(report, 'public.v_comp').rows).toBe(3 * 14 * 300);
        expect(table(report, 'public.v_comp').chunks).toBeGreaterThan(2);
        expect(table(report, 'public.v_one').rows).toBe(1);
        expect(table(report, 'public.v_empty').rows).toBe(0);
        if (rowFilters) expect(table(report, 'public.v_filt').rows).toBe(2000);
      }
    } finally {
      await writer.stop();
    }

    // by hand on the subscriber, while v_main keeps receiving writes
    const writer2 = startWriter(east!, ['v_main'], 20_000_000);
    try {
      await west!.query('DELETE FROM public.v_other WHERE id = 4500');
      await west!.query("UPDATE public.v_other SET v = 'by hand' WHERE id = 4600");
      await west!.query("INSERT INTO public.v_other (id, v) VALUES (9000000, 'extra')");
      await west!.query("UPDATE public.v_comp SET c = 'hand' WHERE a = 2 AND b = 'ä7'");
      // a keyless table: a second copy of a row
      await west!.query("INSERT INTO public.v_nokey VALUES (1, 'n1')");
      if (rowFilters) await west!.query("INSERT INTO public.v_filt (id, region) VALUES (999999, 'us')");
      const { code, report } = await verify(['--examples', '5']);
      expect(code).toBe(2);
      expect(report.diverged).toBe(true);
      expect(report.state).toBe('diverged');
      const other = table(report, 'public.v_other');
      expect(other).toMatchObject({ status: 'diverged', missing: 1, extra: 1, different: 1 });
      expect(other.examples).toEqual({ missing: [['4500']], extra: [['9000000']], different: [['4600']] });
      expect(table(report, 'public.v_comp')).toMatchObject({
        status: 'diverged',
        missing: 0,
        extra: 0,
        different: 1,
      });
      expect(table(report, 'public.v_comp').examples.different).toEqual([['2', 'ä7']]);
      expect(table(report, 'public.v_main').status).toBe('equal');
      expect(table(report, 'public.v_nokey')).toMatchObject({ status: 'diverged', rows: 50, extra: 1 });
      if (rowFilters) {
        const filt = table(report, 'public.v_filt');
        expect(filt).toMatchObject({ status: 'diverged', missing: 0, extra: 1, different: 0 });
        expect(filt.examples.extra).toEqual([['999999']]);
      }

      const text = await steep(['verify', SUB, '--tables', 'v_other']);
      expect(text.code).toBe(2);
      expect(text.stdout).toMatch(/public\.v_other\s+diverged/);
      expect(text.stdout).toContain('missing: id=4500');
      expect(text.stdout).toContain('extra: id=9000000');
      expect(text.stdout).toContain('different: id=4600');
      expect(text.stdout).toContain(`steep reinit ${SUB} --tables public.v_other`);
      expect(text.stderr).toMatch(/public\.v_other: .*1 missing, 1 extra, 1 different/);
      const md = await steep(['verify', SUB, '--tables', 'public.v_other,v_main', '--format', 'markdown']);
      expect(md.code).toBe(2);
      expect(md.stdout).toMatch(/\| public\.v_other \| diverged \| [\d,]+ \| \d+ \(\d+\) \| 1 \| 1 \| 1 \|/);
      expect(md.stdout).toContain('`id=4500`');

      const status = await steep(['status', '--json']);
      const s = (
        JSON.parse(status.stdout) as {
          subscriptions: Array<{ name: string; state: string; divergedTables: string[] }>;
        }
      ).subscriptions.find((x) => x.name === SUB)!;
      expect(s.state).toBe('diverged');
      expect(s.divergedTables).toEqual(
        [
          'public.v_comp',
          'public.v_nokey',
          'public.v_other',
          ...(rowFilters ? ['public.v_filt'] : []),
        ].sort(),
      );
      const init = await steep(['init', 'status', SUB]);
      expect(init.stdout).toContain('diverged');
      expect(init.stdout).toContain('public.v_other');

      // reinit of the diverged tables while v_main keeps receiving writes: v_main is never copied again
      const reinit = await steep([
        'reinit',
        SUB,
        '--auto-approve',
        '--tables',
        `v_other,v_comp,v_nokey${rowFilters ? ',public.v_filt' : ''}`,
      ]);
      expect(reinit.code, `${reinit.stdout}\n${reinit.stderr}`).toBe(0);
      expect(reinit.stdout).toMatch(/Reinit of .*public\.v_other.* done: west is synchronized/);
    } finally {
      await writer2.stop();
    }
    await allEqual();
    // every insert on v_main, counted on both sides: the initial copy plus the writes, never a second copy
    const eastIns = await nTupIns(east!, 'public.v_main');
    // PostgreSQL 14's apply worker sends its table counters after a commit at most every 500 ms and
    // keeps the last ones until its next commit: a replicated write elsewhere makes it send them
    await eventually(
      async () => {
        await east!.query("INSERT INTO public.v_empty VALUES (1, 'nudge')");
        await east!.query('DELETE FROM public.v_empty WHERE id = 1');
        await new Promise((r) => setTimeout(r, 400));
        return (await nTupIns(west!, 'public.v_main')) >= eastIns;
      },
      HANG_MS,
      'v_main stats on west',
    );
    await allEqual();
    expect(await nTupIns(west!, 'public.v_main')).toBe(eastIns);
    const after = await verify();
    expect(after.code, JSON.stringify(after.report)).toBe(0);
    expect(after.report.state).toBe('synchronized');
    const { rows } = {
      rows: await east!.query("SELECT 1 FROM pg_publication WHERE pubname LIKE 'steep_reinit_%'"),
    };
    expect(rows).toEqual([]);
  }, 600_000);

  it('a row deleted on the subscriber while the publisher keeps updating it is missing in each of 5 runs under writes; equal once repaired', async () => {
    const [east, west] = cluster().nodes;
    await west!.query('DELETE FROM public.v_other WHERE id = 77');
    // every later update of 77 is an update_missing conflict on west
    let updating = true;
    const updater = (async () => {
      const c = await east!.client();
      try {
        while (updating) {
          await c.query("UPDATE public.v_other SET v = v || 'x' WHERE id = 77");
          await new Promise((r) => setTimeout(r, WRITE_PAUSE_MS));
        }
      } finally {
        await c.end();
      }
    })();
    const writer = startWriter(east!, ['v_main', 'v_other'], 40_000_000);
    try {
      for (let run = 0; run < 5; run++) {
        const { code, report } = await verify(['--tables', 'v_main,v_other']);
        expect(code, JSON.stringify(report)).toBe(2);
        expect(table(report, 'public.v_other')).toMatchObject({
          status: 'diverged',
          missing: 1,
          extra: 0,
          different: 0,
        });
        expect(table(report, 'public.v_other').examples.missing).toEqual([['77']]);
        expect(table(report, 'public.v_main').status).toBe('equal');
      }
      const repaired = await steep(['verify', SUB, '--tables', 'v_other', '--repair', '--json']);
      expect(repaired.code, repaired.stderr).toBe(0);
      const { code, report } = await verify(['--tables', 'v_main,v_other']);
      expect(code, JSON.stringify(report)).toBe(0);
      expect(report.tables.map((t) => t.status)).toEqual(['equal', 'equal']);
    } finally {
      updating = false;
      await updater;
      await writer.stop();
    }
    await allEqual();
  }, 300_000);

  it('a writer committing asynchronously (synchronous_commit = off, WAL flushed every 10 s): nothing found in 2 runs', async () => {
    // a commit is visible before its WAL is written, and a walsender sends only flushed WAL: a
    // re-check that waits for the write position (pg_current_wal_lsn) reads the subscriber before
    // those rows can reach it, and calls them missing
    const [east] = cluster().nodes;
    await east!.query("ALTER SYSTEM SET wal_writer_delay = '10s'");
    await east!.query('ALTER SYSTEM SET synchronous_commit = off');
    await east!.query('SELECT pg_reload_conf()');
    const writer = startWriter(east!, ['v_main', 'v_other'], 60_000_000);
    try {
      for (let run = 0; run < 2; run++) {
        const { code, report } = await verify(['--tables', 'v_main,v_other']);
        expect(code, JSON.stringify(report)).toBe(0);
        expect(report.tables.map((t) => t.status)).toEqual(['equal', 'equal']);
      }
    } finally {
      await writer.stop();
      await east!.query('ALTER SYSTEM RESET wal_writer_delay');
      await east!.query('ALTER SYSTEM RESET synchronous_commit');
      await east!.query('SELECT pg_reload_conf()');
    }
    await allEqual();
  }, 300_000);

  it('status --check, drift and the metrics name the PostgreSQL 18 conflicts since the last verify; the verify they advise confirms them and clears them', async () => {
    const [east, west] = cluster().nodes;
    const pg18 = west!.version >= 18;
    const conflictProblem = (problems: string[]) =>
      problems.filter((p) => p.includes('replication conflict'));
    const check = async () => {
      const r = await steep(['status', '--check', '--json']);
      expect([0, 2], r.stderr).toContain(r.code);
      return JSON.parse(r.stdout) as {
        subscriptions: Array<{ name: string; lastVerify: { at: string; verdict: string } | null }>;
        check: { problems: string[] };
      };
    };
    const base = await verify();
    expect(base.code, JSON.stringify(base.report)).toBe(0);
    const clean = await check();
    expect(conflictProblem(clean.check.problems)).toEqual([]);
    expect(clean.subscriptions.find((s) => s.name === SUB)?.lastVerify?.verdict).toBe('equal');
    const metrics = await steep(['status', '--format', 'prometheus']);
    expect(metrics.stdout).toMatch(
      new RegExp(
        `^steep_subscription_last_verify_timestamp_seconds\\{[^}]*subscription="${SUB}"[^}]*\\} \\d+(\\.\\d+)?$`,
        'm',
      ),
    );

    const counter = async (name: string) =>
      Number(
        (
          await west!.query<{ n: string }>(
            `SELECT ${name}::text AS n FROM pg_stat_subscription_stats WHERE subname = $1`,
            [SUB],
          )
        )[0]!.n,
      );
    const missing = () => counter('confl_update_missing');
    // a row deleted on the subscriber, then updated on the publisher: an update_missing conflict,
    // counted by the apply worker's statistics some time after it is applied (earlier tests here
    // left conflicts of their own, so the count must rise past what it was before the update)
    const before = pg18 ? await missing() : 0;
    await west!.query('DELETE FROM public.v_other WHERE id = 55');
    await east!.query("UPDATE public.v_other SET v = v || 'c' WHERE id = 55");
    await waitCaughtUp(east!, SLOT);
    if (!pg18) return;
    await eventually(async () => (await missing()) > before, HANG_MS, 'update_missing counted');
    const unhealthy = await steep(['status', '--check', '--json']);
    expect(unhealthy.code, unhealthy.stdout).toBe(2);
    const problems = conflictProblem(
      (JSON.parse(unhealthy.stdout) as { check: { problems: string[] } }).check.problems,
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      new RegExp(
        `^subscription\\.${SUB} on west: 1 replication conflict since its last verify \\(\\S+\\) \\(update_missing 1\\): .*compare them with \`steep verify ${SUB}\`$`,
      ),
    );
    const drift = await steep(['drift']);
    expect(drift.code, drift.stderr).toBe(2);
    expect(drift.stdout).toContain('Conflicts since the last verify');
    expect(drift.stdout).toContain(
      `update_missing 1): the rows they touched may differ between west and its publisher; compare them with \`steep verify ${SUB}\``,
    );
    const exported = await steep(['status', '--format', 'prometheus']);
    expect(exported.stdout).toMatch(
      new RegExp(
        `^steep_subscription_conflicts_since_verify\\{[^}]*subscription="${SUB}"[^}]*type="update_missing"\\} 1$`,
        'm',
      ),
    );

    // the advice, as printed: read-only (the publisher's rows untouched), it finds the missing row
    const publisherBefore = await digests(east!, ['v_other']);
    const advised = await steep(['verify', SUB]);
    expect(advised.code, advised.stdout + advised.stderr).toBe(2);
    expect(advised.stdout).toContain('public.v_other');
    expect(await digests(east!, ['v_other'])).toEqual(publisherBefore);
    const after = await check();
    // its conflicts are confirmed: what remains is the divergence it recorded
    expect(conflictProblem(after.check.problems)).toEqual([]);
    expect(after.check.problems).toContain(`subscription.${SUB} on west: diverged, not synchronized`);
    const repaired = await steep(['verify', SUB, '--tables', 'v_other', '--repair', '--json']);
    expect(repaired.code, repaired.stderr).toBe(0);
    const healed = await verify();
    expect(healed.code, JSON.stringify(healed.report)).toBe(0);
    const healthy = await check();
    expect(conflictProblem(healthy.check.problems)).toEqual([]);
    expect(healthy.check.problems.filter((p) => p.includes(SUB))).toEqual([]);
    const noDrift = await steep(['drift']);
    expect(noDrift.stdout).not.toContain('Conflicts since the last verify');

    // a verify naming every table the subscription carries is a verify of all of it: it confirms
    // the conflicts as the bare one does (before, it was recorded as partial, and the warning stayed)
    const every = healed.report.tables.map((t) => t.table);
    const counted = await missing();
    await west!.query('DELETE FROM public.v_other WHERE id = 56');
    await east!.query("UPDATE public.v_other SET v = v || 'c' WHERE id = 56");
    await waitCaughtUp(east!, SLOT);
    await eventually(async () => (await missing()) > counted, HANG_MS, 'update_missing counted again');
    expect(conflictProblem((await check()).check.problems)).toHaveLength(1);
    const listed = await verify(['--tables', every.join(',')]);
    expect(listed.code, JSON.stringify(listed.report)).toBe(2);
    expect(conflictProblem((await check()).check.problems)).toEqual([]);
    const mended = await steep(['verify', SUB, '--tables', 'v_other', '--repair', '--json']);
    expect(mended.code, mended.stderr).toBe(0);
    expect((await verify()).code).toBe(0);

    // the rolling verify confirms them too, once it has compared every segment of every table
    // since they were counted: a run that compared one segment does not, a cycle does
    const deleted = await counter('confl_delete_missing');
    await west!.query('DELETE FROM public.v_other WHERE id = 57');
    await east!.query('DELETE FROM public.v_other WHERE id = 57');
    await waitCaughtUp(east!, SLOT);
    await eventually(
      async () => (await counter('confl_delete_missing')) > deleted,
      HANG_MS,
      'delete_missing counted',
    );
    expect(conflictProblem((await check()).check.problems)).toHaveLength(1);
    const segmentRows = { STEEP_VERIFY_SEGMENT_ROWS: '40' };
    const one = await steep(
      ['verify', '--rolling', '--budget', '1ms', '--parallel', '1', SUB],
      undefined,
      segmentRows,
    );
    expect(one.code, one.stdout + one.stderr).toBe(0);
    expect(one.stdout).toMatch(/: 1 segment compared/);
    expect(conflictProblem((await check()).check.problems)).toHaveLength(1);
    const cycle = await steep(['verify', '--rolling', '--budget', '5min', SUB], undefined, segmentRows);
    expect(cycle.code, cycle.stdout + cycle.stderr).toBe(0);
    const rolled = await check();
    expect(conflictProblem(rolled.check.problems)).toEqual([]);
    expect(rolled.check.problems.filter((p) => p.includes(SUB))).toEqual([]);
    expect((await steep(['drift'])).stdout).not.toContain('Conflicts since the last verify');
    await allEqual();
  }, 300_000);
});

describe('steep reinit', () => {
  it('--schema and --full copy again while v_main receives writes; refusals name what is wrong', async () => {
    const [east, west] = cluster().nodes;
    const writer = startWriter(east!, ['v_main'], 30_000_000);
    try {
      await west!.query('DELETE FROM vs2.v_sch WHERE id <= 10');
      const before = await nTupIns(west!, 'public.v_other');
      const schema = await steep(['reinit', SUB, '--auto-approve', '--schema', 'vs2']);
      expect(schema.code, schema.stderr).toBe(0);
      expect(await nTupIns(west!, 'public.v_other')).toBe(before);
      await west!.query('DELETE FROM public.v_ri WHERE k <= 10');
      const full = await steep(['reinit', SUB, '--auto-approve', '--full', '--json']);
      expect(full.code, full.stderr).toBe(0);
      expect((JSON.parse(full.stdout) as { tables: string[] }).tables).toContain('public.v_main');
    } finally {
      await writer.stop();
    }
    await allEqual();
    expect((await verify()).code).toBe(0);

    const fk = await steep(['reinit', SUB, '--auto-approve', '--tables', 'v_parent']);
    expect(fk.code).toBe(1);
    expect(fk.stderr).toMatch(/public\.v_parent is referenced by public\.v_child .*not being reinitialised/);
    const unknown = await steep(['reinit', SUB, '--auto-approve', '--tables', 'v_nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/does not carry public\.v_nope/);
    const none = await steep(['reinit', SUB]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/exactly one of --tables/);
    const text = (await import('node:fs')).readFileSync(path, 'utf8');
    const other = writeConfig(
      `${text}  vsub_later:\n    node: west\n    from: east\n    publications: [vpub]\n`,
    );
    const notInit = await steep(['reinit', 'vsub_later', '--auto-approve', '--tables', 'v_main'], other);
    expect(notInit.code).toBe(1);
    expect(notInit.stderr).toMatch(/vsub_later does not exist on west, so it is not initialised/);
    const down = writeConfig(text.replace(`127.0.0.1:${east!.port}/`, '127.0.0.1:1/'));
    const unreachable = await steep(['reinit', SUB, '--auto-approve', '--tables', 'v_main'], down);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/reinit of vsub needs both nodes: node east/);
    const unreachableVerify = await steep(['verify', SUB], down);
    expect(unreachableVerify.code).toBe(1);
    expect(unreachableVerify.stderr).toMatch(/node east/);
  }, 600_000);

  it('verify --repair reinits what differs and verifies again; an interrupted reinit resumes', async () => {
    const [east, west] = cluster().nodes;
    await west!.query('DELETE FROM public.v_one');
    const repair = await steep(['verify', SUB, '--repair', '--json']);
    expect(repair.code, repair.stderr).toBe(0);
    const doc = JSON.parse(repair.stdout) as { before: Report; reinit: { tables: string[] }; after: Report };
    expect(table(doc.before, 'public.v_one')).toMatchObject({ status: 'diverged', missing: 1 });
    expect(doc.reinit.tables).toEqual(['public.v_one']);
    expect(doc.after.diverged).toBe(false);

    // Ctrl-C mid-copy, then the same command again
    await west!.query('DELETE FROM public.v_other WHERE id < 100');
    await slowCopy(west!, 'v_other', 200, 200);
    const reinit = startSteep(['reinit', SUB, '--auto-approve', '--tables', 'v_other', '-c', path], env());
    await eventually(
      async () =>
        (
          await west!.query(
            "SELECT 1 FROM pg_subscription_rel WHERE srrelid = 'public.v_other'::regclass AND srsubstate IN ('i', 'd')",
          )
        ).length > 0,
      HANG_MS,
      'v_other being copied again',
    );
    // interrupted once steep has recorded the copy (killed before that, and with the copy
    // finished by the time it runs again, a rerun starts the reinit over instead of resuming)
    await eventually(
      async () =>
        (
          await west!.query(
            "SELECT 1 FROM steep.subscription_state WHERE subscription = $1 AND node_name = 'west' AND state = 'copying'",
            [SUB],
          )
        ).length > 0,
      HANG_MS,
      'the reinit recorded as copying',
    );
    reinit.child.kill('SIGINT');
    await reinit.exited;
    // a table still being copied is not verified, so not known equal: exit 2, and named in the advice
    const copying = await steep(['verify', SUB, '--tables', 'v_other,v_one']);
    expect(copying.code, copying.stderr).toBe(2);
    expect(copying.stdout).toMatch(/public\.v_other\s+not verifiable: public\.v_other is still being copied/);
    expect(copying.stdout).toContain('2 tables: 0 diverged, 1 equal, 1 not verifiable');
    expect(copying.stdout).toContain(
      `repair with: steep verify ${SUB} --tables public.v_other once it can be compared`,
    );
    await fastCopy(west!, 'v_other');
    const resumed = await steep(['reinit', SUB, '--auto-approve', '--tables', 'v_other']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('resumed: copying');
    await allEqual();
    expect((await verify()).code).toBe(0);
    expect(await east!.query("SELECT 1 FROM pg_publication WHERE pubname LIKE 'steep_reinit_%'")).toEqual([]);
  }, 600_000);
});
