import { beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runSteep, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Two nodes that both hold rows (SPEC §9 merge): `steep merge analyze` counts exactly what is
 * identical, conflicting and one-sided on several tables (a composite key, a table with a
 * foreign key to another), read-only. Run with STEEP_TEST_PG=16 for the oldest version a link
 * accepts.
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

interface TableAnalysis {
  table: string;
  status: string;
  reason: string | null;
  rowsA: number;
  rowsB: number;
  identical: number;
  conflicting: number;
  onlyA: number;
  onlyB: number;
  chunks: number;
  chunksIdentical: number;
  examples: { conflicting: string[][]; onlyA: string[][]; onlyB: string[][] };
}
interface Analysis {
  a: string;
  b: string;
  conflicts: boolean;
  tables: TableAnalysis[];
  totals: { identical: number; conflicting: number; onlyA: number; onlyB: number };
}

let path = '';

async function steep(args: string[], config = path) {
  const env = { ...passwordEnv(cluster().nodes), STEEP_VERIFY_CHUNK_ROWS: '400' };
  const r = await runSteep([...args, '-c', config], { env, timeoutMs: 120_000 });
  expect(hasStackTrace(r.stderr), r.stderr).toBe(false);
  return r;
}

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

    const unknown = await steep(['merge', 'analyze', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/steep.yaml declares no link or subscription nope \(it declares msub\)/);
    const badTable = await steep(['merge', 'analyze', 'msub', '--tables', 'public.other']);
    expect(badTable.code).toBe(1);
    expect(badTable.stderr).toMatch(/subscription msub does not merge public.other/);
  }, 120_000);
});
