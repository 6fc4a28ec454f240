import { generateKeyPairSync } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { describeConnectError } from '../../../src/db/connect.js';

const SPEC = { host: '10.255.0.1', port: 5432, database: 'app', user: 'steep', sslkey: '/keys/client.key' };

/** The errors a newcomer met, each one sentence naming the node, where, and what to do. */
describe('connect errors', () => {
  it('an unreachable network names the node, host:port and what to check, not a bare `connect ENETUNREACH`', () => {
    for (const code of ['ENETUNREACH', 'EHOSTUNREACH']) {
      const text = describeConnectError('east', SPEC, {
        code,
        message: `connect ${code} 10.255.0.1:5432 - Local (0.0.0.0:0)`,
      });
      expect(text).toBe(
        `node east: 10.255.0.1:5432 is unreachable from this machine (${code}: no network route to it); check the node's host, and the VPN, routing or firewall between here and there`,
      );
    }
  });

  it("an encrypted client key (OpenSSL's own error) names sslpassword and what to give instead", () => {
    const { privateKey } = generateKeyPairSync('ec', {
      namedCurve: 'prime256v1',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    let real: unknown;
    try {
      createSecureContext({ key: privateKey });
    } catch (err) {
      real = err;
    }
    expect(real).toBeDefined();
    const text = describeConnectError('east', SPEC, real);
    expect(text).toMatch(
      /^node east: the client key \/keys\/client\.key could not be read \(.+\): it is protected by a passphrase, and steep takes no sslpassword/,
    );
    expect(text).not.toContain('secret');
  });
});
