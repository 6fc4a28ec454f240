import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MergeAnalysis, MergeTableAnalysis, ReconciledTable } from '../../src/model/merge.js';
import { hasStackTrace, REPO_ROOT, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Two nodes that both hold rows (SPEC §9 merge): `steep merge analyze` counts exactly what is
 * identical, conflicting and one-sided on several tables (a composite key, a table with a
 * foreign key to another), read-only; the reconcile a merge init runs (`prefer`,
 * `last-modified`) leaves both sides equal with merge_log holding exactly the conflicts,
 * `manual` writes them to a file and changes nothing, and a reconcile killed midway converges
 * when run again. Run with STEEP_TEST_PG=16 for the oldest version a link accepts.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const TABLES = ['m_parent', 'm_child', 'm_comp'];

/**
 * A scaled-down version of the issue's data set, the same on both nodes but for `side`:
 * m_parent   2,000 identical, 200 conflicting, 100 only on each side
 * m_child    3,000 identical, 300 conflicting, 100 only on each side (their parents one-sided too)
 * m_comp     (region, n): 1,500 identical, 150 conflicting, 150 only on each side
 * Conflicts: the even ids are newer on east, the odd ones newer on west, every tenth a tie.
 */
function seedSql(side: 'east' | 'west'): string {
  const e = side === 'east';
  const newer = (id: string) =>
    `CASE WHEN ${id} % 10 = 0 THEN 0 WHEN ${id} % 2 = 0 THEN ${e ? 60 : 0} ELSE ${e ? 0 : 60} END`;
  const ts = (id: string, conflicting: boolean) =>
    `timestamptz '2026-01-01 00:00:00+00' + (${id} || ' s')::interval${conflicting ? ` + (${newer(id)} || ' min')::interval` : ''}`;
  const only = e ? [2201, 2300] : [2301, 2400];
  const onlyChild = e ? [3301, 3400] : [3401, 3500];
  const onlyComp = e ? [551, 600] : [601, 650];
  return `
DROP TABLE IF EXISTS public.m_child, public.m_parent, public.m_comp;
CREATE TABLE public.m_parent (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE public.m_child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES public.m_parent (id), qty int NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE public.m_comp (region text, n int, v text, updated_at timestamptz NOT NULL, PRIMARY KEY (region, n));
INSERT INTO public.m_parent SELECT g, 'p' || g, ${ts('g', false)} FROM generate_series(1, 2000) g;
INSERT INTO public.m_parent SELECT g, 'p' || g || '${side}', ${ts('g', true)} FROM generate_series(2001, 2200) g;
INSERT INTO public.m_parent SELECT g, 'p' || g || '${side}', ${ts('g', false)} FROM generate_series(${only[0]}, ${only[1]}) g;
INSERT INTO public.m_child SELECT g, 1 + g % 2000, g, ${ts('g', false)} FROM generate_series(1, 3000) g;
INSERT INTO public.m_child SELECT g, 1 + g % 2000, g + ${e ? 1 : 2}, ${ts('g', true)} FROM generate_series(3001, 3300) g;
INSERT INTO public.m_child SELECT g, ${only[0]} + g % 100, g, ${ts('g', false)} FROM generate_series(${onlyChild[0]}, ${onlyChild[1]}) g;
INSERT INTO public.m_comp SELECT r, g, r || g, ${ts('g', false)} FROM unnest(ARRAY['eu', 'us', 'ap']) r, generate_series(1, 500) g;
INSERT INTO public.m_comp SELECT r, g, r || g || '${side}', ${ts('g', true)} FROM unnest(ARRAY['eu', 'us', 'ap']) r, generate_series(501, 550) g;
INSERT INTO public.m_comp SELECT r, g, r || g, ${ts('g', false)} FROM unnest(ARRAY['eu', 'us', 'ap']) r, generate_series(${onlyComp[0]}, ${onlyComp[1]}) g;
ANALYZE public.m_parent, public.m_child, public.m_comp;`;
}

type TableAnalysis = MergeTableAnalysis;
type Analysis = Pick<MergeAnalysis, 'a' | 'b' | 'conflicts' | 'tables' | 'totals'>;

let path = '';
const CONFLICTS = 650;

const steep = steepWith({
  config: () => path,
  env: () => ({ ...passwordEnv(cluster().nodes), STEEP_VERIFY_CHUNK_ROWS: '400' }),
  timeoutMs: 120_000,
});

async function analyze(extra: string[] = []): Promise<{ code: number; analysis: Analysis }> {
  const r = await steep(['merge', 'analyze', 'msub', '--json', ...extra]);
  expect([0, 2], r.stderr).toContain(r.code);
  return { code: r.code, analysis: JSON.parse(r.stdout) as Analysis };
}

function table(a: Analysis, name: string): TableAnalysis {
  const t = a.tables.find((x) => x.table === `public.${name}`);
  expect(t, JSON.stringify(a.tables.map((x) => x.table))).toBeDefined();
  return t!;
}

/** Row count and an order-independent checksum of each table. */
async function digests(node: TestNode): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of TABLES) {
    const [r] = await node.query<{ d: string }>(
      `SELECT count(*) || ':' || coalesce(sum(hashtextextended(t::text, 0)::numeric), 0) AS d FROM public.${t} t`,
    );
    out[t] = r!.d;
  }
  return out;
}

async function seed(): Promise<void> {
  const [east, west] = cluster().nodes;
  await east!.query(seedSql('east'));
  await west!.query(seedSql('west'));
}

beforeAll(async () => {
  await seed();
  path = writeConfig(
    [
      'version: 1',
      'topology: merge-test',
      nodesYaml(cluster().nodes),
      'publications:',
      '  mpub:',
      '    node: east',
      `    tables: [${TABLES.map((t) => `public.${t}`).join(', ')}]`,
      'subscriptions:',
      '  msub:',
      '    node: west',
      '    from: east',
      '    publications: [mpub]',
      '',
    ].join('\n'),
  );
}, 120_000);

describe('steep merge analyze', () => {
  it('counts identical, conflicting and one-sided rows exactly per table, with example keys, reading only', async () => {
    const [east, west] = cluster().nodes;
    const before = [await digests(east!), await digests(west!)];
    const { code, analysis } = await analyze();
    expect(code).toBe(2);
    expect(analysis.conflicts).toBe(true);
    expect([analysis.a, analysis.b]).toEqual(['east', 'west']);
    const expected = {
      m_parent: { rowsA: 2300, rowsB: 2300, identical: 2000, conflicting: 200, onlyA: 100, onlyB: 100 },
      m_child: { rowsA: 3400, rowsB: 3400, identical: 3000, conflicting: 300, onlyA: 100, onlyB: 100 },
      m_comp: { rowsA: 1800, rowsB: 1800, identical: 1500, conflicting: 150, onlyA: 150, onlyB: 150 },
    };
    for (const [name, counts] of Object.entries(expected)) {
      const t = table(analysis, name);
      expect({ ...t, examples: undefined }).toMatchObject({ ...counts, status: 'conflicting', reason: null });
      // chunk hashes first: the identical key ranges are never read row by row
      expect(t.chunks).toBeGreaterThan(3);
      expect(t.chunksIdentical).toBeGreaterThan(0);
    }
    expect(analysis.totals).toEqual({ identical: 6500, conflicting: 650, onlyA: 350, onlyB: 350 });
    expect(table(analysis, 'm_parent').examples).toEqual({
      conflicting: Array.from({ length: 10 }, (_x, i) => [String(2001 + i)]),
      onlyA: Array.from({ length: 10 }, (_x, i) => [String(2201 + i)]),
      onlyB: Array.from({ length: 10 }, (_x, i) => [String(2301 + i)]),
    });
    expect(table(analysis, 'm_comp').examples.conflicting[0]).toEqual(['ap', '501']);
    expect([await digests(east!), await digests(west!)]).toEqual(before);

    // --tables, text output, and a table without differences exits 0
    const text = await steep(['merge', 'analyze', 'msub', '--tables', 'm_comp']);
    expect(text.code).toBe(2);
    expect(text.stdout).toContain(
      'public.m_comp  conflicting  1,500 identical, 150 conflicting, 150 only on east, 150 only on west',
    );
    expect(text.stdout).toMatch(/conflicting: region=ap, n=501; region=ap, n=502/);
    // the final pass's expected write block, measured: this analysis's own duration
    expect(text.stdout).toMatch(
      /A merge init's final pass re-runs this analysis with writes to these tables blocked on east and west: expect them blocked about \d/,
    );
    await west!.query('CREATE TABLE public.m_same (id int PRIMARY KEY, v text)');
    await east!.query('CREATE TABLE public.m_same (id int PRIMARY KEY, v text)');
    try {
      for (const n of [east!, west!])
        await n.query('INSERT INTO public.m_same SELECT g, g::text FROM generate_series(1, 500) g');
      const same = writeConfig(
        [
          'version: 1',
          'topology: merge-test',
          nodesYaml(cluster().nodes),
          'publications:',
          '  spub: { node: east, tables: [public.m_same] }',
          'subscriptions:',
          '  ssub: { node: west, from: east, publications: [spub] }',
          '',
        ].join('\n'),
      );
      const r = await steep(['merge', 'analyze', 'ssub', '--json'], same);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as Analysis).tables[0]).toMatchObject({
        status: 'identical',
        identical: 500,
      });
    } finally {
      await east!.query('DROP TABLE public.m_same');
      await west!.query('DROP TABLE public.m_same');
    }

    // a column list (15+): the columns it leaves out are not the subscription's, and not compared
    if (east!.serverVersionNum >= 150000) {
      for (const n of [east!, west!]) {
        await n.query('CREATE TABLE public.m_cols (id int PRIMARY KEY, v text, secret text)');
        await n.query(
          `INSERT INTO public.m_cols SELECT g, g::text, '${n === east ? 'east' : 'west'}' || g FROM generate_series(1, 500) g`,
        );
      }
      await west!.query("UPDATE public.m_cols SET v = 'changed' WHERE id <= 3");
      try {
        const cols = writeConfig(
          [
            'version: 1',
            'topology: merge-test',
            nodesYaml(cluster().nodes),
            'publications:',
            '  cpub: { node: east, tables: [{ name: public.m_cols, columns: [id, v] }] }',
            'subscriptions:',
            '  csub: { node: west, from: east, publications: [cpub] }',
            '',
          ].join('\n'),
        );
        const r = await steep(['merge', 'analyze', 'csub', '--json'], cols);
        expect(r.code, r.stderr).toBe(2);
        expect((JSON.parse(r.stdout) as Analysis).tables[0]).toMatchObject({
          status: 'conflicting',
          identical: 497,
          conflicting: 3,
          onlyA: 0,
          onlyB: 0,
        });
      } finally {
        await east!.query('DROP TABLE public.m_cols');
        await west!.query('DROP TABLE public.m_cols');
      }
    }

    // a link: A is its first node
    const linked = writeConfig(
      [
        'version: 1',
        'topology: merge-test',
        nodesYaml(cluster().nodes),
        'links:',
        '  wl: { nodes: [west, east], tables: [public.m_comp, m_parent], init: { method: merge, strategy: "prefer:west" } }',
        '',
      ].join('\n'),
    );
    const link = await steep(['merge', 'analyze', 'wl', '--json'], linked);
    expect(link.code, link.stderr).toBe(2);
    const byLink = JSON.parse(link.stdout) as Analysis;
    expect([byLink.a, byLink.b]).toEqual(['west', 'east']);
    expect(byLink.tables.map((t) => t.table).sort()).toEqual(['public.m_comp', 'public.m_parent']);
    expect(table(byLink, 'm_comp')).toMatchObject({
      identical: 1500,
      conflicting: 150,
      onlyA: 150,
      onlyB: 150,
    });
    expect(table(byLink, 'm_comp').examples.onlyA[0]).toEqual(['ap', '601']);

    const unknown = await steep(['merge', 'analyze', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/steep.yaml declares no link or subscription nope \(it declares msub\)/);
    const badTable = await steep(['merge', 'analyze', 'msub', '--tables', 'public.other']);
    expect(badTable.code).toBe(1);
    expect(badTable.stderr).toMatch(/subscription msub does not merge public.other/);
  }, 120_000);
});

interface Reconciled {
  stopped: boolean;
  conflictsFile: string | null;
  analysis: { totals: Analysis['totals'] };
  tables: ReconciledTable[];
}

const RECONCILE = join(REPO_ROOT, 'test/support/reconcileMain.mjs');

/** The reconcile in its own process (the built steep), as apply's merge init runs it. */
function startReconcile(strategy: string, extra: string[] = []) {
  const child = spawn(process.execPath, [RECONCILE, path, 'msub', strategy, ...extra], {
    env: { ...process.env, ...passwordEnv(cluster().nodes), STEEP_VERIFY_CHUNK_ROWS: '400' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

async function reconcile(strategy: string, extra: string[] = []): Promise<Reconciled> {
  const r = await startReconcile(strategy, extra).done;
  expect(r.code, r.stderr).toBe(0);
  expect(hasStackTrace(r.stderr)).toBe(false);
  for (const n of cluster().nodes) expect(`${r.stdout}${r.stderr}`).not.toContain(n.password);
  return JSON.parse(r.stdout) as Reconciled;
}

interface LogRow {
  table_name: string;
  row_key: Record<string, string>;
  chosen_node: string;
  strategy: string;
  hash_a: string;
  hash_b: string;
}

async function mergeLog(node: TestNode): Promise<LogRow[]> {
  return node.query<LogRow>(
    `SELECT table_name, row_key, chosen_node, strategy, hash_a, hash_b FROM steep.merge_log WHERE node_name = $1 AND merge_name = 'msub'`,
    [node.name],
  );
}

async function scalar(node: TestNode, sql: string): Promise<string> {
  const [r] = await node.query<{ v: string }>(sql);
  return r!.v;
}

/** Both sides equal (counts and checksums), holding the union of both sides' keys. */
async function expectMerged(): Promise<void> {
  const [east, west] = cluster().nodes;
  const d = await digests(east!);
  expect(await digests(west!)).toEqual(d);
  expect(Object.values(d).map((x) => x.split(':')[0])).toEqual(['2400', '3500', '1950']);
  const { code, analysis } = await analyze();
  expect(code).toBe(0);
  expect(analysis.totals).toEqual({ identical: 2400 + 3500 + 1950, conflicting: 0, onlyA: 0, onlyB: 0 });
}

describe('merge reconcile', () => {
  beforeAll(async () => {
    // steep's state schema (merge_log) on both nodes, through apply of their publications only
    const state = writeConfig(
      [
        'version: 1',
        'topology: merge-test',
        nodesYaml(cluster().nodes),
        'publications:',
        '  mpub: { node: east, tables: [public.m_parent, public.m_child, public.m_comp] }',
        '  mpub_w: { node: west, tables: [public.m_parent] }',
        '',
      ].join('\n'),
    );
    const r = await steep(['apply', '--auto-approve'], state);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  }, 120_000);

  it('prefer:east copies the one-sided rows both ways and keeps east’s row of every conflict, logging each once', async () => {
    const [east, west] = cluster().nodes;
    await seed();
    const r = await reconcile('prefer:east');
    expect(r.stopped).toBe(false);
    expect(r.analysis.totals).toEqual({ identical: 6500, conflicting: CONFLICTS, onlyA: 350, onlyB: 350 });
    // parents before the table referencing them
    expect(r.tables.map((t) => t.table).indexOf('public.m_parent')).toBeLessThan(
      r.tables.map((t) => t.table).indexOf('public.m_child'),
    );
    expect(r.tables.find((t) => t.table === 'public.m_child')).toMatchObject({
      copiedToA: 100,
      copiedToB: 100,
      conflicts: 300,
      keptA: 300,
      keptB: 0,
    });
    await expectMerged();
    expect(await scalar(west!, 'SELECT name AS v FROM public.m_parent WHERE id = 2001')).toBe('p2001east');
    for (const node of [east!, west!]) {
      const log = await mergeLog(node);
      expect(log).toHaveLength(CONFLICTS);
      expect(new Set(log.map((l) => l.chosen_node))).toEqual(new Set(['east']));
      expect(log.filter((l) => l.table_name === 'public.m_comp')).toHaveLength(150);
      expect(
        log.find(
          (l) => l.table_name === 'public.m_comp' && l.row_key.region === 'eu' && l.row_key.n === '501',
        ),
      ).toMatchObject({
        strategy: 'prefer:east',
      });
      expect(
        log.every((l) => /^-?\d+$/.test(l.hash_a) && /^-?\d+$/.test(l.hash_b) && l.hash_a !== l.hash_b),
      ).toBe(true);
    }
    // run again: nothing left, nothing written twice
    const again = await reconcile('prefer:east');
    expect(
      again.analysis.totals.conflicting + again.analysis.totals.onlyA + again.analysis.totals.onlyB,
    ).toBe(0);
    expect(await mergeLog(east!)).toHaveLength(CONFLICTS);
  }, 120_000);

  it('an inheritance parent is merged alone: its child, a table of its own, keeps its rows', async () => {
    const [east, west] = cluster().nodes;
    for (const [n, side] of [
      [east!, 'east'],
      [west!, 'west'],
    ] as const)
      await n.query(`CREATE TABLE public.m_inh (id int PRIMARY KEY, v text NOT NULL);
        CREATE TABLE public.m_inh_kid (PRIMARY KEY (id)) INHERITS (public.m_inh);
        INSERT INTO public.m_inh VALUES (1, '${side}'), (2, 'same');
        INSERT INTO public.m_inh_kid VALUES (1, 'kid'), (3, 'kid ${side}')`);
    const saved = path;
    path = writeConfig(
      [
        'version: 1',
        'topology: merge-test',
        nodesYaml(cluster().nodes),
        'publications:',
        '  mpub: { node: east, tables: [public.m_inh, public.m_inh_kid] }',
        'subscriptions:',
        '  msub: { node: west, from: east, publications: [mpub] }',
        '',
      ].join('\n'),
    );
    try {
      const r = await reconcile('prefer:east');
      expect(
        r.tables.map(({ table, copiedToA, copiedToB, conflicts }) => ({
          table,
          copiedToA,
          copiedToB,
          conflicts,
        })),
      ).toEqual([
        { table: 'public.m_inh', copiedToA: 0, copiedToB: 0, conflicts: 1 },
        { table: 'public.m_inh_kid', copiedToA: 0, copiedToB: 0, conflicts: 1 },
      ]);
      for (const n of [east!, west!]) {
        expect(await n.query('SELECT id, v FROM ONLY public.m_inh ORDER BY id'), n.name).toEqual([
          { id: 1, v: 'east' },
          { id: 2, v: 'same' },
        ]);
        expect(await n.query('SELECT id, v FROM public.m_inh_kid ORDER BY id'), n.name).toEqual([
          { id: 1, v: 'kid' },
          { id: 3, v: 'kid east' },
        ]);
      }
    } finally {
      path = saved;
      for (const n of [east!, west!]) await n.query('DROP TABLE public.m_inh CASCADE');
      for (const n of [east!, west!])
        await n.query("DELETE FROM steep.merge_log WHERE table_name LIKE 'public.m_inh%'");
    }
  }, 120_000);

  it('last-modified:updated_at keeps the newer row, a tie going to the first node', async () => {
    const [east, west] = cluster().nodes;
    await seed();
    for (const n of [east!, west!]) await n.query('DELETE FROM steep.merge_log');
    const r = await reconcile('last-modified:updated_at');
    expect(r.analysis.totals.conflicting).toBe(CONFLICTS);
    await expectMerged();
    // even ids newer on east, odd on west, every tenth a tie (east)
    expect(await scalar(west!, 'SELECT name AS v FROM public.m_parent WHERE id = 2002')).toBe('p2002east');
    expect(await scalar(east!, 'SELECT name AS v FROM public.m_parent WHERE id = 2001')).toBe('p2001west');
    expect(await scalar(west!, 'SELECT name AS v FROM public.m_parent WHERE id = 2010')).toBe('p2010east');
    expect(await scalar(east!, "SELECT v FROM public.m_comp WHERE region = 'us' AND n = 503")).toBe(
      'us503west',
    );
    for (const node of [east!, west!]) {
      const log = await mergeLog(node);
      expect(log).toHaveLength(CONFLICTS);
      expect(log.filter((l) => l.chosen_node === 'east')).toHaveLength(100 + 150 + 75);
      expect(log.filter((l) => l.chosen_node === 'west')).toHaveLength(100 + 150 + 75);
    }
  }, 120_000);

  it('manual writes every conflict with both rows to a file and changes nothing', async () => {
    const [east, west] = cluster().nodes;
    await seed();
    for (const n of [east!, west!]) await n.query('DELETE FROM steep.merge_log');
    const before = [await digests(east!), await digests(west!)];
    const file = join(dirname(path), 'conflicts.json');
    const r = await reconcile('manual', [file]);
    expect(r.stopped).toBe(true);
    expect(r.conflictsFile).toBe(file);
    expect(existsSync(file)).toBe(true);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as {
      a: string;
      b: string;
      conflicts: Array<{
        table: string;
        key: Record<string, string>;
        rows: Record<string, Record<string, string> | null>;
      }>;
    };
    expect(doc.conflicts).toHaveLength(CONFLICTS);
    expect(doc.conflicts.find((c) => c.table === 'public.m_parent' && c.key.id === '2001')).toEqual({
      table: 'public.m_parent',
      key: { id: '2001' },
      rows: {
        east: { id: '2001', name: 'p2001east', updated_at: '2026-01-01 00:33:21+00' },
        west: { id: '2001', name: 'p2001west', updated_at: '2026-01-01 01:33:21+00' },
      },
    });
    expect([await digests(east!), await digests(west!)]).toEqual(before);
    expect(await mergeLog(east!)).toHaveLength(0);
    rmSync(file);
  }, 120_000);

  it('a reconcile killed (SIGKILL) midway, twice, converges when run again, each conflict logged once', async () => {
    const [east, west] = cluster().nodes;
    await seed();
    for (const n of [east!, west!]) await n.query('DELETE FROM steep.merge_log');
    for (const atLeast of [1, 200]) {
      const run = startReconcile('prefer:west', ['', '20']);
      for (;;) {
        const n = Number(await scalar(west!, 'SELECT count(*)::text AS v FROM steep.merge_log'));
        if (n >= atLeast) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      run.child.kill('SIGKILL');
      const killed = await run.done;
      expect(killed.signal).toBe('SIGKILL');
      // stopped midway: the sides still differ
      expect(await digests(west!)).not.toEqual(await digests(east!));
    }
    const r = await reconcile('prefer:west', ['', '20']);
    expect(r.stopped).toBe(false);
    await expectMerged();
    expect(await scalar(east!, 'SELECT name AS v FROM public.m_parent WHERE id = 2002')).toBe('p2002west');
    for (const node of [east!, west!]) {
      const log = await mergeLog(node);
      expect(log).toHaveLength(CONFLICTS);
      expect(new Set(log.map((l) => `${l.table_name}:${JSON.stringify(l.row_key)}`)).size).toBe(CONFLICTS);
      expect(new Set(log.map((l) => l.chosen_node))).toEqual(new Set(['west']));
    }
  }, 180_000);
});
