// bench init-physical: a big publisher database with secondary indexes (pgbench-like tables and
// two wide tables, two secondary indexes each; BENCH_MB of tables and indexes), initialised three
// ways on the same nodes in the same run, each from nothing to a subscription that streams:
//
//   physical  `init: { method: physical }` (docs/init.md), clone-to-streaming: `steep init prepare`,
//             a physical copy of the publisher (a physical slot reserving WAL, pg_backup_start,
//             the data directory streamed through tar, pg_backup_stop, its backup_label and the
//             WAL from the backup's start: what pg_basebackup --wal-method=stream does; Debian's
//             pg_basebackup 15 refuses a newer server and the embedded binaries have none),
//             started with recovery.signal and restore_command = 'false' (it recovers to the end
//             of that WAL and is promoted: the first line `init prepare` prints), then
//             `steep apply`, and `steep init status` saying synchronized;
//   snapshot  `steep apply` of `init: { method: snapshot, parallel: BENCH_PARALLEL }` (steep's own
//             copy, which builds a big empty table's secondary indexes after loading it) into a
//             subscriber whose schema was created beforehand WITH every index (how a user gets
//             the indexes there today: schemaSync auto carries none yet), until synchronized;
//   native    PostgreSQL's own init into the same indexed tables: CREATE SUBSCRIPTION … WITH
//             (copy_data = true), polled every 200 ms until every pg_subscription_rel row is 'r'
//             (max_sync_workers_per_subscription is 4 on these servers, PostgreSQL's default 2).
//
// Two figures: physical against snapshot (target ≥ 3× faster; this bench) and snapshot against
// native (target ≥ 1.5× faster; `npm run bench -- init-indexes`, bench/init-indexes.mjs). After
// each snapshot run, the floor: the same tables moved by BENCH_PARALLEL binary COPY pipes
// (bench/common.mjs copyFloor), every index built after; `vsFloor` is the snapshot init
// (init.started → init.completed in apply's JSON log) against it.
// Every run ends with the row counts of every table equal on both sides, every index present
// on the subscriber, and a row inserted on the publisher arriving (untimed).
// The order of the three alternates between runs; `sync` and a CHECKPOINT on every node come
// before each timed run.
//
//   BENCH_MB        tables and indexes on the publisher, MB (default 2048; e.g. 64 for a smoke run)
//   BENCH_RUNS      runs of each (default 2); the figures are medians (of 2 runs: their mean)
//   BENCH_PARALLEL  sessions of steep's snapshot copy (default 4)
//   BENCH_METHODS   which to run (default physical,snapshot; `init-indexes` runs this script with
//                   snapshot,native); physical,snapshot,native gives both figures from one database
//   BENCH_BEFORE    another build's root (the one before a change): its snapshot init, and the
//                   floor after it, run in each round beside this tree's (`before*` figures)
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { LocalServer } from '../dist/sandbox/localServer.js';
import { findFreePort } from '../dist/sandbox/ports.js';
import { baseBackup } from './baseBackup.mjs';
import {
  benchFile,
  copyFloor,
  initPhases,
  logSpan,
  pairYaml,
  report,
  sql,
  startNodes,
  steep,
  steepMeasured,
  time,
} from './common.mjs';

const run = promisify(execFile);
const MB = Number(process.env.BENCH_MB ?? 2048);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 4);
const BEFORE = process.env.BENCH_BEFORE;
const METHODS = [
  ...String(process.env.BENCH_METHODS ?? 'physical,snapshot').split(','),
  ...(BEFORE ? ['before'] : []),
];
const SCALE = MB / 2048;
const rows = (n) => Math.max(10, Math.round(n * SCALE));

// at BENCH_MB=2048 about 2.1 GB of tables and indexes (measured and reported, never assumed)
const TABLES = [
  {
    name: 'bench_branches',
    ddl: 'bid int PRIMARY KEY, bbalance int NOT NULL, filler char(88)',
    rows: 100,
    fill: (g) => `SELECT ${g}, 0, ''`,
    indexes: [],
  },
  {
    name: 'bench_tellers',
    ddl: 'tid int PRIMARY KEY, bid int NOT NULL, tbalance int NOT NULL, filler char(84)',
    rows: 1000,
    fill: (g) => `SELECT ${g}, ${g} % 100 + 1, 0, ''`,
    indexes: ['bid'],
  },
  {
    name: 'bench_accounts',
    ddl: 'aid bigint PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL, filler char(84)',
    rows: rows(5_000_000),
    fill: (g) => `SELECT ${g}, (${g} % 100) + 1, (${g} * 7919) % 100000 - 50000, ''`,
    indexes: ['bid', 'abalance'],
  },
  {
    name: 'bench_history',
    ddl: 'hid bigint PRIMARY KEY, tid int NOT NULL, bid int NOT NULL, aid bigint NOT NULL, delta int NOT NULL, mtime timestamptz NOT NULL, filler char(22)',
    rows: rows(4_000_000),
    fill: (g) =>
      `SELECT ${g}, ${g} % 1000 + 1, ${g} % 100 + 1, (${g} * 104729) % ${rows(5_000_000)} + 1, ${g} % 10000 - 5000, timestamptz '2026-01-01' + ${g} * interval '1 second', ''`,
    indexes: ['aid', 'mtime'],
  },
  {
    name: 'bench_orders',
    ddl: 'id bigint PRIMARY KEY, customer int NOT NULL, created timestamptz NOT NULL, status text NOT NULL, total numeric(12,2) NOT NULL, address text NOT NULL, note text NOT NULL',
    rows: rows(1_000_000),
    fill: (g) =>
      `SELECT ${g}, (${g} * 7907) % 200000, timestamptz '2025-01-01' + ${g} * interval '17 seconds', (ARRAY['new','paid','shipped','closed'])[${g} % 4 + 1], ((${g} * 31) % 100000) / 100.0, lpad(${g}::text, 120, 'Rue de la Paix, 75002 Paris, '), lpad((${g} * 13)::text, 200, 'please leave the parcel at the door. ')`,
    indexes: ['customer', 'created'],
  },
  {
    name: 'bench_events',
    ddl: 'id bigint PRIMARY KEY, kind int NOT NULL, at timestamptz NOT NULL, source text NOT NULL, payload text NOT NULL',
    rows: rows(1_000_000),
    fill: (g) =>
      `SELECT ${g}, ${g} % 50, timestamptz '2025-06-01' + ${g} * interval '3 seconds', 'host-' || (${g} % 500), lpad(${g}::text, 300, '{"level":"info","message":"request served","ms":12} ')`,
    indexes: ['kind', 'at'],
  },
];
const NAMES = TABLES.map((t) => `public.${t.name}`);
const PIECES = NAMES.map((table) => ({ table }));
const createTables = TABLES.map((t) => `CREATE TABLE public.${t.name} (${t.ddl});`).join('\n');
const createIndexes = TABLES.flatMap((t) =>
  t.indexes.map((c) => `CREATE INDEX ${t.name}_${c}_idx ON public.${t.name} (${c});`),
).join('\n');
const INDEX_COUNT = TABLES.reduce((n, t) => n + 1 + t.indexes.length, 0);
const STEP = 1_000_000;
// the middle value; of an even count the mean of the two middle ones (2 runs: their mean)
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const h = Math.floor(v.length / 2);
  return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
};

const { servers, stop } = await startNodes(2);
const [pub, sub] = servers;
const base = dirname(pub.dataDir);
let clone = null;
try {
  // the publisher: tables loaded, then indexed (untimed)
  await sql(pub, createTables);
  for (const t of TABLES)
    for (let from = 1; from <= t.rows; from += STEP)
      await sql(
        pub,
        `INSERT INTO public.${t.name} ${t.fill('g')} FROM generate_series(${from}::bigint, ${Math.min(t.rows, from + STEP - 1)}) g`,
      );
  await sql(pub, createIndexes);
  await sql(pub, 'VACUUM ANALYZE');
  const [size] = await sql(
    pub,
    `SELECT sum(pg_table_size(c))::float8 AS tables, sum(pg_indexes_size(c))::float8 AS indexes,
            pg_database_size(current_database())::float8 AS database
       FROM unnest(ARRAY[${NAMES.map((n) => `'${n}'`).join(',')}]::regclass[]) c`,
  );
  const counts = async (server) =>
    (
      await sql(
        server,
        `SELECT ${TABLES.map((t) => `(SELECT count(*) FROM public.${t.name})::bigint AS ${t.name}`).join(', ')}`,
      )
    )[0];
  const expected = await counts(pub);
  // the subscriber of snapshot and native: the same tables with every index, made beforehand (untimed)
  await sql(sub, `${createTables}\n${createIndexes}`);

  const pair = { topology: 'bench-physical', pub, tables: NAMES };
  const config = (name, target, init, names) => {
    const path = benchFile(`${name}.yaml`);
    writeFileSync(path, pairYaml({ ...pair, sub: target, names, subscription: name, init }));
    return path;
  };
  // the publication and the publisher's state schema exist before any run (each way needs them)
  const bare = benchFile('bare.yaml');
  writeFileSync(bare, pairYaml({ ...pair, sub, subscription: null }));
  await steep(['apply', '-c', bare, '--auto-approve']);

  const settle = async (nodes) => {
    for (const n of nodes) await sql(n, 'CHECKPOINT');
    await run('sync');
  };
  // untimed: every table's rows and every index on the subscriber, and a new row arriving
  let marker = 1_000_000;
  const sameRows = async (name, target) => {
    const got = await counts(target);
    for (const t of TABLES)
      if (String(got[t.name]) !== String(expected[t.name]))
        throw new Error(
          `${name}: ${got[t.name]} rows in ${t.name} on the subscriber, not ${expected[t.name]}`,
        );
  };
  const check = async (name, target) => {
    await sameRows(name, target);
    const [{ n }] = await sql(
      target,
      `SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relname = ANY (ARRAY[${TABLES.map((t) => `'${t.name}'`).join(',')}]) AND i.indisvalid`,
    );
    if (n !== INDEX_COUNT)
      throw new Error(`${name}: ${n} valid indexes on the subscriber, not ${INDEX_COUNT}`);
    const id = ++marker;
    await sql(pub, `INSERT INTO public.bench_branches VALUES (${id}, 0, 'marker')`);
    const t0 = Date.now();
    while ((await sql(target, `SELECT 1 FROM public.bench_branches WHERE bid = ${id}`)).length === 0) {
      if (Date.now() - t0 > 120_000)
        throw new Error(`${name}: a row inserted on the publisher did not arrive in 2 min`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await sql(pub, `DELETE FROM public.bench_branches WHERE bid = ${id}`);
  };
  const initState = async (path, name) => {
    const list = JSON.parse(await steep(['init', 'status', name, '-c', path, '--json']));
    const states = list.map((x) => x.state);
    if (states.length === 0 || states.some((x) => x !== 'synchronized'))
      throw new Error(
        `${name}: steep init status says ${states.join(', ') || 'nothing'} after apply, not synchronized`,
      );
    return states.join(',');
  };

  const physical = async (r) => {
    const name = `phys_${r}`;
    const port = await findFreePort();
    const dataDir = join(base, name);
    const target = { port };
    const path = config(name, target, '{ method: physical }', ['pub', 'clone']);
    await settle([pub]);
    const phases = {};
    const wallMs = await time(async () => {
      phases.prepareMs = await time(async () => {
        const prepared = JSON.parse(await steep(['init', 'prepare', name, '-c', path, '--json']));
        phases.lsn = prepared.lsn;
      });
      phases.copyMs = await time(() => baseBackup(pub, dataDir, name));
      phases.recoveryMs = await time(async () => {
        clone = await LocalServer.existing({
          dataDir,
          name: 'clone',
          port,
          database: 'app',
          auth: 'trust',
          standby: true,
          // archive recovery needs a restore_command; one that finds nothing reads pg_wal's WAL
          settings: { restore_command: 'false' },
        });
        await clone.start();
        const t0 = Date.now();
        while ((await sql(clone, 'SELECT pg_is_in_recovery() AS r'))[0].r) {
          if (Date.now() - t0 > 600_000) throw new Error(`${name}: the clone was not promoted in 10 min`);
          await new Promise((r) => setTimeout(r, 100));
        }
      });
      const applied = await steepMeasured(['apply', '-c', path, '--auto-approve', '--allow-destroy']);
      phases.applyMs = applied.wallMs;
      phases.steepCpuMs = applied.cpuMs;
    });
    phases.initStatus = await initState(path, name);
    await check(name, clone);
    await clone.stop('immediate');
    clone = null;
    await run('rm', ['-rf', dataDir]);
    // the subscription lived on the clone: its slot on the publisher is left behind
    for (let i = 0; ; i++) {
      try {
        await sql(pub, `SELECT pg_drop_replication_slot('${name}')`);
        break;
      } catch (e) {
        if (i >= 50) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return { wallMs, ...phases, load: loadavg()[0] };
  };

  const snapshot = async (r, root) => {
    const name = `${root ? 'before' : 'snap'}_${r}`;
    const path = config(name, sub, `{ method: snapshot, parallel: ${PARALLEL} }`);
    await settle([pub, sub]);
    const m = await steepMeasured(['apply', '-c', path, '--auto-approve', '--log-format', 'json'], { root });
    const initStatus = await initState(path, name);
    await check(name, sub);
    await sql(sub, `DROP SUBSCRIPTION ${name}`);
    await sql(sub, `TRUNCATE ${NAMES.join(', ')}`);
    const load = loadavg()[0];
    // the floor, right after: every table by PARALLEL pipes into the emptied tables, the indexes after
    await settle([pub, sub]);
    const floor = await copyFloor(pub, sub, PIECES, { parallel: PARALLEL });
    await sameRows('floor', sub);
    await sql(sub, `TRUNCATE ${NAMES.join(', ')}`);
    const figures = { initMs: logSpan(m.stderr, 'init.started', 'init.completed'), ...initPhases(m.stderr) };
    const floorFigures = { floorMs: floor.wallMs, floorLoadMs: floor.loadMs, floorIndexMs: floor.indexMs };
    return {
      wallMs: m.wallMs,
      ...figures,
      ...floorFigures,
      steepCpuMs: m.cpuMs,
      steepRssMb: m.rssMb,
      initStatus,
      load,
    };
  };

  const native = async (r) => {
    const name = `native_${r}`;
    await settle([pub, sub]);
    const wallMs = await time(async () => {
      await sql(
        sub,
        `CREATE SUBSCRIPTION ${name} CONNECTION 'host=127.0.0.1 port=${pub.port} user=postgres dbname=app' PUBLICATION bench_pub WITH (copy_data = true)`,
      );
      const t0 = Date.now();
      for (;;) {
        const [{ ready, total }] = await sql(
          sub,
          `SELECT count(*) FILTER (WHERE srsubstate = 'r')::int AS ready, count(*)::int AS total
             FROM pg_subscription_rel WHERE srsubid = (SELECT oid FROM pg_subscription WHERE subname = '${name}')`,
        );
        if (total === TABLES.length && ready === total) break;
        if (Date.now() - t0 > 3_600_000) throw new Error(`${name}: not every table ready after an hour`);
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    await check(name, sub);
    await sql(sub, `DROP SUBSCRIPTION ${name}`);
    await sql(sub, `TRUNCATE ${NAMES.join(', ')}`);
    return { wallMs, load: loadavg()[0] };
  };

  const ways = { physical, snapshot, native, before: (r) => snapshot(r, BEFORE) };
  const results = Object.fromEntries(METHODS.map((m) => [m, []]));
  for (let r = 0; r < RUNS; r++)
    for (const m of r % 2 === 0 ? METHODS : [...METHODS].reverse()) {
      const x = await ways[m](r);
      console.error(
        `run ${r} ${m}: ${(x.wallMs / 1000).toFixed(1)} s ${JSON.stringify({ ...x, initStatus: undefined })}`,
      );
      results[m].push(x);
    }

  const mb = (b) => Math.round(b / 1024 / 1024);
  const s = (ms) => (ms / 1000).toFixed(1);
  const sizes = {
    tablesMb: mb(size.tables),
    indexesMb: mb(size.indexes),
    databaseMb: mb(size.database),
    rows: Object.fromEntries(TABLES.map((t) => [t.name, Number(expected[t.name])])),
    indexes: INDEX_COUNT,
  };
  const sizeText = `${mb(size.tables)} MB of tables + ${mb(size.indexes)} MB of indexes (${INDEX_COUNT}, ${INDEX_COUNT - TABLES.length} secondary) in ${TABLES.length} tables`;
  const walls = (m) => (results[m] ?? []).map((x) => x.wallMs);
  const of = (k, m = 'snapshot') => (results[m] ?? []).map((x) => x[k]);
  const common = {
    ...sizes,
    runs: RUNS,
    parallel: PARALLEL,
    cores: availableParallelism(),
    pg: (await sql(pub, 'SHOW server_version'))[0].server_version,
    loads: Object.values(results)
      .flat()
      .map((x) => +x.load.toFixed(1)),
  };
  if (results.physical && results.snapshot) {
    const [p, q] = [median(walls('physical')), median(walls('snapshot'))];
    report(
      'init-physical',
      {
        figure: 'physical-vs-snapshot',
        ...common,
        physicalMs: walls('physical').map(Math.round),
        snapshotMs: walls('snapshot').map(Math.round),
        physicalPhases: results.physical.map(({ prepareMs, copyMs, recoveryMs, applyMs }) =>
          Object.fromEntries(
            Object.entries({ prepareMs, copyMs, recoveryMs, applyMs }).map(([k, v]) => [k, Math.round(v)]),
          ),
        ),
        speedup: +(q / p).toFixed(2),
        target: 3,
      },
      `init-physical: ${sizeText}, clone-to-streaming: physical ${walls('physical').map(s).join(', ')} s ` +
        `vs snapshot (parallel: ${PARALLEL}, indexes created beforehand) ${walls('snapshot').map(s).join(', ')} s = ` +
        `${(q / p).toFixed(2)}× faster (medians; target ≥ 3×); PostgreSQL ${common.pg}, ${common.cores} cores`,
    );
  }
  if (results.snapshot && results.native) {
    const [p, q] = [median(walls('snapshot')), median(walls('native'))];
    report(
      'init-indexes',
      {
        figure: 'snapshot-vs-native',
        ...common,
        snapshotMs: walls('snapshot').map(Math.round),
        nativeMs: walls('native').map(Math.round),
        steepCpuMs: results.snapshot.map((x) => Math.round(x.steepCpuMs)),
        steepPeakRssMb: Math.round(Math.max(...results.snapshot.map((x) => x.steepRssMb))),
        speedup: +(q / p).toFixed(2),
        target: 1.5,
        snapshotInitMs: of('initMs').map(Math.round),
        floorMs: of('floorMs').map(Math.round),
        vsFloor: +(median(of('floorMs')) / median(of('initMs'))).toFixed(3),
        vsFloorRuns: results.snapshot.map((x) => +(x.floorMs / x.initMs).toFixed(3)),
        floorTarget: 0.9,
        ...(BEFORE && {
          before: BEFORE,
          beforeInitMs: of('initMs', 'before').map(Math.round),
          beforeFloorMs: of('floorMs', 'before').map(Math.round),
          beforeVsFloor: +(median(of('floorMs', 'before')) / median(of('initMs', 'before'))).toFixed(3),
          beforeVsFloorRuns: results.before.map((x) => +(x.floorMs / x.initMs).toFixed(3)),
        }),
      },
      `init-indexes: ${sizeText}, into tables that carry every index: steep snapshot (parallel: ${PARALLEL}) ` +
        `${walls('snapshot').map(s).join(', ')} s vs native copy_data ${walls('native').map(s).join(', ')} s = ` +
        `${(q / p).toFixed(2)}× faster (medians; target ≥ 1.5×); its init (copy, indexes, catch-up) ` +
        `${of('initMs').map(s).join(', ')} s against the floor (${PARALLEL} binary COPY pipes, indexes built after) ` +
        `${of('floorMs').map(s).join(', ')} s`,
    );
  }
} finally {
  if (clone) await clone.stop('immediate').catch(() => {});
  await stop();
}
