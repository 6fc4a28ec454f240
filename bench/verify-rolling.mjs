// bench verify-rolling: one rolling cycle (`steep verify --rolling`, every segment of one table of
// about 1 GB compared once) against a full `steep verify` of the same table, on a live pair with
// an unpaced writer inserting on the publisher throughout; in the same run, the writer's commits
// per second while each runs against a window of the same length with neither. Targets
// (docs/benchmarks.md): the rolling cycle's rows per second ≥ 0.9× the full verify's, and the
// writer's rate under a rolling run ≥ 0.9× its rate without. Also: steep's peak RSS in each.
// Then the same rolling runs under a paced writer (one insert every BENCH_PACE_MS), as an
// application that does not saturate the machine writes: its rate and its commits' p99 latency
// under the rolling run against a window without it.
//
//   BENCH_ROWS          rows (default 8,000,000: about 1 GB of table and index)
//   BENCH_SEGMENT_ROWS  rows per rolling segment (default steep's own, 1,000,000)
//   BENCH_RUNS          runs of each, alternating (default 3)
//   BENCH_PACE_MS       the paced writer's pause between inserts (default 2)
//   BENCH_PARALLEL      the rolling run's --parallel (default steep's own)
import { writeFileSync } from 'node:fs';
import {
  benchFile,
  insertLoop,
  loadAverage,
  median,
  pairYaml,
  report,
  sql,
  startNodes,
  steepMeasured,
} from './common.mjs';

const ROWS = Number(process.env.BENCH_ROWS ?? 8_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
if (process.env.BENCH_SEGMENT_ROWS) process.env.STEEP_VERIFY_SEGMENT_ROWS = process.env.BENCH_SEGMENT_ROWS;

const PACE_MS = Number(process.env.BENCH_PACE_MS ?? 2);

/**
 * Inserts from `firstId` on, one every `paceMs` (0: as fast as one session commits them);
 * `rate(t0, t1)`: commits per second between two instants, `p99(t0, t1)`: their latency's 99th
 * percentile in ms.
 */
function writer(server, firstId, paceMs) {
  const commits = [];
  const stop = insertLoop(server, 't', firstId, { paceMs, onCommit: (t, ms) => commits.push([t, ms]) });
  const within = (t0, t1) => commits.filter(([t]) => t >= t0 && t < t1);
  return {
    rate: (t0, t1) => (within(t0, t1).length * 1000) / (t1 - t0),
    p99: (t0, t1) => {
      const ms = within(t0, t1)
        .map(([, l]) => l)
        .sort((a, b) => a - b);
      return ms.length > 0 ? ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.99))] : 0;
    },
    stop,
  };
}

const { servers, stop } = await startNodes(2);
const [pub, sub] = servers;
try {
  // the same rows on both sides, then a subscription that copies nothing (init: none): the
  // bench is about comparing, not copying
  for (const s of [pub, sub]) {
    await sql(s, 'CREATE TABLE public.t (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL)');
    await sql(
      s,
      `INSERT INTO public.t SELECT g, md5(g::text) || md5((g + 1)::text), g % 1000 FROM generate_series(1, ${ROWS}) g`,
    );
    await sql(s, 'VACUUM ANALYZE public.t');
  }
  const sizeRows = await pub.adminClient('app').then(async (c) => {
    try {
      return (await c.query("SELECT pg_total_relation_size('public.t')::bigint AS b")).rows[0].b;
    } finally {
      await c.end();
    }
  });
  const config = benchFile('verify-rolling.yaml');
  writeFileSync(
    config,
    pairYaml({ topology: 'bench-rolling', pub, sub, tables: ['public.t'], init: '{ method: none }' }),
  );
  await steepMeasured(['apply', '-c', config, '--auto-approve']);

  const measure = async (args, into) => {
    const t0 = performance.now();
    const m = await steepMeasured(args);
    const t1 = performance.now();
    into.push(m);
    return [t0, t1];
  };
  const rollingArgs = [
    'verify',
    '--rolling',
    '--budget',
    '1h',
    'bench_sub',
    '-c',
    config,
    '--json',
    ...(process.env.BENCH_PARALLEL ? ['--parallel', process.env.BENCH_PARALLEL] : []),
  ];
  /** A rolling run, then a window as long with nothing comparing: the writer's figures in each. */
  const rollingAndQuiet = async (w, rolling, figures) => {
    const [t0, t1] = await measure(rollingArgs, rolling);
    const q0 = performance.now();
    await new Promise((r) => setTimeout(r, t1 - t0));
    const q1 = performance.now();
    figures.push({
      under: w.rate(t0, t1),
      quiet: w.rate(q0, q1),
      underP99: w.p99(t0, t1),
      quietP99: w.p99(q0, q1),
    });
  };

  const unpaced = writer(pub, 1_000_000_000, 0);
  const full = [];
  const rolling = [];
  const unpacedFigures = [];
  const fullRun = () => measure(['verify', 'bench_sub', '-c', config, '--json'], full);
  for (let r = 0; r < RUNS; r++) {
    if (r % 2 === 0) {
      await fullRun();
      await rollingAndQuiet(unpaced, rolling, unpacedFigures);
    } else {
      await rollingAndQuiet(unpaced, rolling, unpacedFigures);
      await fullRun();
    }
  }
  await unpaced.stop();
  const paced = writer(pub, 2_000_000_000, PACE_MS);
  const pacedFigures = [];
  for (let r = 0; r < RUNS; r++) await rollingAndQuiet(paced, [], pacedFigures);
  await paced.stop();

  const f = median(full.map((m) => m.wallMs));
  const ro = median(rolling.map((m) => m.wallMs));
  const wq = median(unpacedFigures.map((x) => x.quiet));
  const wr = median(unpacedFigures.map((x) => x.under));
  const pq = median(pacedFigures.map((x) => x.quiet));
  const pr = median(pacedFigures.map((x) => x.under));
  const pqP99 = median(pacedFigures.map((x) => x.quietP99));
  const prP99 = median(pacedFigures.map((x) => x.underP99));
  report(
    'verify-rolling',
    {
      rows: ROWS,
      tableBytes: Number(sizeRows),
      runs: RUNS,
      fullMs: Math.round(f),
      rollingCycleMs: Math.round(ro),
      throughputRatio: +(f / ro).toFixed(3),
      target: 0.9,
      writerQuietPerS: Math.round(wq),
      writerUnderRollingPerS: Math.round(wr),
      writerRatio: +(wr / wq).toFixed(3),
      rollingParallel: process.env.BENCH_PARALLEL ? Number(process.env.BENCH_PARALLEL) : 'default',
      pacedWriterPaceMs: PACE_MS,
      pacedWriterQuietPerS: Math.round(pq),
      pacedWriterUnderRollingPerS: Math.round(pr),
      pacedWriterRatio: +(pr / pq).toFixed(3),
      pacedWriterQuietP99Ms: +pqP99.toFixed(2),
      pacedWriterUnderRollingP99Ms: +prP99.toFixed(2),
      fullPeakRssMb: Math.round(Math.max(...full.map((m) => m.rssMb))),
      rollingPeakRssMb: Math.round(Math.max(...rolling.map((m) => m.rssMb))),
      fullRunsMs: full.map((m) => Math.round(m.wallMs)),
      rollingRunsMs: rolling.map((m) => Math.round(m.wallMs)),
      load: loadAverage(),
    },
    `verify-rolling: ${ROWS.toLocaleString('en-US')} rows (${(Number(sizeRows) / 2 ** 30).toFixed(2)} GiB) under an unpaced writer: ` +
      `full verify ${(f / 1000).toFixed(2)} s, one rolling cycle ${(ro / 1000).toFixed(2)} s = ${(f / ro).toFixed(3)}× the full verify's throughput (target ≥ 0.9×); ` +
      `writer ${Math.round(wr)}/s under the rolling run vs ${Math.round(wq)}/s without = ${(wr / wq).toFixed(3)}× (target ≥ 0.9×); ` +
      `a writer paced at one insert every ${PACE_MS} ms: ${Math.round(pr)}/s under the rolling run vs ${Math.round(pq)}/s without = ${(pr / pq).toFixed(3)}×, p99 commit ${prP99.toFixed(1)} vs ${pqP99.toFixed(1)} ms; ` +
      `peak RSS full ${Math.round(Math.max(...full.map((m) => m.rssMb)))} MB, rolling ${Math.round(Math.max(...rolling.map((m) => m.rssMb)))} MB`,
  );
} finally {
  await stop();
}
