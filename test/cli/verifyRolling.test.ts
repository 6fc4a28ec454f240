import { beforeAll, describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { createTables, digests, fillTables, startWriter, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep verify --rolling` on a live pair under a writer: a run compares the least recently
 * compared segments and the next resumes with the others until every segment was compared; a
 * row deleted on the subscriber is found by the first run that reaches its segment (`diverged`,
 * and the way out it prints repairs it); a row on a segment bound is compared once, in the segment
 * above it; a row held twice by a subscriber table without a key is found, not cancelled out.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'rsub';
const TABLES = ['r_main', 'r_dup', 'r_bound'];

interface Compared {
  subscription: string;
  table: string;
  segment: number;
  lo: string | null;
  hi: string | null;
  verdict: { status: string; rows: number; missing: number; extra: number; different: number };
}
interface Rolling {
  parallel: number;
  compared: Compared[];
  notReached: number;
  diverged: boolean;
  coverage: Array<{ table: string; segments: number; neverEqual: number }>;
}
interface SegmentRow {
  table_name: string;
  segment: number;
  lo: string | null;
  hi: string | null;
  compared_at: string | null;
}

let path = '';
// 500 rows a segment: r_main (6,000 rows) has about 12
const env = () => ({
  ...passwordEnv(cluster().nodes),
  STEEP_VERIFY_SEGMENT_ROWS: '500',
  STEEP_VERIFY_CHUNK_ROWS: '100',
});
const steep = steepWith({ config: () => path, env, timeoutMs: 240_000 });

async function rolling(budget: string, ...more: string[]): Promise<{ code: number; report: Rolling }> {
  const r = await steep(['verify', SUB, '--rolling', '--budget', budget, '--json', ...more]);
  expect([0, 2], r.stderr).toContain(r.code);
  return { code: r.code, report: JSON.parse(r.stdout) as Rolling };
}

async function segments(): Promise<SegmentRow[]> {
  return cluster().nodes[1]!.query<SegmentRow>(
    `SELECT table_name, segment, lo, hi, compared_at::text FROM steep.verified_segments
      WHERE subscription = $1 ORDER BY compared_at NULLS FIRST, table_name COLLATE "C", segment`,
    [SUB],
  );
}

async function allEqual(): Promise<void> {
  const [east, west] = cluster().nodes;
  await waitCaughtUp(east!, SUB);
  expect(await digests(west!, TABLES)).toEqual(await digests(east!, TABLES));
}

beforeAll(async () => {
  const [east, west] = cluster().nodes;
  await createTables([east!, west!], [{ name: 'r_main', rows: 6000 }]);
  await fillTables(east!, [{ name: 'r_main', rows: 6000 }]);
  await east!.query(
    'CREATE TABLE public.r_dup (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0)',
  );
  // the subscriber's copy without a key: nothing stops a row from being there twice. PostgreSQL
  // applies an UPDATE or DELETE into a keyless table only from a publisher that sends every
  // column (relation.c), which plan checks: east's identity is FULL
  await east!.query('ALTER TABLE public.r_dup REPLICA IDENTITY FULL');
  await west!.query(
    'CREATE TABLE public.r_dup (id bigint NOT NULL, v text NOT NULL, n int NOT NULL DEFAULT 0)',
  );
  await east!.query('INSERT INTO public.r_dup SELECT g, md5(g::text), 0 FROM generate_series(1, 1500) g');
  for (const node of [east!, west!])
    await node.query(
      'CREATE TABLE public.r_bound (k text PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0)',
    );
  await east!.query(
    "INSERT INTO public.r_bound SELECT 'k' || g, md5(g::text), 0 FROM generate_series(1, 2000) g",
  );
  await east!.query('ANALYZE');
  path = writeConfig(
    [
      'version: 1',
      'topology: rolling',
      nodesYaml([east!, west!]),
      'publications:',
      '  rpub:',
      '    node: east',
      `    tables: [${TABLES.map((t) => `public.${t}`).join(', ')}]`,
      'subscriptions:',
      `  ${SUB}:`,
      '    node: west',
      '    from: east',
      '    publications: [rpub]',
      '    schemaSync: manual',
      '',
    ].join('\n'),
  );
  // not followed (--no-wait): an init apply follows ends with a comparison of every row, which
  // would leave no segment never compared; these runs start from segments never compared
  const applied = await steep(['apply', '--auto-approve', '--accept-schema-drift', '--no-wait']);
  expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
  // followed as apply --no-wait says: init status --watch records it synchronized once it is;
  // status then reads it so (unverified: streaming, never compared), which verify's moves need
  const followed = await steep(['init', 'status', SUB, '--watch', '--interval', '200']);
  expect(followed.code, `${followed.stdout}\n${followed.stderr}`).toBe(0);
  await eventually(
    async () => {
      const r = await steep(['status', '--json']);
      const doc = JSON.parse(r.stdout) as { subscriptions: Array<{ name: string; state: string }> };
      return doc.subscriptions.find((x) => x.name === SUB)?.state === 'unverified';
    },
    HANG_MS,
    'rsub recorded streaming',
  );
  await allEqual();
}, 300_000);

describe('steep verify --rolling', () => {
  it('compares some segments per run under writes, the next run resumes with the others, until every one was compared', async () => {
    const [east] = cluster().nodes;
    const writer = startWriter(east!, ['r_main']);
    try {
      const seen = new Set<string>();
      const first = await rolling('1ms');
      expect(first.code).toBe(0);
      // a schedule's run compares one segment at a time unless told otherwise
      expect(first.report.parallel).toBe(1);
      expect(first.report.compared).toHaveLength(1);
      const total = first.report.compared.length + first.report.notReached;
      expect(total).toBeGreaterThan(10);
      const main = first.report.coverage.find((c) => c.table === 'public.r_main')!;
      expect(main.segments).toBeGreaterThan(6);
      for (const c of first.report.compared) seen.add(`${c.table}/${c.segment}`);
      for (let run = 1; run < 4; run++) {
        // two at a time: still none starts after the budget but the run's first
        const { code, report } = await rolling('1ms', ...(run === 3 ? ['--parallel', '2'] : []));
        expect(code).toBe(0);
        expect(report.parallel).toBe(run === 3 ? 2 : 1);
        expect(report.compared).toHaveLength(1);
        const c = report.compared[0]!;
        expect(c.verdict.status, JSON.stringify(c)).toBe('equal');
        // never one compared before while another was never compared
        expect(seen.has(`${c.table}/${c.segment}`)).toBe(false);
        seen.add(`${c.table}/${c.segment}`);
      }
      expect((await segments()).filter((s) => s.compared_at !== null)).toHaveLength(4);
      // a long budget compares every segment once, never compared first, then stops: a run is one cycle at most
      const rest = await rolling('10min');
      expect(rest.code).toBe(0);
      expect(rest.report.compared).toHaveLength(total);
      expect(rest.report.notReached).toBe(0);
      const order = rest.report.compared.map((c) => seen.has(`${c.table}/${c.segment}`));
      expect(order).toEqual([...Array(total - 4).fill(false), ...Array(4).fill(true)]);
      for (const c of rest.report.compared) expect(c.verdict.status, JSON.stringify(c)).toBe('equal');
      expect((await segments()).filter((s) => s.compared_at === null)).toEqual([]);
      expect(rest.report.coverage.every((c) => c.neverEqual === 0)).toBe(true);
    } finally {
      await writer.stop();
    }
    await allEqual();
  }, 600_000);

  it('a row deleted on the subscriber is found by the first run that reaches its segment; its way out repairs it', async () => {
    const [east, west] = cluster().nodes;
    const writer = startWriter(east!, ['r_main'], 20_000_000);
    try {
      // runs of one segment each until the next one is r_main's and holds a row the writer never
      // touches (it updates ids 1–1000 and deletes 2000–6999; its own rows are above 10,000,000)
      let id: string | undefined;
      for (let run = 0; run < 60 && id === undefined; run++) {
        const next = (await segments())[0]!;
        if (next.table_name === 'public.r_main') {
          const range = [
            next.lo === null ? 'true' : `id >= ${next.lo}`,
            next.hi === null ? 'true' : `id < ${next.hi}`,
          ];
          const [row] = await west!.query<{ id: string }>(
            `SELECT id::text FROM public.r_main WHERE ${range.join(' AND ')}
               AND (id BETWEEN 1001 AND 1999 OR id > 10000000) ORDER BY id LIMIT 1`,
          );
          id = row?.id;
        }
        if (id === undefined) expect((await rolling('1ms')).code).toBe(0);
      }
      expect(id).toBeDefined();
      await west!.query('DELETE FROM public.r_main WHERE id = $1', [id]);
      const text = await steep(['verify', SUB, '--rolling', '--budget', '1ms', '--parallel', '1']);
      expect(text.code, `${text.stdout}\n${text.stderr}`).toBe(2);
      expect(text.stdout).toMatch(/public\.r_main {2}\[[^\]]+\) {2}[\d,]+ rows {2}diverged {2}missing 1,/);
      expect(text.stdout).toContain(`missing: id=${id}`);
      expect(text.stdout).toContain(`Subscription ${SUB} on west is diverged.`);
      const way = /repair with: (steep reinit \S+ --tables \S+)/.exec(text.stdout);
      expect(way?.[1]).toBe(`steep reinit ${SUB} --tables public.r_main`);
      const status = await steep(['status', '--json']);
      const s = (
        JSON.parse(status.stdout) as {
          subscriptions: Array<{ name: string; state: string; divergedTables: string[] }>;
        }
      ).subscriptions.find((x) => x.name === SUB)!;
      expect(s).toMatchObject({ state: 'diverged', divergedTables: ['public.r_main'] });
      const reinit = await steep([...way![1]!.split(' ').slice(1), '--auto-approve']);
      expect(reinit.code, `${reinit.stdout}\n${reinit.stderr}`).toBe(0);
    } finally {
      await writer.stop();
    }
    await allEqual();
    const after = await steep(['verify', SUB, '--json']);
    expect(after.code, after.stdout).toBe(0);
    expect((JSON.parse(after.stdout) as { state: string }).state).toBe('synchronized');
    // a verify of the whole table marks every segment of it equal as of its start
    const [fresh] = await west!.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM steep.verified_segments WHERE subscription = $1 AND (equal_at IS NULL OR equal_at < now() - interval '5 min')`,
      [SUB],
    );
    expect(fresh!.n).toBe('0');
  }, 600_000);

  it('a row on a segment bound is compared once, in the segment above it; a row held twice by a keyless subscriber table is found', async () => {
    const [east, west] = cluster().nodes;
    const bounds = (await segments()).filter((s) => s.table_name === 'public.r_bound' && s.lo !== null);
    expect(bounds.length).toBeGreaterThan(1);
    const bound = bounds[0]!.lo!;
    await west!.query("UPDATE public.r_bound SET v = 'by hand' WHERE k = $1", [bound]);
    const [dup] = await west!.query<{ id: string }>(
      'SELECT id::text FROM public.r_dup ORDER BY id OFFSET 700 LIMIT 1',
    );
    await west!.query('INSERT INTO public.r_dup SELECT * FROM public.r_dup WHERE id = $1', [dup!.id]);
    // every segment is due (the verify above compared them all): one run takes them all
    const { code, report } = await rolling('10min');
    expect(code).toBe(2);
    const of = (t: string) => report.compared.filter((c) => c.table === t);
    const b = of('public.r_bound');
    // each row in exactly one segment: the segments' rows add up to the table's
    expect(b.reduce((n, c) => n + c.verdict.rows, 0)).toBe(2000);
    const found = b.filter((c) => c.verdict.status === 'diverged');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ lo: bound, verdict: { different: 1, missing: 0, extra: 0 } });
    expect(b.find((c) => c.hi === bound)?.verdict.status).toBe('equal');
    const d = of('public.r_dup').filter((c) => c.verdict.status === 'diverged');
    expect(d).toHaveLength(1);
    expect(d[0]!.verdict).toMatchObject({ extra: 1, missing: 0, different: 0 });
    // repaired by hand, both sides are alike again
    await west!.query(
      'UPDATE public.r_bound w SET v = e.v FROM (SELECT $1::text AS k, md5(substr($1, 2)) AS v) e WHERE w.k = e.k',
      [bound],
    );
    await west!.query(
      'DELETE FROM public.r_dup WHERE ctid = (SELECT max(ctid) FROM public.r_dup WHERE id = $1)',
      [dup!.id],
    );
    await allEqual();
    expect(east).toBeDefined();
  }, 600_000);
});
