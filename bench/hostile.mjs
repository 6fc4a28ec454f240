// bench hostile: `steep validate` of the largest hostile files test/cli/fuzzCli.test.ts runs (a
// 5 MiB scalar, refused unread; a 3.9 MiB scalar; 200k `[`; 50k keys, 50k errors; 50k aliases of
// one anchor), and 12.5k keys against 50k keys (linear: ~4× the CPU over start), against
// `steep --version` in the same rounds (BENCH_RUNS, default 5; medians of wall and CPU time).
// The fuzz test asserts only that each returns, with positioned messages and no stack trace; how
// long they take is measured here (the test had bounded each case at 8 s). No PostgreSQL is needed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAverage, median, report, steepMeasured } from './common.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const keys = (n) => `version: 1\n${Array.from({ length: n }, (_, i) => `k${i}: ${i}`).join('\n')}\n`;
const FILES = {
  scalar5MiB: `version: 1\ntopology: ${'x'.repeat(5 * 1024 * 1024)}\n`,
  scalar3_9MB: `version: 1\ntopology: ${'x'.repeat(3_900_000)}\n`,
  brackets200k: '['.repeat(200_000),
  keys12_5k: keys(12_500),
  keys50k: keys(50_000),
  aliases50k: `version: 1\na: &a x\nb: [${Array(50_000).fill('*a').join(',')}]\n`,
};
const dir = mkdtempSync(join(tmpdir(), 'steep-bench-hostile-'));
try {
  const paths = {};
  for (const [name, text] of Object.entries(FILES)) {
    paths[name] = join(dir, `${name}.yaml`);
    writeFileSync(paths[name], text);
  }
  const validate = (name) => steepMeasured(['validate', '-c', paths[name]], { okCodes: [0, 1] });
  const loadBefore = loadAverage();
  // a first run of each, untimed: the files it reads are in the page cache for the timed rounds
  await steepMeasured(['--version']);
  await validate('keys12_5k');
  const figures = { version: [] };
  for (const name of Object.keys(FILES)) figures[name] = [];
  for (let r = 0; r < RUNS; r++) {
    figures.version.push(await steepMeasured(['--version']));
    for (const name of Object.keys(FILES)) figures[name].push(await validate(name));
  }
  const wall = (k) => Math.round(median(figures[k].map((m) => m.wallMs)));
  const cpu = (k) => Math.round(median(figures[k].map((m) => m.cpuMs)));
  const overStart = (k) => cpu(k) - cpu('version');
  const keysRatio = overStart('keys50k') / Math.max(1, overStart('keys12_5k'));
  const loadAfter = loadAverage();
  const each = Object.keys(FILES).map((k) => ({
    file: k,
    wallMs: wall(k),
    cpuMs: cpu(k),
    cpuOverStartMs: overStart(k),
    peakRssMb: Math.round(median(figures[k].map((m) => m.rssMb))),
  }));
  report(
    'hostile',
    {
      runs: RUNS,
      versionWallMs: wall('version'),
      versionCpuMs: cpu('version'),
      files: each,
      keys50kOver12_5k: Number(keysRatio.toFixed(2)),
      load: [loadBefore, loadAfter],
      target: { keys50kOver12_5k: 'about 4 (linear)' },
    },
    `hostile: steep --version ${wall('version')} ms wall, ${cpu('version')} ms CPU; validate ${each
      .map((e) => `${e.file} ${e.wallMs} ms wall, ${e.cpuOverStartMs} ms CPU over start, ${e.peakRssMb} MB`)
      .join(
        '; ',
      )}; 50k keys / 12.5k keys = ${keysRatio.toFixed(2)}× CPU over start (linear ≈ 4×); load ${loadBefore} → ${loadAfter}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
