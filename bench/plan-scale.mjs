// bench plan-scale: `steep plan` (and `drift`, `status`, `metrics --once`: BENCH_COMMANDS) at 10,
// 30 and 100 nodes (BENCH_SIZES; the fleet: BENCH_SIZES=100,1000 BENCH_TABLES=20), against
// itself at the smallest size (docs/benchmarks.md).
// Nodes are databases spread over a few local servers (the hub alone on one), 100 tables each; every node has a
// publication of its tables and every node but the hub subscribes to the hub's (a star; the
// subscriptions are still to be created, `init: none`, so the plan reads each node once and
// plans 99 creates at 100 nodes). Targets: t(largest)/t(smallest) ≤ 10 for each command, peak RSS
// ≤ 300 MB (500 MB at 1,000 nodes), never more than settings.maxConnections sessions open at once
// (16 by default), plan reading each node once.
//
//   BENCH_SERVERS  local servers the nodes are spread over (default 4)
//   BENCH_TABLES   tables per node (default 100)
//   BENCH_RUNS     plans per size (default 3; the median counts)
//   BENCH_SIZES    node counts (default 10,30,100)
//   BENCH_COMMANDS the commands timed at each size (default plan,drift,status,metrics)
//   BENCH_APPLY    then `steep apply` this many new subscriptions at once (default 50; 0: none), and
//                  check they all exist and a new plan has nothing to do; reports its wall time
//                  and the most steep sessions seen open at once
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, ROOT, report, sql, startNodes, steep, tablesDdl } from './common.mjs';

const SERVERS = Number(process.env.BENCH_SERVERS ?? 4);
const TABLES = Number(process.env.BENCH_TABLES ?? 100);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZES = (process.env.BENCH_SIZES ?? '10,30,100').split(',').map(Number);
const COMMANDS = (process.env.BENCH_COMMANDS ?? 'plan,drift,status,metrics').split(',');
/** each command's arguments and the exit codes of a good run (plan, drift: changes present) */
const COMMAND_ARGS = {
  plan: { args: ['plan', '--detailed-exitcode'], codes: [2] },
  drift: { args: ['drift'], codes: [2] },
  status: { args: ['status'], codes: [0] },
  metrics: { args: ['metrics', '--once'], codes: [0] },
};
const MAX_CONNECTIONS = 16;
const NODES = Math.max(...SIZES);
if (SERVERS < 2) throw new Error('BENCH_SERVERS must be 2 or more: the hub has a server of its own');

// the hub's server must take a slot and a walsender for every subscription (the plan's preflight checks)
const { servers, stop } = await startNodes(SERVERS, {
  settings: {
    // with 1,000 databases the launcher starts a worker every few ms on each server
    autovacuum: 'off',
    max_connections: String(NODES + 200),
    max_replication_slots: String(NODES + 50),
    max_wal_senders: String(NODES + 50),
  },
});
const work = mkdtempSync(join(tmpdir(), 'steep-bench-scale-'));
try {
  // one template database with the tables, copied for every node
  const ddl = tablesDdl(TABLES);
  // the hub has a server of its own: a CREATE SUBSCRIPTION whose slot is made on its own server
  // waits for its own transaction to end, for ever (and every slot made there after it waits too)
  const nodes = Array.from({ length: NODES }, (_, i) => ({
    name: `n${i}`,
    server: i === 0 ? servers[0] : servers[1 + ((i - 1) % (SERVERS - 1))],
  }));
  await Promise.all(
    servers.map(async (s) => {
      await sql(s, 'CREATE DATABASE scale_template');
      const c = await s.adminClient('scale_template');
      try {
        await c.query(ddl);
      } finally {
        await c.end();
      }
      for (const n of nodes.filter((x) => x.server === s))
        await sql(s, `CREATE DATABASE ${n.name} TEMPLATE scale_template`);
    }),
  );

  const yaml = (count, withSubscriptions) => {
    const lines = ['version: 1', 'topology: scale', 'nodes:'];
    for (const n of nodes.slice(0, count))
      lines.push(`  ${n.name}:`, `    url: postgres://postgres@127.0.0.1:${n.server.port}/${n.name}`);
    lines.push('publications:');
    for (const n of nodes.slice(0, count)) {
      lines.push(`  pub_${n.name}:`, `    node: ${n.name}`, '    tables:');
      for (let t = 0; t < TABLES; t++) lines.push(`      - public.t${t}`);
    }
    if (withSubscriptions) {
      lines.push('subscriptions:');
      for (const n of nodes.slice(1, count))
        lines.push(
          `  sub_${n.name}:`,
          `    node: ${n.name}`,
          '    from: n0',
          '    publications: [pub_n0]',
          '    init:',
          '      method: none',
        );
    }
    const path = join(work, `steep-${count}${withSubscriptions ? '' : '-pubs'}.yaml`);
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  };
  // the publications and state schemas exist; the subscriptions are what the plan proposes
  await steep(['apply', '-c', yaml(NODES, false), '--auto-approve']);

  /** Sessions opened per node database so far (pg_stat_database counts every one). */
  const sessions = async () => {
    const out = {};
    for (const s of servers) {
      const c = await s.adminClient('postgres');
      try {
        await c.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await c.query(
          `SELECT datname, sessions::int AS n FROM pg_stat_database WHERE datname ~ '^n[0-9]+$'`,
        );
        for (const r of rows) out[r.datname] = r.n;
      } finally {
        await c.end();
      }
    }
    return out;
  };

  /** Poll the steep sessions opened from now on; the returned function stops and gives the most seen at once. */
  const watchSessions = async () => {
    const pollers = await Promise.all(servers.map((s) => s.adminClient('postgres')));
    let peak = 0;
    let polling = true;
    const started = new Date();
    // sessions of this command only (backends of an earlier command may still be ending)
    const poll = (async () => {
      while (polling) {
        const counts = await Promise.all(
          pollers.map((c) =>
            c.query(
              `SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE application_name LIKE 'steep%' AND backend_start >= $1`,
              [started],
            ),
          ),
        );
        peak = Math.max(
          peak,
          counts.reduce((a, r) => a + r.rows[0].n, 0),
        );
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    return async () => {
      polling = false;
      await poll;
      await Promise.all(pollers.map((c) => c.end()));
      return peak;
    };
  };

  /** One run of a command: wall ms, peak RSS (MB), the most steep sessions seen open at once (polled). */
  const runOnce = async (command, config) => {
    const { args, codes } = COMMAND_ARGS[command];
    const stopWatching = await watchSessions();
    const rssFile = join(work, 'rss');
    const t0 = process.hrtime.bigint();
    const code = await new Promise((resolve) => {
      const child = spawn(
        '/usr/bin/time',
        ['-f', '%M', '-o', rssFile, process.execPath, join(ROOT, 'bin/run.js'), ...args, '-c', config],
        { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      child.on('close', resolve);
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const peak = await stopWatching();
    if (!codes.includes(code))
      throw new Error(`steep ${args.join(' ')} -c ${config} exited ${code}, expected ${codes.join(' or ')}`);
    const rssMb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024;
    return { ms, rssMb, peak };
  };

  const results = [];
  for (const count of SIZES) {
    const config = yaml(count, true);
    // the plan is what it should be: one create per subscription, no errors
    const json = JSON.parse(await steep(['plan', '-c', config, '--json'], { okCodes: [0] }));
    const creates = json.steps.filter((s) => s.action === 'create' && s.address.startsWith('subscription.'));
    if (json.errors.length > 0 || creates.length !== count - 1)
      throw new Error(
        `plan at ${count} nodes: ${json.errors.length} errors, ${creates.length} subscription creates`,
      );
    const runs = [];
    for (let r = 0; r < RUNS; r++) {
      // the sessions of the command before (the JSON plan, an earlier run) end after their client
      // has gone: counted before this run, not in it
      await new Promise((r2) => setTimeout(r2, 600));
      const before = await sessions();
      runs.push(await runOnce('plan', config));
      await new Promise((r2) => setTimeout(r2, 600)); // session counters are flushed within ~0.5 s
      const after = await sessions();
      const reads = nodes.slice(0, count).map((n) => (after[n.name] ?? 0) - (before[n.name] ?? 0));
      runs[r].readsPerNode = { min: Math.min(...reads), max: Math.max(...reads) };
    }
    const summary = (xs) => ({
      ms: Math.round(median(xs.map((x) => x.ms))),
      rssMb: Math.round(Math.max(...xs.map((x) => x.rssMb))),
      peakConnections: Math.max(...xs.map((x) => x.peak)),
      runsMs: xs.map((x) => Math.round(x.ms)),
    });
    const commands = {};
    for (const command of COMMANDS.filter((c) => c !== 'plan')) {
      const xs = [];
      for (let r = 0; r < RUNS; r++) xs.push(await runOnce(command, config));
      commands[command] = summary(xs);
    }
    const plan = summary(runs);
    results.push({
      nodes: count,
      ...plan,
      // steadier than the ratio once t(10) is small: the CLI start weighs on it less
      msPerNode: Math.round(plan.ms / count),
      readsPerNode: {
        min: Math.min(...runs.map((x) => x.readsPerNode.min)),
        max: Math.max(...runs.map((x) => x.readsPerNode.max)),
      },
      commands,
    });
  }
  // apply: the hub gets APPLY new subscriptions at once
  const applyCount = Math.min(Number(process.env.BENCH_APPLY ?? 50), NODES - 1);
  let apply = null;
  if (applyCount > 0) {
    const config = yaml(applyCount + 1, true);
    const stopWatching = await watchSessions();
    const t0 = process.hrtime.bigint();
    await steep(['apply', '-c', config, '--auto-approve']);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const peak = await stopWatching();
    // every subscription exists and is enabled, the hub holds a slot for each, nothing is left to do
    let enabled = 0;
    for (const s of servers)
      enabled += (await sql(s, `SELECT count(*)::int AS n FROM pg_subscription WHERE subenabled`))[0].n;
    const slots = (
      await sql(nodes[0].server, `SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = 'n0'`)
    )[0].n;
    if (enabled !== applyCount || slots !== applyCount)
      throw new Error(
        `apply of ${applyCount} subscriptions: ${enabled} enabled subscriptions, ${slots} slots on n0`,
      );
    await steep(['plan', '-c', config, '--detailed-exitcode']); // exit 0: nothing to change
    apply = { subscriptions: applyCount, ms: Math.round(ms), peakSessions: peak };
  }
  const first = results[0];
  const last = results[results.length - 1];
  const ratio = +(last.ms / first.ms).toFixed(2);
  const ratios = Object.fromEntries(
    Object.keys(last.commands).map((c) => [c, +(last.commands[c].ms / first.commands[c].ms).toFixed(2)]),
  );
  const rssTarget = last.nodes >= 1000 ? 500 : 300;
  const line = (x) =>
    [
      `plan ${x.ms} ms (${x.msPerNode} ms a node), ${x.rssMb} MB, ≤ ${x.peakConnections} sessions, ${x.readsPerNode.max} read(s) per node`,
      ...Object.entries(x.commands).map(
        ([c, y]) => `${c} ${y.ms} ms, ${y.rssMb} MB, ≤ ${y.peakConnections} sessions`,
      ),
    ].join(', ');
  const ratioText = Object.entries(ratios)
    .map(([c, r]) => `, ${c} ${r}`)
    .join('');
  report(
    'plan-scale',
    {
      servers: SERVERS,
      tablesPerNode: TABLES,
      runs: RUNS,
      sizes: results,
      ratio,
      ratios,
      maxConnections: MAX_CONNECTIONS,
      apply,
      target: { ratio: 10, rssMb: rssTarget, connections: MAX_CONNECTIONS, readsPerNode: 1 },
    },
    `plan-scale: ${results.map((x) => `${x.nodes} nodes: ${line(x)}`).join('; ')}; t(${last.nodes})/t(${first.nodes}) plan ${ratio}${ratioText} (target ≤ 10; RSS ≤ ${rssTarget} MB; sessions ≤ ${MAX_CONNECTIONS}; one plan read per node)` +
      (apply
        ? `; apply of ${apply.subscriptions} new subscriptions: ${apply.ms} ms, all created, ≤ ${apply.peakSessions} steep sessions seen`
        : ''),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
  await stop();
}
