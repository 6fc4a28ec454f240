import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connect } from '../../src/db/connect.js';
import { type CliResult, steepWith, writeConfig } from '../support/cli.js';
import { defaultVersion, startCluster, type TestCluster, type TestNode } from '../support/cluster.js';
import { createTables, digests, fillTables } from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';
import { prepareTlsOnly, tlsOnlyOptions } from '../support/tlsServer.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * TLS as libpq does it (docs/steep-yaml.md, Connections and TLS), against real servers: `tls`
 * takes connections only over TLS (pg_hba.conf: hostssl lines, hostnossl … reject), with a
 * certificate from a test CA that names `localhost` only; `plain` has no ssl at all. Every case
 * runs `steep plan`, which connects to each node of its file.
 */

const CERT_USER = 'steep_cert';

describe('TLS against a server that takes connections only over TLS', () => {
  let dir: string;
  let tlsCluster: TestCluster;
  let plainCluster: TestCluster;
  const tls = () => tlsCluster.node('tls');
  const plain = () => plainCluster.node('plain');
  const file = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    dir = tempDir('steep-tls-');
    await prepareTlsOnly(dir, {
      clientUser: CERT_USER,
      hbaFirst: [`hostssl    all          ${CERT_USER}  127.0.0.1/32  scram-sha-256 clientcert=verify-full`],
    });
    const version = defaultVersion();
    [tlsCluster, plainCluster] = await Promise.all([
      startCluster({ nodes: ['tls'], version, ...tlsOnlyOptions(dir) }),
      startCluster({ nodes: ['plain'], version }),
    ]);
    await tls().query(`CREATE ROLE ${CERT_USER} LOGIN SUPERUSER PASSWORD '${tls().password}'`);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([tlsCluster?.stop(), plainCluster?.stop()]);
  }, 120_000);

  // an empty HOME: no ~/.postgresql/ of the machine's user changes a case
  const steep = steepWith({
    env: () => ({ TLS_PGPASSWORD: tls().password, PLAIN_PGPASSWORD: plain().password, HOME: dir }),
  });

  /** `steep plan` of a file whose one node is `node`, with these connection fields. */
  function planOn(
    node: TestNode,
    fields: Record<string, string>,
    env: Record<string, string> = {},
  ): Promise<CliResult> {
    const host = fields.host ?? '127.0.0.1';
    const user = fields.user ?? 'postgres';
    const lines = Object.entries(fields)
      .filter(([k]) => k !== 'host' && k !== 'user')
      .map(([k, v]) => `    ${k}: ${v}`);
    const config = writeConfig(
      [
        'version: 1',
        'topology: tls',
        'nodes:',
        `  ${node.name}:`,
        `    host: ${host}`,
        `    port: ${node.port}`,
        '    database: app',
        `    user: ${user}`,
        `    password: \${env:${node.name.toUpperCase()}_PGPASSWORD}`,
        ...lines,
        '',
      ].join('\n'),
    );
    return steep(['plan'], config, env);
  }

  function connects(r: CliResult): void {
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  }

  /** Refused with one line that names the node (`error: <node>: …`) and matches `reason`. */
  function refused(r: CliResult, node: string, reason: RegExp): void {
    expect(r.code, r.stdout).not.toBe(0);
    const line = r.stderr.split('\n').find((l) => l.startsWith(`error: ${node}: `));
    expect(line, r.stderr).toBeDefined();
    expect(line).toMatch(reason);
  }

  test('disable is refused by the TLS-only server, with the reason and what to do', async () => {
    refused(
      await planOn(tls(), { sslmode: 'disable' }),
      'tls',
      /no encryption.*use sslmode require or stricter/,
    );
  });

  test('allow connects: without TLS first, then with TLS when the server refuses that', async () => {
    connects(await planOn(tls(), { sslmode: 'allow' }));
  });

  test('prefer connects, and so does no sslmode at all (libpq’s default is prefer)', async () => {
    connects(await planOn(tls(), { sslmode: 'prefer' }));
    connects(await planOn(tls(), {}));
  });

  test('require connects without a root certificate', async () => {
    connects(await planOn(tls(), { sslmode: 'require' }));
  });

  test('require with a root certificate file checks the chain as verify-ca does', async () => {
    connects(await planOn(tls(), { sslmode: 'require', sslrootcert: file('ca.crt') }));
    refused(
      await planOn(tls(), { sslmode: 'require', sslrootcert: file('wrong-ca.crt') }),
      'tls',
      /not trusted by sslrootcert .*wrong-ca\.crt/,
    );
  });

  test('verify-ca connects with the CA that signed the server certificate, and to an address the certificate does not name', async () => {
    connects(await planOn(tls(), { sslmode: 'verify-ca', sslrootcert: file('ca.crt') }));
  });

  test('verify-ca with another CA is one line naming the node and the file', async () => {
    refused(
      await planOn(tls(), { sslmode: 'verify-ca', sslrootcert: file('wrong-ca.crt') }),
      'tls',
      /the server certificate at 127\.0\.0\.1:\d+\/app as postgres is not trusted by sslrootcert .*wrong-ca\.crt \(sslmode verify-ca\)/,
    );
  });

  test('verify-ca without a root certificate file says which file it needs', async () => {
    refused(
      await planOn(tls(), { sslmode: 'verify-ca' }),
      'tls',
      /sslmode verify-ca needs the root certificate file .*\.postgresql\/root\.crt, which does not exist/,
    );
  });

  test('verify-full checks the host name: 127.0.0.1 is refused, localhost connects', async () => {
    refused(
      await planOn(tls(), { sslmode: 'verify-full', sslrootcert: file('ca.crt') }),
      'tls',
      /does not name host 127\.0\.0\.1 \(sslmode verify-full checks the host name\)/,
    );
    connects(await planOn(tls(), { sslmode: 'verify-full', sslrootcert: file('ca.crt'), host: 'localhost' }));
  });

  test('hostaddr: steep connects to that address and checks the certificate against host, as psql does', async () => {
    const ca = encodeURIComponent(file('ca.crt'));
    const planUrl = (host: string, sslmode: string) =>
      steep(
        ['plan'],
        writeConfig(
          [
            'version: 1',
            'topology: tls',
            'nodes:',
            '  tls:',
            `    url: postgres://postgres@${host}:${tls().port}/app?hostaddr=127.0.0.1&sslmode=${sslmode}&sslrootcert=${ca}`,
            `    password: \${env:TLS_PGPASSWORD}`,
            '',
          ].join('\n'),
        ),
      );
    // the certificate names localhost, reached at 127.0.0.1
    connects(await planUrl('localhost', 'verify-full'));
    // a name no resolver knows: only the hostaddr reaches the server; verify-full checks that name
    connects(await planUrl('db.invalid', 'verify-ca'));
    refused(
      await planUrl('db.invalid', 'verify-full'),
      'tls',
      /the server certificate at db\.invalid:\d+ \(hostaddr 127\.0\.0\.1\)\/app as postgres does not name host db\.invalid/,
    );
  });

  test("a url's passfile gives the password, as psql takes it; one without a line for the node is one sentence, not node-postgres's words", async () => {
    const dir = tempDir('steep-passfile-');
    const planWith = (line: string) => {
      const passfile = path.join(dir, 'east.pgpass');
      writeFileSync(passfile, `${line}\n`);
      chmodSync(passfile, 0o600);
      const url = `postgres://postgres@127.0.0.1:${tls().port}/app?sslmode=require&passfile=${encodeURIComponent(passfile)}`;
      const config = writeConfig(
        ['version: 1', 'topology: tls', 'nodes:', '  tls:', `    url: ${url}`, ''].join('\n'),
      );
      return steep(['plan'], config);
    };
    const found = await planWith(`127.0.0.1:${tls().port}:app:postgres:${tls().password}`);
    connects(found);
    expect(found.stderr).not.toMatch(/passfile/);
    refused(
      await planWith(`127.0.0.1:${tls().port}:other:postgres:${tls().password}`),
      'tls',
      /asks for a password and none was found; give the node a password/,
    );
  });

  test('PGSSLMODE and PGSSLROOTCERT apply when the file gives no sslmode, and the file wins over them', async () => {
    connects(await planOn(tls(), {}, { PGSSLMODE: 'verify-ca', PGSSLROOTCERT: file('ca.crt') }));
    refused(
      await planOn(tls(), {}, { PGSSLMODE: 'verify-ca', PGSSLROOTCERT: file('wrong-ca.crt') }),
      'tls',
      /not trusted/,
    );
    refused(await planOn(tls(), {}, { PGSSLMODE: 'disable' }), 'tls', /no encryption/);
    connects(await planOn(tls(), { sslmode: 'require' }, { PGSSLMODE: 'disable' }));
  });

  test('a client certificate: refused without one where pg_hba.conf asks clientcert=verify-full, connects with sslcert and sslkey', async () => {
    refused(
      await planOn(tls(), { sslmode: 'verify-ca', sslrootcert: file('ca.crt'), user: CERT_USER }),
      'tls',
      /certificate/,
    );
    const withCert = { sslmode: 'verify-ca', sslrootcert: file('ca.crt'), user: CERT_USER };
    connects(await planOn(tls(), { ...withCert, sslcert: file('client.crt'), sslkey: file('client.key') }));
    connects(await planOn(tls(), withCert, { PGSSLCERT: file('client.crt'), PGSSLKEY: file('client.key') }));
  });

  test('a private key that others may read is refused before connecting, as libpq does', async () => {
    const key = path.join(tempDir('steep-tls-key-'), 'client.key');
    execFileSync('cp', [file('client.key'), key]);
    chmodSync(key, 0o644);
    refused(
      await planOn(tls(), { sslmode: 'require', user: CERT_USER, sslcert: file('client.crt'), sslkey: key }),
      'tls',
      /private key file .* may be read by group or others \(mode 644\), which libpq and steep refuse; chmod 600 /,
    );
  });

  test('a server without ssl: prefer falls back to plain, require is refused with the reason', async () => {
    connects(await planOn(plain(), { sslmode: 'prefer' }));
    connects(await planOn(plain(), {}));
    refused(
      await planOn(plain(), { sslmode: 'require' }),
      'plain',
      /does not accept TLS \(sslmode require\)/,
    );
  });

  test("a subscription from a node with hostaddr connects where steep does: the subscriber's libpq reaches 127.0.0.1 and checks the certificate names localhost (verify-full)", async () => {
    // a database of its own, so that this topology shares no object with the other tests'
    const inApp2 = async (node: TestNode, sql: string) => {
      const client = await connect({ ...node.connection, database: 'app2' }, { node: node.name });
      try {
        return (await client.query<{ n: string }>(sql)).rows;
      } finally {
        await client.end();
      }
    };
    for (const node of [tls(), plain()]) {
      await node.query('CREATE DATABASE app2');
      await inApp2(node, 'CREATE TABLE public.hostaddr_orders (id bigint PRIMARY KEY, v text NOT NULL)');
    }
    await inApp2(
      tls(),
      `INSERT INTO public.hostaddr_orders SELECT g, 'before' FROM generate_series(1, 500) g`,
    );
    const ca = encodeURIComponent(file('ca.crt'));
    const config = writeConfig(
      [
        'version: 1',
        'topology: tls_hostaddr',
        'nodes:',
        '  tls:',
        `    url: postgres://postgres@localhost:${tls().port}/app2?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert=${ca}`,
        `    password: \${env:TLS_PGPASSWORD}`,
        '  plain:',
        `    url: postgres://postgres@127.0.0.1:${plain().port}/app2`,
        `    password: \${env:PLAIN_PGPASSWORD}`,
        'publications:',
        '  hostaddr_pub:',
        '    node: tls',
        '    tables: [public.hostaddr_orders]',
        'subscriptions:',
        '  plain_hostaddr:',
        '    node: plain',
        '    from: tls',
        '    publications: [hostaddr_pub]',
        '',
      ].join('\n'),
    );
    const applied = await steep(['apply', '--auto-approve'], config);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    const [sub] = await plain().query<{ conninfo: string }>(
      `SELECT subconninfo AS conninfo FROM pg_subscription WHERE subname = 'plain_hostaddr'`,
    );
    expect(sub!.conninfo).toMatch(
      /^host=localhost hostaddr=127\.0\.0\.1 port=\d+ dbname=app2 .*sslmode=verify-full/,
    );
    await inApp2(
      tls(),
      `INSERT INTO public.hostaddr_orders SELECT g, 'after' FROM generate_series(501, 600) g`,
    );
    const count = async () =>
      (await inApp2(plain(), 'SELECT count(*) AS n FROM public.hostaddr_orders'))[0]!.n;
    await eventually(async () => (await count()) === '600', HANG_MS, 'the 600 rows on the subscriber');
    const replan = await steep(['plan', '--detailed-exitcode'], config);
    expect(replan.code, replan.stdout).toBe(0);
  });

  test('a subscription from the TLS-only publisher streams, over TLS, with the sslmode and CA path as written', async () => {
    const tables = [{ name: 'tls_orders', rows: 2_000 }];
    await createTables([tls(), plain()], tables);
    await fillTables(tls(), tables);
    const config = writeConfig(
      [
        'version: 1',
        'topology: tls',
        'nodes:',
        '  tls:',
        `    url: postgres://postgres@127.0.0.1:${tls().port}/app?sslmode=verify-ca&sslrootcert=${encodeURIComponent(file('ca.crt'))}`,
        `    password: \${env:TLS_PGPASSWORD}`,
        '  plain:',
        `    url: postgres://postgres@127.0.0.1:${plain().port}/app`,
        `    password: \${env:PLAIN_PGPASSWORD}`,
        'publications:',
        '  tls_pub:',
        '    node: tls',
        '    tables: [public.tls_orders]',
        'subscriptions:',
        '  plain_tls:',
        '    node: plain',
        '    from: tls',
        '    publications: [tls_pub]',
        '',
      ].join('\n'),
    );
    const applied = await steep(['apply', '--auto-approve'], config);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    const [sub] = await plain().query<{ conninfo: string }>(
      `SELECT subconninfo AS conninfo FROM pg_subscription WHERE subname = 'plain_tls'`,
    );
    expect(sub!.conninfo).toContain('sslmode=verify-ca');
    expect(sub!.conninfo).toContain(`sslrootcert=${file('ca.crt')}`);
    await tls().query(
      `INSERT INTO public.tls_orders (id, v) SELECT g, 'after' FROM generate_series(5001, 5100) g`,
    );
    await eventually(
      async () =>
        JSON.stringify(await digests(tls(), ['tls_orders'])) ===
        JSON.stringify(await digests(plain(), ['tls_orders'])),
      HANG_MS,
      'the subscriber to hold what the publisher holds',
    );
    const [digest] = Object.values(await digests(plain(), ['tls_orders']));
    expect(digest!.count).toBe(2_100);
    // the walsender serving the subscription is on a TLS connection
    const senders = await tls().query<{ ssl: boolean }>(
      `SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.backend_type = 'walsender'`,
    );
    expect(senders.length).toBeGreaterThan(0);
    expect(senders.every((s) => s.ssl)).toBe(true);
    const replan = await steep(['plan', '--detailed-exitcode'], config);
    expect(replan.code, replan.stdout).toBe(0);
  });
});
