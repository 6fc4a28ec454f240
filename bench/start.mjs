// bench start: the CLI's start, `steep --version`, and `steep validate` of a 2,570-line steep.yaml
// (the `plan` bench's topology, 10 nodes × 500 tables), against `node -e 0` in the same run,
// interleaved (BENCH_RUNS rounds, default 9; medians of wall and CPU time). Targets (issue 53):
// `--version` within 100 ms of `node -e 0`; `validate` within 250 ms of `--version`. No PostgreSQL
// is needed.
// BENCH_BEFORE=DIR also runs the build in DIR (a copy of the package root with its dist/, e.g. the
// build before a change) in the same rounds, for a before/after under the same load.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAverage, measuredRun, median, report, steepMeasured } from './common.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const dir = mkdtempSync(join(tmpdir(), 'steep-bench-start-'));
try {
  const lines = ['version: 1', 'topology: bench', 'nodes:'];
  for (let i = 0; i < 10; i++)
    lines.push(`  n${i}:`, `    url: postgres://postgres@127.0.0.1:${5500 + i}/app`);
  lines.push('publications:');
  for (let i = 0; i < 5; i++) {
    lines.push(`  pub${i}:`, `    node: n${i}`, '    tables:');
    for (let t = 0; t < 500; t++) lines.push(`      - public.t${t}`);
  }
  lines.push('subscriptions:');
  for (let i = 0; i < 5; i++) {
    lines.push(`  sub${i}:`, `    node: n${i + 5}`, `    from: n${i}`, `    publications: [pub${i}]`);
    lines.push('    init:', '      method: none');
  }
  const config = join(dir, 'steep.yaml');
  writeFileSync(config, `${lines.join('\n')}\n`);

  const loadBefore = loadAverage();
  const before = process.env.BENCH_BEFORE;
  const figures = { node: [], version: [], validate: [], beforeVersion: [], beforeValidate: [] };
  // a first run of each, untimed: the files it reads are in the page cache for the timed rounds
  for (const root of before ? [undefined, before] : [undefined]) {
    await steepMeasured(['--version'], { root });
    await steepMeasured(['validate', '-c', config], { root });
  }
  for (let r = 0; r < RUNS; r++) {
    figures.node.push(await measuredRun('node -e 0', ['-e', '0']));
    figures.version.push(await steepMeasured(['--version']));
    figures.validate.push(await steepMeasured(['validate', '-c', config]));
    if (!before) continue;
    figures.beforeVersion.push(await steepMeasured(['--version'], { root: before }));
    figures.beforeValidate.push(await steepMeasured(['validate', '-c', config], { root: before }));
  }
  const wall = (k) => Math.round(median(figures[k].map((m) => m.wallMs)));
  const cpu = (k) => Math.round(median(figures[k].map((m) => m.cpuMs)));
  const loadAfter = loadAverage();
  report(
    'start',
    {
      runs: RUNS,
      lines: lines.length,
      nodeWallMs: wall('node'),
      nodeCpuMs: cpu('node'),
      versionWallMs: wall('version'),
      versionCpuMs: cpu('version'),
      validateWallMs: wall('validate'),
      validateCpuMs: cpu('validate'),
      versionOverNodeWallMs: wall('version') - wall('node'),
      validateOverStartWallMs: wall('validate') - wall('version'),
      validateOverStartCpuMs: cpu('validate') - cpu('version'),
      ...(before
        ? {
            before: {
              dir: before,
              versionWallMs: wall('beforeVersion'),
              versionCpuMs: cpu('beforeVersion'),
              validateWallMs: wall('beforeValidate'),
              validateCpuMs: cpu('beforeValidate'),
              validateOverStartCpuMs: cpu('beforeValidate') - cpu('beforeVersion'),
            },
          }
        : {}),
      load: [loadBefore, loadAfter],
      target: { versionOverNodeMs: 100, validateOverStartMs: 250 },
    },
    `start: steep --version ${wall('version')} ms wall, ${cpu('version')} ms CPU (node -e 0: ${wall('node')} ms, ${cpu('node')} ms CPU) = ${wall('version') - wall('node')} ms over node (target ≤ 100 ms); validate of ${lines.length} lines ${wall('validate')} ms wall, ${cpu('validate')} ms CPU = ${wall('validate') - wall('version')} ms wall, ${cpu('validate') - cpu('version')} ms CPU over start (target ≤ 250 ms)${before ? `; the build before: --version ${wall('beforeVersion')} ms wall, ${cpu('beforeVersion')} ms CPU, validate ${wall('beforeValidate')} ms wall, ${cpu('beforeValidate')} ms CPU = ${cpu('beforeValidate') - cpu('beforeVersion')} ms over start` : ''}; load ${loadBefore} → ${loadAfter}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
