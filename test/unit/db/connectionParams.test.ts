import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseTopology } from '../../../src/config/load.js';
import { connectionUrl, libpqPassword, parseConnectionUrl } from '../../../src/db/connectionParams.js';
import { tempDir } from '../../support/tempDir.js';

const spec = { host: 'db.internal', port: 5433, database: 'app', user: 'steep' };

function passfile(text: string, mode = 0o600): string {
  const dir = tempDir('steep-pgpass-');
  const file = join(dir, '.pgpass');
  writeFileSync(file, text);
  chmodSync(file, mode);
  return dir;
}

describe('libpq URLs', () => {
  it('parses every part, percent-decoded', () => {
    expect(
      parseConnectionUrl('postgres://u%3Ax:p%2Fw@db.example:6432/app%2Dx?sslmode=require&application_name=x'),
    ).toEqual({
      ok: true,
      url: {
        user: 'u:x',
        password: 'p/w',
        rawPassword: 'p%2Fw',
        host: 'db.example',
        port: 6432,
        database: 'app-x',
        sslmode: 'require',
        ignored: ['application_name'],
      },
    });
  });

  it('takes the last @ as the end of the credentials', () => {
    const parsed = parseConnectionUrl('postgresql://u:p@ss@h/d');
    expect(parsed.ok && parsed.url).toMatchObject({ user: 'u', password: 'p@ss', host: 'h', database: 'd' });
  });

  it.each([
    ['host=x dbname=y', /keyword=value/],
    ['http://x', /not a postgres/],
    ['postgres://h:0/d', /port `0`/],
    ['postgres://h1,h2/d', /several hosts/],
    ['postgres://h/d?sslmode=sometimes', /sslmode `sometimes`/],
    ['postgres://u:%zz@h/d', /%-escape/],
  ])('%s is refused', (text, problem) => {
    const parsed = parseConnectionUrl(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toMatch(problem);
  });

  // pg-connection-string reads these otherwise; steep keeps libpq's reading
  it.each([
    ['a %-escaped / in the database name', 'postgres://h/a%2Fb%3Fc', { database: 'a/b?c' }],
    ['dbname= over the path', 'postgres://h/one?dbname=two', { database: 'two' }],
    [
      'host= and port= over the authority',
      'postgres://h:1/d?host=other&port=6432',
      { host: 'other', port: 6432 },
    ],
    ['an IPv6 host', 'postgres://u@[::1]:5433/d', { host: '::1', port: 5433, user: 'u' }],
    [
      'password= as written, to mask that form',
      'postgres://u@h/d?password=a%26b',
      { password: 'a&b', rawPassword: 'a%26b' },
    ],
    [
      'TLS files as paths, not read',
      'postgres://h/d?sslmode=verify-ca&sslrootcert=/nowhere/ca.pem&sslkey=k.pem',
      { sslmode: 'verify-ca', sslrootcert: '/nowhere/ca.pem', sslkey: 'k.pem', ignored: [] },
    ],
  ])('%s', (_name, text, expected) => {
    const parsed = parseConnectionUrl(text);
    expect(parsed.ok && parsed.url).toMatchObject(expected);
  });

  it("sslmode is libpq's: no warning that require means verify-full", () => {
    const warn = vi.spyOn(process, 'emitWarning');
    try {
      for (const mode of ['prefer', 'require', 'verify-ca']) {
        const parsed = parseConnectionUrl(`postgres://h/d?sslmode=${mode}`);
        expect(parsed.ok && parsed.url.sslmode).toBe(mode);
      }
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('connectionUrl writes a spec back that parses to the same connection', () => {
    const spec = {
      host: '::1',
      port: 5433,
      database: 'my db',
      user: 'a@b',
      password: 'p:w/x',
      sslmode: 'require',
    };
    const parsed = parseConnectionUrl(connectionUrl(spec));
    expect(parsed.ok && parsed.url).toMatchObject(spec);
  });
});

describe('libpqPassword: where libpq finds a password the file does not give', () => {
  const cases: Array<{ name: string; text: string; expected: string | undefined }> = [
    { name: 'exact line', text: 'db.internal:5433:app:steep:s3cret\n', expected: 's3cret' },
    { name: 'wildcards', text: '*:*:*:steep:wild\n', expected: 'wild' },
    { name: 'a line under 11 characters (pgpass skips it)', text: '*:*:*:*:pw\n', expected: 'pw' },
    { name: 'CRLF lines', text: 'x:1:a:b:c\r\n*:*:*:steep:crlf\r\n', expected: 'crlf' },
    {
      name: 'first match wins, comments skipped',
      text: '# db.internal:5433:app:steep:comment\ndb.internal:5433:*:steep:first\n*:*:*:*:second\n',
      expected: 'first',
    },
    {
      name: 'escaped colon and backslash',
      text: 'db.internal:5433:app:steep:a\\:b\\\\c\n',
      expected: 'a:b\\c',
    },
    { name: 'other port', text: 'db.internal:5432:app:steep:nope\n', expected: undefined },
    { name: 'other user', text: 'db.internal:5433:app:postgres:nope\n', expected: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(libpqPassword(spec, { HOME: passfile(c.text) }).password).toBe(c.expected);
    });
  }

  it('PGPASSWORD comes first; PGPASSFILE replaces ~/.pgpass', () => {
    const home = passfile('*:*:*:*:from-home\n');
    const other = join(passfile('*:*:*:*:from-pgpassfile\n'), '.pgpass');
    expect(libpqPassword(spec, { HOME: home, PGPASSWORD: 'from-env' })).toEqual({
      password: 'from-env',
      source: 'PGPASSWORD',
    });
    expect(libpqPassword(spec, { HOME: home, PGPASSFILE: other }).password).toBe('from-pgpassfile');
    expect(libpqPassword(spec, {}).password).toBeUndefined();
  });

  it('ignores a password file others may read, and loading the file says so', () => {
    const home = passfile('*:*:*:*:too-open\n', 0o644);
    expect(libpqPassword(spec, { HOME: home })).toEqual({
      password: undefined,
      ignoredPassfile: join(home, '.pgpass'),
    });
    const { topology, warnings } = parseTopology(
      'version: 1\ntopology: t\nnodes:\n  east:\n    url: postgres://steep@db.internal:5433/app\n',
      'steep.yaml',
      { HOME: home },
    );
    expect(topology.nodes.east?.connection.password).toBeUndefined();
    expect(warnings.map((w) => w.message).join('\n')).toContain('may be read by group or others');
  });

  it('a node without a password in the file gets the one libpq would use', () => {
    const home = passfile('db.internal:5433:app:steep:from-pgpass\n');
    const { topology } = parseTopology(
      'version: 1\ntopology: t\nnodes:\n  east:\n    url: postgres://steep@db.internal:5433/app\n',
      'steep.yaml',
      { HOME: home },
    );
    expect(topology.nodes.east?.connection.password).toBe('from-pgpass');
  });
});
