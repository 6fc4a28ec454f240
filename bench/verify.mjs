// bench verify: `steep verify` of 2 tables × 1 M rows on a live pair (a writer inserting on the
// publisher throughout) against the baseline "stream `SELECT key, md5(row::text)` ordered by key
// from both nodes with psql and compare", both tables at a time, in the same run. Target ≤ 0.7×
// (docs/benchmarks.md). Also: linear in rows — verify of a table of half the rows takes about half the time.
//
//   BENCH_ROWS  rows per table (default 1,000,000)
//   BENCH_RUNS  runs of each, alternating (default 3)
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchFile,
  compareFiles,
  insertLoop,
  median,
  pairYaml,
  psqlCopy,
  report,
  sql,
  startNodes,
  steep,
  time,
} from './common.mjs';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const TABLES = ['t0', 't1'];

const { servers, stop } = await startNodes(2);
const [pub, sub] = servers;
const dir = join(tmpdir(), `steep-bench-verify-${process.pid}`);
try {
  const names = [...TABLES, 'th'];
  const ddl = names
    .map((t) => `CREATE TABLE public.${t} (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL);`)
    .join('\n');
  await sql(pub, ddl);
  await sql(sub, ddl);
  for (const t of names)
    await sql(
      pub,
      `INSERT INTO public.${t} SELECT g, md5(g::text) || md5((g + 1)::text), g % 1000 FROM generate_series(1, ${t === 'th' ? ROWS / 2 : ROWS}) g`,
    );
  await sql(pub, 'VACUUM ANALYZE');
  const config = benchFile('verify.yaml');
  writeFileSync(
    config,
    pairYaml({ topology: 'bench-verify', pub, sub, tables: names.map((t) => `public.${t}`) }),
  );
  await steep(['apply', '-c', config, '--auto-approve']);
  await sql(sub, 'VACUUM ANALYZE');

  // the live part: a writer inserting on the publisher, 20 transactions a second
  const stopWriter = insertLoop(pub, 't0', 100_000_000);

  const bySteep = (tables) =>
    time(async () => {
      const out = await steep(['verify', 'bench_sub', '-c', config, '--tables', tables.join(','), '--json']);
      if (JSON.parse(out.split('\n').find((l) => l.startsWith('{'))).diverged)
        throw new Error(`verify found differences:\n${out}`);
    });
  const baseline = () =>
    time(async () => {
      await Promise.all(
        TABLES.map(async (t) => {
          const a = join(tmpdir(), `steep-bench-verify-${process.pid}-${t}-pub`);
          const b = join(tmpdir(), `steep-bench-verify-${process.pid}-${t}-sub`);
          await Promise.all([psqlCopy(pub, t, a), psqlCopy(sub, t, b)]);
          await compareFiles(a, b);
          rmSync(a, { force: true });
          rmSync(b, { force: true });
        }),
      );
    });

  const steepRuns = [];
  const baseRuns = [];
  for (let r = 0; r < RUNS; r++) {
    if (r % 2 === 0) {
      baseRuns.push(await baseline());
      steepRuns.push(await bySteep(TABLES));
    } else {
      steepRuns.push(await bySteep(TABLES));
      baseRuns.push(await baseline());
    }
  }
  const full = [];
  const half = [];
  for (let r = 0; r < RUNS; r++) {
    full.push(await bySteep(['t1']));
    half.push(await bySteep(['th']));
  }
  await stopWriter();
  const s = median(steepRuns);
  const b = median(baseRuns);
  const f = median(full);
  const h = median(half);
  report(
    'verify',
    {
      tables: TABLES.length,
      rowsPerTable: ROWS,
      runs: RUNS,
      steepMs: Math.round(s),
      baselineMs: Math.round(b),
      ratio: +(s / b).toFixed(3),
      target: 0.7,
      oneTableMs: Math.round(f),
      halfTableMs: Math.round(h),
      halfRatio: +(h / f).toFixed(3),
      steepRunsMs: steepRuns.map(Math.round),
      baselineRunsMs: baseRuns.map(Math.round),
    },
    `verify: ${TABLES.length} × ${ROWS.toLocaleString('en-US')} rows on a live pair: steep verify ${(s / 1000).toFixed(2)} s vs psql streaming (key, md5) from both nodes + compare ${(b / 1000).toFixed(2)} s = ${(s / b).toFixed(3)}× (target ≤ 0.7×); ` +
      `one table ${(f / 1000).toFixed(2)} s, half its rows ${(h / 1000).toFixed(2)} s (${(h / f).toFixed(2)}×, linear would be ~0.5× plus CLI start)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
  await stop();
}
