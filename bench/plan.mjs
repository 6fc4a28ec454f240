// bench plan: `steep plan` wall time on 10 nodes × 500 tables with nothing to change, against
// the same catalog queries sent by psql (10 sessions in parallel) in the same run. Targets
// (docs/benchmarks.md): ≤ 1.3× and < 500 ms. Start-up has its own bench (`start`).
import { writeFileSync } from 'node:fs';
import { probeQueries, snapshotQueries } from '../dist/catalog/readNode.js';
import {
  benchFile,
  inline,
  median,
  psql,
  report,
  sql,
  startNodes,
  steep,
  steepMeasured,
  tablesDdl,
  time,
} from './common.mjs';

const NODES = 10;
const TABLES = Number(process.env.BENCH_TABLES ?? 500);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
// BENCH_BEFORE=DIR: also time the build in DIR (a worktree of the commit before a change, built)
// in each round, for a before/after under the same load
const BEFORE = process.env.BENCH_BEFORE;

const { servers, stop } = await startNodes(NODES);
try {
  const ddl = tablesDdl(TABLES);
  await Promise.all(servers.map((s) => sql(s, ddl)));
  const half = NODES / 2;
  const lines = ['version: 1', 'topology: bench', 'nodes:'];
  for (const s of servers) lines.push(`  ${s.name}:`, `    url: postgres://postgres@127.0.0.1:${s.port}/app`);
  lines.push('publications:');
  for (let i = 0; i < half; i++) {
    lines.push(`  pub${i}:`, `    node: n${i}`, '    tables:');
    for (let t = 0; t < TABLES; t++) lines.push(`      - public.t${t}`);
  }
  lines.push('subscriptions:');
  for (let i = 0; i < half; i++) {
    lines.push(
      `  sub${i}:`,
      `    node: n${i + half}`,
      `    from: n${i}`,
      `    publications: [pub${i}]`,
      '    init:',
      '      method: none',
    );
  }
  const config = benchFile('plan.yaml');
  writeFileSync(config, `${lines.join('\n')}\n`);
  await steep(['apply', '-c', config, '--auto-approve']);
  await steep(['plan', '-c', config, '--detailed-exitcode']); // exit 0: nothing to change
  if (process.env.BENCH_KEEP) {
    // keep the nodes for profiling (`node --cpu-prof bin/run.js plan -c CONFIG`) until Ctrl-C / SIGINT
    console.log(`nodes kept: steep plan -c ${config}; SIGINT (kill -INT ${process.pid}) stops them`);
    // a timer keeps the process alive: a pending promise alone does not (Node would exit with
    // code 13, removing the steep.yaml and leaving the servers, whose processes are unref'd)
    setInterval(() => {}, 1 << 30);
    await new Promise(() => {});
  }

  // the baseline sends exactly the queries steep sends, per node, in one psql session each
  const probe = {
    serverVersion: 180000,
    canReadConninfo: true,
    canReadOriginStatus: true,
    stateSchema: 'steep',
    hasMigrations: true,
  };
  // every node publishes or subscribes the 500 tables: their columns are read too (schema sync)
  const scope = {
    all: false,
    schemas: [],
    tables: Array.from({ length: TABLES }, (_, t) => ({ schema: 'public', name: `t${t}` })),
  };
  const queries = [
    ...Object.values(probeQueries('steep')),
    ...Object.values(snapshotQueries(probe, scope, true)).filter(Boolean),
  ];
  const script = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n${queries.map((q) => `${inline(q)};`).join('\n')}\nCOMMIT;`;

  const steepMs = [];
  const steepCpuMs = [];
  const steepRssMb = [];
  const psqlMs = [];
  const before = { ms: [], cpuMs: [] };
  const runBefore = async () => {
    const o = await steepMeasured(['plan', '-c', config, '--detailed-exitcode'], { root: BEFORE });
    before.ms.push(o.wallMs);
    before.cpuMs.push(o.cpuMs);
  };
  for (let r = 0; r < RUNS; r++) {
    // the build before first in even rounds, second in odd ones
    if (BEFORE && r % 2 === 0) await runBefore();
    const m = await steepMeasured(['plan', '-c', config, '--detailed-exitcode']);
    steepMs.push(m.wallMs);
    steepCpuMs.push(m.cpuMs);
    steepRssMb.push(m.rssMb);
    if (BEFORE && r % 2 === 1) await runBefore();
    psqlMs.push(await time(() => Promise.all(servers.map((s) => psql(s, script)))));
  }
  const s = median(steepMs);
  const b = median(psqlMs);
  report(
    'plan',
    {
      nodes: NODES,
      tables: TABLES,
      runs: RUNS,
      steepMs: Math.round(s),
      baselineMs: Math.round(b),
      ratio: +(s / b).toFixed(2),
      steepCpuMs: Math.round(median(steepCpuMs)),
      steepRssMb: Math.round(Math.max(...steepRssMb)),
      target: { ratio: 1.3, steepMs: 500 },
      ...(BEFORE
        ? {
            before: BEFORE,
            beforeMs: Math.round(median(before.ms)),
            beforeRatio: +(median(before.ms) / b).toFixed(2),
            beforeCpuMs: Math.round(median(before.cpuMs)),
          }
        : {}),
    },
    `plan: ${NODES} nodes × ${TABLES} tables, no changes: steep ${Math.round(s)} ms vs psql ${Math.round(b)} ms = ${(s / b).toFixed(2)}× (target ≤ 1.3× and < 500 ms); steep used ${Math.round(median(steepCpuMs))} ms of CPU`,
  );
} finally {
  await stop();
}
