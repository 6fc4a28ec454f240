/**
 * `isoTime` (src/model/sql.ts) on real PostgreSQL: the text it selects equals what
 * `Date.toISOString()` makes of the same timestamptz as node-postgres parses it, byte for byte,
 * for every millisecond fraction, whatever the session's TimeZone.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { isoTime } from '../../src/model/sql.js';
import { defaultVersion, useCluster } from '../support/cluster.js';

const version = defaultVersion();

describe(`isoTime (PostgreSQL ${version})`, () => {
  const cluster = useCluster({ nodes: ['east'], version });

  it('equals Date.toISOString() of the parsed timestamptz', async () => {
    const east = await cluster().node('east').client();
    onTestFinished(() => east.end());
    await east.query(`SET TimeZone = 'America/St_Johns'`);
    const { rows } = await east.query(
      `SELECT t, ${isoTime('t')} AS iso
         FROM (SELECT timestamptz '2026-03-08 01:59:59.000001+00' + n * interval '1001 microseconds' + (n % 7) * interval '37 days' AS t
                 FROM generate_series(0, 20000) n) s`,
    );
    expect(rows.length).toBe(20001);
    const differ = rows.filter((r) => (r.t as Date).toISOString() !== r.iso);
    expect(differ).toEqual([]);
    const nulls = await east.query(`SELECT ${isoTime('NULL::timestamptz')} AS iso`);
    expect(nulls.rows[0].iso).toBeNull();
  });
});
