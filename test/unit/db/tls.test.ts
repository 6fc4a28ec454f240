import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { tlsAttempts, tlsSettings, triesNext } from '../../../src/db/tls.js';
import type { ConnectionSpec } from '../../../src/model/topology.js';
import { tempDir } from '../../support/tempDir.js';

/** libpq's sslmode table (docs/steep-yaml.md, Connections and TLS) as the attempts steep makes. */

const base: ConnectionSpec = { host: 'east.internal', port: 5432, database: 'app', user: 'steep' };

function home(withRootCert: boolean): NodeJS.ProcessEnv {
  const dir = tempDir('steep-tls-home-');
  if (withRootCert) {
    mkdirSync(path.join(dir, '.postgresql'));
    writeFileSync(path.join(dir, '.postgresql', 'root.crt'), 'not parsed here');
  }
  return { HOME: dir };
}

/** plain / tls (no check) / chain / chain+host for each attempt. */
function shape(spec: Partial<ConnectionSpec>, env: NodeJS.ProcessEnv): string[] {
  return tlsAttempts('east', { ...base, ...spec }, env).map((a) => {
    if (a === false) return 'plain';
    if (a.rejectUnauthorized === false) return 'tls';
    return a.checkServerIdentity ? 'chain' : 'chain+host';
  });
}

describe('the attempts of each sslmode', () => {
  test.each([
    ['disable', false, ['plain']],
    ['allow', false, ['plain', 'tls']],
    ['prefer', false, ['tls', 'plain']],
    ['require', false, ['tls']],
    // a root certificate file that exists: every TLS attempt checks the chain (require = verify-ca)
    ['allow', true, ['plain', 'chain']],
    ['prefer', true, ['chain', 'plain']],
    ['require', true, ['chain']],
    ['verify-ca', true, ['chain']],
    ['verify-full', true, ['chain+host']],
  ] as const)('%s, root certificate file %s: %j', (sslmode, rootCert, expected) => {
    expect(shape({ sslmode }, home(rootCert))).toEqual(expected);
  });

  test('no sslmode is prefer, libpq’s default', () => {
    expect(shape({}, home(false))).toEqual(['tls', 'plain']);
  });

  test('verify-ca and verify-full without a root certificate file are refused, naming the file', () => {
    const env = home(false);
    for (const sslmode of ['verify-ca', 'verify-full']) {
      expect(() => shape({ sslmode }, env)).toThrow(
        `node east: sslmode ${sslmode} needs the root certificate file ${env.HOME}/.postgresql/root.crt, which does not exist`,
      );
    }
  });

  test('sslrootcert=system goes with verify-full only, and makes it the default', () => {
    expect(tlsSettings({ ...base, sslrootcert: 'system' }, {}).sslmode).toBe('verify-full');
    expect(shape({ sslrootcert: 'system' }, {})).toEqual(['chain+host']);
    expect(() => shape({ sslrootcert: 'system', sslmode: 'require' }, {})).toThrow(
      'sslmode require may not be used with sslrootcert=system',
    );
  });
});

describe('where the settings come from', () => {
  test('the node’s field, else its PG* variable, else the file in ~/.postgresql/', () => {
    const env = {
      HOME: '/home/dba',
      PGSSLMODE: 'verify-ca',
      PGSSLROOTCERT: '/env/ca.pem',
      PGSSLCERT: '/env/c.crt',
    };
    expect(tlsSettings({ ...base, sslrootcert: '/file/ca.pem' }, env)).toEqual({
      sslmode: 'verify-ca',
      sslrootcert: '/file/ca.pem',
      sslcert: '/env/c.crt',
      sslkey: '/home/dba/.postgresql/postgresql.key',
      sslcrl: '/home/dba/.postgresql/root.crl',
    });
    expect(tlsSettings({ ...base, sslmode: 'disable' }, env).sslmode).toBe('disable');
  });

  test('PGSSLMODE must be one of libpq’s modes', () => {
    expect(() => tlsSettings(base, { PGSSLMODE: 'on' })).toThrow('sslmode `on` is not one of');
  });
});

describe('when the next attempt is made', () => {
  test('after the server refused (TLS or the session), not when it could not be reached', () => {
    expect(triesNext(new Error('The server does not support SSL connections'))).toBe(true);
    expect(triesNext(Object.assign(new Error('pg_hba.conf rejects connection'), { code: '28000' }))).toBe(
      true,
    );
    expect(
      triesNext(
        Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', syscall: 'connect' }),
      ),
    ).toBe(false);
    expect(triesNext(new Error('Connection terminated due to connection timeout'))).toBe(false);
  });
});
