import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { expect } from 'vitest';
import { inProcessRunner, runCall } from './inProcess.js';
import { tempDir } from './tempDir.js';
import { eventually, HANG_MS } from './topologyFile.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
/**
 * The CLI the tests run: this tree's build, or `STEEP_TEST_BIN` (another tree's `bin/run.js`), so
 * a test or a torture operation can be shown failing on an earlier build without moving it there
 */
const BIN = process.env.STEEP_TEST_BIN || join(REPO_ROOT, 'bin/run.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Every secret a test made (node passwords: test/support/cluster.ts registers them). No output of
 * steep may ever contain one (SPEC: passwords never appear in any output).
 */
const SECRETS = new Set<string>();

export function registerSecret(secret: string): void {
  if (secret !== '') SECRETS.add(secret);
}

/**
 * What every call of the CLI must hold, whatever the test checks besides: no stack trace, no
 * secret. runSteep checks each call; a test that spawns steep its own way (a terminal) calls it.
 */
export function expectCleanOutput(
  what: string,
  r: Pick<CliResult, 'stdout' | 'stderr'>,
  debug = false,
): void {
  if (!debug) {
    expect(hasStackTrace(r.stdout), `${what}: a stack trace on stdout\n${r.stdout}`).toBe(false);
    expect(hasStackTrace(r.stderr), `${what}: a stack trace on stderr\n${r.stderr}`).toBe(false);
  }
  // a runtime warning (node-postgres: queries issued together on a session that is not
  // pipelined) breaks --log-format json and the progress lines a user reads
  const warned = /\(node:\d+\) (\[\w+\] )?\w*Warning/.test(r.stderr);
  expect(warned, `${what}: a Node.js warning on stderr\n${r.stderr}`).toBe(false);
  for (const secret of SECRETS) {
    expect(r.stdout.includes(secret), `${what}: a secret on stdout`).toBe(false);
    expect(r.stderr.includes(secret), `${what}: a secret on stderr`).toBe(false);
  }
}

/**
 * Run the built CLI (`npm test` builds first) as a user would, never through its internals: its
 * command line, environment and stdin in, its exit code and output out. It runs in this process
 * (inProcess.ts: no Node start and module load per call), or as a process of its own where a
 * process is the point: a working directory of its own, a command whose work outlives the call
 * (`sandbox`, `demo`: the servers it starts), or `STEEP_TEST_SPAWN=1` (every call, to compare).
 * Every call is checked: neither stream holds a stack trace (unless the test sets STEEP_DEBUG)
 * or a registered secret.
 */
export async function runSteep(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const env = steepEnv(opts.env);
  const run = spawned(args, opts.cwd) ? null : inProcessRunner(BIN);
  const r = run ? await callSteep(run, args, env, opts) : await spawnSteep(args, env, opts);
  expectCleanOutput(`steep ${args.join(' ')}`, r, Boolean(env.STEEP_DEBUG));
  return r;
}

type Env = Record<string, string | undefined>;

/**
 * The environment steep runs in: the test's own, without colour or STEEP_DEBUG (a call sets
 * either when it means to), without NODE_EXTRA_CA_CERTS (steep only talks to the tests' local
 * servers, and Node parses that whole CA bundle at every start of every spawned steep), and
 * without vitest's NODE_ENV=test, which no user runs steep with (oclif warns there of what a
 * user never sees).
 */
export function steepEnv(env: Env = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NO_COLOR: '1',
    STEEP_DEBUG: undefined,
    NODE_EXTRA_CA_CERTS: undefined,
    NODE_ENV: undefined,
    ...env,
  };
}

/** What a test file binds once for every call of steep it makes (see steepWith). */
export interface SteepBinding {
  /** the steep.yaml passed as `-c` when a call names none (none: no `-c`) */
  config?: string | (() => string);
  /** the environment of every call (node passwords, settings); a call's own `env` goes on top */
  env?: Env | (() => Env);
  /** default 120 s */
  timeoutMs?: number;
  /** what this file checks of every call, besides runSteep's stack-trace and secret checks */
  check?: (r: CliResult, args: string[]) => void;
}

/** `steep(args)`, `steep(args, configPath)`, `steep(args, configPath, extraEnv)`. */
export type Steep = (args: string[], config?: string, env?: Env) => Promise<CliResult>;

/**
 * The one way a test file runs steep: runSteep (stack traces and secrets checked on every call)
 * with the file's config path, environment, timeout and own checks bound once.
 *
 *   const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes) });
 *   await steep(['apply', '--auto-approve']);
 */
export function steepWith(bind: SteepBinding): Steep {
  return async (args, config, env) => {
    const path = config ?? (typeof bind.config === 'function' ? bind.config() : bind.config);
    const base = typeof bind.env === 'function' ? bind.env() : bind.env;
    const full = path === undefined ? args : [...args, '-c', path];
    const r = await runSteep(full, { env: { ...base, ...env }, timeoutMs: bind.timeoutMs });
    bind.check?.(r, args);
    return r;
  };
}

/** One `steep verify … --json` run: its exit, its output, and each table's verdict reduced to `fields`. */
export interface VerifyRun {
  code: number;
  out: string;
  /** the tables of the verify (of the verify after the repair, with --repair) */
  tables: Array<Record<string, unknown>>;
  state: string | null;
}

/** `steep verify SUB --json ARGS`, each table's verdict keeping only `fields` (an absent one stays absent). */
export async function verifyJson(
  steep: Steep,
  sub: string,
  args: string[],
  fields: readonly string[],
  config?: string,
  env?: Env,
): Promise<VerifyRun> {
  const r = await steep(['verify', sub, '--json', ...args], config, env);
  type Doc = { tables: Array<Record<string, unknown>>; state: string | null };
  const doc = JSON.parse(r.stdout) as Doc & { after?: Doc };
  const last = doc.after ?? doc;
  return {
    code: r.code,
    out: `${r.stdout}\n${r.stderr}`,
    tables: last.tables.map((t) => Object.fromEntries(fields.filter((f) => f in t).map((f) => [f, t[f]]))),
    state: last.state,
  };
}

/** Commands whose servers outlive the call: always a process of their own. */
const OUTLIVING = new Set(['sandbox', 'demo']);

function spawned(args: string[], cwd: string | undefined): boolean {
  return (
    process.env.STEEP_TEST_SPAWN === '1' ||
    (cwd !== undefined && cwd !== process.cwd()) ||
    process.cwd() !== REPO_ROOT ||
    OUTLIVING.has(args[0] ?? '')
  );
}

/** runSteep in this process; past the ceiling it answers 128 as a killed process would (the command may run on). */
async function callSteep(
  run: NonNullable<ReturnType<typeof inProcessRunner>>,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { input?: string; timeoutMs?: number },
): Promise<CliResult> {
  const t0 = Date.now();
  const ms = opts.timeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  // what the call printed before its ceiling: a hang's last words
  let printed: { readonly stdout: string; readonly stderr: string } = { stdout: '', stderr: '' };
  const ceiling = new Promise<CliResult>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          code: 128,
          stdout: printed.stdout,
          stderr: `${printed.stderr}steep ${args.join(' ')}: no exit within ${ms} ms`,
          ms,
        }),
      ms,
    );
  });
  const started = (o: typeof printed) => {
    printed = o;
  };
  const call = runCall(run, join(dirname(BIN), '..'), args, env, opts.input ?? '', started).then((r) => ({
    ...r,
    ms: Date.now() - t0,
  }));
  try {
    return await Promise.race([call, ceiling]);
  } finally {
    clearTimeout(timer);
  }
}

function spawnSteep(
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { cwd?: string; input?: string; timeoutMs?: number },
): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? REPO_ROOT, env });
    let stdout = '';
    let stderr = '';
    // decode as a stream: a multi-byte character split across two chunks stays whole
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr, ms: Date.now() - t0 });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** A fresh directory holding `steep.yaml` with this text; returns the file's path. */
export function writeConfig(text: string, name = 'steep.yaml'): string {
  const dir = tempDir('steep-cli-');
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** No stack trace may reach a user. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+\(.+:\d+:\d+\)$/m.test(text) || /^\s+at .+:\d+:\d+$/m.test(text);
}

/** What `steep init prepare SUB --hold --json` prints. */
export interface Prepared {
  subscription: string;
  slot: string;
  lsn: string;
  snapshotName: string;
  pgDump: string | null;
  pgRestore: string | null;
  copies: string[];
}

/**
 * `steep init prepare SUB --hold --json` in the background: resolves once it printed its
 * document, with the process still holding the exported snapshot (the caller ends it).
 */
export function prepareHolding(
  args: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; doc: Prepared }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: steepEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`init prepare printed nothing in time: ${out}\n${err}`));
    }, HANG_MS);
    child.stderr!.on('data', (d) => {
      err += d;
    });
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve({ child, doc: JSON.parse(line) as Prepared });
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`init prepare exited ${code}: ${out}\n${err}`));
    });
  });
}

/** One line of `--log-format json` on stderr. */
export interface SteepEvent {
  event: string;
  level?: string;
  message?: string;
  step?: string;
  address?: string;
  phase?: string;
}

export interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** when it exited (Date.now()) */
  at: number;
  stderr: string;
  stdout: string;
}

/** A steep command running in the background, for a test that signals it mid-way. */
export interface Started {
  child: ChildProcess;
  events: SteepEvent[];
  /** the first event that matches, as soon as it comes */
  when: (match: (e: SteepEvent) => boolean, timeoutMs?: number) => Promise<SteepEvent>;
  exited: Promise<Exited>;
  /** what it has written so far */
  output: { stdout: string; stderr: string };
}

/**
 * Start the built CLI in the background (add `--log-format json` to `args` to see its events).
 * It is killed after 180 s; its output is checked for stack traces and secrets once it exits.
 * `stdin: 'pipe'` gives it a pipe the test holds open (`child.stdin`), as a CI job or `ssh` does.
 */
export function startSteep(
  args: string[],
  env: Record<string, string | undefined>,
  opts: { stdin?: 'ignore' | 'pipe' } = {},
): Started {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    env: steepEnv(env),
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  const events: SteepEvent[] = [];
  const waiters: Array<{ match: (e: SteepEvent) => boolean; resolve: (e: SteepEvent) => void }> = [];
  const output = { stdout: '', stderr: '' };
  let buffer = '';
  child.stdout!.on('data', (d: Buffer) => {
    output.stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output.stderr += d.toString();
    buffer += d.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line) as SteepEvent;
      events.push(e);
      for (const w of waiters.splice(0)) {
        if (w.match(e)) w.resolve(e);
        else waiters.push(w);
      }
    }
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 180_000);
  const exited = new Promise<Exited>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, at: Date.now(), ...output });
    }),
  ).then((r) => {
    expectCleanOutput(`steep ${args.join(' ')}`, r);
    return r;
  });
  const when = (match: (e: SteepEvent) => boolean, timeoutMs = HANG_MS) => {
    const seen = events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<SteepEvent>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no such event in ${timeoutMs} ms:\n${output.stderr}`)),
        timeoutMs,
      );
      waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  };
  return { child, events, when, exited, output };
}

/**
 * Until `steep status --check` exits 0, each `steep verify …` it prints followed as printed, once
 * (a subscription `unverified` since its workers' errors last rose: docs/status.md, "After
 * errors"), as a DBA follows it; the verifies run. A hang ceiling, never a duration.
 */
export async function untilHealthyVerified(steep: Steep): Promise<string[]> {
  const ran = new Set<string>();
  await eventually(
    async () => {
      const r = await steep(['status', '--check']);
      if (r.code === 0) return true;
      const verify = /`(steep verify [^`]+)`/.exec(r.stdout)?.[1];
      if (r.code === 2 && verify && !ran.has(verify)) {
        ran.add(verify);
        await steep(verify.replace(/^steep /, '').split(' '));
      }
      return false;
    },
    HANG_MS,
    'status --check to be healthy, the verify it printed followed',
  );
  return [...ran];
}

/** Until `steep status --check` exits 0 (a hang ceiling, never a duration). */
export async function untilHealthy(steep: Steep): Promise<void> {
  await eventually(
    async () => (await steep(['status', '--check'])).code === 0,
    HANG_MS,
    'status --check to be healthy',
  );
}
