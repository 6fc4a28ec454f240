import { execFile } from 'node:child_process';
import { appendFileSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../src/sandbox/ports.js';
import { REPO_ROOT, runSteep } from '../support/cli.js';
import { tempDir } from '../support/tempDir.js';
import { HANG_MS } from '../support/topologyFile.js';

/**
 * docs/tutorial.md, run as written: its steep.yaml and app.sql, then every command of its console
 * blocks in order (steep in this process, `sandbox` and psql as processes), each command's output
 * compared with the lines the tutorial shows under it. Only what differs from run to run is
 * normalised (`VARYING`): the ports, times, durations, rates, LSNs, digests, lags and slots'
 * sizes, a slot's database tag, the config file's directory; stdout and stderr may interleave as
 * they did in the pasted run, steps or tables finished together may come in any order, and a live
 * progress sample (`copying 15.4% · 1/2 tables`) may be there or not. A `…` line stands for any
 * lines. The application's part is psql, as the tutorial's reader runs it.
 */

const TUTORIAL = join(REPO_ROOT, 'docs', 'tutorial.md');
const DOC_PORTS = ['56420', '56421'];
const DIR = tempDir('steep-tutorial-');
// run as root, the servers run as postgres, which must enter it
chmodSync(DIR, 0o755);
const FILE = join(DIR, 'steep.yaml');
let ports: string[] = [];

interface Block {
  lang: string;
  line: number;
  lines: string[];
}

/** The fenced blocks of the tutorial, in order. */
function blocks(text: string): Block[] {
  const out: Block[] = [];
  let open: Block | null = null;
  text.split('\n').forEach((l, i) => {
    if (!l.startsWith('```')) {
      open?.lines.push(l);
      return;
    }
    if (open) out.push(open);
    open = open ? null : { lang: l.slice(3).trim(), line: i + 1, lines: [] };
  });
  return out;
}

/** A console block's commands, each with the output lines the tutorial shows under it. */
function commands(b: Block): { command: string; expected: string[] }[] {
  const out: { command: string; expected: string[] }[] = [];
  for (const l of b.lines) {
    if (l.startsWith('$ ')) out.push({ command: l.slice(2), expected: [] });
    else out.at(-1)?.expected.push(l);
  }
  return out;
}

/** A command line's words: spaces split them, single quotes keep them whole. */
function words(command: string): string[] {
  return [...command.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** The tutorial's ports as this run's. */
const local = (s: string) => DOC_PORTS.reduce((t, p, i) => t.replaceAll(p, ports[i]!), s);

/** What varies from run to run, the same in the tutorial and in this run. */
const VARYING: [RegExp, string][] = [
  [/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z\b/g, '<time>'],
  [/\[\d\d:\d\d:\d\d\]/g, '[<clock>]'],
  [/\b[0-9A-F]+\/[0-9A-F]{6,8}\b/g, '<lsn>'],
  [/\bsha256:[0-9a-f]{64}\b/g, 'sha256:<digest>'],
  [/\b\d+(\.\d+)? ?(ms|s)\b/g, '<duration>'],
  [/~\d+\/s\b/g, '~<rate>/s'],
  [/\b(retains|lag) \d+(\.\d+)? (B|kB|MB)\b/g, '$1 <size>'],
  [/\b(steep_reverse_\w+?)_[0-9a-f]{8}\b/g, '$1_<tag>'],
];

const normal = (line: string) => VARYING.reduce((l, [re, to]) => l.replace(re, to), line.trimEnd());

/**
 * A live progress sample (`copying 15.4% · 1/2 tables`, `comparing rows: 1 table(s) compared`):
 * printed when a reading falls in that phase, so there or not.
 */
const SAMPLE = [
  /^(› \[[^\]]+\] )?[a-z_ ]+ (\d+(\.\d+)?% )?· \d+\/\d+ tables/,
  /^(› \[[^\]]+\] |init\.comparing: )comparing rows: \d+ table\(s\) compared$/,
];

/** A step or a table finished among others running at once: `✔ [12:00:00] create …`, `public.orders: 1000 rows, …`. */
const FINISHED = /^(✔ |[\w.]+: \d+ rows, )/;

/** Lines as compared: normalised, samples left out, each run of things finished together in one order. */
function comparable(lines: string[]): string[] {
  const out = lines.map(normal).filter((l) => !SAMPLE.some((re) => re.test(l)));
  for (let i = 0; i < out.length; i++) {
    let j = i;
    while (j < out.length && FINISHED.test(out[j]!)) j++;
    if (j - i > 1) out.splice(i, j - i, ...out.slice(i, j).sort());
  }
  return out;
}

/**
 * Whether `expected` is `stdout` and `stderr` interleaved, each in its own order (`…` in
 * `expected` stands for any lines of either).
 */
function interleaves(expected: string[], stdout: string[], stderr: string[]): boolean {
  const seen = new Set<string>();
  const go = (i: number, j: number, k: number): boolean => {
    if (i === expected.length) return j === stdout.length && k === stderr.length;
    const key = `${i},${j},${k}`;
    if (seen.has(key)) return false;
    seen.add(key);
    const e = expected[i];
    if (e === '…')
      return (
        go(i + 1, j, k) || (j < stdout.length && go(i, j + 1, k)) || (k < stderr.length && go(i, j, k + 1))
      );
    return (stdout[j] === e && go(i + 1, j + 1, k)) || (stderr[k] === e && go(i + 1, j, k + 1));
  };
  return go(0, 0, 0);
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: DIR, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } },
      (e, stdout, stderr) => resolve({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The tutorial's command, as a user runs it in the directory of steep.yaml. */
async function runCommand(command: string): Promise<Ran> {
  const [program, ...args] = words(local(command));
  if (program === 'steep') {
    const r = await runSteep([...args, '-c', FILE], { timeoutMs: HANG_MS });
    // the file as the user names it: in the current directory
    const here = (s: string) => s.replaceAll(`${DIR}/`, '');
    return { code: r.code, stdout: here(r.stdout), stderr: here(r.stderr) };
  }
  if (program === 'psql' || program === 'tail') return run(program, args);
  throw new Error(`the tutorial runs ${program}, which this test does not know`);
}

/** The lines one side has and the other lacks; none: the same lines, in another order. */
function apart(want: string[], got: string[]): string {
  const less = (a: string[], b: string[]) => {
    const left = [...b];
    return a.filter((l) => {
      const i = left.indexOf(l);
      if (i >= 0) left.splice(i, 1);
      return i < 0;
    });
  };
  const [missing, extra] = [less(want, got), less(got, want)];
  if (missing.length + extra.length === 0) return `the same lines in another order:\n${got.join('\n')}`;
  return `the tutorial shows, this run did not print:\n${missing.join('\n')}\n\nthis run printed, the tutorial does not show:\n${extra.join('\n')}`;
}

/** Output as lines, without the blank ones it ends with (psql ends a table with one). */
const lines = (s: string) => (s.trim() === '' ? [] : s.replace(/\n\s*$/, '').split('\n'));

const all = blocks(readFileSync(TUTORIAL, 'utf8'));
const consoles = all.filter((b) => b.lang === 'console');

describe('docs/tutorial.md, run as written', () => {
  beforeAll(async () => {
    ports = [String(await findFreePort()), String(await findFreePort())];
    const yaml = all.find((b) => b.lang === 'yaml');
    const sql = all.find((b) => b.lang === 'sql');
    if (!yaml || !sql) throw new Error('docs/tutorial.md has no steep.yaml or app.sql block');
    if ((await run('psql', ['--version'])).code !== 0)
      throw new Error(
        'docs/tutorial.md plays the application with psql, which is not on PATH: install a PostgreSQL client',
      );
    writeFileSync(FILE, local(`${yaml.lines.join('\n')}\n`));
    writeFileSync(join(DIR, 'app.sql'), `${sql.lines.join('\n')}\n`);
  });

  afterAll(async () => {
    await runSteep(['sandbox', 'down', '-c', FILE, '--purge'], { timeoutMs: HANG_MS });
  }, HANG_MS);

  it('has the console blocks this test runs', () => {
    expect(consoles.length).toBeGreaterThanOrEqual(29);
  });

  for (const b of consoles) {
    const steps = commands(b);
    it(
      `line ${b.line}: ${steps.map((s) => s.command.split(' ').slice(0, 3).join(' ')).join('; ')}`,
      async () => {
        for (const { command, expected } of steps) {
          // "Add `enabled: false` under `new_shop`", the last key of the file
          if (command.startsWith('tail ')) appendFileSync(FILE, '    enabled: false\n');
          const r = await runCommand(command);
          const want = comparable(expected.map(local));
          const [out, err] = [comparable(lines(r.stdout)), comparable(lines(r.stderr))];
          const why = `$ ${command} (exit ${r.code}):\n${apart(want, [...out, ...err])}`;
          expect(interleaves(want, out, err), why).toBe(true);
        }
      },
      3 * HANG_MS,
    );
  }
});
