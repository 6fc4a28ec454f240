import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chownToServerUser } from '../../src/sandbox/serverUser.js';
import type { ClusterOptions } from './cluster.js';

/**
 * Servers that take connections only over TLS, as Azure does by default and RDS with
 * rds.force_ssl: a test CA made with openssl, a second CA nobody signed with, a server
 * certificate that names `localhost` only, and a pg_hba.conf of hostssl lines with
 * `hostnossl … reject`. Files are in `dir`, owned by the server's user (its key 0600).
 *
 *   const dir = tempDir('steep-tls-');
 *   beforeAll(() => prepareTlsOnly(dir));            // registered before useCluster's
 *   const cluster = useCluster({ nodes: ['east'], ...tlsOnlyOptions(dir) });
 */

/** A CA, a second CA nobody signed with, a server certificate for DNS:localhost, and (`clientUser`) a client certificate for it. */
export function makeCertificates(dir: string, clientUser?: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  for (const ca of ['ca', 'wrong-ca']) {
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=steep test ${ca}`,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.crt`,
    );
  }
  const signed = (name: string, subject: string, ext: string) => {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      subject,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    writeFileSync(path.join(dir, `${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    );
  };
  signed('server', '/CN=localhost', 'subjectAltName=DNS:localhost\n');
  if (clientUser) signed('client', `/CN=${clientUser}`, 'extendedKeyUsage=clientAuth\n');
}

/**
 * Certificates and a TLS-only pg_hba.conf in `dir` (local connections trusted, TCP only over TLS
 * with scram-sha-256), owned by the server's user; `hbaFirst` are lines before the generic ones.
 */
export async function prepareTlsOnly(
  dir: string,
  opts: { clientUser?: string; hbaFirst?: string[] } = {},
): Promise<void> {
  makeCertificates(dir, opts.clientUser);
  writeFileSync(
    path.join(dir, 'pg_hba.conf'),
    [
      'local      all          all                        trust',
      'local      replication  all                        trust',
      ...(opts.hbaFirst ?? []),
      'hostssl    all          all           127.0.0.1/32  scram-sha-256',
      'hostssl    replication  all           127.0.0.1/32  scram-sha-256',
      'hostnossl  all          all           all           reject',
      'hostnossl  replication  all           all           reject',
      '',
    ].join('\n'),
  );
  chmodSync(dir, 0o755);
  await chownToServerUser(dir, true);
  for (const key of ['ca.key', 'wrong-ca.key', 'server.key', 'client.key'])
    if (key !== 'client.key' || opts.clientUser) chmodSync(path.join(dir, key), 0o600);
}

/**
 * useCluster/startCluster options for a server using prepareTlsOnly(dir)'s files; the test
 * helpers' own connections check the chain (verify-ca: they connect to 127.0.0.1).
 */
export function tlsOnlyOptions(dir: string): Required<Pick<ClusterOptions, 'settings' | 'tls'>> {
  const file = (name: string) => path.join(dir, name);
  return {
    settings: {
      ssl: 'on',
      ssl_cert_file: file('server.crt'),
      ssl_key_file: file('server.key'),
      ssl_ca_file: file('ca.crt'),
      hba_file: file('pg_hba.conf'),
    },
    tls: { sslmode: 'verify-ca', sslrootcert: file('ca.crt') },
  };
}
