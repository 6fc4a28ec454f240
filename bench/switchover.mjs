// bench switchover: the write blackout of `steep switchover` (fence → release) on a quiet pair and
// under 4 writers (an application role inserting, updating and deleting in short transactions
// until the fence ends its sessions), with --verify all over 2 × BENCH_ROWS rows and without
// verify. Baseline in the same run, on the same pair: the bare drain by hand — read
// pg_current_wal_lsn() on the publisher, poll the slot until confirmed_flush_lsn passes it —
// which is what no switchover can go below. Target (issue 17): blackout < 2 s.
//
//   BENCH_ROWS  rows per table (default 50000)
//   BENCH_RUNS  switchovers per case (default 2)
import { writeFileSync } from 'node:fs';
import pg from 'pg';
import { benchFile, median, pairYaml, report, sql, startNodes, steep, time } from './common.mjs';

const ROWS = Number(process.env.BENCH_ROWS ?? 50_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const TABLES = ['sw_a', 'sw_b'];

const { servers, stop } = await startNodes(2);
const [pub, sub] = servers;

/** An application writer as role bench_app until stopped; reconnects after its session is ended. */
function writer(server, table) {
  let running = true;
  let committed = 0;
  const done = (async () => {
    let c = null;
    while (running) {
      try {
        if (!c) {
          c = new pg.Client({ host: '127.0.0.1', port: server.port, database: 'app', user: 'bench_app' });
          c.on('error', () => {});
          await c.connect();
        }
        await c.query('BEGIN');
        const { rows } = await c.query(
          `INSERT INTO public.${table} (v) VALUES (md5(random()::text)) RETURNING id`,
        );
        await c.query(`UPDATE public.${table} SET n = n + 1 WHERE id = $1`, [rows[0].id - 5]);
        await c.query('COMMIT');
        committed += 1;
      } catch {
        await c?.end().catch(() => {});
        c = null;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await c?.end().catch(() => {});
  })();
  return {
    committed: () => committed,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

try {
  for (const s of [pub, sub]) {
    await sql(s, 'CREATE ROLE bench_app LOGIN');
    for (const t of TABLES)
      await sql(
        s,
        `CREATE TABLE public.${t} (id bigserial PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0);
         GRANT SELECT, INSERT, UPDATE, DELETE ON public.${t} TO bench_app; GRANT USAGE ON SEQUENCE public.${t}_id_seq TO bench_app`,
      );
  }
  for (const t of TABLES)
    await sql(pub, `INSERT INTO public.${t} (v) SELECT md5(g::text) FROM generate_series(1, ${ROWS}) g`);
  await sql(pub, 'VACUUM ANALYZE');
  const config = benchFile('switchover.yaml');
  writeFileSync(
    config,
    pairYaml({
      topology: 'bench-switchover',
      pub,
      sub,
      names: ['old', 'new'],
      tables: TABLES.map((t) => `public.${t}`),
    }),
  );

  /** A fresh forward subscription, synchronized (after a switchover disabled the last one). */
  const fresh = async () => {
    // the last switchover fenced bench_app on old: read-only there, and NOLOGIN
    await sql(pub, 'ALTER ROLE bench_app IN DATABASE app RESET default_transaction_read_only');
    await sql(pub, 'ALTER ROLE bench_app LOGIN');
    await sql(sub, `SELECT 1 FROM pg_subscription WHERE subname = 'bench_sub'`).then(async (r) => {
      if (r.length > 0) {
        await sql(sub, 'ALTER SUBSCRIPTION bench_sub DISABLE');
        await sql(sub, 'ALTER SUBSCRIPTION bench_sub SET (slot_name = NONE)');
        await sql(sub, 'DROP SUBSCRIPTION bench_sub');
      }
    });
    await sql(sub, `TRUNCATE ${TABLES.map((t) => `public.${t}`).join(', ')}`);
    await steep(['apply', '-c', config, '--auto-approve']);
  };

  /** The bare drain by hand: the WAL position now, then the slot's confirmation past it. */
  const bareDrain = async () =>
    time(async () => {
      const [{ lsn }] = await sql(pub, 'SELECT pg_current_wal_lsn()::text AS lsn');
      for (;;) {
        const [r] = await sql(
          pub,
          `SELECT confirmed_flush_lsn >= '${lsn}'::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = 'bench_sub'`,
        );
        if (r?.ok) return;
        await new Promise((res) => setTimeout(res, 50));
      }
    });

  const cases = [
    { name: 'quiet', writers: 0, verify: 'all' },
    { name: '4 writers', writers: 4, verify: 'all' },
    { name: 'quiet, --verify none', writers: 0, verify: 'none' },
    { name: '4 writers, --verify none', writers: 4, verify: 'none' },
  ];
  const results = {};
  for (const c of cases) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      await fresh();
      const ws = Array.from({ length: c.writers }, (_, k) => writer(pub, TABLES[k % 2]));
      await new Promise((r) => setTimeout(r, 2000));
      const baseline = await bareDrain();
      const out = await steep([
        'switchover',
        'bench_sub',
        '-c',
        config,
        '--grace',
        '1s',
        '--verify',
        c.verify,
        '--json',
      ]);
      const committed = ws.reduce((n, w) => n + w.committed(), 0);
      await Promise.all(ws.map((w) => w.stop()));
      const doc = JSON.parse(out.split('\n').find((l) => l.startsWith('{')));
      const step = (id) => doc.steps.find((s) => s.id === id)?.durationMs ?? 0;
      runs.push({
        blackoutMs: doc.blackoutMs,
        expectedMs: doc.expectedBlackoutMs,
        baselineMs: baseline,
        fenceMs: step('fence'),
        drainMs: step('drain'),
        sequencesMs: step('sequences'),
        verifyMs: step('verify'),
        committed,
      });
    }
    const m = (k) => Math.round(median(runs.map((r) => r[k])));
    results[c.name] = {
      blackoutMs: m('blackoutMs'),
      maxBlackoutMs: Math.round(Math.max(...runs.map((r) => r.blackoutMs))),
      expectedMs: m('expectedMs'),
      baselineDrainMs: m('baselineMs'),
      ratio: Number(
        (median(runs.map((r) => r.blackoutMs)) / median(runs.map((r) => r.baselineMs))).toFixed(2),
      ),
      fenceMs: m('fenceMs'),
      drainMs: m('drainMs'),
      sequencesMs: m('sequencesMs'),
      verifyMs: m('verifyMs'),
      writesBeforeFence: m('committed'),
    };
  }
  const line = (name) => {
    const r = results[name];
    return `${name}: blackout ${r.blackoutMs} ms (max ${r.maxBlackoutMs}, expected ${r.expectedMs}; fence ${r.fenceMs}, drain ${r.drainMs}, sequences ${r.sequencesMs}, verify ${r.verifyMs}) = ${r.ratio}× the bare drain (${r.baselineDrainMs} ms)`;
  };
  report(
    'switchover',
    { rows: 2 * ROWS, runs: RUNS, ...results },
    `switchover, 2 × ${ROWS} rows, median of ${RUNS}:\n  ${cases.map((c) => line(c.name)).join('\n  ')}\n  target < 2 s`,
  );
} finally {
  await stop();
}
