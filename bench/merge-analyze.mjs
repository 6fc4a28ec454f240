// bench merge-analyze: `steep merge analyze` of two nodes holding 1 M rows each with 1 % of them
// conflicting (same key, another row), against the baseline "stream `SELECT key, md5(row::text)`
// ordered by key from both nodes with psql and compare", in the same run. Target ≤ 0.7×
// (docs/benchmarks.md). Two tables, measured apart: `mc` whose conflicts come in runs of 100 neighbouring
// keys (the rows one region changed: most key ranges identical), `mu` whose conflicts are spread
// uniformly (every key range differs somewhere). Then SC-009: the reconcile of a merge with
// 100,000 conflicting rows (`prefer:n0`): its time and the process's peak RSS.
// steep and the baseline run alternately (median of BENCH_RUNS each); every figure comes with the
// CPU used (the process tree and both servers' backends) and the load average: on a shared
// machine the CPU ratio moves least.
//
//   BENCH_ROWS       rows per table (default 1,000,000)
//   BENCH_CONFLICTS  conflicting rows of the reconcile (default 100,000)
//   BENCH_RUNS       runs of each, alternating (default 3)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compareFiles,
  cpuMeter,
  loadAverage,
  median,
  psqlCopy,
  ROOT,
  report,
  sql,
  startNodes,
  steep,
  time,
} from './common.mjs';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const CONFLICTS = Number(process.env.BENCH_CONFLICTS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PERCENT = 1;

const { servers, stop } = await startNodes(2);
const [n0, n1] = servers;
const dir = mkdtempSync(join(tmpdir(), 'steep-bench-merge-'));
try {
  const ddl = ['mc', 'mu', 'sc']
    .map((t) => `CREATE TABLE public.${t} (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL);`)
    .join('\n');
  await Promise.all([sql(n0, ddl), sql(n1, ddl)]);
  const conflictsOf = ROWS * (PERCENT / 100);
  // the same rows on both nodes but for 1 %: runs of 100 (mc) or every 100th key (mu)
  const fill = (side) =>
    [
      `INSERT INTO public.mc SELECT g, md5(g::text) || md5((g + 1)::text) || CASE WHEN g % ${Math.round(100 * (100 / PERCENT))} < 100 THEN '${side}' ELSE '' END, g % 1000 FROM generate_series(1, ${ROWS}) g`,
      `INSERT INTO public.mu SELECT g, md5(g::text) || md5((g + 1)::text) || CASE WHEN g % ${Math.round(100 / PERCENT)} = 0 THEN '${side}' ELSE '' END, g % 1000 FROM generate_series(1, ${ROWS}) g`,
      `INSERT INTO public.sc SELECT g, md5(g::text) || '${side}', g % 1000 FROM generate_series(1, ${CONFLICTS}) g`,
    ].join(';\n');
  await Promise.all([sql(n0, fill('a')), sql(n1, fill('b'))]);
  await Promise.all([sql(n0, 'VACUUM ANALYZE'), sql(n1, 'VACUUM ANALYZE')]);

  const node = (name, s) => [`  ${name}:`, `    url: postgres://postgres@127.0.0.1:${s.port}/app`];
  const head = [
    'version: 1',
    'topology: bench-merge',
    'nodes:',
    ...node('n0', n0),
    ...node('n1', n1),
    'publications:',
    '  bench_pub: { node: n0, tables: [public.mc, public.mu, public.sc] }',
    '  bench_pub1: { node: n1, tables: [public.sc] }',
  ];
  // the pair to merge (never applied: both nodes hold rows), and the file apply creates
  // steep's state schema from
  const config = join(dir, 'steep.yaml');
  writeFileSync(
    config,
    `${[...head, 'subscriptions:', '  bench_sub: { node: n1, from: n0, publications: [bench_pub] }'].join('\n')}\n`,
  );
  const stateConfig = join(dir, 'state.yaml');
  writeFileSync(stateConfig, `${head.join('\n')}\n`);

  // every run: wall time, CPU of the whole thing (this process and its children — steep, or psql
  // and the comparison — plus both servers' backends) and the load average when it ended
  const meter = cpuMeter([n0, n1]);
  const measured = async (fn) => {
    const stop = meter.start();
    const wallMs = await time(fn);
    const cpu = await stop();
    const serversMs = cpu.serversMs.reduce((a, b) => a + b, 0);
    return {
      wallMs,
      cpuMs: cpu.selfMs + cpu.childrenMs + serversMs,
      clientMs: cpu.selfMs + cpu.childrenMs,
      serversMs,
      load: loadAverage(),
    };
  };
  const bySteep = (table) =>
    measured(async () => {
      const out = await steep(['merge', 'analyze', 'bench_sub', '-c', config, '--tables', table, '--json'], {
        okCodes: [2],
      });
      const t = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))).tables[0];
      if (t.conflicting !== conflictsOf || t.identical !== ROWS - conflictsOf)
        throw new Error(`merge analyze counted ${JSON.stringify(t)}, expected ${conflictsOf} conflicting`);
    });
  const baseline = (table) =>
    measured(async () => {
      const a = join(dir, `${table}-n0`);
      const b = join(dir, `${table}-n1`);
      await Promise.all([psqlCopy(n0, table, a), psqlCopy(n1, table, b)]);
      const differing = await compareFiles(a, b);
      rmSync(a, { force: true });
      rmSync(b, { force: true });
      if (differing !== conflictsOf) throw new Error(`the baseline found ${differing} differing rows`);
    });

  // steep and the baseline alternately (the baseline first in every other pair), so both see the
  // same load; medians of each
  const figures = {};
  for (const table of ['mc', 'mu']) {
    const s = [];
    const b = [];
    for (let r = 0; r < RUNS; r++) {
      if (r % 2 === 0) {
        b.push(await baseline(table));
        s.push(await bySteep(table));
      } else {
        s.push(await bySteep(table));
        b.push(await baseline(table));
      }
    }
    const m = (xs, k) => median(xs.map((x) => x[k]));
    figures[table] = {
      steepMs: Math.round(m(s, 'wallMs')),
      baselineMs: Math.round(m(b, 'wallMs')),
      ratio: +(m(s, 'wallMs') / m(b, 'wallMs')).toFixed(3),
      steepCpuMs: Math.round(m(s, 'cpuMs')),
      baselineCpuMs: Math.round(m(b, 'cpuMs')),
      cpuRatio: +(m(s, 'cpuMs') / m(b, 'cpuMs')).toFixed(3),
      steepClientCpuMs: Math.round(m(s, 'clientMs')),
      steepServersCpuMs: Math.round(m(s, 'serversMs')),
      baselineClientCpuMs: Math.round(m(b, 'clientMs')),
      baselineServersCpuMs: Math.round(m(b, 'serversMs')),
      load: [Math.min(...[...s, ...b].map((x) => x.load)), Math.max(...[...s, ...b].map((x) => x.load))],
      steepRuns: s.map((x) => `${Math.round(x.wallMs)} ms wall, ${x.cpuMs} ms CPU, load ${x.load}`),
      baselineRuns: b.map((x) => `${Math.round(x.wallMs)} ms wall, ${x.cpuMs} ms CPU, load ${x.load}`),
    };
  }

  // SC-009: steep's state schema (merge_log) on both nodes, then the reconcile as apply's merge
  // init runs it, in its own process under /usr/bin/time
  await steep(['apply', '-c', stateConfig, '--auto-approve']);
  const driver = [
    `import { loadTopology } from '${ROOT}/dist/config/load.js';`,
    `import { mergePairOf } from '${ROOT}/dist/workflows/mergeAnalyze.js';`,
    `import { reconcilePair } from '${ROOT}/dist/workflows/mergeReconcile.js';`,
    `const { topology } = await loadTopology(${JSON.stringify(config)});`,
    `const pair = { ...mergePairOf(topology, 'bench_sub'), scope: { tables: [{ schema: 'public', name: 'sc' }], schemas: [], allTables: false } };`,
    `const r = await reconcilePair(topology, pair, { kind: 'prefer', node: 'n0' });`,
    'console.log(JSON.stringify(r.tables));',
  ].join('\n');
  const timeFile = join(dir, 'time');
  const stopMeter = meter.start();
  const t0 = process.hrtime.bigint();
  const out = await new Promise((resolvePromise, reject) => {
    const child = spawn('/usr/bin/time', [
      '-f',
      '%U %S %M',
      '-o',
      timeFile,
      process.execPath,
      '--input-type=module',
      '-e',
      driver,
    ]);
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.on('close', (code) =>
      code === 0 ? resolvePromise(text) : reject(new Error(`reconcile exited ${code}:\n${text}`)),
    );
  });
  const reconcileMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const reconcileServersMs = (await stopMeter()).serversMs.reduce((a, b) => a + b, 0);
  const reconcileLoad = loadAverage();
  const [user, system, rssKb] = readFileSync(timeFile, 'utf8')
    .trim()
    .split('\n')
    .pop()
    .split(' ')
    .map(Number);
  const done = JSON.parse(out.trim().split('\n').pop())[0];
  if (done.conflicts !== CONFLICTS || done.keptA !== CONFLICTS)
    throw new Error(
      `the reconcile decided ${JSON.stringify(done)}, expected ${CONFLICTS} conflicts kept from n0`,
    );
  const after = await steep(['merge', 'analyze', 'bench_sub', '-c', config, '--tables', 'sc', '--json']);
  if (JSON.parse(after.split('\n').find((l) => l.startsWith('{'))).totals.identical !== CONFLICTS)
    throw new Error(`after the reconcile the nodes still differ:\n${after}`);
  const [logged] = await sql(
    n1,
    "SELECT count(*)::int AS n FROM steep.merge_log WHERE merge_name = 'bench_sub'",
  );
  if (logged.n !== CONFLICTS) throw new Error(`merge_log holds ${logged.n} decisions, expected ${CONFLICTS}`);

  const sentence = (f) =>
    `${(f.steepMs / 1000).toFixed(2)} s vs baseline ${(f.baselineMs / 1000).toFixed(2)} s = ${f.ratio}× wall, ` +
    `CPU ${(f.steepCpuMs / 1000).toFixed(2)} s vs ${(f.baselineCpuMs / 1000).toFixed(2)} s = ${f.cpuRatio}× (load ${f.load.join('–')})`;
  report(
    'merge-analyze',
    {
      rowsPerNode: ROWS,
      conflictPercent: PERCENT,
      runs: RUNS,
      clustered: figures.mc,
      uniform: figures.mu,
      target: 0.7,
      sc009: {
        conflicts: CONFLICTS,
        reconcileMs: Math.round(reconcileMs),
        cpuMs: Math.round((user + system) * 1000),
        peakRssMb: Math.round(rssKb / 1024),
        serversCpuMs: reconcileServersMs,
        load: reconcileLoad,
      },
    },
    `merge-analyze: 2 × ${ROWS.toLocaleString('en-US')} rows, ${PERCENT} % conflicting, median of ${RUNS} interleaved: ` +
      `runs of 100 ${sentence(figures.mc)}; uniform ${sentence(figures.mu)} (target ≤ 0.7× wall); ` +
      `SC-009 reconcile of ${CONFLICTS.toLocaleString('en-US')} conflicts ${(reconcileMs / 1000).toFixed(1)} s, CPU ${(user + system).toFixed(1)} s (servers ${(reconcileServersMs / 1000).toFixed(1)} s), peak RSS ${Math.round(rssKb / 1024)} MB (load ${reconcileLoad})`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
  await stop();
}
