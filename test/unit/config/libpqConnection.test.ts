import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientConfig } from '../../../src/db/connect.js';
import { tlsAttempts } from '../../../src/db/tls.js';
import { buildConninfo, publisherConninfo } from '../../../src/model/conninfo.js';
import { tempDir } from '../../support/tempDir.js';
import { at, BASE, check } from './support.js';

/**
 * steep connects where psql would with the same URL and environment (issue 81): `hostaddr` is
 * the address connected to while `host` stays the server's name for TLS, a url's `passfile` is
 * the password file read, and PGSERVICE (a service file steep does not read) is refused.
 */

const withUrl = (url: string) => BASE.replace('postgres://steep@east.internal:5432/app', url);

/** A password file holding `line`, mode `mode`. */
function passfile(line: string, mode = 0o600): string {
  const file = join(tempDir('steep-passfile-'), 'east.pgpass');
  writeFileSync(file, `${line}\n`);
  chmodSync(file, mode);
  return file;
}

describe('hostaddr', () => {
  it('is the address connected to; host stays the name TLS checks and SNI sends', () => {
    const { topology, errors, warnings } = check(
      withUrl('postgres://steep@east.internal:5432/app?hostaddr=10.0.0.5&sslmode=verify-full'),
    );
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    const east = topology!.nodes.east!.connection;
    expect(east).toMatchObject({ host: 'east.internal', hostaddr: '10.0.0.5', sslmode: 'verify-full' });
    const [attempt] = tlsAttempts('east', { ...east, sslrootcert: 'system' });
    expect(attempt).toMatchObject({ host: 'east.internal', servername: 'east.internal' });
    expect(clientConfig(east, { node: 'east' }, false).host).toBe('10.0.0.5');
  });

  it("is carried in the subscriptions' connection strings, one per host", () => {
    const { topology } = check(withUrl('postgres://steep@east.internal:5432/app?hostaddr=10.0.0.5'));
    expect(publisherConninfo(topology!.nodes.east!)).toBe(
      'host=east.internal hostaddr=10.0.0.5 port=5432 dbname=app user=steep',
    );
    const standby = { host: 'east-b.internal', port: 5432, database: 'app', user: 'steep' };
    expect(buildConninfo({ ...standby, hostaddr: '10.0.0.5' }, { standbys: [standby] })).toBe(
      'host=east-b.internal,east-b.internal hostaddr=10.0.0.5, port=5432,5432 dbname=app user=steep target_session_attrs=read-write',
    );
  });

  it('without a host is the host too, not localhost', () => {
    const { topology, errors } = check(withUrl('postgres:///app?user=steep&hostaddr=10.0.0.5'));
    expect(errors.map((e) => e.message)).toEqual([]);
    expect(topology!.nodes.east!.connection).toMatchObject({ host: '10.0.0.5', hostaddr: '10.0.0.5' });
  });

  it('PGHOSTADDR is its default, as in libpq; the url wins over it', () => {
    const env = { PGHOSTADDR: '10.0.0.7' };
    expect(check(BASE, env).topology!.nodes.east!.connection).toMatchObject({
      host: 'east.internal',
      hostaddr: '10.0.0.7',
    });
    const url = withUrl('postgres://steep@east.internal:5432/app?hostaddr=10.0.0.5');
    expect(check(url, env).topology!.nodes.east!.connection.hostaddr).toBe('10.0.0.5');
  });

  it('PGHOST and PGPORT are the defaults of a node that gives no host or port, as in libpq', () => {
    const fields = BASE.replace('    url: postgres://steep@east.internal:5432/app', '    database: app');
    const env = { PGHOST: 'east-env.internal', PGPORT: '6543' };
    expect(check(fields, env).topology!.nodes.east!.connection).toMatchObject({
      host: 'east-env.internal',
      port: 6543,
    });
    // the url's own host and port win
    expect(check(BASE, env).topology!.nodes.east!.connection).toMatchObject({
      host: 'east.internal',
      port: 5432,
    });
    const errors = check(fields, { PGHOST: 'a,b', PGPORT: 'x', PGHOSTADDR: 'east-ip' }).errors;
    expect(errors.map((e) => e.message)).toEqual([
      'node `east`: PGHOST `a,b` in the environment names several hosts; steep needs one host per node',
      'node `east`: PGHOSTADDR `east-ip` in the environment is not an IP address, which libpq refuses',
      'node `east`: PGPORT `x` in the environment is not a port (1 to 65535)',
      // west gives its host and port, not its hostaddr: PGHOSTADDR is its address
      'node `west`: PGHOSTADDR `east-ip` in the environment is not an IP address, which libpq refuses',
    ]);
  });

  it('goes with its host: a replicationUrl naming another host does not take it', () => {
    const text = withUrl('postgres://steep@east.internal:5432/app?hostaddr=10.0.0.5').replace(
      '    url: postgres://steep@east.internal:5432/app?hostaddr=10.0.0.5',
      '    url: postgres://steep@east.internal:5432/app?hostaddr=10.0.0.5\n    replicationUrl: postgres://repl@east-repl.internal/app',
    );
    const east = check(text).topology!.nodes.east!;
    expect(east.replicationConnection!.host).toBe('east-repl.internal');
    expect(east.replicationConnection!.hostaddr).toBeUndefined();
  });

  it('that is not an IP address is an error naming the node, in a url and as a field', () => {
    const errors = (text: string) => check(text).errors.map((e) => `${at(e)} ${e.code}: ${e.message}`);
    expect(errors(withUrl('postgres://steep@east.internal:5432/app?hostaddr=east-ip'))).toEqual([
      '5:10 bad-url: node `east`: `url` has hostaddr `east-ip`, which is not an IP address (libpq takes only one there)',
    ]);
    const fields = BASE.replace(
      '    url: postgres://steep@east.internal:5432/app',
      '    host: east.internal\n    hostaddr: east-ip',
    );
    expect(errors(fields)).toEqual([
      '6:15 invalid-value: node `east`: `hostaddr` `east-ip` is not an IP address (libpq takes only one there)',
    ]);
  });
});

describe('passfile in a url', () => {
  it('is the password file read, before PGPASSFILE; the password appears in no problem', () => {
    const file = passfile('east.internal:5432:app:steep:from-url-passfile');
    const other = passfile('*:*:*:*:from-pgpassfile');
    const url = withUrl(`postgres://steep@east.internal:5432/app?passfile=${encodeURIComponent(file)}`);
    const outcome = check(url, { PGPASSFILE: other });
    expect(outcome.errors).toEqual([]);
    expect(outcome.warnings).toEqual([]);
    expect(outcome.topology!.nodes.east!.connection.password).toBe('from-url-passfile');
    // the file itself is read where steep runs; subscriptions carry the password it gave
    expect(publisherConninfo(outcome.topology!.nodes.east!)).not.toContain('passfile=');
  });

  it('that group or others may read is ignored with a warning, as libpq does', () => {
    const file = passfile('*:*:*:*:too-open', 0o644);
    const outcome = check(withUrl(`postgres://steep@east.internal:5432/app?passfile=${file}`));
    expect(outcome.topology!.nodes.east!.connection.password).toBeUndefined();
    expect(outcome.warnings.map((w) => w.code)).toEqual(['passfile-ignored']);
    expect(JSON.stringify(outcome)).not.toContain('too-open');
  });
});

describe('the service file', () => {
  it('PGSERVICE in the environment is an error naming the variable', () => {
    const { errors } = check(BASE, { PGSERVICE: 'east' });
    expect(errors.map((e) => `${e.code}: ${e.message}`)).toEqual([
      'environment-unsupported: PGSERVICE is set in the environment (`east`), which steep does not support: it reads no pg_service.conf',
    ]);
    expect(errors[0]!.hint).toMatch(/^unset PGSERVICE; write the service's host/);
  });

  it('PGSERVICEFILE alone names no service: a warning, not silence', () => {
    const { errors, warnings } = check(BASE, { PGSERVICEFILE: '/etc/pg_service.conf' });
    expect(errors).toEqual([]);
    expect(warnings.map((w) => w.code)).toEqual(['environment-ignored']);
  });
});

describe('what would make psql refuse a server steep would take', () => {
  const url = (q: string) => withUrl(`postgres://steep@east.internal:5432/app?${q}`);
  const messages = (text: string, env: NodeJS.ProcessEnv = {}) =>
    check(text, env).errors.map((e) => e.message);

  it('is an error in a url, naming the parameter and its value', () => {
    expect(messages(url('target_session_attrs=read-write&require_auth=scram-sha-256'))).toEqual([
      'node `east`: `url` parameter `target_session_attrs=read-write` is not supported by steep: it does not pick or refuse a server by whether it takes writes or is a standby, as libpq does',
      'node `east`: `url` parameter `require_auth` is not supported by steep: its sessions and the subscriptions it creates would take any authentication the server asks for, where libpq and psql refuse the others',
    ]);
    for (const q of [
      'sslcertmode=require',
      'gssencmode=require',
      'requirepeer=postgres',
      'ssl_min_protocol_version=TLSv1.3',
    ])
      expect(messages(url(q)), q).toHaveLength(1);
  });

  it("is an error as its variable in steep's environment", () => {
    expect(messages(BASE, { PGTARGETSESSIONATTRS: 'primary', PGCHANNELBINDING: 'require' })).toEqual([
      'PGCHANNELBINDING is set in the environment (`require`), which steep does not support: its own sessions and the subscriptions it creates would connect without channel binding, which libpq and psql refuse',
      'PGTARGETSESSIONATTRS is set in the environment (`primary`), which steep does not support: it does not pick or refuse a server by whether it takes writes or is a standby, as libpq does',
    ]);
  });

  it("asks nothing more than steep does with libpq's defaults: no error", () => {
    const lenient = {
      PGTARGETSESSIONATTRS: 'any',
      PGCHANNELBINDING: 'prefer',
      PGSSLCERTMODE: 'allow',
      PGGSSENCMODE: 'prefer',
      PGSSLMINPROTOCOLVERSION: 'TLSv1.2',
    };
    expect(messages(BASE, lenient)).toEqual([]);
    expect(messages(url('target_session_attrs=any&gssencmode=disable'))).toEqual([]);
  });
});
