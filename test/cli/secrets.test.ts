import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runSteep, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { dropReplication } from '../support/reset.js';
import { tempDir } from '../support/tempDir.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * No output, saved plan, log line, apply_log row or other state-schema row holds a node's
 * password, whichever way the password reaches steep: a literal in the URL (accepted with a
 * warning), `password: ${env:…}`, PGPASSWORD, or a .pgpass file. Each way runs validate, plan
 * (text, JSON, --out), apply of the saved plan, apply with --log-format json and --json, and a
 * failing apply; then every text of steep's state schema on both nodes is scanned too, and the
 * subscriber's server log, where the failed CREATE SUBSCRIPTION is logged without its password.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

const ROLE = 'steep_admin';

interface Way {
  name: string;
  /** the role's password for this way; every one holds a unique marker */
  password: string;
  /** the `nodes:` block */
  nodes: (east: TestNode, west: TestNode, password: string) => string;
  env: (password: string, home: string) => Record<string, string>;
  /** steep warns about a literal password */
  warns?: boolean;
}

function urlNode(name: string, n: TestNode, extra = ''): string[] {
  return [`  ${name}:`, `    url: postgres://${ROLE}${extra}@127.0.0.1:${n.port}/app`];
}

const WAYS: Way[] = [
  {
    name: 'a literal password in the URL',
    password: 'LiteralMarker7q2',
    nodes: (e, w, pw) =>
      ['nodes:', ...urlNode('east', e, `:${pw}`), ...urlNode('west', w, `:${pw}`)].join('\n'),
    env: () => ({}),
    warns: true,
  },
  {
    name: `password: \${env:…}`,
    // quotes, a space and a backslash: conninfo quoting must not leave a readable copy
    password: `EnvMarker9x 'q' \\ z`,
    nodes: (e, w) =>
      [
        'nodes:',
        ...urlNode('east', e),
        `    password: \${env:STEEP_SECRET}`,
        ...urlNode('west', w),
        `    password: \${env:STEEP_SECRET}`,
      ].join('\n'),
    env: (pw) => ({ STEEP_SECRET: pw }),
  },
  {
    name: 'PGPASSWORD',
    password: 'PgPasswordMarker3k',
    nodes: (e, w) => ['nodes:', ...urlNode('east', e), ...urlNode('west', w)].join('\n'),
    env: (pw) => ({ PGPASSWORD: pw }),
  },
  {
    name: '.pgpass',
    password: 'PgPassMarker5m:x',
    nodes: (e, w) => ['nodes:', ...urlNode('east', e), ...urlNode('west', w)].join('\n'),
    env: (_pw, home) => ({ HOME: home, PGPASSWORD: undefined as unknown as string }),
  },
];

/** The unique part of a password: a leak of any escaped or partial form shows it. */
function marker(password: string): string {
  return password.match(/^[A-Za-z0-9]+/)![0];
}

const BODY = `
publications:
  sec_pub:
    node: east
    tables: [public.sec_orders]
subscriptions:
  sec_sub:
    node: west
    from: east
    publications: [sec_pub]
`;

async function setPassword(password: string): Promise<void> {
  for (const n of cluster().nodes) {
    const [row] = await n.query<{ sql: string }>('SELECT format($1, $2::text) AS sql', [
      `ALTER ROLE ${ROLE} PASSWORD %L`,
      password,
    ]);
    await n.query(row!.sql);
  }
}

/** Every text steep keeps on the nodes: each state-schema row as text, and object comments. */
async function stateTexts(): Promise<string> {
  const out: string[] = [];
  for (const n of cluster().nodes) {
    const tables = await n.query<{ t: string }>(
      "SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname = 'steep'",
    );
    for (const { t } of tables) {
      const rows = await n.query<{ r: string }>(`SELECT x::text AS r FROM ${t} x`);
      out.push(...rows.map((r) => `${n.name} ${t}: ${r.r}`));
    }
    const comments = await n.query<{ d: string }>('SELECT description AS d FROM pg_description');
    out.push(...comments.map((c) => c.d));
  }
  return out.join('\n');
}

async function reset(): Promise<void> {
  await dropReplication(cluster().nodes, { truncate: ['public.sec_orders'], keepStateSchema: true });
}

describe('no password in anything steep writes', () => {
  beforeAll(async () => {
    for (const n of cluster().nodes) {
      await n.query(`CREATE ROLE ${ROLE} LOGIN SUPERUSER`);
      await n.query('CREATE TABLE public.sec_orders (id int PRIMARY KEY, note text)');
    }
  });

  for (const way of WAYS) {
    it(`given by ${way.name}`, async () => {
      const [east, west] = [cluster().node('east'), cluster().node('west')];
      await setPassword(way.password);
      const home = tempDir('steep-home-');
      const pgpass = join(home, '.pgpass');
      const escaped = way.password.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
      writeFileSync(
        pgpass,
        `# steep test\n127.0.0.1:${east.port}:app:${ROLE}:${escaped}\n127.0.0.1:${west.port}:*:${ROLE}:${escaped}\n`,
      );
      chmodSync(pgpass, 0o600);
      const env = { HOME: home, ...way.env(way.password, home) };
      const text = `version: 1\ntopology: secrets\n${way.nodes(east, west, way.password)}\n${BODY}`;
      const path = writeConfig(text);
      const outputs: string[] = [];
      const run = async (args: string[], config = path): Promise<CliResult> => {
        const r = await runSteep([...args, '-c', config], { env });
        outputs.push(`$ steep ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
        if (args.join(' ').includes('--log-format json')) {
          // warnings and errors too: every stderr line is one JSON event
          for (const line of r.stderr.split('\n').filter((l) => l !== '')) {
            const e = JSON.parse(line);
            expect(Object.keys(e)).toEqual(expect.arrayContaining(['timestamp', 'level', 'event']));
          }
        }
        return r;
      };

      for (const format of ['text', 'json']) {
        const v = await run(['validate', '--log-format', format]);
        expect(v.code, v.stderr).toBe(0);
        if (way.warns) expect(v.stderr).toContain('literal password');
      }
      const plan = await run(['plan', '--detailed-exitcode']);
      expect(plan.code, `${plan.stdout}\n${plan.stderr}`).toBe(2);
      expect(plan.stdout).toMatch(/CONNECTION '[^']*password=\*\*\*\*/);
      await run(['plan', '--format', 'markdown']);
      const saved = `${path}.plan.json`;
      const json = await run(['plan', '--json', '--log-format', 'json', '--out', saved]);
      expect(json.code, json.stderr).toBe(0);
      const applied = await run(['apply', saved, '--log-format', 'text']);
      expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
      await east.query("INSERT INTO public.sec_orders VALUES (1, 'x')");
      await eventually(
        async () => (await west.query('SELECT 1 FROM public.sec_orders')).length === 1,
        HANG_MS,
        `a row through a subscription whose password came from ${way.name}`,
      );
      expect((await run(['plan', '--detailed-exitcode'])).code).toBe(0);

      // from scratch again, JSON log and JSON result
      await reset();
      const again = await run(['apply', '--auto-approve', '--json', '--log-format', 'json']);
      expect(again.code, again.stderr).toBe(0);

      // a failing apply: the subscriber is told a port where nothing listens (apply's probe of the
      // subscriber's connection fails, before any step)
      await reset();
      const broken = writeConfig(
        text.replace(
          `127.0.0.1:${east.port}/app`,
          `127.0.0.1:${east.port}/app\n    replicationUrl: postgres://127.0.0.1:1/app`,
        ),
      );
      for (const format of ['text', 'json']) {
        const failed = await run(['apply', '--auto-approve', '--log-format', format], broken);
        expect(failed.code, `${failed.stdout}\n${failed.stderr}`).toBe(1);
        expect(failed.stderr).toContain('could not connect to the publisher');
        expect(failed.stderr).toContain('west cannot connect to east (its replicationUrl)');
      }

      // the server logs a failed statement (log_min_error_statement = error): not this one's password
      const serverLog = readFileSync(join(west.dataDir, 'server.log'), 'utf8');
      expect(serverLog).toContain('could not connect to the publisher');
      expect(serverLog.includes(marker(way.password)), `${way.name}: the password in west's server log`).toBe(
        false,
      );
      const everything = [outputs.join('\n'), readFileSync(saved, 'utf8'), await stateTexts()].join('\n');
      for (const secret of [way.password, marker(way.password), east.password, west.password]) {
        expect(everything.includes(secret), `${way.name}: "${secret}" appears in:\n${everything}`).toBe(
          false,
        );
      }
      await reset();
    });
  }
});
