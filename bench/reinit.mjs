// bench reinit (reference SC-004): `steep reinit --tables big` of one ~100 MB table, while a
// second table of the subscription keeps streaming, against a fresh snapshot init of the same
// subscription (`steep apply` creating it, until synchronized), in the same run on the same nodes.
// Target ≤ 1.1× (and under 5 minutes). The floor, in the same rounds: the table moved by one
// binary COPY pipe between the nodes (bench/common.mjs copyFloor; a reinit copies it by
// PostgreSQL's one table sync worker), its key built after; `vsFloor` is the reinit
// (reinit.started → reinit.completed in its JSON log) against it.
//
//   BENCH_MB    size of the table, MB (default 100)
//   BENCH_RUNS  runs of each, alternating (default 2)
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import {
  benchFile,
  copyFloor,
  insertLoop,
  logSpan,
  median,
  pairYaml,
  report,
  sql,
  startNodes,
  steep,
  time,
} from './common.mjs';

const MB = Number(process.env.BENCH_MB ?? 100);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
// a row of (bigint, 64-character text, int) takes about 110 bytes on disk
const ROWS = Math.max(1, Math.round((MB * 1024 * 1024) / 110));

const { servers, stop } = await startNodes(2);
const [pub, sub] = servers;
try {
  const ddl = ['big', 'other']
    .map((t) => `CREATE TABLE public.${t} (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL);`)
    .join('\n');
  await sql(pub, ddl);
  await sql(sub, ddl);
  await sql(
    pub,
    `INSERT INTO public.big SELECT g, md5(g::text) || md5((g + 1)::text), g % 1000 FROM generate_series(1, ${ROWS}) g`,
  );
  await sql(pub, `INSERT INTO public.other SELECT g, md5(g::text), 0 FROM generate_series(1, 10000) g`);
  await sql(pub, 'VACUUM ANALYZE');
  const [{ bytes }] = await sql(pub, `SELECT pg_table_size('public.big')::float8 AS bytes`);
  const pair = { topology: 'bench-reinit', pub, sub, tables: ['public.big', 'public.other'] };
  const configA = benchFile('reinit-a.yaml');
  const configB = benchFile('reinit-b.yaml');
  writeFileSync(configA, pairYaml({ ...pair, subscription: null }));
  writeFileSync(configB, pairYaml(pair));
  await steep(['apply', '-c', configA, '--auto-approve']);

  // the other table keeps receiving writes throughout
  const stopWriter = insertLoop(pub, 'other', 1_000_000);

  const drop = async () => {
    await steep(['apply', '-c', configA, '--auto-approve', '--allow-destroy']);
    await sql(sub, 'TRUNCATE public.big, public.other');
    await sql(sub, 'CHECKPOINT');
    await sql(pub, 'CHECKPOINT');
  };
  const init = async () => {
    const ms = await time(() => steep(['apply', '-c', configB, '--auto-approve']));
    return ms;
  };
  const reinit = async () => {
    await sql(sub, 'CHECKPOINT');
    await sql(pub, 'CHECKPOINT');
    let log = '';
    const ms = await time(async () => {
      log = await steep([
        'reinit',
        'bench_sub',
        '--auto-approve',
        '-c',
        configB,
        '--tables',
        'big',
        '--log-format',
        'json',
      ]);
    });
    return { ms, spanMs: logSpan(log, 'reinit.started', 'reinit.completed'), load: loadavg()[0] };
  };
  // the floor: the table by one binary COPY pipe, its key built after (the table emptied by drop())
  const floorOnce = async () => {
    const f = await copyFloor(pub, sub, [{ table: 'public.big' }]);
    const [{ n }] = await sql(sub, 'SELECT count(*)::bigint AS n FROM public.big');
    if (Number(n) !== ROWS) throw new Error(`floor: ${n} rows on the subscriber, not ${ROWS}`);
    await sql(sub, 'TRUNCATE public.big');
    await sql(sub, 'CHECKPOINT');
    return { ...f, load: loadavg()[0] };
  };

  const initRuns = [];
  const reinitRuns = [];
  const floorRuns = [];
  for (let r = 0; r < RUNS; r++) {
    initRuns.push(await init());
    const run = await reinit();
    reinitRuns.push(run.ms);
    await drop();
    floorRuns.push({ ...(await floorOnce()), reinit: run });
  }
  await stopWriter();
  const i = median(initRuns);
  const re = median(reinitRuns);
  const f = median(floorRuns.map((x) => x.wallMs));
  const span = median(floorRuns.map((x) => x.reinit.spanMs));
  report(
    'reinit',
    {
      mb: Math.round(bytes / 1024 / 1024),
      rows: ROWS,
      runs: RUNS,
      reinitMs: Math.round(re),
      initMs: Math.round(i),
      ratio: +(re / i).toFixed(3),
      target: 1.1,
      reinitRunsMs: reinitRuns.map(Math.round),
      initRunsMs: initRuns.map(Math.round),
      floorMs: Math.round(f),
      reinitSpanMs: Math.round(span),
      vsFloor: +(f / span).toFixed(3),
      vsFloorRuns: floorRuns.map((x) => +(x.wallMs / x.reinit.spanMs).toFixed(3)),
      loads: floorRuns.flatMap((x) => [x.reinit.load, x.load]).map((x) => +x.toFixed(1)),
    },
    `reinit: one ${Math.round(bytes / 1024 / 1024)} MB table (${ROWS.toLocaleString('en-US')} rows), another streaming: ` +
      `steep reinit ${(re / 1000).toFixed(2)} s vs a fresh snapshot init (steep apply) ${(i / 1000).toFixed(2)} s = ${(re / i).toFixed(3)}× (target ≤ 1.1×, SC-004 < 5 min); ` +
      `the floor (one binary COPY pipe, key built after) ${(f / 1000).toFixed(2)} s: the reinit ${(span / 1000).toFixed(2)} s = ${(f / span).toFixed(2)}× the floor`,
  );
} finally {
  await stop();
}
