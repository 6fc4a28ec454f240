// bench plan-observed: `steep plan --observed FILE` (against a capture, no database access)
// beside `steep plan` (the live nodes) in the same run, N nodes × T tables with nothing to
// change, and the time `steep observe` takes to write the capture, and its size.
import { statSync, writeFileSync } from 'node:fs';
import { benchFile, median, report, sql, startNodes, steep, tablesDdl, time } from './common.mjs';

const NODES = Number(process.env.BENCH_NODES ?? 4);
const TABLES = Number(process.env.BENCH_TABLES ?? 500);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const { servers, stop } = await startNodes(NODES);
try {
  const ddl = tablesDdl(TABLES);
  await Promise.all(servers.map((s) => sql(s, ddl)));
  const half = NODES / 2;
  const lines = ['version: 1', 'topology: bench', 'nodes:'];
  for (const s of servers) lines.push(`  ${s.name}:`, `    url: postgres://postgres@127.0.0.1:${s.port}/app`);
  lines.push('publications:');
  for (let i = 0; i < half; i++) lines.push(`  pub${i}: { node: n${i}, allTables: true }`);
  lines.push('subscriptions:');
  for (let i = 0; i < half; i++)
    lines.push(
      `  sub${i}: { node: n${i + half}, from: n${i}, publications: [pub${i}], init: { method: none } }`,
    );
  const config = benchFile('observed.yaml');
  const capture = benchFile('observed.json');
  writeFileSync(config, `${lines.join('\n')}\n`);
  await steep(['apply', '-c', config, '--auto-approve']);

  const liveMs = [];
  const observedMs = [];
  const observeMs = [];
  for (let r = 0; r < RUNS; r++) {
    observeMs.push(await time(() => steep(['observe', '-c', config, '--out', capture])));
    liveMs.push(await time(() => steep(['plan', '-c', config, '--detailed-exitcode'])));
    observedMs.push(
      await time(() => steep(['plan', '-c', config, '--observed', capture, '--detailed-exitcode'])),
    );
  }
  const live = median(liveMs);
  const observed = median(observedMs);
  const obs = median(observeMs);
  const bytes = statSync(capture).size;
  report(
    'plan-observed',
    {
      nodes: NODES,
      tables: TABLES,
      runs: RUNS,
      liveMs: Math.round(live),
      observedMs: Math.round(observed),
      ratio: +(observed / live).toFixed(2),
      observeMs: Math.round(obs),
      observeRatio: +(obs / live).toFixed(2),
      captureBytes: bytes,
    },
    `plan-observed: ${NODES} nodes × ${TABLES} tables, no changes: plan --observed ${Math.round(observed)} ms vs live plan ${Math.round(live)} ms = ${(observed / live).toFixed(2)}×; observe ${Math.round(obs)} ms (${(obs / live).toFixed(2)}× the live plan), capture ${(bytes / 1e6).toFixed(1)} MB`,
  );
} finally {
  await stop();
}
