import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
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
