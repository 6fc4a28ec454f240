import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Config, run } from '@oclif/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Document,
  isMap,
  isPair,
  isSeq,
  type Node,
  parse,
  parseDocument,
  stringify,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import { type CliResult, hasStackTrace, REPO_ROOT, runSteep } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { nodesYaml, passwordEnv, passwordVar } from '../support/topologyFile.js';
import { BASE } from '../unit/config/support.js';

/**
 * Fuzzing `steep validate` and `steep plan` as commands (issue 7): thousands of generated and
 * mutated steep.yaml documents — random structures over steep's keys, wrong types, huge strings,
 * unicode, deep nesting, anchors, aliases and merge keys, text edits and value replacements of a
 * valid file — plus fixed hostile inputs (an alias bomb, 200k `[`, a 5 MiB scalar, a directory, a
 * missing, empty or binary file). Every case must exit 0 or 1 (plan: 2 with changes pending), in
 * bounded time, with no stack trace and no JavaScript error text, and on exit 1 with positioned
 * messages (plan errors that come after a valid file name a node or object of the file).
 *
 * The commands run in-process through oclif (`run(argv, config)`) with stdout/stderr captured, as
 * the real binary runs them; a sample also goes through the binary to show both agree.
 * STEEP_FUZZ_SEED picks another seed, STEEP_FUZZ_SCALE multiplies the case counts.
 *
 * The oracles, per case:
 * - validate: exit 0 with one summary line on stdout and only positioned warnings, or exit 1 with
 *   only `steep.yaml:LINE:COL: …` lines and the `steep.yaml is invalid: N errors` summary (N the
 *   number of error lines); with --json, JSON whose `valid` matches the exit code and whose every
 *   error has a position. Only a file that cannot be read at all gets one `error: …` naming it.
 * - plan (--detailed-exitcode on half the cases; exit 2 only with it, and only with steps): on a
 *   file validate rejects, exactly validate's lines and nothing on stdout; on a file validate
 *   accepts, every `error: …` starts with a node (`east: …`, `node east: …`) or an object
 *   (`publication p …`, `subscription s …`, `table t on east …`, a loop of subscriptions) the file
 *   declares; no node password on stdout or stderr.
 * - both: no stack trace, no JavaScript error text, no process warning, no hang; a
 *   line that starts no message must continue a message echoing a multi-line string of the file.
 */

const SEED = Number(process.env.STEEP_FUZZ_SEED ?? 20_260_107);
const SCALE = Number(process.env.STEEP_FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

/**
 * A case still running after this is a hang: it fails instead of blocking the file. Only a hang:
 * how long a case takes is not asserted here (the summary prints the slowest; steep validate's
 * and plan's costs are measured in bench/: `start`, `plan`, and `hostile` for the hostile files).
 */
const HANG_MS = 120_000;
/** A test (a family's fixed run count, the hostile inputs) still running after this is a hang. */
const TEST_HANG_MS = 900_000;

const FILE = 'steep.yaml';
const POSITIONED = /^steep\.yaml:\d+:\d+: /;
const WARNING = /^steep\.yaml:\d+:\d+: warning: /;
/** JavaScript's own words, and what leaks when an object or a process warning is printed. */
const JS_ERROR =
  /TypeError|ReferenceError|RangeError|SyntaxError|Cannot read prop|is not a function|is not iterable|undefined is not|\[object Object\]|Symbol\(|\(node:\d+\)/;
const STACK_OVERFLOW = /maximum call stack/i;

// ---- running a command in-process -------------------------------------------------------------

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  /** what `run` threw, if it did (the command's catch should have handled everything) */
  threw?: unknown;
  /** process warnings emitted meanwhile (Node prints them on stderr as `(node:PID) Warning: …`) */
  warnings?: string[];
}

let oclifConfig: Config;

class Hung extends Error {}

/** One command at a time: output capture and exit code are process-wide. */
let running: Promise<unknown> = Promise.resolve();

/** Runs `steep ARGV` in this process as bin/run.js would, capturing its output and exit code. */
function steepInProcess(argv: string[]): Promise<Outcome> {
  const next = running.then(() => runCaptured(argv));
  running = next.catch(() => {});
  return next;
}

/** Which run a write comes from: one that is not the run being captured is named in its output. */
const runOf = new AsyncLocalStorage<string>();
let runCount = 0;

async function runCaptured(argv: string[]): Promise<Outcome> {
  const out: string[] = [];
  const err: string[] = [];
  const self = `run ${++runCount}: steep ${argv.join(' ')}`;
  const capture = (sink: string[]) =>
    ((chunk: string | Uint8Array, encoding?: unknown, done?: unknown) => {
      const from = runOf.getStore();
      if (from !== self) sink.push(`[written by ${from ?? 'no run'} during ${self}] `);
      sink.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const callback = typeof encoding === 'function' ? encoding : done;
      if (typeof callback === 'function') callback();
      return true;
    }) as typeof process.stdout.write;
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  let timer: NodeJS.Timeout | undefined;
  let threw: unknown;
  let ms = 0;
  process.exitCode = undefined;
  const t0 = performance.now();
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  process.on('warning', onWarning);
  try {
    await Promise.race([
      runOf.run(self, () => run(argv, oclifConfig)),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Hung(`still running after ${HANG_MS} ms`)), HANG_MS);
      }),
    ]);
  } catch (e) {
    threw = e;
  } finally {
    ms = performance.now() - t0;
    clearTimeout(timer);
    // a process warning is emitted on the next tick: let it land in this case
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, stdout: out.join(''), stderr: err.join(''), ms, threw, warnings };
}

// ---- cases and what was seen ------------------------------------------------------------------

/** One steep.yaml to run: its bytes and a short description for the report. */
interface Doc {
  text: string | Uint8Array;
  what: string;
}

function preview(text: string | Uint8Array): string {
  const s = typeof text === 'string' ? text : `<${text.length} bytes>`;
  return JSON.stringify(s.length > 600 ? `${s.slice(0, 600)}… (${s.length} chars)` : s);
}

function doc(text: string | Uint8Array, what: string): Doc {
  return Object.assign({ text, what }, { [fc.toStringMethod]: () => `${what}: ${preview(text)}` });
}

class Tally {
  cases = 0;
  readonly exits = new Map<number, number>();
  slowest = { ms: 0, what: '' };
  slowestGenerated = { ms: 0, what: '' };
  /** plan only: cases whose file was valid, so that plan read both nodes' catalogs and planned */
  reachedNodes = 0;

  add(what: string, r: Outcome, hostile: boolean): void {
    this.cases++;
    this.exits.set(r.code, (this.exits.get(r.code) ?? 0) + 1);
    if (r.ms > this.slowest.ms) this.slowest = { ms: r.ms, what };
    if (!hostile && r.ms > this.slowestGenerated.ms) this.slowestGenerated = { ms: r.ms, what };
  }

  summary(name: string): string {
    const exits = [...this.exits.entries()]
      .sort(([a], [b]) => a - b)
      .map(([code, n]) => `exit ${code}: ${n}`)
      .join(', ');
    const reached = name === 'plan' ? `, ${this.reachedNodes} read the nodes` : '';
    const ms = (x: { ms: number; what: string }) => `${Math.round(x.ms)} ms (${x.what})`;
    return `${name}: ${this.cases} cases (${exits}${reached}), slowest ${ms(this.slowest)}, slowest generated ${ms(this.slowestGenerated)}`;
  }
}

const tally = { validate: new Tally(), plan: new Tally(), crossChecks: 0 };

/** Cases kept for the subprocess comparison. */
interface Sample {
  doc: Doc;
  argv: string[];
  inProcess: Outcome;
}
const samples: { validate: Sample[]; plan: Sample[] } = { validate: [], plan: [] };
const SAMPLES = { validate: 25, plan: 15 };

// ---- oracles ----------------------------------------------------------------------------------

function report(what: string, argv: string[], r: Outcome, text: string | Uint8Array): string {
  const cut = (s: string) => (s.length > 3000 ? `${s.slice(0, 3000)}…` : s);
  return [
    `case: ${what}`,
    `argv: steep ${argv.join(' ')}`,
    `exit ${r.code} in ${Math.round(r.ms)} ms${r.threw ? `; threw ${String((r.threw as Error).stack ?? r.threw)}` : ''}`,
    `stdout: ${cut(r.stdout)}`,
    `stderr: ${cut(r.stderr)}`,
    `file: ${preview(text)}`,
  ].join('\n');
}

/** Failures every command shares: it returned, with an allowed code, and leaked nothing internal. */
function commonFailures(r: Outcome, allowed: number[]): string[] {
  const failures: string[] = [];
  if (r.threw !== undefined) failures.push('the command threw instead of exiting');
  if (!allowed.includes(r.code)) failures.push(`exit ${r.code}, expected one of ${allowed.join('/')}`);
  for (const w of r.warnings ?? []) failures.push(`a process warning: ${w}`);
  for (const [name, text] of [
    ['stdout', r.stdout],
    ['stderr', r.stderr],
  ] as const) {
    if (hasStackTrace(text)) failures.push(`a stack trace on ${name}`);
    const js = JS_ERROR.exec(text) ?? STACK_OVERFLOW.exec(text);
    if (js) failures.push(`JavaScript error text on ${name}: ${js[0]}`);
  }
  return failures;
}

/** Every string a file holds (keys and values), read leniently: what a message may echo. */
function fileStrings(text: string | Uint8Array): string[] {
  const raw = typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
  const out = [raw];
  try {
    const seen = new Set<unknown>();
    const pending: unknown[] = [parse(raw, { merge: true, maxAliasCount: 100, uniqueKeys: false })];
    while (pending.length > 0) {
      const v = pending.pop();
      if (typeof v === 'string') out.push(v);
      if (v === null || typeof v !== 'object' || seen.has(v)) continue;
      seen.add(v);
      for (const [k, child] of Object.entries(v)) pending.push(k, child);
    }
  } catch {
    // unparseable: only the raw text
  }
  return out;
}

/**
 * stderr as messages, one per problem or error. With --log-format json each line is an event
 * whose message is the text. In text, a line that starts no message continues the one before,
 * and must start with what follows a line break in a string of the file the message echoes (a
 * multi-line row filter, a key with a line break).
 */
function stderrMessages(
  stderr: string,
  jsonLog: boolean,
  failures: string[],
  text: string | Uint8Array,
): string[] {
  const lines = stderr.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (jsonLog) {
    return lines.map((line) => {
      try {
        const event = JSON.parse(line) as { message?: unknown; timestamp?: unknown };
        if (typeof event.message !== 'string' || typeof event.timestamp !== 'string')
          failures.push(`a --log-format json line without timestamp or message: ${line}`);
        return String(event.message);
      } catch {
        failures.push(`a --log-format json line that is not JSON: ${line}`);
        return line;
      }
    });
  }
  const messages: string[] = [];
  let strings: string[] | undefined;
  for (const line of lines) {
    if (POSITIONED.test(line) || line.startsWith('error: ') || /^steep\.yaml is invalid: /.test(line)) {
      messages.push(line);
      continue;
    }
    // the line goes on with what follows a line break in some string of the file
    strings ??= fileStrings(text).flatMap((s) => s.split(/\r?\n/).slice(1));
    if (messages.length === 0 || !strings.some((rest) => line.startsWith(rest) || rest.startsWith(line)))
      failures.push(`a stderr line that starts no message and echoes nothing of the file: ${line}`);
    if (messages.length > 0) messages[messages.length - 1] += `\n${line}`;
  }
  return messages;
}

/** Cases whose file cannot be read at all: one unpositioned error naming the file given. */
interface Unreadable {
  path: string;
}

function validateFailures(
  r: Outcome,
  text: string | Uint8Array,
  opts: { json: boolean; jsonLog: boolean; unreadable?: Unreadable },
): string[] {
  const failures = commonFailures(r, [0, 1]);
  if (r.threw !== undefined) return failures;
  if (opts.json) {
    if (r.stderr !== '') failures.push('--json wrote to stderr');
    try {
      const out = JSON.parse(r.stdout) as {
        valid: boolean;
        errors: { position?: { line: number; column: number } }[];
      };
      if (out.valid !== (r.code === 0)) failures.push(`--json says valid: ${out.valid} but exit ${r.code}`);
      if (r.code === 1 && out.errors.length === 0) failures.push('--json: invalid without errors');
      for (const e of out.errors) {
        if (!opts.unreadable && !(e.position && e.position.line >= 1 && e.position.column >= 1))
          failures.push(`--json: an error without a position: ${JSON.stringify(e)}`);
      }
    } catch {
      failures.push('--json: stdout is not JSON');
    }
    return failures;
  }
  const lines = stderrMessages(r.stderr, opts.jsonLog, failures, text);
  if (r.code === 0) {
    if (!/^steep\.yaml is valid: \d+ nodes?, \d+ publications?, \d+ subscriptions?\n$/.test(r.stdout))
      failures.push('exit 0 without the one-line summary on stdout');
    for (const line of lines)
      if (!WARNING.test(line)) failures.push(`exit 0 with a non-warning line: ${line}`);
    return failures;
  }
  if (r.stdout !== '') failures.push('exit 1 with output on stdout');
  if (opts.unreadable) {
    const given = opts.unreadable.path;
    if (lines.length !== 1 || !lines[0]!.startsWith('error: ') || !lines[0]!.includes(given))
      failures.push(`an unreadable file must give one error naming ${given}`);
    return failures;
  }
  const summary = lines.at(-1) ?? '';
  const errors = lines.slice(0, -1).filter((l) => POSITIONED.test(l) && !WARNING.test(l)).length;
  if (errors === 0) failures.push('exit 1 without a positioned error');
  if (summary !== `steep.yaml is invalid: ${errors} ${errors === 1 ? 'error' : 'errors'}`)
    failures.push(`the last line is not the summary of ${errors} errors: ${summary}`);
  for (const line of lines.slice(0, -1)) {
    if (!POSITIONED.test(line)) failures.push(`an unpositioned line: ${line}`);
  }
  return failures;
}

/** The names a file declares, read leniently (plan errors after a valid file must name one). */
function declaredNames(text: string | Uint8Array): {
  nodes: string[];
  publications: string[];
  subscriptions: string[];
} {
  const names = { nodes: [] as string[], publications: [] as string[], subscriptions: [] as string[] };
  try {
    const value = parse(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'), {
      merge: true,
      maxAliasCount: 100,
      uniqueKeys: false,
    }) as Record<string, unknown>;
    for (const section of ['nodes', 'publications', 'subscriptions'] as const) {
      const v = value?.[section];
      if (v && typeof v === 'object' && !Array.isArray(v)) names[section] = Object.keys(v);
    }
  } catch {
    // unparseable: it names nothing
  }
  return names;
}

/**
 * How plan words an error once the file is valid (src/planner, catalog/readCluster): it starts
 * with the node (`east: …`, `node east: …`) or the object (`publication p …`, `subscription s …`),
 * or is a loop of subscriptions, or a table on a node.
 */
function namesAnObject(message: string, names: ReturnType<typeof declaredNames>): boolean {
  const startsWith = (prefix: string) => message.startsWith(`${prefix} `) || message.startsWith(`${prefix}:`);
  return (
    names.nodes.some((n) => message.startsWith(`${n}: `) || message.startsWith(`node ${n}: `)) ||
    names.publications.some((p) => startsWith(`publication ${p}`)) ||
    names.subscriptions.some((s) => startsWith(`subscription ${s}`)) ||
    (message.startsWith('subscriptions form a loop ') &&
      names.subscriptions.some((s) => message.includes(s))) ||
    (message.startsWith('table ') && names.nodes.some((n) => message.includes(` on ${n} `)))
  );
}

interface PlanOptions {
  detailed: boolean;
  format: 'text' | 'json' | 'markdown';
  target?: string;
}

function planArgv(o: PlanOptions): string[] {
  const argv = ['plan', '-c', FILE];
  if (o.detailed) argv.push('--detailed-exitcode');
  if (o.format === 'json' && o.target === undefined) argv.push('--json');
  else if (o.format !== 'text') argv.push('--format', o.format);
  if (o.target) argv.push('--target', o.target);
  return argv;
}

/**
 * Plan: the config failures are exactly validate's (cross-checked on the same file); after a
 * valid file, every error names a node or object of it; exit 2 only with --detailed-exitcode.
 */
function planFailures(
  r: Outcome,
  o: PlanOptions,
  d: Doc,
  validated: Outcome,
  secrets: string[],
  unreadable?: Unreadable,
): string[] {
  const failures = commonFailures(r, o.detailed ? [0, 1, 2] : [0, 1]);
  if (r.threw !== undefined) return failures;
  for (const s of secrets)
    if (`${r.stdout}${r.stderr}`.includes(s)) failures.push('a node password is printed');
  const lines = stderrMessages(r.stderr, false, failures, d.text);
  const configErrors = lines.filter((l) => POSITIONED.test(l) && !WARNING.test(l));
  const errors = lines.filter((l) => l.startsWith('error: '));
  for (const line of lines) {
    if (!POSITIONED.test(line) && !line.startsWith('error: '))
      failures.push(`an unexpected message: ${line}`);
  }
  if (unreadable) {
    if (r.code !== 1 || errors.length !== 1 || !errors[0]!.includes(unreadable.path))
      failures.push(`an unreadable file must give exit 1 and one error naming ${unreadable.path}`);
    return failures;
  }
  // validate connects nowhere and needs no password: an unset password variable is plan's alone
  const planOnly = (l: string) => UNSET_PASSWORD.test(l);
  if (validated.code === 1) {
    // the same findings, worded the same, as `steep validate` (its last line is its summary);
    // at one position validate lists errors before warnings, plan in the order they were found
    const expected = stderrMessages(validated.stderr, false, [], d.text).slice(0, -1).sort();
    if (r.code !== 1) failures.push(`validate says invalid, plan exits ${r.code}`);
    if (r.stdout !== '') failures.push('an invalid file, yet output on stdout');
    if (errors.length > 0) failures.push(`an invalid file, yet unpositioned errors: ${errors[0]}`);
    const validates = new Set(expected); // 50k lines for one hostile file: no scan per line
    const planned = lines.filter((l) => validates.has(l) || !planOnly(l));
    if ([...planned].sort().join('\n') !== expected.join('\n'))
      failures.push(`plan and validate report the file differently:\n${expected.join('\n')}`);
    return failures;
  }
  const unsetPasswords = configErrors.filter(planOnly);
  if (unsetPasswords.length > 0) {
    if (r.code !== 1) failures.push(`an unset password variable, yet plan exits ${r.code}`);
    if (unsetPasswords.length !== configErrors.length)
      failures.push(`validate says valid, plan reports ${configErrors.find((l) => !planOnly(l))}`);
    return failures;
  }
  if (configErrors.length > 0) failures.push(`validate says valid, plan reports ${configErrors[0]}`);
  if (r.code !== 1 && r.stdout === '') failures.push('no plan on stdout');
  if (o.format === 'json' && r.stdout !== '') {
    try {
      const plan = JSON.parse(r.stdout) as { errors: unknown[]; steps: unknown[] };
      if (plan.errors.length > 0 !== (r.code === 1)) failures.push('exit code and JSON errors disagree');
      if (r.code !== 1 && o.detailed && plan.steps.length > 0 !== (r.code === 2))
        failures.push('--detailed-exitcode and the JSON steps disagree');
    } catch {
      failures.push('--json: stdout is not JSON');
    }
  }
  if (r.code === 1) {
    if (errors.length === 0) failures.push('exit 1 without an error line');
    const names = declaredNames(d.text);
    for (const e of errors) {
      if (!namesAnObject(e.slice('error: '.length), names))
        failures.push(`an error that names no node or object of the file: ${e}`);
    }
  } else if (errors.length > 0) {
    failures.push(`exit ${r.code} with an error line: ${errors[0]}`);
  }
  return failures;
}

/** plan's error for a node's password variable that is unset (validate does not need it) */
const UNSET_PASSWORD = /: node `[^`]+`: environment variable `[^`]+` is not set \(export /;

// ---- generators -------------------------------------------------------------------------------

/** steep's keys, and a few an object has without saying so. */
const STEEP_KEYS = [
  'version topology settings nodes publications subscriptions east west node from tables schemas ',
  'allTables name columns where publish url password host port database user sslmode sslrootcert ',
  'replicationUrl replicationPassfile priority sandbox serverVersion slot enabled schemaSync ',
  'stateSchema lockTimeout statementTimeout connectTimeout parallel init method existingData ',
  'strategy options binary streaming synchronousCommit twoPhase disableOnError origin failover ',
  'passwordRequired runAsOwner viaPartitionRoot generatedColumns protect << __proto__ constructor ',
  'toString hasOwnProperty',
]
  .join('')
  .split(' ');

/** Values steep reads in its own ways: placeholders, URLs, table names, enums, durations. */
const STEEP_STRINGS = [
  `\${env:EAST_PGPASSWORD}`,
  `\${env:WEST_PGPASSWORD}`,
  `\${env:UNSET_STEEP_FUZZ}`,
  `\${env:}`,
  `\${env:A}\${env:B}`,
  `$\${env:EAST_PGPASSWORD}`,
  `\${file:/etc/passwd}`,
  `\${foo}`,
  'host=h port=5432 dbname=d',
  "region = 'eu'",
  'id > 0; DROP TABLE x',
  "'; --",
  '',
  ...[
    'postgres://u:p@h:1/d postgres://postgres@127.0.0.1:1/app postgres://%zz@h/d ',
    'postgres://[::1/d postgresql://h/d?sslmode=verify-full&sslrootcert=/nonexistent mysql://h/d ',
    'public.orders public.customers public.items sales.leads sales public.nope "Quoted".tbl a.b.c ',
    '. pg_catalog.pg_class orders_pub west_orders east west snapshot manual two-phase merge none ',
    'stored strict auto parallel last-modified:id insert truncate any 5s -1s 0 1h ',
    '10000000000000000000000d 1e400 0x10 99999999999999999999 true null ~ * &',
  ]
    .join('')
    .split(' '),
];

const UNICODE = [
  'مرحبا', // Arabic (RTL)
  'שלום', // Hebrew (RTL)
  '\u202Eevil\u202C', // right-to-left override
  '\u200F\u200E',
  'e\u0301\u0302\u0303\u0304', // combining marks
  'Z\u0324\u0354\u0367\u0311\u0313a\u0356\u032D\u0308\u0307',
  '😀🚀👩‍👩‍👧‍👦',
  '\u{10FFFD}',
  '\u{1D54F}\u{1D400}',
  '\u{E0001}\u{E0041}', // tags
  '\uFEFF',
  '\u200B',
  '\u2028',
  '\u2029',
  '\u0085',
  'Ωµ≈ç√',
  'ｆｕｌｌ',
  'İı',
  'ß',
  '\u00A0',
  '\uFFFD',
  '\uFFFF',
  '漢字かな',
  '\u0001',
  '\u001B[31m',
];

const noNul = (s: string) => s.replaceAll('\u0000', '');

const unicodeText = fc
  .array(fc.constantFrom(...UNICODE, 'a', '_', ' ', '.', ':', '-'), { minLength: 1, maxLength: 6 })
  .map((parts) => parts.join(''));

/** 1–70 KB: identifiers and URLs far over any limit. */
const longText = fc
  .tuple(fc.constantFrom('x', 'é', '😀', 'ab.', ' '), fc.integer({ min: 64, max: 70_000 }))
  .map(([unit, n]) => unit.repeat(Math.ceil(n / unit.length)));

/** 0.3–1.1 MB, rarely. */
const hugeText = fc
  .tuple(fc.constantFrom('x', 'é', '😀', 'a b ', '\\"'), fc.integer({ min: 300_000, max: 1_100_000 }))
  .map(([unit, bytes]) => unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit))));

const text = fc.oneof(
  { weight: 30, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 10, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 10, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }).map(noNul) },
  { weight: 20, arbitrary: unicodeText },
  { weight: 40, arbitrary: fc.constantFrom(...STEEP_STRINGS) },
  { weight: 3, arbitrary: longText },
  { weight: 1, arbitrary: hugeText },
);

const key = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...STEEP_KEYS) },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 8 }), unicodeText) },
);

const scalar = fc.oneof(
  { weight: 6, arbitrary: text },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1, 14, 18, 65_536, 2 ** 31, 2 ** 53 + 2, 1e308) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 2, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

/** Any YAML value, wrong types included: scalars, lists, mappings over steep's keys. */
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small' },
    scalar,
    fc.array(tie('any'), { maxLength: 4 }),
    fc.dictionary(key, tie('any'), { maxKeys: 4 }),
  ),
})).any;

const nodeName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('east', 'west', 'north') },
  { weight: 1, arbitrary: text },
);

/** A document shaped like a steep.yaml, each part optional and any part possibly wrong. */
const shapedDoc = fc
  .record(
    {
      version: fc.oneof(fc.constant(1), scalar),
      topology: fc.oneof(fc.constant('fuzz'), text),
      settings: fc.dictionary(
        fc.constantFrom(
          'schemaSync',
          'stateSchema',
          'lockTimeout',
          'statementTimeout',
          'connectTimeout',
          'parallel',
        ),
        value,
      ),
      nodes: fc.dictionary(
        nodeName,
        fc.record(
          {
            url: fc.oneof(
              fc.constantFrom('postgres://steep@east.internal:5432/app', `\${env:WEST_URL}`),
              text,
            ),
            password: fc.oneof(fc.constant(`\${env:EAST_PGPASSWORD}`), scalar),
            host: text,
            port: scalar,
            serverVersion: fc.oneof(fc.constantFrom(140000, 150000, 180000), scalar),
            sandbox: fc.boolean(),
          },
          { requiredKeys: [] },
        ),
        { maxKeys: 3 },
      ),
      publications: fc.dictionary(
        fc.oneof(fc.constant('orders_pub'), text),
        fc.record(
          {
            node: nodeName,
            tables: fc.oneof(
              fc.array(fc.oneof(fc.constantFrom('public.orders', 'public.customers'), text), {
                maxLength: 3,
              }),
              value,
            ),
            allTables: fc.oneof(fc.boolean(), scalar),
            schemas: value,
            publish: fc.oneof(fc.subarray(['insert', 'update', 'delete', 'truncate']), value),
          },
          { requiredKeys: [] },
        ),
        { maxKeys: 2 },
      ),
      subscriptions: fc.dictionary(
        fc.oneof(fc.constant('west_orders'), text),
        fc.record(
          {
            node: nodeName,
            from: nodeName,
            publications: fc.oneof(fc.constant(['orders_pub']), value),
            slot: text,
            init: fc.dictionary(fc.constantFrom('method', 'parallel', 'existingData', 'strategy'), scalar),
            options: fc.dictionary(
              fc.constantFrom('streaming', 'origin', 'twoPhase', 'failover', 'binary'),
              scalar,
            ),
          },
          { requiredKeys: [] },
        ),
        { maxKeys: 2 },
      ),
    },
    { requiredKeys: [] },
  )
  .chain((d) =>
    // share one object between two places now and then: stringify writes it as an anchor and an alias
    fc.boolean().map((share) => {
      const nodes = d.nodes as Record<string, unknown> | undefined;
      const names = Object.keys(nodes ?? {});
      if (share && nodes && names.length > 0) nodes.shared = nodes[names[0]!];
      return d;
    }),
  );

/** Random mappings over steep's keys. */
const randomDoc = fc
  .dictionary(key, value, { maxKeys: 7 })
  .map((d) => doc(stringify(d), `random structure of ${Object.keys(d).length} keys`));

const shaped = shapedDoc.map((d) => doc(stringify(d), 'steep-shaped structure'));

/**
 * Topologies over the test nodes that mostly validate, so plan reads the catalogs and plans:
 * tables that exist or not, lack a replica identity or hold rows, column lists and row filters
 * PostgreSQL accepts or refuses, every init method and option, loops, shared slots, schemas and
 * allTables, identifiers that need quoting. `nodes` is the block of the real nodes, as text.
 */
function plausibleTopology(nodes: string) {
  // mostly what exists and PostgreSQL accepts, so that many plans have no errors
  const table = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.constantFrom('public.orders', 'public.customers', 'orders', 'public.archive'),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom('public.items', 'sales.leads', 'public.nope', 'sales."Mixed Case"'),
    },
  );
  const where = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom('id > 0', 'id IN (1, 2, 3)', 'id > 0\n  AND id < 100') },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "region = 'eu'",
        'nope = 1',
        'id >',
        'random() > 0.5',
        '(SELECT 1) = 1',
        "name ~ 'ü'",
        'true); DROP TABLE public.orders; --',
      ),
    },
  );
  const tableEntry = fc.oneof(
    table,
    fc.record(
      {
        name: table,
        columns: fc.constantFrom(['id'], ['id', 'note'], ['id', 'name', 'region'], ['nope']),
        where,
      },
      { requiredKeys: ['name'] },
    ),
  );
  const what = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        tables: fc.uniqueArray(tableEntry, {
          minLength: 1,
          maxLength: 4,
          selector: (t) => (typeof t === 'string' ? t : t.name).replace(/^orders$/, 'public.orders'),
        }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ schemas: fc.subarray(['sales', 'public', 'nope'], { minLength: 1 }) }),
    },
    { weight: 1, arbitrary: fc.constant({ allTables: true }) },
  );
  const pubName = fc.constantFrom('orders_pub', 'cust_pub', 'Sales Pub', 'pub_ünï', 'p'.repeat(63));
  const publication = fc
    .tuple(
      what,
      fc.record(
        {
          node: fc.constantFrom('east', 'east', 'west'),
          publish: fc.subarray(['insert', 'update', 'delete', 'truncate'], { minLength: 1 }),
          viaPartitionRoot: fc.boolean(),
          generatedColumns: fc.constantFrom('none', 'stored'),
          protect: fc.boolean(),
        },
        { requiredKeys: ['node'] },
      ),
    )
    .map(([w, rest]) => ({ ...rest, ...w }));
  const subscription = fc.record(
    {
      route: fc.oneof(
        { weight: 6, arbitrary: fc.constant(['west', 'east']) },
        { weight: 2, arbitrary: fc.constant(['east', 'west']) },
        { weight: 1, arbitrary: fc.constant(['east', 'east']) },
      ),
      // which publications: chosen below from those on the publisher, now and then one that is not
      pick: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      ghost: fc.nat(9).map((n) => n === 0),
      slot: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom('shared_slot', 's'.repeat(63)) },
        { weight: 1, arbitrary: fc.constant('Slot-X') },
      ),
      enabled: fc.boolean(),
      schemaSync: fc.constantFrom('strict', 'auto', 'manual'),
      init: fc.record(
        {
          method: fc.constantFrom('snapshot', 'manual', 'two-phase', 'merge', 'none'),
          parallel: fc.integer({ min: 1, max: 16 }),
          existingData: fc.constantFrom('fail', 'truncate'),
          strategy: fc.constantFrom('prefer-source', 'prefer-target', 'last-modified:id', 'manual'),
        },
        { requiredKeys: [] },
      ),
      options: fc.record(
        {
          binary: fc.boolean(),
          streaming: fc.constantFrom('off', 'on', 'parallel'),
          synchronousCommit: fc.constantFrom('off', 'on', 'local', 'remote_apply'),
          twoPhase: fc.boolean(),
          disableOnError: fc.boolean(),
          origin: fc.constantFrom('any', 'none'),
          failover: fc.boolean(),
          passwordRequired: fc.boolean(),
          runAsOwner: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
      protect: fc.boolean(),
    },
    { requiredKeys: ['route', 'pick', 'ghost'] },
  );
  const settings = fc.record(
    {
      schemaSync: fc.constantFrom('strict', 'auto', 'manual'),
      stateSchema: fc.constantFrom('steep', 'steep_fuzz', 'Steep State'),
      lockTimeout: fc.constantFrom('5s', '100ms', 0),
      statementTimeout: fc.constantFrom('0', '30s'),
      parallel: fc.integer({ min: 1, max: 16 }),
    },
    { requiredKeys: [] },
  );
  return fc
    .record({
      settings,
      publications: fc.dictionary(pubName, publication, { minKeys: 1, maxKeys: 3 }),
      subscriptions: fc.dictionary(
        fc.constantFrom('west_orders', 'east_back', 'west_more', 'sub_Ω'),
        subscription,
        {
          maxKeys: 3,
        },
      ),
    })
    .map(({ settings: set, publications, subscriptions: drafts }) => {
      const subscriptions = Object.fromEntries(
        Object.entries(drafts).map(([name, { route, pick, ghost, ...rest }]) => {
          const sub = { node: route[0]!, from: route[1]!, ...rest };
          const onPublisher = Object.keys(publications).filter((p) => publications[p]!.node === sub.from);
          const chosen = [...new Set(pick.map((i) => onPublisher[i % onPublisher.length]))];
          const pubs = chosen.filter((p): p is string => p !== undefined);
          return [name, { ...sub, publications: ghost || pubs.length === 0 ? [...pubs, 'ghost_pub'] : pubs }];
        }),
      );
      const head = stringify({ version: 1, topology: 'fuzz', settings: { ...set, connectTimeout: '2s' } });
      const rest = stringify(
        Object.keys(subscriptions).length > 0 ? { publications, subscriptions } : { publications },
      );
      const pubs = Object.keys(publications).length;
      const subs = Object.keys(subscriptions).length;
      return doc(
        `${head}${nodes}\n${rest}`,
        `plausible topology: ${pubs} publications, ${subs} subscriptions`,
      );
    });
}

/** A region of the text edits must leave alone (plan keeps the nodes block most of the time). */
interface Keep {
  start: number;
  end: number;
}

const YAML_TOKENS = [
  ':',
  ': ',
  '-',
  '- ',
  '\n',
  '\n  ',
  '\n- ',
  '  ',
  '\t',
  '#',
  '&a ',
  '*a',
  '<<: *a',
  '!!binary ',
  '!!str ',
  '!!set ',
  '!!omap ',
  '!!int ',
  '!!float ',
  '!!timestamp ',
  '!!null ',
  '!foo ',
  '!<tag:x> ',
  '%YAML 1.1\n---\n',
  '---\n',
  '...\n',
  '"',
  "'",
  '{',
  '}',
  '[',
  ']',
  ',',
  '? ',
  '|',
  '>-',
  '@',
  '`',
  '\\',
  `\${env:`,
  `\${env:UNSET}`,
  '\r',
  '\r\n',
  '\u0000',
];

const insertion = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom(...YAML_TOKENS),
  unicodeText,
  fc.constantFrom(...STEEP_STRINGS),
);

function outside(at: number, length: number, keep: Keep | undefined): number {
  if (!keep) return at % (length + 1);
  const free = length - (keep.end - keep.start);
  const i = at % (free + 1);
  return i < keep.start ? i : i + (keep.end - keep.start);
}

/** Characters inserted, deleted and replaced at random offsets. */
function textEdits(base: string, keepNodes: (text: string) => Keep | undefined) {
  return fc
    .tuple(
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 8 }), insertion), { minLength: 1, maxLength: 5 }),
      fc.boolean(),
    )
    .map(([edits, anywhere]) => {
      let t = base;
      for (const [at, del, insert] of edits) {
        const keep = anywhere ? undefined : keepNodes(t);
        const i = outside(at, t.length, keep);
        const end = keep && i < keep.start ? Math.min(i + del, keep.start) : Math.min(i + del, t.length);
        t = t.slice(0, i) + insert + t.slice(end);
      }
      return doc(t, `${edits.length} text edits${anywhere ? ' anywhere' : ''}`);
    });
}

/** Whole lines duplicated, deleted, swapped, re-indented or tab-indented. */
function lineEdits(base: string, keepLines: (lines: string[]) => Set<number>) {
  const op = fc.tuple(
    fc.constantFrom('dup', 'del', 'swap', 'indent', 'dedent', 'tab'),
    fc.nat(),
    fc.nat(),
    fc.nat(6),
  );
  return fc.tuple(fc.array(op, { minLength: 1, maxLength: 3 }), fc.boolean()).map(([ops, anywhere]) => {
    const lines = base.split('\n');
    for (const [kind, a, b, n] of ops) {
      const keep = anywhere ? new Set<number>() : keepLines(lines);
      const free = lines.map((_, i) => i).filter((i) => !keep.has(i));
      if (free.length === 0) break;
      const i = free[a % free.length]!;
      const j = free[b % free.length]!;
      if (kind === 'dup') lines.splice(i, 0, lines[i]!);
      else if (kind === 'del') lines.splice(i, 1);
      else if (kind === 'swap') [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      else if (kind === 'indent') lines[i] = ' '.repeat(n + 1) + lines[i];
      else if (kind === 'dedent')
        lines[i] = lines[i]!.slice(Math.min(n + 1, lines[i]!.length - lines[i]!.trimStart().length));
      else lines[i] = `\t${lines[i]}`;
    }
    return doc(lines.join('\n'), `line edits: ${ops.map((o) => o[0]).join(', ')}`);
  });
}

type Path = (string | number)[];

function allPaths(v: unknown, path: Path = [], out: Path[] = []): Path[] {
  out.push(path);
  if (v !== null && typeof v === 'object') {
    for (const [k, child] of Object.entries(v))
      allPaths(child, [...path, Array.isArray(v) ? Number(k) : k], out);
  }
  return out;
}

/** A value replaced, deleted, renamed or added at a random path of a valid document. */
function valueEdits(base: string, avoid: (path: Path) => boolean) {
  const parsed = parse(base) as Record<string, unknown>;
  const paths = allPaths(parsed).filter((p) => p.length > 0);
  return fc
    .tuple(fc.nat(), fc.constantFrom('replace', 'delete', 'add', 'rename', 'wrap'), value, key, fc.boolean())
    .map(([pick, kind, replacement, extraKey, anywhere]) => {
      const candidates = anywhere ? paths : paths.filter((p) => !avoid(p));
      const path = candidates[pick % candidates.length]!;
      const d = structuredClone(parsed);
      let parent = d as Record<string | number, unknown>;
      for (const seg of path.slice(0, -1)) parent = parent[seg] as Record<string | number, unknown>;
      const last = path[path.length - 1]!;
      if (kind === 'delete') {
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete parent[last];
      } else if (kind === 'add' && parent[last] !== null && typeof parent[last] === 'object') {
        (parent[last] as Record<string, unknown>)[extraKey] = replacement;
      } else if (kind === 'rename' && !Array.isArray(parent)) {
        const v = parent[last];
        delete parent[last];
        parent[extraKey] = v;
      } else if (kind === 'wrap') {
        parent[last] = typeof replacement === 'boolean' ? [parent[last]] : { [extraKey]: parent[last] };
      } else {
        parent[last] = replacement;
      }
      return doc(stringify(d), `${kind} at ${path.join('.')}`);
    });
}

function collections(root: Node | null, out: Node[] = []): Node[] {
  // iterative: the documents here are shallow, but a generator should not be the thing that overflows
  const stack: (Node | null)[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (!node) continue;
    out.push(node);
    if (isSeq(node)) stack.push(...(node.items as Node[]).slice().reverse());
    else if (isMap(node))
      for (const pair of node.items.slice().reverse())
        if (isPair(pair)) stack.push(pair.value as Node | null);
  }
  return out;
}

/**
 * Anchors on random nodes of a valid document, and aliases to them placed elsewhere: as a value,
 * as a merge key (`<<: *a`, `<<: [*a, *b]`), inside the anchored node itself (a cycle), or before
 * the anchor (unresolvable).
 */
function aliasEdits(base: string) {
  const op = fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('value', 'merge', 'merge-list', 'list-item'));
  return fc.array(op, { minLength: 1, maxLength: 4 }).map((ops) => {
    const d: Document = parseDocument(base, { merge: true });
    for (const [i, [src, dst, kind]] of ops.entries()) {
      const nodes = collections(d.contents as Node | null);
      const source = nodes[src % nodes.length]!;
      if (!source.anchor) source.anchor = `a${i}`;
      const alias = d.createAlias(source as Parameters<Document['createAlias']>[0]);
      const target = nodes[dst % nodes.length]!;
      if (isMap(target)) {
        const map = target as YAMLMap;
        if (kind === 'merge') map.items.unshift(d.createPair('<<', alias));
        else if (kind === 'merge-list') map.items.unshift(d.createPair('<<', [alias, alias]));
        else if (map.items.length > 0) {
          const pair = map.items[dst % map.items.length]!;
          pair.value = alias;
        }
      } else if (isSeq(target)) {
        const seq = target as YAMLSeq;
        if (kind === 'list-item' || seq.items.length === 0) seq.items.push(alias);
        else seq.items[dst % seq.items.length] = alias;
      }
    }
    return doc(
      d.toString({ verifyAliasOrder: false }),
      `anchors and aliases: ${ops.map((o) => o[2]).join(', ')}`,
    );
  });
}

/** Nesting text: block mappings, block lists, `- - -` lists, flow lists and mappings, mixed. */
function nested(kind: string, depth: number, indent: number): string {
  const pad = (n: number) => ' '.repeat(indent + n);
  switch (kind) {
    case 'block-map':
      return `\n${Array.from({ length: depth }, (_, i) => `${pad(i)}k:`).join('\n')} x`;
    case 'block-seq':
      return `\n${Array.from({ length: depth }, (_, i) => `${pad(i)}-`).join('\n')} x`;
    case 'compact-seq':
      return `\n${pad(0)}${'- '.repeat(depth)}x`;
    case 'flow-seq':
      return ` ${'['.repeat(depth)}x${']'.repeat(depth)}`;
    case 'flow-map':
      return ` ${'{a: '.repeat(depth)}x${'}'.repeat(depth)}`;
    default:
      return ` ${'[{a: '.repeat(Math.ceil(depth / 2))}x${'}]'.repeat(Math.ceil(depth / 2))}`;
  }
}

/** A deeply nested value put in place of a value of a valid document. */
function deepEdits(base: string, avoid: (path: Path) => boolean) {
  const parsed = parse(base) as Record<string, unknown>;
  const paths = allPaths(parsed).filter((p) => p.length > 0 && !avoid(p) && typeof p.at(-1) === 'string');
  const depth = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 2, max: 300 }) },
    { weight: 2, arbitrary: fc.integer({ min: 300, max: 2_500 }) },
  );
  const kind = fc.constantFrom('block-map', 'block-seq', 'compact-seq', 'flow-seq', 'flow-map', 'mixed');
  return fc.tuple(fc.nat(), kind, depth).map(([pick, k, n]) => {
    const path = paths[pick % paths.length]!;
    const d = structuredClone(parsed);
    let parent = d as Record<string | number, unknown>;
    for (const seg of path.slice(0, -1)) parent = parent[seg] as Record<string | number, unknown>;
    parent[path.at(-1)!] = 'DEEP_VALUE_HERE';
    const lines = stringify(d).split('\n');
    const i = lines.findIndex((l) => l.includes('DEEP_VALUE_HERE'));
    const line = lines[i]!;
    const indent = line.length - line.trimStart().length + 2;
    lines[i] = line.replace(/ ?DEEP_VALUE_HERE/, nested(k, n, indent));
    return doc(lines.join('\n'), `${k} nested ${n} deep at ${path.join('.')}`);
  });
}

/** An alias bomb: each anchor is nine aliases of the one before. */
function billionLaughs(levels: number, prefix: string): string {
  const names = 'abcdefghijklmnop';
  const lines = [`${prefix}a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]`];
  for (let i = 1; i < levels; i++) {
    lines.push(
      `${prefix}${names[i]}: &${names[i]} [${Array(9)
        .fill(`*${names[i - 1]}`)
        .join(', ')}]`,
    );
  }
  return lines.join('\n');
}

/** Inputs no generator is likely to produce; `path` is what is passed to -c. */
function hostileCases(
  valid: string,
): { name: string; text?: string | Uint8Array; path?: string; unreadable?: boolean }[] {
  const cycle = (n: number) => Array.from({ length: n }, (_, i) => `${' '.repeat(i + 2)}-`).join('\n');
  let chain = 'version: 1\ntopology: chain\n';
  chain += `a0: &a0 ${'['.repeat(200)}x${']'.repeat(200)}\n`;
  for (let i = 1; i < 40; i++) chain += `a${i}: &a${i} ${'['.repeat(200)}*a${i - 1}${']'.repeat(200)}\n`;
  return [
    { name: 'billion laughs at the top level', text: `version: 1\ntopology: lol\n${billionLaughs(9, '')}\n` },
    {
      name: 'billion laughs inside settings',
      text: `version: 1\ntopology: lol\nsettings:\n${billionLaughs(9, '  ')}\n`,
    },
    {
      name: 'billion laughs merged into a node',
      text: `${billionLaughs(8, '')}\nnodes:\n  east:\n    <<: *h\n`,
    },
    { name: '200k `[`', text: '['.repeat(200_000) },
    { name: '200k `{a: `', text: `version: 1\nx: ${'{a: '.repeat(200_000)}` },
    { name: '100k `- ` on one line', text: `version: 1\nx:\n  ${'- '.repeat(100_000)}a\n` },
    { name: 'block lists nested 1400 deep', text: `version: 1\ntopology: t\nnodes:\n  x:\n${cycle(1400)}\n` },
    { name: 'block lists nested 2500 deep', text: `version: 1\ntopology: t\nnodes:\n  x:\n${cycle(2500)}\n` },
    {
      name: 'an alias inside its own anchor (mapping)',
      text: 'version: 1\ntopology: t\nnodes: &a {x: *a}\n',
    },
    { name: 'an alias inside its own anchor (document)', text: '&a\nversion: 1\ntopology: t\nx: *a\n' },
    {
      name: 'a merge key merging its own mapping',
      text: 'version: 1\ntopology: t\nsettings: &a\n  <<: *a\n',
    },
    { name: '40 aliases chained, 200 levels each', text: chain },
    { name: 'an alias before its anchor', text: 'version: 1\ntopology: *t\nx: &t y\n' },
    {
      name: '5 MiB scalar',
      text: `version: 1\ntopology: ${'x'.repeat(5 * 1024 * 1024)}\n`,
      unreadable: true,
    },
    {
      name: 'a 3.9 MiB scalar (just under the limit)',
      text: `version: 1\ntopology: ${'x'.repeat(3_900_000)}\n`,
    },
    {
      name: '50k keys',
      text: `version: 1\n${Array.from({ length: 50_000 }, (_, i) => `k${i}: ${i}`).join('\n')}\n`,
    },
    {
      name: '50k aliases of one anchor',
      text: `version: 1\na: &a x\nb: [${Array(50_000).fill('*a').join(',')}]\n`,
    },
    { name: 'an empty file', text: '' },
    { name: 'a file of comments and blank lines', text: '# nothing\n\n   \n# here\n' },
    { name: 'a byte-order mark only', text: '\uFEFF' },
    { name: 'NUL bytes', text: 'version: 1\0\0\ntopology: \0x\n' },
    {
      name: 'binary bytes (invalid UTF-8)',
      text: Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256),
    },
    { name: 'UTF-16 with a byte-order mark', text: Buffer.from(`\uFEFF${valid}`, 'utf16le') },
    { name: 'CRLF line endings', text: valid.replaceAll('\n', '\r\n') },
    { name: 'two documents', text: `${valid}\n---\n${valid}` },
    { name: 'a %YAML 1.1 directive', text: `%YAML 1.1\n---\n${valid}` },
    { name: 'a list at the top', text: '- version: 1\n- topology: t\n' },
    { name: 'a scalar at the top', text: 'steep' },
    { name: 'a tag on every value', text: valid.replace(/: (\S)/g, ': !!str $1') },
    {
      name: '!!binary where a string belongs',
      text: valid.replace(/topology: .*/, 'topology: !!binary aGVsbG8='),
    },
    { name: 'a directory', path: 'a-directory', unreadable: true },
    { name: 'a missing file', path: 'no/such/steep.yaml', unreadable: true },
  ];
}

// ---- the two commands -------------------------------------------------------------------------

const cluster = useCluster({ nodes: ['east', 'west'] });
let workDir = '';
const savedEnv: Record<string, string | undefined> = {};
const savedCwd = process.cwd();

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!(k in savedEnv)) savedEnv[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist/commands/validate.js')))
    throw new Error('the CLI is not built: run `npm run build` first');
  oclifConfig = await Config.load(REPO_ROOT);
  workDir = mkdtempSync(join(tmpdir(), 'steep-fuzz-'));
  mkdirSync(join(workDir, 'a-directory'));
  process.chdir(workDir);
  setEnv({
    ...passwordEnv(cluster().nodes),
    WEST_URL: 'postgres://w@west.internal/app',
    NO_COLOR: '1',
    STEEP_DEBUG: undefined,
    STEEP_CONFIG: undefined,
    UNSET_STEEP_FUZZ: undefined,
  });
});

afterAll(() => {
  process.chdir(savedCwd);
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  console.log(
    `fuzzCli ${tally.validate.summary('validate')}; ${tally.plan.summary('plan')}; ` +
      `${tally.crossChecks} plan cases cross-checked with validate; seed ${SEED}`,
  );
});

function write(d: Doc): void {
  writeFileSync(join(workDir, FILE), d.text);
}

async function validateCase(
  d: Doc,
  flags: { json: boolean; jsonLog: boolean },
  hostile?: { unreadable?: Unreadable },
) {
  const unreadable = hostile?.unreadable;
  const argv = ['validate', '-c', unreadable?.path ?? FILE];
  if (flags.json) argv.push('--json');
  if (flags.jsonLog) argv.push('--log-format', 'json');
  const r = await steepInProcess(argv);
  tally.validate.add(d.what, r, hostile !== undefined);
  const failures = validateFailures(r, d.text, { ...flags, unreadable });
  if (failures.length > 0) throw new Error(`${failures.join('\n')}\n${report(d.what, argv, r, d.text)}`);
  const keep = !flags.json && !flags.jsonLog && !unreadable && samples.validate.length < SAMPLES.validate;
  if (keep && tally.validate.cases % 37 === 1) samples.validate.push({ doc: d, argv, inProcess: r });
}

/**
 * The test nodes' passwords whose variable the file reads only as a node's `password:` (one it
 * also puts in a slot name or a table, steep rightly echoes in the problem about that value).
 */
function passwordsUsedAsPasswords(text: string | Uint8Array): string[] {
  const lines = (typeof text === 'string' ? text : Buffer.from(text).toString('utf8')).split(/\r?\n/);
  return cluster()
    .nodes.filter((n) => {
      const ref = `\${env:${passwordVar(n)}}`;
      return lines.every((line) => !line.includes(ref) || line.trim() === `password: ${ref}`);
    })
    .map((n) => n.password);
}

async function planCase(d: Doc, o: PlanOptions, hostile?: { unreadable?: Unreadable }) {
  const unreadable = hostile?.unreadable;
  const argv = planArgv(o);
  if (unreadable) argv[2] = unreadable.path;
  const r = await steepInProcess(argv);
  tally.plan.add(d.what, r, hostile !== undefined);
  const validated = await steepInProcess(['validate', '-c', argv[2]!]);
  tally.crossChecks++;
  if (validated.code === 0) tally.plan.reachedNodes++;
  const secrets = passwordsUsedAsPasswords(d.text);
  const failures = planFailures(r, o, d, validated, secrets, unreadable);
  if (failures.length > 0) throw new Error(`${failures.join('\n')}\n${report(d.what, argv, r, d.text)}`);
  if (!unreadable && samples.plan.length < SAMPLES.plan && tally.plan.cases % 29 === 1)
    samples.plan.push({ doc: d, argv, inProcess: r });
}

const validateFlags = fc.record({
  json: fc.boolean(),
  jsonLog: fc.nat(7).map((n) => n === 0),
});

describe('steep validate on generated and mutated files', () => {
  const spec = readFileSync(new URL('../unit/config/fixtures/spec-example.yaml', import.meta.url), 'utf8');
  const bases = [spec, BASE];
  const noKeep = () => undefined;
  const noLines = () => new Set<number>();
  const nowhere = () => false;
  const families: [string, fc.Arbitrary<Doc>, number][] = [
    ['random structures', randomDoc, 350],
    ['steep-shaped structures', shaped, 350],
    ...bases.flatMap((b, i): [string, fc.Arbitrary<Doc>, number][] => [
      [`text edits of base ${i}`, textEdits(b, noKeep), 200],
      [`line edits of base ${i}`, lineEdits(b, noLines), 100],
      [`value edits of base ${i}`, valueEdits(b, nowhere), 200],
      [`anchors and aliases in base ${i}`, aliasEdits(b), 100],
      [`deep nesting in base ${i}`, deepEdits(b, nowhere), 50],
    ]),
  ];

  for (const [name, arb, n] of families) {
    it(
      `${name} (${runs(n)} cases)`,
      async () => {
        await fc.assert(
          fc.asyncProperty(arb, validateFlags, async (d, flags) => {
            write(d);
            await validateCase(d, flags);
          }),
          { seed: SEED, numRuns: runs(n) },
        );
      },
      TEST_HANG_MS,
    );
  }

  it(
    'hostile inputs',
    async () => {
      for (const c of hostileCases(spec)) {
        for (const flags of [
          { json: false, jsonLog: false },
          { json: true, jsonLog: false },
        ]) {
          if (c.text !== undefined) write(doc(c.text, c.name));
          const unreadable = c.unreadable ? { path: c.path ?? FILE } : undefined;
          await validateCase(doc(c.text ?? '', c.name), flags, { unreadable });
        }
      }
    },
    TEST_HANG_MS,
  );
});

describe('steep plan on generated and mutated files, against two real nodes', () => {
  let base = '';
  /** offsets of the nodes block in a text, while it is still whole */
  const nodesBlock = (t: string): Keep | undefined => {
    const start = t.indexOf('\nnodes:\n');
    const end = t.indexOf('\npublications:', start);
    return start >= 0 && end > start ? { start, end } : undefined;
  };
  const nodesLines = (lines: string[]) => {
    const start = lines.indexOf('nodes:');
    const end = lines.indexOf('publications:');
    const keep = new Set<number>();
    if (start >= 0 && end > start) for (let i = start; i < end; i++) keep.add(i);
    return keep;
  };
  const inNodes = (p: Path) => p[0] === 'nodes';

  beforeAll(async () => {
    // items has no replica identity; sales exists on east only; west's archive holds a row
    const both = [
      'CREATE TABLE public.orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric(12,2), note text)',
      'CREATE TABLE public.customers (id bigint PRIMARY KEY, name text, region text NOT NULL)',
      // the base file filters customers on region: the replica identity must cover it (else every UPDATE fails)
      'CREATE UNIQUE INDEX customers_identity ON public.customers (id, region)',
      'ALTER TABLE public.customers REPLICA IDENTITY USING INDEX customers_identity',
      'CREATE TABLE public.items (id int, label text)',
      'CREATE TABLE public.archive (id int PRIMARY KEY, note text)',
    ];
    for (const n of cluster().nodes) for (const sql of both) await n.query(sql);
    await cluster().node('east').query('CREATE SCHEMA sales');
    await cluster().node('east').query('CREATE TABLE sales.leads (id int PRIMARY KEY, "Mixed Case" text)');
    await cluster().node('east').query('CREATE TABLE sales."Mixed Case" (id int PRIMARY KEY)');
    await cluster().node('west').query("INSERT INTO public.archive VALUES (1, 'w')");
    base = planBase(cluster().nodes);
  });

  const planFlags = fc.record({
    detailed: fc.boolean(),
    format: fc.constantFrom('text', 'text', 'json', 'markdown') as fc.Arbitrary<PlanOptions['format']>,
    target: fc.option(
      fc.constantFrom(
        'publication.orders_pub',
        'subscription.west_orders',
        'node.east',
        'slot.east/west_orders',
        'x.y',
      ),
      { freq: 6, nil: undefined },
    ),
  });

  const families: [string, (b: string) => fc.Arbitrary<Doc>, number][] = [
    ['the valid base file', (b) => fc.constant(doc(b, 'the valid base file')), 10],
    ['plausible topologies', () => plausibleTopology(nodesYaml(cluster().nodes)), 450],
    ['text edits', (b) => textEdits(b, nodesBlock), 180],
    ['line edits', (b) => lineEdits(b, nodesLines), 80],
    ['value edits', (b) => valueEdits(b, inNodes), 200],
    ['anchors and aliases', (b) => aliasEdits(b), 100],
    ['deep nesting', (b) => deepEdits(b, inNodes), 30],
    ['steep-shaped structures', () => shaped, 30],
  ];

  for (const [name, arb, n] of families) {
    it(
      `${name} (${runs(n)} cases)`,
      async () => {
        await fc.assert(
          fc.asyncProperty(arb(base), planFlags, async (d, o) => {
            write(d);
            await planCase(d, o);
          }),
          { seed: SEED, numRuns: runs(n) },
        );
      },
      TEST_HANG_MS,
    );
  }

  it(
    'hostile inputs',
    async () => {
      for (const c of hostileCases(base)) {
        if (c.text !== undefined) write(doc(c.text, c.name));
        const unreadable = c.unreadable ? { path: c.path ?? FILE } : undefined;
        await planCase(doc(c.text ?? '', c.name), { detailed: true, format: 'text' }, { unreadable });
      }
    },
    TEST_HANG_MS,
  );
});

/** The plan's base file: both test nodes, a publication on east, a subscription on west. */
function planBase(nodes: TestNode[]): string {
  return `version: 1
topology: fuzz
settings:
  connectTimeout: 2s
${nodesYaml(nodes)}
publications:
  orders_pub:
    node: east
    tables:
      - public.orders
      - name: public.customers
        columns: [id, name, region]
        where: "region = 'eu'"
    publish: [insert, update, delete]
subscriptions:
  west_orders:
    node: west
    from: east
    publications: [orders_pub]
    init:
      method: snapshot
      existingData: fail
    options:
      streaming: "on"
`;
}

describe('the real binary agrees with the in-process runs', () => {
  it(
    'a sample of the cases, through bin/run.js',
    async () => {
      const all = [...samples.validate, ...samples.plan];
      expect(samples.validate.length).toBeGreaterThan(0);
      expect(samples.plan.length).toBeGreaterThan(0);
      const env = {
        ...passwordEnv(cluster().nodes),
        WEST_URL: process.env.WEST_URL,
        STEEP_CONFIG: undefined,
      };
      let next = 0;
      const results: [Sample, CliResult][] = [];
      const worker = async () => {
        while (next < all.length) {
          const s = all[next++]!;
          const dir = mkdtempSync(join(workDir, 'sample-'));
          writeFileSync(join(dir, FILE), s.doc.text);
          results.push([s, await runSteep(s.argv, { cwd: dir, env })]);
        }
      };
      await Promise.all([worker(), worker(), worker()]);
      for (const [s, r] of results) {
        const where = report(s.doc.what, s.argv, { ...r, threw: undefined }, s.doc.text);
        expect(r.code, where).toBe(s.inProcess.code);
        expect(hasStackTrace(r.stdout + r.stderr), where).toBe(false);
        expect(r.stderr, where).toBe(s.inProcess.stderr);
      }
    },
    TEST_HANG_MS,
  );
});
