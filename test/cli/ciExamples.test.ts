import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { hasStackTrace, REPO_ROOT, runSteep, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { parseMermaid } from '../support/graphSyntax.js';
import { createTables, digests, fillTables } from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * examples/ci: the shell steps of the GitHub Actions and GitLab CI jobs (not the runners): steep
 * packed and installed by the workflows' own install line into a fresh global prefix, and the
 * scripts of that install run against local PostgreSQL nodes with `gh` and `curl` replaced by a
 * stub that records what would be posted. Checks the Markdown a pull request and a drift issue would get, that a second run
 * updates instead of adding, the exit codes a pipeline acts on, and that no password is posted.
 */

/** A script's exit code, output and forge calls, and the directory it wrote to (STEEP_CI_DIR). */
interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
  calls: Call[];
  dir: string;
}

interface Call {
  tool: string;
  method: string;
  target: string | null;
  fields: string[];
  body: string | null;
}

/** The workflows' install line, as both forges run it (the test checks it is the same in each). */
const INSTALL = 'npm install --global "$STEEP_PACKAGE"';

/**
 * steep installed as the workflows install it: `npm pack` here, then INSTALL with STEEP_PACKAGE
 * the tarball, into a fresh global prefix (dependencies from npm's cache where it has them).
 */
function installPacked(): { prefix: string; env: NodeJS.ProcessEnv } {
  const work = tempDir('steep-ci-install-');
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], {
    cwd: REPO_ROOT,
    stdio: 'ignore',
  });
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
  const prefix = join(work, 'global');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    npm_config_prefix: prefix,
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
  execFileSync('bash', ['-c', INSTALL], {
    env: { ...env, STEEP_PACKAGE: join(work, `steep-${version}.tgz`) },
    stdio: 'pipe',
  });
  return { prefix, env };
}

/** A directory with `gh` and `curl` (the stub) for PATH. */
function forgeStubDir(): string {
  const bin = tempDir('steep-ci-bin-');
  const stub = join(REPO_ROOT, 'test/support/forgeStub.mjs');
  chmodSync(stub, 0o755);
  for (const tool of ['gh', 'curl']) symlinkSync(stub, join(bin, tool));
  return bin;
}

const GITHUB = {
  GITHUB_ACTIONS: 'true',
  GITHUB_REPOSITORY: 'acme/replication',
  GITHUB_SHA: '0123456789abcdef0123',
  GH_TOKEN: 'gh-token-not-used',
  PR_NUMBER: '7',
};
const GITLAB = {
  GITLAB_CI: 'true',
  CI_API_V4_URL: 'https://gitlab.example/api/v4',
  CI_PROJECT_ID: '42',
  CI_MERGE_REQUEST_IID: '5',
  CI_COMMIT_SHA: 'fedcba9876543210fedc',
  GITLAB_TOKEN: 'glpat-not-used',
};

describe('examples/ci scripts against local nodes', () => {
  const cluster = useCluster({ nodes: ['east', 'west'] });
  const nodes = () => cluster().nodes as [TestNode, TestNode];
  const stubBin = forgeStubDir();
  let installed = { prefix: '', scripts: '' };
  beforeAll(() => {
    const { prefix, env } = installPacked();
    const root = execFileSync('npm', ['root', '--global'], { env, encoding: 'utf8' }).trim();
    installed = { prefix, scripts: join(root, 'steep/examples/ci/scripts') };
  }, 120_000);

  /** Run one script as the CI job would, with the forge stubbed; returns its exit code and calls. */
  function run(script: string, config: string, forge: Record<string, string>, existing: unknown[] = []) {
    const stubDir = tempDir('steep-ci-stub-');
    writeFileSync(join(stubDir, 'existing.json'), JSON.stringify(existing));
    const dir = join(stubDir, 'out');
    const env: NodeJS.ProcessEnv = {
      PATH: `${stubBin}:${join(installed.prefix, 'bin')}:${process.env.PATH}`,
      HOME: process.env.HOME,
      NO_COLOR: '1',
      STEEP_CONFIG: config,
      STEEP_CI_DIR: dir,
      STUB_DIR: stubDir,
      ...passwordEnv(nodes()),
      ...forge,
    };
    return new Promise<ScriptRun>((resolve, reject) => {
      const child = spawn('bash', [join(installed.scripts, script)], { env, cwd: stubDir });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('error', reject);
      child.on('close', (code) => {
        const log = join(stubDir, 'calls.jsonl');
        const calls = existsSync(log)
          ? readFileSync(log, 'utf8')
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l) as Call)
          : [];
        expect(hasStackTrace(stderr), stderr).toBe(false);
        for (const n of nodes()) {
          expect(stdout + stderr).not.toContain(n.password);
          for (const c of calls) expect(c.body ?? '').not.toContain(n.password);
        }
        resolve({ code: code ?? 1, stdout, stderr, calls, dir });
      });
    });
  }

  const TABLES = [{ name: 'ci_accounts', rows: 2000 }];

  test('the workflows install the release STEEP_PACKAGE names with one line (the one installPacked runs), run the scripts the package ships, and pass passwords from secrets', () => {
    const install = INSTALL;
    const gh = (name: string) =>
      parseYaml(readFileSync(join(REPO_ROOT, 'examples/ci/github-actions', name), 'utf8')) as {
        on: Record<string, unknown>;
        permissions: Record<string, string>;
        jobs: Record<string, { steps: Array<{ run?: string; env?: Record<string, string> }> }>;
      };
    for (const [file, script, trigger, permission] of [
      ['steep-plan.yml', 'pr-plan.sh', 'pull_request', 'pull-requests'],
      ['steep-drift.yml', 'drift.sh', 'schedule', 'issues'],
    ] as const) {
      const w = gh(file);
      expect(Object.keys(w.on)).toContain(trigger);
      expect(w.permissions[permission]).toBe('write');
      const steps = Object.values(w.jobs)[0]!.steps;
      const installs = steps.filter((st) => st.run?.startsWith('npm install'));
      expect(installs.map((st) => st.run)).toEqual([install]);
      expect(installs[0]!.env).toEqual({ STEEP_PACKAGE: `\${{ vars.STEEP_PACKAGE }}` });
      const step = steps.find((st) => st.run?.includes(`examples/ci/scripts/${script}`))!;
      expect(existsSync(join(installed.scripts, script))).toBe(true);
      expect(step.env!.GH_TOKEN).toBe(`\${{ github.token }}`);
      for (const [k, v] of Object.entries(step.env!).filter(([k]) => k.endsWith('_PGPASSWORD')))
        expect(v).toBe(`\${{ secrets.${k} }}`);
    }
    const gl = parseYaml(
      readFileSync(join(REPO_ROOT, 'examples/ci/gitlab/.gitlab-ci.yml'), 'utf8'),
    ) as Record<string, { before_script?: string[]; script?: string[]; rules?: Array<{ if: string }> }>;
    expect(gl['.steep']!.before_script).toEqual([install]);
    expect(gl['steep-plan']!.script![0]).toContain('examples/ci/scripts/pr-plan.sh');
    expect(gl['steep-plan']!.rules![0]!.if).toContain('merge_request_event');
    expect(gl['steep-drift']!.script![0]).toContain('examples/ci/scripts/drift.sh');
    expect(gl['steep-drift']!.rules![0]!.if).toContain('schedule');
  });
  let config = '';
  /** the plan the first pull-request run saved and posted: applied after "approval" */
  let reviewed = '';

  test('pull request: the plan is posted as one comment, updated on the next push, on GitHub and GitLab', async () => {
    const [east, west] = nodes();
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    config = writeConfig(
      [
        'version: 1',
        'topology: ci-example',
        nodesYaml(nodes()),
        'publications:',
        '  ci_pub: { node: east, tables: [public.ci_accounts] }',
        'subscriptions:',
        '  ci_sub: { node: west, from: east, publications: [ci_pub] }',
        '',
      ].join('\n'),
    );

    const first = await run('pr-plan.sh', config, GITHUB);
    expect(first.code, first.stderr).toBe(0);
    expect(first.calls.map((c) => `${c.tool} ${c.method} ${c.target}`)).toEqual([
      'gh GET repos/acme/replication/issues/7/comments',
      'gh POST repos/acme/replication/issues/7/comments',
    ]);
    const body = first.calls[1]!.body!;
    expect(body.split('\n').slice(0, 3)).toEqual(['<!-- steep-plan -->', '## steep plan', '']);
    expect(body).toContain('**Plan: 4 to create, 0 to update, 0 to replace, 0 to delete, 1 to initialise');
    expect(body).toMatch(
      /<summary><code>create<\/code> <code>subscription\.ci_sub<\/code> on west: .*:warning: copies-data<\/summary>/,
    );
    expect(body).toContain('```sql\nCREATE PUBLICATION "ci_pub"');
    expect(body).toMatch(
      /<sub>steep \d+\.\d+\.\d+ · PostgreSQL 14–18 · \S+ node-\S+ · commit 0123456789ab · `.*steep\.yaml`<\/sub>\n$/,
    );
    const mermaid = parseMermaid(body.split('```mermaid\n')[1]!.split('\n```')[0]!);
    expect([...mermaid.vertices.values()].map((v) => [v.label.split('\n')[0], v.cls])).toEqual([
      ['east', null],
      ['west', null],
      ['ci_pub', 'create'],
    ]);
    expect(mermaid.edges.find((e) => e.op === '-->')!.label).toBe('ci_sub\nsnapshot\n(create)');

    // the saved plan beside the comment: `steep show` renders what was posted, and it is current
    reviewed = join(first.dir, 'plan.json');
    const env = passwordEnv(nodes());
    const shown = await runSteep(['show', reviewed, '--format', 'markdown', '-c', config], { env });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(
      /^> Saved plan .*plan\.json: made \S+Z \(\d+ s ago\) by steep \d+\.\d+\.\d+ from .*steep\.yaml/,
    );
    expect(shown.stdout).toContain(body.slice(body.indexOf('## steep plan'), body.indexOf('### Topology')));
    const checked = await runSteep(['show', reviewed, '--check', '-c', config], { env });
    expect(checked.code, `${checked.stdout}\n${checked.stderr}`).toBe(0);
    expect(checked.stdout).toContain(
      `Current: planning again now gives exactly these steps; \`steep apply ${reviewed}\` runs them.`,
    );

    // the next push finds its comment by the marker and edits it; other comments are left alone
    const second = await run('pr-plan.sh', config, GITHUB, [
      { id: 11, body: 'LGTM' },
      { id: 99, body: '<!-- steep-plan -->\nan older plan' },
    ]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.calls.map((c) => `${c.method} ${c.target}`)).toEqual([
      'GET repos/acme/replication/issues/7/comments',
      'PATCH repos/acme/replication/issues/comments/99',
    ]);
    expect(second.calls[1]!.body!.replace(/commit \w+/, '')).toBe(body.replace(/commit \w+/, ''));

    const gitlab = await run('pr-plan.sh', config, GITLAB, [{ id: 3, body: '<!-- steep-plan -->\nold' }]);
    expect(gitlab.code, gitlab.stderr).toBe(0);
    expect(gitlab.calls.map((c) => `${c.tool} ${c.method} ${c.target}`)).toEqual([
      'curl GET https://gitlab.example/api/v4/projects/42/merge_requests/5/notes?per_page=100&sort=asc',
      'curl PUT https://gitlab.example/api/v4/projects/42/merge_requests/5/notes/3',
    ]);
    expect(gitlab.calls[1]!.body).toContain(
      '**Plan: 4 to create, 0 to update, 0 to replace, 0 to delete, 1 to initialise',
    );
  });

  test('pull request: an invalid file or a failed plan is posted too, and fails the job', async () => {
    const broken = writeConfig(
      `${readFileSync(config, 'utf8')}  stray: { node: west, from: nowhere, publications: [ci_pub] }\n`,
    );
    const invalid = await run('pr-plan.sh', broken, GITHUB);
    expect(invalid.code).toBe(1);
    const body = invalid.calls.at(-1)!.body!;
    expect(body).toContain(':x: **`steep validate` found problems in');
    expect(body).toMatch(/steep\.yaml:\d+:\d+: .*nowhere/);

    // a node that cannot be reached: the plan fails with the reason, posted
    const unreachable = writeConfig(
      readFileSync(config, 'utf8').replace(`127.0.0.1:${nodes()[1].port}`, '127.0.0.1:1'),
    );
    const failed = await run('pr-plan.sh', unreachable, GITHUB);
    expect(failed.code).toBe(1);
    expect(failed.calls.at(-1)!.body).toContain(':x: **The plan failed.**');
    expect(failed.calls.at(-1)!.body).toMatch(/west/);
  });

  test('schedule: no drift posts nothing; drift opens an issue, then updates it; an unreadable node fails the job', async () => {
    const [east, west] = nodes();
    // the plan reviewed in the pull request, applied after approval
    const apply = await runSteep(['apply', reviewed, '-c', config], { env: passwordEnv(nodes()) });
    expect(apply.code, apply.stderr).toBe(0);
    await eventually(
      async () =>
        JSON.stringify(await digests(west, ['ci_accounts'])) ===
        JSON.stringify(await digests(east, ['ci_accounts'])),
      HANG_MS,
      'west to hold ci_accounts as east does',
    );
    expect((await digests(west, ['ci_accounts'])).ci_accounts!.count).toBe(2000);

    const clean = await run('drift.sh', config, GITHUB);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toContain('no drift');
    expect(clean.calls).toEqual([]);

    await west.query('ALTER SUBSCRIPTION ci_sub DISABLE');
    const drifted = await run('drift.sh', config, GITHUB);
    expect(drifted.code, drifted.stderr).toBe(0);
    expect(drifted.calls.map((c) => c.method)).toEqual(['issue list', 'issue create']);
    const issue = drifted.calls[1]!.body!;
    expect(issue.split('\n')[0]).toBe('<!-- steep-drift -->');
    expect(issue).toMatch(/subscription\.ci_sub.*enabled/s);
    expect(issue).toContain('Run `steep plan` to see the steps that revert it');

    const again = await run('drift.sh', config, GITHUB, [
      { number: 12, body: '<!-- steep-drift -->\nearlier' },
    ]);
    expect(again.calls.map((c) => c.method)).toEqual(['issue list', 'issue edit']);

    const gitlab = await run('drift.sh', config, GITLAB);
    expect(gitlab.calls.map((c) => `${c.method} ${c.target}`)).toEqual([
      'GET https://gitlab.example/api/v4/projects/42/issues?state=opened&labels=steep-drift&per_page=100',
      'POST https://gitlab.example/api/v4/projects/42/issues',
    ]);
    expect(gitlab.calls[1]!.fields).toEqual([`title=steep: drift in ${config}`, 'labels=steep-drift']);
    await west.query('ALTER SUBSCRIPTION ci_sub ENABLE');

    const unreadable = writeConfig(
      readFileSync(config, 'utf8').replace(`127.0.0.1:${east.port}`, '127.0.0.1:1'),
    );
    const down = await run('drift.sh', unreadable, GITHUB);
    expect(down.code).toBe(1);
    expect(down.calls).toEqual([]);
    expect(down.stderr).toContain('east');
  }, 180_000);
});
