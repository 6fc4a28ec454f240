import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, REPO_ROOT, runSteep, writeConfig } from '../support/cli.js';
import { BAD_INPUTS } from '../unit/config/badInputs.js';
import { BASE } from '../unit/config/support.js';

/**
 * `steep validate` as a user runs it: the built CLI in a directory holding steep.yaml.
 * Exit 0 valid, 1 invalid; one `steep.yaml:LINE:COL: message` line per problem on stderr;
 * no stack trace, no password, nothing written.
 */
async function validate(text: string, args: string[] = [], env: Record<string, string> = {}) {
  const path = writeConfig(text);
  const dir = dirname(path);
  const result = await runSteep(['validate', '-c', 'steep.yaml', ...args], { cwd: dir, env });
  expect(readdirSync(dir), 'validate writes nothing').toEqual(['steep.yaml']);
  expect(hasStackTrace(result.stderr + result.stdout)).toBe(false);
  return result;
}

beforeAll(() => {
  if (!existsSync(join(REPO_ROOT, 'dist/commands/validate.js'))) {
    throw new Error('the CLI is not built: run `npm run build` (or `npx tsc -p tsconfig.build.json`) first');
  }
});

describe('steep validate', () => {
  it('a valid file: exit 0, one line on stdout', async () => {
    const { code, stdout, stderr } = await validate(BASE);
    expect(code).toBe(0);
    expect(stdout).toBe('steep.yaml is valid: 2 nodes, 1 publication, 1 subscription\n');
    expect(stderr).toBe('');
  });

  it('--json on a valid file', async () => {
    const { code, stdout } = await validate(BASE, ['--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      file: 'steep.yaml',
      valid: true,
      errors: [],
      warnings: [],
      summary: { nodes: 2, publications: 1, subscriptions: 1 },
    });
  });

  it('needs no secrets: a password variable that is unset is not an error (CI validates without them)', async () => {
    const withPasswords = BASE.replace(
      'url: postgres://steep@east.internal:5432/app',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: steep.yaml's placeholder
      'url: postgres://steep@east.internal:5432/app\n    password: ${env:STEEP_TEST_UNSET_EAST_PASSWORD}',
    );
    const { code, stdout, stderr } = await validate(withPasswords);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toBe('steep.yaml is valid: 2 nodes, 1 publication, 1 subscription\n');
  });

  it('connects as psql would or refuses: PGSERVICE is exit 1 naming the variable; hostaddr and passfile in a url are valid, without a warning', async () => {
    const refused = await validate(BASE, [], { PGSERVICE: 'east' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^steep\.yaml:\d+:\d+: PGSERVICE is set in the environment \(`east`\), which steep does not support: it reads no pg_service\.conf/m,
    );
    const url = 'postgres://steep@east.internal:5432/app?hostaddr=10.0.0.5&passfile=/nonexistent/east.pgpass';
    const valid = await validate(BASE.replace('postgres://steep@east.internal:5432/app', url));
    expect(valid.stderr).toBe('');
    expect(valid.code).toBe(0);
  });

  describe.concurrent('each bad input: exit 1, one positioned line per problem', () => {
    it.each(BAD_INPUTS)('$name', async ({ text, env, where, message, consequences = 0 }) => {
      const { code, stdout, stderr } = await validate(text, [], env as Record<string, string>);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      const lines = stderr.trimEnd().split('\n');
      const errors = 1 + consequences;
      expect(lines, stderr).toHaveLength(errors + 1);
      const first = lines[0] ?? '';
      expect(first.startsWith(`steep.yaml:${where}: `), first).toBe(true);
      const [, text_] = /^steep\.yaml:\d+:\d+: (.*?)(?: \(([^()]|\([^()]*\))*\))?$/.exec(first) ?? [];
      expect(text_).toMatch(message);
      expect(lines[errors]).toBe(`steep.yaml is invalid: ${errors} ${errors === 1 ? 'error' : 'errors'}`);
    });
  });

  it('--json on an invalid file lists every error with its position', async () => {
    const text = BASE.replace('    from: east', '    from: eats').replace(
      'tables: [public.orders]',
      'tables: [a.b.c.d]',
    );
    const { code, stdout, stderr } = await validate(text, ['--json']);
    expect(code).toBe(1);
    expect(stderr).toBe('');
    const report = JSON.parse(stdout);
    expect(report.valid).toBe(false);
    expect(report.summary).toBeNull();
    expect(
      report.errors.map((e: { code: string; position: { line: number; column: number } }) => [
        e.code,
        e.position.line,
        e.position.column,
      ]),
    ).toEqual([
      ['bad-table-name', 11, 14],
      ['unknown-node', 15, 11],
    ]);
  });

  describe('a literal password in a URL', () => {
    const secret = 'Zq9-hunter2';
    const text = BASE.replace('steep@east.internal', `steep:${secret}@east.internal`);

    it('is a warning: exit 0, and the password is never printed', async () => {
      const { code, stdout, stderr } = await validate(text);
      expect(code).toBe(0);
      expect(stdout).toBe('steep.yaml is valid: 2 nodes, 1 publication, 1 subscription\n');
      expect(stderr).toBe(
        `steep.yaml:5:10: warning: node \`east\`: \`url\` holds a literal password (use \`\${env:NAME}\`, PGPASSWORD or ~/.pgpass instead)\n`,
      );
      expect(stdout + stderr).not.toContain(secret);
    });

    it('nor in --json', async () => {
      const { code, stdout, stderr } = await validate(text, ['--json']);
      expect(code).toBe(0);
      expect(stdout + stderr).not.toContain(secret);
      expect(JSON.parse(stdout).warnings).toEqual([
        expect.objectContaining({
          code: 'literal-password',
          position: { file: 'steep.yaml', line: 5, column: 10 },
        }),
      ]);
    });

    it('nor next to an error', async () => {
      const { code, stdout, stderr } = await validate(text.replace('    from: east', '    from: eats'));
      expect(code).toBe(1);
      expect(stdout + stderr).not.toContain(secret);
    });

    // found by test/cli/fuzzCli.test.ts: the JSON text was masked, so a password `null` broke it
    it('--json stays JSON when the password is `null` or `false`', async () => {
      for (const password of ['null', 'false']) {
        const bad = BASE.replace('steep@east.internal', `steep:${password}@east.internal`).replace(
          '    from: east',
          '    from: eats',
        );
        const { code, stdout } = await validate(bad, ['--json']);
        expect(code).toBe(1);
        expect(JSON.parse(stdout)).toMatchObject({ valid: false, summary: null });
      }
    });
  });

  it('reads ./steep.yaml by default, or STEEP_CONFIG', async () => {
    const path = writeConfig(BASE);
    const byDefault = await runSteep(['validate'], { cwd: dirname(path) });
    expect(byDefault.code).toBe(0);
    expect(byDefault.stdout).toBe('steep.yaml is valid: 2 nodes, 1 publication, 1 subscription\n');
    const byEnv = await runSteep(['validate'], { cwd: REPO_ROOT, env: { STEEP_CONFIG: path } });
    expect(byEnv.code).toBe(0);
    expect(byEnv.stdout).toBe(`${path} is valid: 2 nodes, 1 publication, 1 subscription\n`);
  });

  it('a file that does not exist: exit 1, one sentence', async () => {
    const dir = dirname(writeConfig(BASE));
    const { code, stdout, stderr } = await runSteep(['validate', '-c', 'missing.yaml'], { cwd: dir });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      'error: cannot read missing.yaml: no such file (give the file with -c/--config or set STEEP_CONFIG)\n',
    );
  });

  it('positions name the file as given', async () => {
    const path = writeConfig('', 'other.yaml');
    const { code, stderr } = await runSteep(['validate', '-c', path]);
    expect(code).toBe(1);
    expect(stderr.split('\n')[0]).toBe(
      `${path}:1:1: the file is empty (start with \`version: 1\`, \`topology: <name>\` and a \`nodes:\` mapping)`,
    );
  });

  it('the quickstart example is valid', async () => {
    const { code, stdout } = await runSteep(['validate', '-c', 'examples/quickstart/steep.yaml']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^examples\/quickstart\/steep\.yaml is valid: /);
  });

  it('--help reads well', async () => {
    const { code, stdout } = await runSteep(['validate', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Check steep.yaml without connecting to any node.');
    expect(stdout).toContain('$ steep validate -c examples/quickstart/steep.yaml');
    expect(stdout).toContain('Exit codes: 0 valid (warnings allowed), 1 invalid.');
  });
});
