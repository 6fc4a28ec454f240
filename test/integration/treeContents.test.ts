/**
 * catalog/treeContents.ts against PostgreSQL itself: which catalog rows a partition's attach,
 * CREATE … PARTITION OF, DETACH and SET SCHEMA write, and whether a table new under a tree held
 * rows from before it joined (by xmin age, and by command within the attaching transaction).
 */
import { describe, expect, it } from 'vitest';
import { heldRowsBefore, readTableContents } from '../../src/catalog/treeContents.js';
import { defaultVersion, useCluster } from '../support/cluster.js';

const version = defaultVersion();

describe(`what a published table holds, read (PostgreSQL ${version})`, () => {
  const cluster = useCluster({ nodes: ['east'], version });

  it('reads the tree and the namespace row, and which new table held rows from before', async () => {
    const east = cluster().node('east');
    await east.query(`CREATE SCHEMA tc; CREATE SCHEMA away;
      CREATE TABLE tc.m (id bigint NOT NULL, k int NOT NULL) PARTITION BY RANGE (k);
      CREATE TABLE tc.m_1 PARTITION OF tc.m FOR VALUES FROM (0) TO (100);
      CREATE TABLE tc.plain (id bigint PRIMARY KEY)`);
    const client = await east.client();
    try {
      const read = async () => readTableContents(client, ['tc.m', 'tc.plain', 'tc.none']);
      const first = await read();
      expect(Object.keys(first).sort()).toEqual(['tc.m', 'tc.plain']);
      expect(first['tc.plain']).toEqual({ ns: expect.stringMatching(/^\d+\/\d+$/) });
      const leaves = Object.values(first['tc.m']!.leaves!);
      expect(leaves).toEqual([{ name: 'tc.m_1', row: expect.stringMatching(/^\d+\/\d+$/) }]);
      const held = async (name: string) => {
        const l = Object.values((await read())['tc.m']!.leaves!).find((x) => x.name === name)!;
        return heldRowsBefore(client, l);
      };
      // made in place, then filled through the root, in its own transaction and in the same one
      await east.query('INSERT INTO tc.m SELECT g, g % 100 FROM generate_series(1, 50) g');
      expect(await held('tc.m_1')).toBe(false);
      await east.query(`CREATE TABLE tc.m_2 PARTITION OF tc.m FOR VALUES FROM (100) TO (200);
        INSERT INTO tc.m SELECT g, 100 + g % 100 FROM generate_series(1, 50) g`);
      expect(await held('tc.m_2')).toBe(false);
      // created, filled and attached in one transaction: rows from an earlier command
      await east.query(`CREATE TABLE tc.m_3 (LIKE tc.m);
        INSERT INTO tc.m_3 SELECT g, 200 + g % 100 FROM generate_series(1, 50) g;
        ALTER TABLE tc.m ATTACH PARTITION tc.m_3 FOR VALUES FROM (200) TO (300)`);
      expect(await held('tc.m_3')).toBe(true);
      // filled in a transaction of its own before the attach; attached empty, filled after
      await east.query('CREATE TABLE tc.m_4 (LIKE tc.m)');
      await east.query('INSERT INTO tc.m_4 VALUES (1, 300)');
      await east.query('ALTER TABLE tc.m ATTACH PARTITION tc.m_4 FOR VALUES FROM (300) TO (400)');
      expect(await held('tc.m_4')).toBe(true);
      await east.query('CREATE TABLE tc.m_5 (LIKE tc.m)');
      await east.query('ALTER TABLE tc.m ATTACH PARTITION tc.m_5 FOR VALUES FROM (400) TO (500)');
      await east.query('INSERT INTO tc.m VALUES (1, 450)');
      expect(await held('tc.m_5')).toBe(false);
      // detached and attached again: a new pg_inherits row, and its rows are from before it
      const before = (await read())['tc.m']!.leaves!;
      await east.query('ALTER TABLE tc.m DETACH PARTITION tc.m_5');
      expect(Object.values((await read())['tc.m']!.leaves!).map((l) => l.name)).not.toContain('tc.m_5');
      await east.query('ALTER TABLE tc.m ATTACH PARTITION tc.m_5 FOR VALUES FROM (400) TO (500)');
      const again = (await read())['tc.m']!.leaves!;
      const oid = Object.keys(before).find((o) => before[o]!.name === 'tc.m_5')!;
      expect(again[oid]!.row).not.toBe(before[oid]!.row);
      expect(await held('tc.m_5')).toBe(true);
      // only SET SCHEMA rewrites the namespace row: an ALTER of another kind keeps it
      await east.query('ALTER TABLE tc.plain ADD COLUMN v text');
      expect((await read())['tc.plain']!.ns).toBe(first['tc.plain']!.ns);
      await east.query('ALTER TABLE tc.plain SET SCHEMA away');
      await east.query('ALTER TABLE away.plain SET SCHEMA tc');
      expect((await read())['tc.plain']!.ns).not.toBe(first['tc.plain']!.ns);
    } finally {
      await client.end();
    }
  });
});
