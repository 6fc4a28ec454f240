// bench watch-memory: the heap of `status --watch` and `init status --watch` over an hour of
// refreshes (3,600 by default), run in-process through the commands' own watch loop and
// renderers against a live publisher/subscriber pair. Baseline: the heap after the first 10%
// of refreshes (warm), in the same run. Target: flat, i.e. no growth with the number of
// refreshes (reported as KB per 1,000 refreshes between the warm point and the end).
//
//   BENCH_ITERATIONS  refreshes per command (default 3600)
//
// Run with `node --expose-gc` (npm run bench does so through run.mjs) so each sample follows a
// full collection.
import { writeFileSync } from 'node:fs';
import { watch } from '../dist/cli/watch.js';
import { renderInitStatus } from '../dist/render/initProgress.js';
import { renderStatus } from '../dist/render/status.js';
import { openInitStatus } from '../dist/workflows/initStatus.js';
import { openStatus, readStatus } from '../dist/workflows/status.js';
import { benchFile, pairYaml, report, sql, startNodes, steep } from './common.mjs';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 3600);
const SAMPLES = 10;
if (typeof globalThis.gc !== 'function')
  throw new Error('run with node --expose-gc (npm run bench -- watch-memory)');

/** Heap used after a full collection, in KB. */
function heapKb() {
  globalThis.gc();
  return Math.round(process.memoryUsage().heapUsed / 1024);
}

/** Run `refresh` ITERATIONS times through the real watch loop (no wait), sampling the heap. */
async function measure(refresh) {
  const samples = [];
  let n = 0;
  // the loop ends on SIGINT, as under a terminal; the bench's own SIGINT handler stays out of it
  const handlers = process.listeners('SIGINT');
  process.removeAllListeners('SIGINT');
  const write = process.stdout.write;
  let bytes = 0;
  process.stdout.write = (chunk) => {
    bytes += chunk.length;
    return true;
  };
  try {
    await watch(
      async () => {
        const text = await refresh();
        n++;
        if (n % (ITERATIONS / SAMPLES) === 0) samples.push({ at: n, heapKb: heapKb() });
        if (n === ITERATIONS) process.emit('SIGINT');
        return text;
      },
      { intervalMs: 0, redraw: false },
    );
  } finally {
    process.stdout.write = write;
    for (const h of handlers) process.on('SIGINT', h);
  }
  if (n !== ITERATIONS) throw new Error(`watch stopped after ${n} of ${ITERATIONS} refreshes`);
  if (bytes === 0) throw new Error('watch wrote nothing');
  const warm = samples[0];
  const end = samples[samples.length - 1];
  const perThousand = Math.round(((end.heapKb - warm.heapKb) / (end.at - warm.at)) * 1000);
  return { warmKb: warm.heapKb, endKb: end.heapKb, growthKbPer1000: perThousand, samples };
}

const { servers, stop } = await startNodes(2);
const [pub, sub] = servers;
try {
  const ddl = 'CREATE TABLE public.t (id bigint PRIMARY KEY, v text);';
  await sql(pub, `${ddl} INSERT INTO public.t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;`);
  await sql(sub, ddl);
  const config = benchFile('watch.yaml');
  writeFileSync(config, pairYaml({ topology: 'bench-watch', pub, sub, tables: ['public.t'] }));
  await steep(['apply', '-c', config, '--auto-approve']);

  const { topology } = await openStatus(config);
  const status = await measure(async () => renderStatus(await readStatus(topology)));
  const { observer } = await openInitStatus(config, undefined);
  let initStatus;
  try {
    initStatus = await measure(async () => renderInitStatus(await observer.sample()));
  } finally {
    await observer.close();
  }
  report(
    'watch-memory',
    {
      iterations: ITERATIONS,
      status: { warmKb: status.warmKb, endKb: status.endKb, growthKbPer1000: status.growthKbPer1000 },
      initStatus: {
        warmKb: initStatus.warmKb,
        endKb: initStatus.endKb,
        growthKbPer1000: initStatus.growthKbPer1000,
      },
      samples: { status: status.samples, initStatus: initStatus.samples },
      target: 'flat',
    },
    `watch-memory: ${ITERATIONS} refreshes: status --watch heap ${status.warmKb} KB warm → ${status.endKb} KB ` +
      `(${status.growthKbPer1000} KB per 1,000); init status --watch ${initStatus.warmKb} KB → ${initStatus.endKb} KB ` +
      `(${initStatus.growthKbPer1000} KB per 1,000) (target: flat)`,
  );
} finally {
  await stop();
}
