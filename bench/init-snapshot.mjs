// bench init-snapshot: `steep apply` of a snapshot init until synchronized, against the same
// subscription created by hand (CREATE SUBSCRIPTION, then polling pg_subscription_rel every 100 ms
// until every table is ready), in the same run on the same nodes. Target ≤ 1.05× (docs/benchmarks.md).
// steep's init is `{ method: snapshot, parallel: BENCH_PARALLEL }`: its own copy (which one the
// plan chose is read from it, `copy`). The floor, in the same rounds: the same tables moved by
// BENCH_PARALLEL binary COPY pipes between the nodes (bench/common.mjs copyFloor), their keys
// built after; `vsFloor` is steep's init (init.started → init.completed in apply's JSON log:
// copy, indexes, catch-up) against it (target ≥ 0.9×, issue 82).
//
//   BENCH_MB        data on the publisher, MB (default 1024, as docs/benchmarks.md: 1 GB over 20 tables)
//   BENCH_TABLES    tables it is spread over (default 20)
//   BENCH_PARALLEL  sessions of steep's copy and pipes of the floor (default 4, steep's default)
//   BENCH_RUNS      runs of each, alternating (default 2)
//   BENCH_DEBUG     print each steep run's events (timestamps of the init's state changes)
//
// Two ratios: `ratio` is the whole `steep apply` (CLI start, reading both catalogs, the
// existing-data check, plan, create, follow) against CREATE SUBSCRIPTION + polling; `trackingRatio`
// is from apply's create step to `init.completed` against the same span by hand, i.e. what
// following the init costs.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  benchFile,
  copyFloor,
  logSpan,
  median,
  pairYaml,
  plannedCopy,
  ROOT,
  report,
  sql,
  startNodes,
  time,
} from './common.mjs';

const MB = Number(process.env.BENCH_MB ?? 1024);
const TABLES = Number(process.env.BENCH_TABLES ?? 20);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 4);
// a row of (bigint, 64-character text, int) takes about 110 bytes on disk
const ROWS = Math.max(1, Math.round((MB * 1024 * 1024) / 110 / TABLES));

function steepJson(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) =>
      code === 0
        ? resolve({ out, err })
        : reject(new Error(`steep ${args.join(' ')} exited ${code}:\n${out}\n${err}`)),
    );
  });
}

const { servers, stop } = await startNodes(2);
const [pub, sub] = servers;
try {
  const names = Array.from({ length: TABLES }, (_, i) => `t${i}`);
  const ddl = names
    .map((t) => `CREATE TABLE public.${t} (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL);`)
    .join('\n');
  await sql(pub, ddl);
  await sql(sub, ddl);
  for (const t of names) {
    await sql(
      pub,
      `INSERT INTO public.${t} SELECT g, md5(g::text) || md5((g + 1)::text), g % 1000 FROM generate_series(1, ${ROWS}) g`,
    );
  }
  await sql(pub, 'VACUUM ANALYZE');
  const [{ bytes }] = await sql(
    pub,
    `SELECT sum(pg_table_size(format('public.%I', t)::regclass))::float8 AS bytes FROM unnest(ARRAY[${names.map((n) => `'${n}'`).join(',')}]) t`,
  );

  const pair = { topology: 'bench-init', pub, sub, tables: names.map((t) => `public.${t}`) };
  const configA = benchFile('init-a.yaml');
  const configB = benchFile('init-b.yaml');
  writeFileSync(configA, pairYaml({ ...pair, subscription: null }));
  writeFileSync(configB, pairYaml({ ...pair, init: `{ method: snapshot, parallel: ${PARALLEL} }` }));
  // the publication and steep's state schemas exist before either run
  await steepJson(['apply', '-c', configA, '--auto-approve']);
  const copy = await plannedCopy(configB);

  const reset = async (name) => {
    await sql(sub, `DROP SUBSCRIPTION IF EXISTS ${name}`);
    await sql(sub, `TRUNCATE ${names.map((t) => `public.${t}`).join(', ')}`);
    await sql(sub, 'CHECKPOINT');
    await sql(pub, 'CHECKPOINT');
  };

  const byHand = async () => {
    let span = 0;
    const total = await time(async () => {
      const t0 = process.hrtime.bigint();
      await sql(
        sub,
        `CREATE SUBSCRIPTION hand_sub CONNECTION 'host=127.0.0.1 port=${pub.port} dbname=app user=postgres' PUBLICATION bench_pub`,
      );
      const client = await sub.adminClient('app');
      try {
        for (;;) {
          const { rows } = await client.query(
            `SELECT count(*) FILTER (WHERE r.srsubstate <> 'r')::int AS left, count(*)::int AS total
               FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = 'hand_sub'`,
          );
          if (rows[0].total === TABLES && rows[0].left === 0) break;
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        await client.end();
      }
      span = Number(process.hrtime.bigint() - t0) / 1e6;
    });
    await reset('hand_sub');
    return { total, span };
  };

  const bySteep = async () => {
    let err = '';
    const total = await time(async () => {
      ({ err } = await steepJson(['apply', '-c', configB, '--auto-approve', '--log-format', 'json']));
    });
    const events = err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const created = events.find(
      (e) => e.event === 'apply.step_started' && e.address === 'subscription.bench_sub',
    );
    const completed = events.find((e) => e.event === 'init.completed');
    const span = Date.parse(completed.timestamp) - Date.parse(created.timestamp);
    const init = logSpan(err, 'init.started', 'init.completed');
    // the comparison every init ends with (docs/status.md), which the hand-made baseline does not do
    const compare = events.find((e) => e.event === 'init.compared')?.duration_ms ?? 0;
    if (process.env.BENCH_DEBUG)
      for (const e of events)
        console.error(e.timestamp, e.event, e.phase ?? '', e.table ?? '', e.duration_ms ?? '');
    await reset('bench_sub');
    return { total, span, init, compare, load: loadavg()[0] };
  };

  // the floor: the same tables by PARALLEL binary COPY pipes, their keys built after
  const floorOnce = async () => {
    const f = await copyFloor(
      pub,
      sub,
      names.map((t) => ({ table: `public.${t}` })),
      { parallel: PARALLEL },
    );
    const [{ n }] = await sql(
      sub,
      `SELECT (${names.map((t) => `(SELECT count(*) FROM public.${t})`).join(' + ')})::bigint AS n`,
    );
    if (Number(n) !== ROWS * TABLES)
      throw new Error(`floor: ${n} rows on the subscriber, not ${ROWS * TABLES}`);
    await reset('bench_sub');
    return { ...f, load: loadavg()[0] };
  };

  const steepRuns = [];
  const handRuns = [];
  const floorRuns = [];
  for (let r = 0; r < RUNS; r++) {
    // alternate which goes first: caches and checkpoints favour neither
    if (r % 2 === 0) {
      handRuns.push(await byHand());
      steepRuns.push(await bySteep());
      floorRuns.push(await floorOnce());
    } else {
      floorRuns.push(await floorOnce());
      steepRuns.push(await bySteep());
      handRuns.push(await byHand());
    }
  }
  const s = median(steepRuns.map((x) => x.total));
  const b = median(handRuns.map((x) => x.total));
  const ss = median(steepRuns.map((x) => x.span));
  const sc = median(steepRuns.map((x) => x.compare));
  const sWithout = median(steepRuns.map((x) => x.total - x.compare));
  const bs = median(handRuns.map((x) => x.span));
  const si = median(steepRuns.map((x) => x.init));
  const f = median(floorRuns.map((x) => x.wallMs));
  const rows = ROWS * TABLES;
  report(
    'init-snapshot',
    {
      mb: Math.round(bytes / 1024 / 1024),
      tables: TABLES,
      rows,
      runs: RUNS,
      steepMs: Math.round(s),
      baselineMs: Math.round(b),
      ratio: +(s / b).toFixed(3),
      compareMs: Math.round(sc),
      ratioWithoutCompare: +(sWithout / b).toFixed(3),
      steepTrackingMs: Math.round(ss),
      baselineTrackingMs: Math.round(bs),
      trackingRatio: +(ss / bs).toFixed(3),
      rowsPerSecond: Math.round(rows / (ss / 1000)),
      target: 1.05,
      parallel: PARALLEL,
      copy,
      floorMs: Math.round(f),
      floorLoadMs: Math.round(median(floorRuns.map((x) => x.loadMs))),
      floorIndexMs: Math.round(median(floorRuns.map((x) => x.indexMs))),
      steepInitMs: Math.round(si),
      vsFloor: +(f / si).toFixed(3),
      wholeVsFloor: +(f / s).toFixed(3),
      // round by round: each steep run against the floor of its round
      vsFloorRuns: steepRuns.map((x, i) => +(floorRuns[i].wallMs / x.init).toFixed(3)),
      floorTarget: 0.9,
      steepRunsMs: steepRuns.map((x) => Math.round(x.total)),
      baselineRunsMs: handRuns.map((x) => Math.round(x.total)),
      steepInitRunsMs: steepRuns.map((x) => Math.round(x.init)),
      floorRunsMs: floorRuns.map((x) => Math.round(x.wallMs)),
      loads: [...steepRuns, ...floorRuns].map((x) => +x.load.toFixed(1)),
    },
    `init-snapshot: ${Math.round(bytes / 1024 / 1024)} MB in ${TABLES} tables (${rows.toLocaleString('en-US')} rows): ` +
      `steep apply ${(s / 1000).toFixed(2)} s vs CREATE SUBSCRIPTION + polling ${(b / 1000).toFixed(2)} s = ${(s / b).toFixed(3)}× ` +
      `(target ≤ 1.05×), of which the init's comparison ${(sc / 1000).toFixed(2)} s (${(sWithout / b).toFixed(3)}× without it); create → synchronized ${(ss / 1000).toFixed(2)} s vs ${(bs / 1000).toFixed(2)} s = ${(ss / bs).toFixed(3)}×; ` +
      `${Math.round(rows / (ss / 1000)).toLocaleString('en-US')} rows/s; the floor (${PARALLEL} binary COPY pipes, keys built after) ${(f / 1000).toFixed(2)} s: ` +
      `steep's init (${copy === 'steep' ? "steep's copy" : copy}, indexes, catch-up) ${(si / 1000).toFixed(2)} s = ${(f / si).toFixed(2)}× the floor (target ≥ 0.9×), ` +
      `its whole apply ${(f / s).toFixed(2)}×; load ${[...steepRuns, ...floorRuns].map((x) => x.load.toFixed(1)).join(', ')}`,
  );
} finally {
  await stop();
}
