import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasStackTrace, REPO_ROOT, runSteep, writeConfig } from '../support/cli.js';
import { tempDir } from '../support/tempDir.js';

/**
 * The CLI's edges as a user (or a cron job) meets them, no node needed: misuse exits 1 with the
 * nearest command or flag, never 2 (the code for "drift found"); the top-level help describes
 * each topic in its own words and lists every command; each command's help has examples; bash
 * completion offers each word once.
 */

async function misuse(args: string[]) {
  const r = await runSteep(args);
  expect(hasStackTrace(r.stderr + r.stdout), r.stderr).toBe(false);
  expect(r.code, `steep ${args.join(' ')}\n${r.stderr}`).toBe(1);
  expect(r.stdout).toBe('');
  return r.stderr.trim();
}

describe('misuse exits 1 with what was meant', () => {
  it.each([
    [['drfit'], 'error: unknown command `steep drfit`; did you mean `steep drift`?'],
    [['drfit', '--json'], 'error: unknown command `steep drfit`; did you mean `steep drift`?'],
    [
      ['init', 'statu', 'x'],
      'error: unknown command `steep init statu x`; did you mean `steep init status`?',
    ],
    [['sandbox', 'upp'], 'error: unknown command `steep sandbox upp`; did you mean `steep sandbox up`?'],
    [
      ['init', 'bogus'],
      'error: unknown command `steep init bogus`; `steep init` has: cancel, prepare, status',
    ],
    [['frobnicate'], 'error: unknown command `steep frobnicate`; see `steep --help` for the commands'],
    [
      ['plan', 'extra-arg'],
      'error: `steep plan` takes no argument here: unexpected "extra-arg" (see `steep plan --help`)',
    ],
    [
      ['init', 'cancel', 'a', 'b'],
      'error: `steep init cancel` takes no more arguments: unexpected "b" (see `steep init cancel --help`)',
    ],
    [['init', 'cancel'], 'error: `steep init cancel` needs SUBSCRIPTION (see `steep init cancel --help`)'],
    [
      ['plan', '--detailed-exitcod'],
      'error: `steep plan` has no flag --detailed-exitcod; did you mean --detailed-exitcode?',
    ],
    [['apply', '--no-wiat'], 'error: `steep apply` has no flag --no-wiat; did you mean --no-wait?'],
    [['drift', '--zzzzzz'], 'error: `steep drift` has no flag --zzzzzz (see `steep drift --help`)'],
    [
      ['apply', '--allow-hazard', 'drops-object'],
      'error: --allow-hazard: drops-object is not allowed by name: a step that drops a publication, subscription or slot runs with --allow-destroy',
    ],
    [
      ['plan', '--allow-hazard', 'data-gap,truncate'],
      'error: --allow-hazard: truncate is not a hazard allowed by name; it takes one of truncates-data, data-gap, rewrites-table, blocks-writes, drops-slot (the other hazards need no flag)',
    ],
    [
      ['verify', 'x', '--budget', '5min'],
      'error: `steep verify`: All of the following must be provided when using --budget: --rolling',
    ],
    [
      ['verify', '--rolling'],
      'error: `steep verify`: All of the following must be provided when using --rolling: --budget',
    ],
  ])('steep %j', async (args, expected) => {
    expect(await misuse(args)).toBe(expected);
  });

  it('a subscription steep.yaml does not declare: each command names the ones it does, before connecting', async () => {
    const node = (port: number) =>
      `    host: 127.0.0.1\n    port: ${port}\n    database: app\n    user: steep`;
    const path = writeConfig(
      [
        'version: 1',
        'topology: usage',
        'nodes:',
        `  east:\n${node(1)}`,
        `  west:\n${node(1)}`,
        'publications:',
        '  orders_pub: { node: east, tables: [public.orders] }',
        'subscriptions:',
        '  west_orders: { node: west, from: east, publications: [orders_pub] }',
        '  west_two: { node: west, from: east, slot: west_two, publications: [orders_pub], init: { method: two-phase } }',
        '',
      ].join('\n'),
    );
    const expected = 'error: steep.yaml declares no subscription nope (it declares west_orders, west_two)';
    for (const args of [
      ['init', 'status', 'nope'],
      ['init', 'cancel', 'nope'],
      ['init', 'cancel', 'nope', '--json'],
      ['init', 'prepare', 'nope'],
      ['init', 'prepare', 'nope', '--json'],
      ['snapshot', 'generate', 'nope', '--output', join(tmpdir(), 'steep-usage-nope')],
      ['snapshot', 'apply', 'nope', '--input', join(tmpdir(), 'steep-usage-nope')],
    ])
      expect(await misuse([...args, '-c', path]), args.join(' ')).toBe(expected);
  });

  it('a password typed on the command line is not echoed back, though oclif splits its URL at the colons', async () => {
    const url = 'postgres://app:Typed5ecret@db.example/app';
    for (const [args, says] of [
      [[url], 'unknown command'],
      [['plan', url], 'takes no argument here'],
      [['plan', url, '--log-format', 'json'], 'takes no argument here'],
      [['init', 'cancel', 'a', url], 'takes no more arguments'],
      [['drift', 'host=db password=Typed5ecret'], 'takes no more arguments'],
    ] as const) {
      const said = await misuse([...args]);
      expect(said, args.join(' ')).toContain(says);
      expect(said, args.join(' ')).not.toContain('Typed5ecret');
    }
  });

  it('global flags before the command work as after it (--no-color, -c FILE)', async () => {
    const file = writeConfig('version: 1\ntopology: t\nnodes:\n  a: { url: "postgres://x@127.0.0.1:1/a" }\n');
    const before = await runSteep(['--no-color', '-c', file, 'validate']);
    const after = await runSteep(['validate', '-c', file, '--no-color']);
    expect(before.stderr).not.toContain('unknown command');
    expect({ code: before.code, stdout: before.stdout }).toEqual({ code: after.code, stdout: after.stdout });
    expect(before.code, before.stderr).toBe(0);
  });

  it('with --log-format json the error is one JSON line', async () => {
    const line = JSON.parse(await misuse(['drfit', '--log-format', 'json'])) as Record<string, string>;
    expect(line).toMatchObject({ level: 'error', event: 'error' });
    expect(line.message).toBe('error: unknown command `steep drfit`; did you mean `steep drift`?');
  });
});

describe('help', () => {
  it('top level: each topic its own description, every command listed', async () => {
    const r = await runSteep(['--help']);
    expect(r.code).toBe(0);
    const section = (name: string) => {
      const rest = r.stdout.split(`\n${name}\n`)[1] ?? '';
      return rest.split(/\n[A-Z]+\n/)[0]!.replace(/\n {3,}/g, ' ');
    };
    const topics = section('TOPICS');
    const dir = join(REPO_ROOT, 'dist/commands');
    const topicNames = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(topicNames.length).toBeGreaterThanOrEqual(3);
    const summaries = new Set<string>();
    for (const topic of topicNames) {
      const line = topics.split('\n').find((l) => l.trim().startsWith(`${topic} `));
      expect(line, `topic ${topic} in\n${topics}`).toBeDefined();
      const description = line!.trim().slice(topic.length).trim();
      // a topic's own words, not the summary of one of its commands
      for (const file of readdirSync(join(dir, topic)).filter((f) => f.endsWith('.js'))) {
        const help = await runSteep([topic, file.replace(/\.js$/, ''), '--help']);
        const summary = help.stdout.split('\n')[0]!.trim();
        expect(description.startsWith(summary.slice(0, 30)), `${topic}: ${description}`).toBe(false);
      }
      summaries.add(description);
    }
    expect(summaries.size).toBe(topicNames.length);
    const commands = section('COMMANDS');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
      expect(commands, `command ${file}`).toMatch(new RegExp(`^\\s*${file.replace(/\.js$/, '')}\\s`, 'm'));
    }
    expect(commands).toMatch(/^\s*demo\s+The quickstart/m);
  });

  it('every command has examples in its --help', { timeout: 120_000 }, async () => {
    const dir = join(REPO_ROOT, 'dist/commands');
    const ids = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.js'))
      .map((f) => f.replace(/\.js$/, '').split('/'));
    for (const id of ids) {
      const r = await runSteep([...id, '--help']);
      expect(r.code, id.join(' ')).toBe(0);
      const examples = r.stdout.split('\nEXAMPLES\n')[1];
      expect(examples, `steep ${id.join(' ')} --help has no EXAMPLES`).toBeDefined();
      expect(examples!).toContain(`$ steep ${id.join(' ')}`);
    }
  });
});

describe('bash completion', () => {
  it('offers each command and topic once', async () => {
    const home = tempDir('steep-home-');
    const env = { HOME: home, XDG_CACHE_HOME: join(home, '.cache') };
    const r = await runSteep(['autocomplete', 'bash'], { env });
    expect(r.code, r.stderr).toBe(0);
    const fn = join(home, '.cache/steep/autocomplete/functions/bash/steep.bash');
    expect(readFileSync(fn, 'utf8')).toContain('_steep_autocomplete');
    const complete = (...words: string[]) => {
      const script = `source ${fn}; COMP_WORDS=(steep ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _steep_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const out = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      expect(out.status, out.stderr).toBe(0);
      return out.stdout.split('\n').filter(Boolean);
    };
    expect(complete('in')).toEqual(['init']);
    const top = complete('');
    expect(top).toEqual([...new Set(top)]);
    expect(top).toEqual(
      expect.arrayContaining(['apply', 'demo', 'drift', 'init', 'plan', 'sandbox', 'schema']),
    );
    expect(complete('init', '')).toEqual(['cancel', 'prepare', 'status']);
    expect(complete('plan', '--det')).toEqual(['--detailed-exitcode']);
  });
});
