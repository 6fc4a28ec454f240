// bench snapshot: two-phase init's `steep snapshot generate` and `steep snapshot apply --no-wait`
// against psql's `\copy … to` / `\copy … from` of the same tables, one psql per table, with the
// same parallelism, in the same run on the same nodes. Target: each ≥ 0.9× the baseline's
// throughput (SPEC §13, reference SC-005). Also steep's peak RSS (memory flat in table size).
//
//   BENCH_MB        data on the publisher, MB (default 1024)
//   BENCH_TABLES    tables it is spread over (default 8)
//   BENCH_PARALLEL  sessions / psql processes at once (default 4)
//
// steep writes one file per table (splitAbove above every table, as psql copies whole tables),
// binary COPY when both servers are the same major version (psql: text); apply verifies every
// file's SHA-256 first and sets the sequences, which the baseline does not.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pairYaml, psql, report, sql, startNodes, steep, steepMeasured, time } from './common.mjs';

const run = promisify(execFile);
const MB = Number(process.env.BENCH_MB ?? 1024);
const TABLES = Number(process.env.BENCH_TABLES ?? 8);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 4);
// a row of (bigint, 64-character text, int) takes about 110 bytes on disk
const ROWS = Math.max(1, Math.round((MB * 1024 * 1024) / 110 / TABLES));

/** Run `jobs` (async functions) `n` at a time. */
async function pool(jobs, n) {
  const queue = [...jobs];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await job();
    }),
  );
}

function dirBytes(dir) {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

const { servers, stop } = await startNodes(2);
const [pub, sub] = servers;
const work = mkdtempSync(join(tmpdir(), 'steep-bench-snapshot-'));
try {
  const names = Array.from({ length: TABLES }, (_, i) => `t${i}`);
  const ddl = names
    .map((t) => `CREATE TABLE public.${t} (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL);`)
    .join('\n');
  await sql(pub, ddl);
  await sql(sub, ddl);
  await pool(
    names.map(
      (t) => () =>
        sql(
          pub,
          `INSERT INTO public.${t} SELECT g, md5(g::text) || md5((g + 1)::text), g % 1000 FROM generate_series(1, ${ROWS}) g`,
        ),
    ),
    2,
  );
  await sql(pub, 'VACUUM ANALYZE');
  const [{ bytes }] = await sql(
    pub,
    `SELECT sum(pg_table_size(format('public.%I', t)::regclass))::float8 AS bytes FROM unnest(ARRAY[${names.map((n) => `'${n}'`).join(',')}]) t`,
  );
  const config = join(work, 'steep.yaml');
  writeFileSync(
    config,
    pairYaml({
      topology: 'bench-snapshot',
      pub,
      sub,
      tables: names.map((t) => `public.${t}`),
      init: `{ method: two-phase, parallel: ${PARALLEL}, splitAbove: 1TB }`,
    }),
  );
  // the publication, the disabled subscription and steep's state schemas exist before either run
  await steep(['apply', '-c', config, '--auto-approve']);
  await sql(pub, 'CHECKPOINT');
  // warm cache for both: every table read once before either copy
  for (const t of names) await sql(pub, `SELECT count(*) FROM public.${t}`);

  // generate: psql \copy to, one process per table, PARALLEL at a time; then steep
  const psqlDir = join(work, 'psql');
  rmSync(psqlDir, { recursive: true, force: true });
  await run('mkdir', ['-p', psqlDir]);
  const baseOut = await time(() =>
    pool(
      names.map((t) => () => psql(pub, `\\copy public.${t} to '${join(psqlDir, `${t}.copy`)}'`)),
      PARALLEL,
    ),
  );
  const snapDir = join(work, 'snapshot');
  const gen = await steepMeasured([
    'snapshot',
    'generate',
    'bench_sub',
    '-c',
    config,
    '--output',
    snapDir,
    '--compress',
    'none',
    '--parallel',
    String(PARALLEL),
  ]);

  // apply: psql \copy from into the empty subscriber tables, then empty them again; then steep
  await sql(sub, 'CHECKPOINT');
  const baseIn = await time(() =>
    pool(
      names.map((t) => () => psql(sub, `\\copy public.${t} from '${join(psqlDir, `${t}.copy`)}'`)),
      PARALLEL,
    ),
  );
  await sql(sub, `TRUNCATE ${names.map((t) => `public.${t}`).join(', ')}`);
  await sql(sub, 'CHECKPOINT');
  const app = await steepMeasured([
    'snapshot',
    'apply',
    'bench_sub',
    '-c',
    config,
    '--input',
    snapDir,
    '--parallel',
    String(PARALLEL),
    '--no-wait',
  ]);
  const [{ rows }] = await sql(
    sub,
    `SELECT (${names.map((t) => `(SELECT count(*) FROM public.${t})`).join(' + ')})::bigint AS rows`,
  );
  if (Number(rows) !== ROWS * TABLES)
    throw new Error(`snapshot apply loaded ${rows} rows, not ${ROWS * TABLES}`);

  const mb = bytes / 1024 / 1024;
  const genRatio = baseOut / gen.wallMs;
  const appRatio = baseIn / app.wallMs;
  report(
    'snapshot',
    {
      mb: Math.round(mb),
      tables: TABLES,
      rows: ROWS * TABLES,
      parallel: PARALLEL,
      generateMs: Math.round(gen.wallMs),
      baselineOutMs: Math.round(baseOut),
      generateThroughputRatio: +genRatio.toFixed(3),
      generateRssMb: Math.round(gen.rssMb),
      generateCpuMs: Math.round(gen.cpuMs),
      applyMs: Math.round(app.wallMs),
      baselineInMs: Math.round(baseIn),
      applyThroughputRatio: +appRatio.toFixed(3),
      applyRssMb: Math.round(app.rssMb),
      applyCpuMs: Math.round(app.cpuMs),
      load: +(await import('node:os')).loadavg()[0].toFixed(1),
      snapshotFilesMb: Math.round(dirBytes(snapDir) / 1024 / 1024),
      psqlFilesMb: Math.round(dirBytes(psqlDir) / 1024 / 1024),
      target: 0.9,
    },
    `snapshot: ${Math.round(mb)} MB in ${TABLES} tables, ${PARALLEL} at a time: generate ${(gen.wallMs / 1000).toFixed(1)} s ` +
      `vs psql \\copy to ${(baseOut / 1000).toFixed(1)} s = ${genRatio.toFixed(2)}× the baseline's throughput; ` +
      `apply ${(app.wallMs / 1000).toFixed(1)} s vs \\copy from ${(baseIn / 1000).toFixed(1)} s = ${appRatio.toFixed(2)}× ` +
      `(target ≥ 0.9×); peak RSS ${Math.round(gen.rssMb)} MB / ${Math.round(app.rssMb)} MB`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
  await stop();
}
