import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { libpqPassword } from '../../../src/config/libpqPassword.js';
import { parseTopology } from '../../../src/config/load.js';
import { tempDir } from '../../support/tempDir.js';

const spec = { host: 'db.internal', port: 5433, database: 'app', user: 'steep' };

function passfile(text: string, mode = 0o600): string {
  const dir = tempDir('steep-pgpass-');
  const file = join(dir, '.pgpass');
  writeFileSync(file, text);
  chmodSync(file, mode);
  return dir;
}

describe('libpqPassword: where libpq finds a password the file does not give', () => {
  const cases: Array<{ name: string; text: string; expected: string | undefined }> = [
    { name: 'exact line', text: 'db.internal:5433:app:steep:s3cret\n', expected: 's3cret' },
    { name: 'wildcards', text: '*:*:*:steep:wild\n', expected: 'wild' },
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
