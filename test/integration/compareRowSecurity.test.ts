/**
 * A comparison's session (compareSession, src/catalog/rowHashes.ts) sets row_security off: a read
 * a row-level security policy would filter fails instead of returning only the rows the policy
 * lets its role see, so no path of a comparison can silently compare a filtered table. A role
 * that bypasses the policies (here the superuser) reads every row as before.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { compareSession } from '../../src/catalog/rowHashes.js';
import { defaultVersion, useCluster } from '../support/cluster.js';

const version = defaultVersion();
const PASSWORD = 'rls-reader-pw';

describe(`a comparison's session under row-level security (PostgreSQL ${version})`, () => {
  const cluster = useCluster({ nodes: ['east'], version });

  async function session(user: string, password: string): Promise<pg.Client> {
    const east = cluster().node('east');
    const client = new pg.Client({ host: '127.0.0.1', port: east.port, database: 'app', user, password });
    await client.connect();
    return client;
  }

  it('fails a read a policy would filter, where a plain session sees 0 of 40 rows; the superuser reads all 40', async () => {
    const east = cluster().node('east');
    await east.query(`CREATE ROLE rls_reader LOGIN PASSWORD '${PASSWORD}'`);
    await east.query('CREATE TABLE public.crs (id int PRIMARY KEY, tenant text)');
    await east.query("INSERT INTO public.crs SELECT g, 't' || g % 4 FROM generate_series(1, 40) g");
    await east.query('ALTER TABLE public.crs ENABLE ROW LEVEL SECURITY');
    await east.query('ALTER TABLE public.crs FORCE ROW LEVEL SECURITY');
    await east.query(
      `CREATE POLICY crs_tenant ON public.crs USING (tenant = current_setting('app.tenant', true))`,
    );
    await east.query('GRANT SELECT ON public.crs TO rls_reader');
    const count = async (c: pg.Client) =>
      (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM public.crs')).rows[0]!.n;
    const settings = { statementTimeoutMs: 60_000, lockTimeoutMs: 2_000 };
    const reader = await session('rls_reader', PASSWORD);
    try {
      expect(await count(reader)).toBe(0);
      await compareSession(reader, settings);
      await expect(count(reader)).rejects.toThrow(/row-level security policy for table "crs"/);
    } finally {
      await reader.end();
    }
    const su = await session('postgres', east.password);
    try {
      await compareSession(su, settings);
      expect(await count(su)).toBe(40);
    } finally {
      await su.end();
    }
  });
});
