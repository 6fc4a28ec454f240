// bench snapshot: two-phase init's `steep snapshot generate` and `steep snapshot apply --no-wait`
// against psql's `\copy … to` / `\copy … from` of the same tables, one psql per table, with the
// same parallelism, in the same run on the same nodes. Target: each ≥ 0.9× the baseline's
// throughput (docs/benchmarks.md). Also steep's peak RSS (memory flat in table size).
//
//   BENCH_MB        data on the publisher, MB (default 1024)
//   BENCH_TABLES    tables it is spread over (default 8)
//   BENCH_PARALLEL  sessions / psql processes at once (default 4)
//   BENCH_RUNS      generate runs of each, interleaved psql, steep, psql, steep … (default 3),
//                   after an untimed pass of psql and the floor; the ratio is of the medians,
//                   so both see the same load
//   BENCH_BEFORE    another build's root (the one before a change): its generate runs in each
//                   round too (psql, floor, then before and steep taking turns at going first),
//                   and its files' SHA-256 must equal steep's
//   BENCH_PIN       1: the generate rounds with the publisher's processes on CPU 0 and this
//                   process, with the clients it starts (psql, openssl, steep), on CPU 1
//                   (taskset), as when steep runs on a machine of its own and does not share the
//                   server's cores; apply runs unpinned (needs taskset and 2 CPUs)
//
// A second reference for generate, the *floor*: what a snapshot's files cost done by C tools, per
// table and with the same parallelism, psql's `\copy … to FILE with (format binary)` (the files
// steep writes when both servers are the same major version) and then `openssl dgst -sha256`
// of each file (the manifest's checksum; OpenSSL uses the CPU's SHA instructions). psql's text
// files are ~16 % smaller than binary ones and nothing hashes them, so on a machine whose cores
// the server shares, the floor is below 1× of the baseline: it says how much of the gap is the
// work a snapshot must do and how much is steep's own. Left out when openssl is not on PATH.
//
// Beside each wall time: the client's CPU (steep's, or the psql processes'), the server's CPU
// (its backends', reaped by the postmaster) and the load average when the run ended.
// steep writes one file per table (splitAbove above every table, as psql copies whole tables),
// binary COPY when both servers are the same major version (psql: text); apply verifies every
// file's SHA-256 first and sets the sequences, which the baseline does not.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  cpuMeter,
  loadAverage,
  median,
  pairYaml,
  postmasterPid,
  psql,
  report,
  sql,
  startNodes,
  steep,
  steepMeasured,
  time,
} from './common.mjs';

const run = promisify(execFile);
const MB = Number(process.env.BENCH_MB ?? 1024);
const TABLES = Number(process.env.BENCH_TABLES ?? 8);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 4);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BEFORE = process.env.BENCH_BEFORE;
const PIN = process.env.BENCH_PIN === '1';
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

/** fn's wall time, its client's CPU (children of this process), the server's CPU, the load after. */
async function measured(server, fn) {
  const stopMeter = cpuMeter([server]).start();
  const r = await fn();
  const cpu = await stopMeter();
  return { ...r, clientCpuMs: cpu.childrenMs, serverCpuMs: cpu.serversMs[0], load: loadAverage() };
}

const fmt = (x) =>
  `${(x.wallMs / 1000).toFixed(1)} s (CPU ${(x.clientCpuMs / 1000).toFixed(1)} s, server ${(x.serverCpuMs / 1000).toFixed(1)} s, load ${x.load.toFixed(1)})`;

/** Every thread of `server`'s processes (the backends it starts later inherit it) and of this process on `cpus`. */
async function pin(server, serverCpus, clientCpus) {
  const postmaster = String(postmasterPid(server));
  const { stdout } = await run('pgrep', ['-P', postmaster]);
  // a process that ended meanwhile has nothing to pin
  for (const pid of [postmaster, ...stdout.split('\n').filter(Boolean)])
    await run('taskset', ['-a', '-pc', serverCpus, pid]).catch(() => {});
  await run('taskset', ['-a', '-pc', clientCpus, String(process.pid)]);
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

  // generate: psql \copy to (one process per table, PARALLEL at a time), then steep, RUNS times
  const psqlDir = join(work, 'psql');
  const snapDir = join(work, 'snapshot');
  const floorDir = join(work, 'floor');
  const hasOpenssl = await run('openssl', ['version']).then(
    () => true,
    () => false,
  );
  const baseOuts = [];
  const floors = [];
  const gens = [];
  const befores = [];
  // every timed run starts with no dirty pages: on a machine whose disk writes back slowly, the
  // run right after another's gigabyte of files otherwise pays for that writeback
  const settle = () => run('sync', []);
  /** `job(table)` for every table, PARALLEL at a time, measured on `server` */
  const perTable = (server, job) =>
    measured(server, async () => ({
      wallMs: await time(() =>
        pool(
          names.map((t) => () => job(t)),
          PARALLEL,
        ),
      ),
    }));
  const emptyDir = (dir) => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  };
  /** each file's name and SHA-256 as the manifest lists them */
  const fileSums = (dir) =>
    JSON.stringify(
      JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).tables.flatMap((t) =>
        t.files.map((f) => [f.file, f.sha256]),
      ),
    );
  if (PIN) await pin(pub, '0', '1');
  // untimed: psql's and the floor's files first fill the page cache, which on a VM costs the
  // first rounds most (fresh pages; steep writes past it): psql took 2.4-2.6 s in round 1 of
  // every run and ~1.65 s from round 3 on. The baseline is taken at its steady pace.
  emptyDir(psqlDir);
  emptyDir(floorDir);
  await perTable(pub, (t) => psql(pub, `\\copy public.${t} to '${join(psqlDir, `${t}.copy`)}'`));
  await perTable(pub, (t) =>
    psql(pub, `\\copy public.${t} to '${join(floorDir, `${t}.copy`)}' with (format binary)`),
  );
  for (let r = 0; r < RUNS; r++) {
    emptyDir(psqlDir);
    await settle();
    baseOuts.push(
      await perTable(pub, (t) => psql(pub, `\\copy public.${t} to '${join(psqlDir, `${t}.copy`)}'`)),
    );
    if (hasOpenssl) {
      emptyDir(floorDir);
      await settle();
      floors.push(
        await perTable(pub, async (t) => {
          const file = join(floorDir, `${t}.copy`);
          await psql(pub, `\\copy public.${t} to '${file}' with (format binary)`);
          await run('openssl', ['dgst', '-sha256', file]);
        }),
      );
    }
    const generate = async (root) => {
      await settle();
      return measured(pub, () =>
        steepMeasured(
          [
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
          ],
          { root },
        ),
      );
    };
    if (r > 0) await steep(['snapshot', 'delete', snapDir, '-c', config, '--allow-destroy']);
    if (BEFORE) {
      // the two builds take turns at going first: the one right after the floor's writes meets
      // the page cache at its most expensive on some machines (a VM's fresh pages)
      const [first, second] = r % 2 === 0 ? [BEFORE, undefined] : [undefined, BEFORE];
      const a = await generate(first);
      const sums = fileSums(snapDir);
      await steep(['snapshot', 'delete', snapDir, '-c', config, '--allow-destroy']);
      const b = await generate(second);
      if (fileSums(snapDir) !== sums) throw new Error(`the files' SHA-256 differ from ${BEFORE}'s`);
      befores.push(first === BEFORE ? a : b);
      gens.push(first === BEFORE ? b : a);
    } else gens.push(await generate(undefined));
  }
  if (PIN) {
    const all = `0-${availableParallelism() - 1}`;
    await pin(pub, all, all);
  }
  const baseOut = median(baseOuts.map((x) => x.wallMs));
  const gen = {
    wallMs: median(gens.map((x) => x.wallMs)),
    cpuMs: median(gens.map((x) => x.cpuMs)),
    rssMb: Math.max(...gens.map((x) => x.rssMb)),
  };

  // apply: psql \copy from into the empty subscriber tables, then empty them again; then steep
  await sql(sub, 'CHECKPOINT');
  await settle();
  const baseInRun = await perTable(sub, (t) =>
    psql(sub, `\\copy public.${t} from '${join(psqlDir, `${t}.copy`)}'`),
  );
  const baseIn = baseInRun.wallMs;
  await sql(sub, `TRUNCATE ${names.map((t) => `public.${t}`).join(', ')}`);
  await sql(sub, 'CHECKPOINT');
  await settle();
  const app = await measured(sub, () =>
    steepMeasured([
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
    ]),
  );
  const [{ rows }] = await sql(
    sub,
    `SELECT (${names.map((t) => `(SELECT count(*) FROM public.${t})`).join(' + ')})::bigint AS rows`,
  );
  if (Number(rows) !== ROWS * TABLES)
    throw new Error(`snapshot apply loaded ${rows} rows, not ${ROWS * TABLES}`);

  const mb = bytes / 1024 / 1024;
  const genRatio = baseOut / gen.wallMs;
  const floor = floors.length > 0 ? median(floors.map((x) => x.wallMs)) : null;
  const appRatio = baseIn / app.wallMs;
  report(
    'snapshot',
    {
      mb: Math.round(mb),
      tables: TABLES,
      runs: RUNS,
      rows: ROWS * TABLES,
      parallel: PARALLEL,
      pinned: PIN,
      generateMs: Math.round(gen.wallMs),
      baselineOutMs: Math.round(baseOut),
      generateThroughputRatio: +genRatio.toFixed(3),
      floorMs: floor === null ? null : Math.round(floor),
      floorThroughputRatio: floor === null ? null : +(baseOut / floor).toFixed(3),
      generateToFloorRatio: floor === null ? null : +(floor / gen.wallMs).toFixed(3),
      generateRssMb: Math.round(gen.rssMb),
      generateCpuMs: Math.round(gen.cpuMs),
      applyMs: Math.round(app.wallMs),
      baselineInMs: Math.round(baseIn),
      applyThroughputRatio: +appRatio.toFixed(3),
      applyRssMb: Math.round(app.rssMb),
      applyCpuMs: Math.round(app.cpuMs),
      generateRuns: gens.map((x, i) => ({
        steepMs: Math.round(x.wallMs),
        steepCpuMs: Math.round(x.cpuMs),
        steepServerCpuMs: Math.round(x.serverCpuMs),
        psqlMs: Math.round(baseOuts[i].wallMs),
        psqlCpuMs: Math.round(baseOuts[i].clientCpuMs),
        psqlServerCpuMs: Math.round(baseOuts[i].serverCpuMs),
        floorMs: floors[i] ? Math.round(floors[i].wallMs) : null,
        floorCpuMs: floors[i] ? Math.round(floors[i].clientCpuMs) : null,
        beforeMs: befores[i] ? Math.round(befores[i].wallMs) : null,
        beforeCpuMs: befores[i] ? Math.round(befores[i].clientCpuMs) : null,
        load: +x.load.toFixed(1),
      })),
      applyServerCpuMs: Math.round(app.serverCpuMs),
      baselineInCpuMs: Math.round(baseInRun.clientCpuMs),
      baselineInServerCpuMs: Math.round(baseInRun.serverCpuMs),
      load: +loadAverage().toFixed(1),
      snapshotFilesMb: Math.round(dirBytes(snapDir) / 1024 / 1024),
      psqlFilesMb: Math.round(dirBytes(psqlDir) / 1024 / 1024),
      target: 0.9,
    },
    `${gens.map((x, i) => `  generate run ${i + 1}: psql ${fmt(baseOuts[i])},${floors[i] ? ` floor ${fmt(floors[i])},` : ''}${befores[i] ? ` before ${fmt(befores[i])},` : ''} steep ${fmt(x)}\n`).join('')}` +
      (floor === null
        ? '  floor: not measured (no openssl on PATH)\n'
        : `  floor (psql binary \\copy to + openssl SHA-256 per file): ${(floor / 1000).toFixed(1)} s = ${(baseOut / floor).toFixed(2)}× the baseline's throughput; steep ${(floor / gen.wallMs).toFixed(2)}× the floor's\n`) +
      (BEFORE
        ? `  before (${BEFORE}): generate ${(median(befores.map((x) => x.wallMs)) / 1000).toFixed(1)} s, CPU ${(median(befores.map((x) => x.clientCpuMs)) / 1000).toFixed(1)} s (medians); same files' SHA-256 as steep's\n`
        : '') +
      `  apply: psql ${fmt(baseInRun)}, steep ${fmt(app)}\n` +
      `snapshot: ${Math.round(mb)} MB in ${TABLES} tables, ${PARALLEL} at a time: generate ${(gen.wallMs / 1000).toFixed(1)} s ` +
      `vs psql \\copy to ${(baseOut / 1000).toFixed(1)} s (medians of ${RUNS}${PIN ? '; the publisher on CPU 0, the clients on CPU 1' : ''}) = ${genRatio.toFixed(2)}× the baseline's throughput; ` +
      `apply ${(app.wallMs / 1000).toFixed(1)} s vs \\copy from ${(baseIn / 1000).toFixed(1)} s = ${appRatio.toFixed(2)}× ` +
      `(target ≥ 0.9×); peak RSS ${Math.round(gen.rssMb)} MB / ${Math.round(app.rssMb)} MB`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
  await stop();
}
