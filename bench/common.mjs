// Shared pieces of the benchmarks: local nodes, timing, the steep CLI, psql, reporting.
// Benchmarks import the built code (dist/): `npm run bench` builds first.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { quoteLiteral } from '../dist/model/sql.js';
import { LocalServer } from '../dist/sandbox/localServer.js';
import { findFreePort } from '../dist/sandbox/ports.js';
import { chownToServerUser } from '../dist/sandbox/serverUser.js';

export const ROOT = resolve(import.meta.dirname, '..');
const run = promisify(execFile);

let files;
/** A path for a file the bench writes (a steep.yaml, a capture): in a directory removed at exit. */
export function benchFile(name) {
  if (files === undefined) {
    files = mkdtempSync(join(tmpdir(), 'steep-bench-files-'));
    process.on('exit', () => rmSync(files, { recursive: true, force: true }));
  }
  return join(files, name);
}

/** Start `count` PostgreSQL 18 nodes named n0…; returns them and a stop function. */
export async function startNodes(count, { version = 18, settings } = {}) {
  const base = mkdtempSync(join(tmpdir(), 'steep-bench-'));
  // as root the server runs as `postgres`, which must be able to enter the directory
  chmodSync(base, 0o755);
  await chownToServerUser(base);
  const servers = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const server = await LocalServer.create({
        dataDir: join(base, `n${i}`),
        port: await findFreePort(),
        version,
        name: `n${i}`,
        database: 'app',
        auth: 'trust',
        settings,
      });
      await server.start();
      return server;
    }),
  );
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop('immediate').catch(() => {})));
    rmSync(base, { recursive: true, force: true });
  };
  process.on('SIGINT', () => stop().then(() => process.exit(130)));
  return { servers, stop };
}

/** The DDL of the benchmarks' tables: public.t0 … t{count-1}, a key, text and a numeric with a default. */
export function tablesDdl(count) {
  return Array.from(
    { length: count },
    (_, i) =>
      `CREATE TABLE public.t${i} (id bigint PRIMARY KEY, v text, n numeric(10,2) DEFAULT 0 NOT NULL);`,
  ).join('\n');
}

export async function sql(server, text) {
  const client = await server.adminClient('app');
  try {
    return (await client.query(text)).rows ?? [];
  } finally {
    await client.end();
  }
}

/** Wall time of fn, in ms. */
export async function time(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  // of an even count, the mean of the middle two (of two rounds, not the slower one)
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Run the built steep CLI; rejects on a non-zero exit unless `okCodes` allows it. */
export function steep(args, { okCodes = [0] } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) =>
      okCodes.includes(code)
        ? resolvePromise(out)
        : reject(new Error(`steep ${args.join(' ')} exited ${code}:\n${out}`)),
    );
  });
}

/**
 * Run the built steep CLI under /usr/bin/time: its wall time, the CPU it used (user + system, ms)
 * and its peak RSS (MB). CPU time is what a loaded machine changes least: report it beside the
 * wall-time ratios. Rejects as `steep` does.
 */
export function steepMeasured(args, { okCodes = [0], root = ROOT } = {}) {
  return measuredRun(`steep ${args.join(' ')}`, [join(root, 'bin/run.js'), ...args], okCodes);
}

/** `node ARGS` under /usr/bin/time, measured as steepMeasured measures steep (its stderr kept); `what` names it in an error. */
export async function measuredRun(what, nodeArgs, okCodes = [0]) {
  const file = join(mkdtempSync(join(tmpdir(), 'steep-bench-time-')), 'time');
  try {
    const t0 = process.hrtime.bigint();
    let stderr = '';
    const code = await new Promise((resolvePromise, reject) => {
      const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', file, process.execPath, ...nodeArgs], {
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (c) =>
        okCodes.includes(c) ? resolvePromise(c) : reject(new Error(`${what} exited ${c}:\n${stderr}`)),
      );
    });
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const [user, system, rssKb] = readFileSync(file, 'utf8').trim().split('\n').pop().split(' ').map(Number);
    return { code, wallMs, cpuMs: (user + system) * 1000, rssMb: rssKb / 1024, stderr };
  } finally {
    rmSync(dirname(file), { recursive: true, force: true });
  }
}

/** Run SQL with psql against a server (the baseline client). */
export async function psql(server, text) {
  await run(
    'psql',
    [
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      '127.0.0.1',
      '-p',
      String(server.port),
      '-U',
      'postgres',
      '-d',
      'app',
      '-c',
      text,
    ],
    {
      maxBuffer: 256 * 1024 * 1024,
    },
  );
}

/**
 * The floor of a copy: `pieces` (`{ table, where }`: a whole table, or the rows of a key range)
 * moved by `parallel` workers (default: one per piece), each piece by a binary COPY pipe between
 * the two nodes (psql's `\copy … TO STDOUT` into another psql's `\copy … FROM STDIN`), into
 * the target's tables stripped of every index (dropped untimed, their definitions read from
 * the catalog), then those indexes and keys built again by as many sessions: what this machine
 * moves at that parallelism, nothing decoded, hashed or followed. `indexesAfter: false` loads into
 * the indexed tables instead (what a copy that keeps them pays). Returns the wall time in ms,
 * and its two parts: the load's and the index builds'.
 */
export async function copyFloor(pub, sub, pieces, { parallel = pieces.length, indexesAfter = true } = {}) {
  const tables = [...new Set(pieces.map((x) => x.table))];
  // constraint-backed indexes (keys) go with their constraint, the others as indexes
  const indexes = !indexesAfter
    ? []
    : await sql(
        sub,
        `SELECT i.indrelid::regclass::text AS tbl, c.conname, i.indexrelid::regclass::text AS idx,
            pg_get_indexdef(i.indexrelid) AS def, pg_get_constraintdef(c.oid) AS condef
       FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
      WHERE i.indrelid = ANY (ARRAY[${tables.map((t) => quoteLiteral(t)).join(', ')}]::regclass[])`,
      );
  for (const x of indexes)
    await sql(sub, x.conname ? `ALTER TABLE ${x.tbl} DROP CONSTRAINT ${x.conname}` : `DROP INDEX ${x.idx}`);
  const builds = indexes.map((x) =>
    x.conname ? `ALTER TABLE ${x.tbl} ADD CONSTRAINT ${x.conname} ${x.condef}` : x.def,
  );
  const conn = (s) => `psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p ${s.port} -U postgres -d app`;
  const pipe = ({ table, where }) =>
    new Promise((resolvePipe, reject) => {
      const out = `\\copy (SELECT * FROM ${table}${where ? ` WHERE ${where}` : ''}) TO STDOUT WITH (FORMAT binary)`;
      const into = `\\copy ${table} FROM STDIN WITH (FORMAT binary)`;
      const child = spawn(
        'bash',
        ['-o', 'pipefail', '-c', `${conn(pub)} -c "${out}" | ${conn(sub)} -c "${into}"`],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (c) =>
        c === 0 ? resolvePipe() : reject(new Error(`copy floor pipe exited ${c}: ${err}`)),
      );
    });
  // `parallel` workers taking the next item of `items` until none is left
  const pool = async (items, each) => {
    const queue = [...items];
    const worker = async () => {
      for (let x = queue.shift(); x !== undefined; x = queue.shift()) await each(x);
    };
    await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
  };
  const t0 = performance.now();
  await pool(pieces, pipe);
  const t1 = performance.now();
  await pool(builds, (q) => sql(sub, q));
  const t2 = performance.now();
  return { wallMs: t2 - t0, loadMs: t1 - t0, indexMs: t2 - t1 };
}

/** `p` half-open key ranges of `key` over ids 1…`rows` as copyFloor pieces of `table`: the first and last open. */
export function keyRanges(table, key, rows, p) {
  const cut = (i) => 1 + Math.floor((rows * i) / p);
  return Array.from({ length: p }, (_, i) => ({
    table,
    where: [i === 0 ? null : `${key} >= ${cut(i)}`, i === p - 1 ? null : `${key} < ${cut(i + 1)}`]
      .filter(Boolean)
      .join(' AND '),
  }));
}

const logEvents = (log) =>
  log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));

/** ms between the first `from` and the first `to` event in a JSON log (apply's `--log-format json`). */
export function logSpan(log, from, to) {
  const events = logEvents(log);
  const at = (event) => {
    const e = events.find((x) => x.event === event);
    if (!e) throw new Error(`the log has no ${event}`);
    return Date.parse(e.timestamp);
  };
  return at(to) - at(from);
}

/**
 * Where a copy's time went, from apply's JSON log: ms from `init.started` to the last table's
 * rows (`copyMs`: its first `init.table_complete`; the follow after reports them again), from
 * there to the last deferred index build (`indexMs`), and each table's builds in seconds as its
 * `init.indexes_built` says (`builds`).
 */
export function initPhases(log) {
  const events = logEvents(log);
  const at = (x) => Date.parse(x.timestamp);
  const started = at(events.find((x) => x.event === 'init.started'));
  const firsts = new Map();
  for (const x of events)
    if (x.event === 'init.table_complete' && !firsts.has(x.table)) firsts.set(x.table, at(x));
  const copied = Math.max(...firsts.values());
  const built = events.filter((x) => x.event === 'init.indexes_built');
  return {
    copyMs: copied - started,
    indexMs: built.length > 0 ? Math.max(...built.map(at)) - copied : 0,
    builds: Object.fromEntries(built.map((x) => [x.table, Number(/in ([\d.]+) s/.exec(x.message)?.[1])])),
  };
}

/** Which copy the plan of steep.yaml `path` chose for its subscription's init: 'steep' or 'postgresql'. */
export async function plannedCopy(path) {
  const plan = await steep(['plan', '-c', path, '--json']);
  const chosen = /"path":\s*"init\.copy",\s*"before":\s*null,\s*"after":\s*"(\w+)"/.exec(plan)?.[1];
  if (!chosen) throw new Error(`the plan of ${path} names no init.copy:\n${plan}`);
  return chosen;
}

/** One JSON line and one human line, always with the ratio to the baseline. */
export function report(name, figures, human) {
  console.log(JSON.stringify({ bench: name, ...figures }));
  console.log(human);
}

/** A parameter as psql gets it: inlined as a literal. */
function literal(v) {
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v))
    return v.length === 0
      ? "'{}'::text[]"
      : `ARRAY[${v.map((x) => quoteLiteral(String(x))).join(', ')}]::text[]`;
  return quoteLiteral(String(v));
}

/** A catalog query as psql runs it: parameters inlined, highest first so $1 does not eat $10. */
export function inline(q) {
  return (q.values ?? []).reduceRight((text, v, i) => text.replaceAll(`$${i + 1}`, literal(v)), q.text);
}

/**
 * A live pair: one INSERT into `table` on `server` every `paceMs` (default 50 ms; 0: as fast as
 * one session commits) until stopped (ids from `firstId`); `onCommit` is told each commit's time and how long it took.
 */
export function insertLoop(server, table, firstId, { paceMs = 50, onCommit } = {}) {
  let running = true;
  const done = (async () => {
    const client = await server.adminClient('app');
    let id = firstId;
    try {
      while (running) {
        const t0 = performance.now();
        await client.query(`INSERT INTO public.${table} VALUES (${++id}, 'live', 1)`);
        const t1 = performance.now();
        onCommit?.(t1, t1 - t0);
        if (paceMs > 0) await new Promise((r) => setTimeout(r, paceMs));
      }
    } finally {
      await client.end();
    }
  })();
  return async () => {
    running = false;
    await done;
  };
}

/** The `verify` / `merge-analyze` baseline: psql's COPY of (key, md5 of the row) ordered by key, into a file. */
export function psqlCopy(server, table, file) {
  return psql(server, `\\copy (SELECT id, md5(t::text) FROM public.${table} t ORDER BY id) TO '${file}'`);
}

/** Compare two files line by line, as the baseline's last step: the differing lines. */
export async function compareFiles(a, b) {
  const lines = async function* (file) {
    let rest = '';
    for await (const chunk of createReadStream(file, 'utf8')) {
      rest += chunk;
      const parts = rest.split('\n');
      rest = parts.pop();
      yield* parts;
    }
    if (rest) yield rest;
  };
  const x = lines(a);
  const y = lines(b);
  let differing = 0;
  for (;;) {
    const [p, q] = await Promise.all([x.next(), y.next()]);
    if (p.done && q.done) return differing;
    if (p.value !== q.value) differing++;
  }
}

/**
 * The two-node steep.yaml most benches use: node `pub` (first of `names`) publishing `tables`
 * in `bench_pub`, and node `sub` subscribing to it as `subscription` (none when null), with
 * `init` (e.g. `{ method: snapshot }`) as written.
 */
export function pairYaml({
  topology,
  pub,
  sub,
  tables,
  names = ['pub', 'sub'],
  subscription = 'bench_sub',
  init,
}) {
  const [p, s] = names;
  const lines = [
    'version: 1',
    `topology: ${topology}`,
    'nodes:',
    `  ${p}:`,
    `    url: postgres://postgres@127.0.0.1:${pub.port}/app`,
    `  ${s}:`,
    `    url: postgres://postgres@127.0.0.1:${sub.port}/app`,
    'publications:',
    '  bench_pub:',
    `    node: ${p}`,
    `    tables: [${tables.join(', ')}]`,
  ];
  if (subscription !== null) {
    lines.push(
      'subscriptions:',
      `  ${subscription}:`,
      `    node: ${s}`,
      `    from: ${p}`,
      '    publications: [bench_pub]',
    );
    if (init) lines.push(`    init: ${init}`);
  }
  return `${lines.join('\n')}\n`;
}

/** user + system CPU of a process (ms): its own (fields 14–15 of /proc/PID/stat) and its reaped children's (16–17). */
function procCpu(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop().split(' ');
  // fields counted from 3 (state) after the command name
  const tick = 10; // ms per clock tick (USER_HZ 100)
  return { self: (Number(f[11]) + Number(f[12])) * tick, children: (Number(f[13]) + Number(f[14])) * tick };
}

/** The 1-minute load average. */
export function loadAverage() {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** The pid of `server`'s postmaster. */
export function postmasterPid(server) {
  return Number(readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/**
 * CPU used between `start()` and the `stop()` it returns, in ms: this process's own (`selfMs`:
 * e.g. the baseline's comparison), its child processes' (`childrenMs`: steep, psql — counted once
 * they exit) and each server's backends (`serversMs`: the postmaster's reaped children, so a
 * session counts once it has ended; stop() waits a moment for the postmaster to reap them).
 */
export function cpuMeter(servers) {
  const postmasters = servers.map(postmasterPid);
  return {
    start() {
      const me = procCpu(process.pid);
      const pg = postmasters.map((p) => procCpu(p).children);
      return async () => {
        await new Promise((r) => setTimeout(r, 300));
        const now = procCpu(process.pid);
        return {
          selfMs: now.self - me.self,
          childrenMs: now.children - me.children,
          serversMs: postmasters.map((p, i) => procCpu(p).children - pg[i]),
        };
      };
    },
  };
}
