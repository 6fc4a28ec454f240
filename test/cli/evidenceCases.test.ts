import { describe, expect, it } from 'vitest';
import { startIdInsertWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { idsMissing, queryDigest, waitCaughtUp } from '../support/replicationData.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A hole in what a published tree holds, under a writer that logs every id whose COMMIT returned,
 * on PostgreSQL 18 and 16: a partition holding rows attached to a tree published through its root
 * (PostgreSQL never sends the rows it held; created, filled and attached in one transaction) and
 * the same partition detached again (the subscriber keeps rows its publisher's tree no longer
 * has). The next status names each as a `gap` (model/treeContents.ts: the pg_inherits row, the
 * rows from before it); the rolling verify after it counts the difference (exit 2, `diverged`),
 * and the way out it prints, followed literally, converges with no acknowledged id lost.
 */
const APP = { user: 'ev_app', password: 'ev-app-secret-1' };
const SUB = 'ev_part';

describe.each([18, 16] as const)(
  'a partition attached and detached under a root publication on PostgreSQL %i',
  (version) => {
    const cluster = useCluster({ nodes: ['east', 'west'], version });
    const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 240_000 });

    it('the rolling verify finds the rows the stream never carried, and the printed reinit converges', async () => {
      const east = cluster().node('east');
      const west = cluster().node('west');
      for (const n of [east, west])
        await n.query(`CREATE SCHEMA ev;
        CREATE TABLE ev.m (id bigint NOT NULL, k int NOT NULL, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
        CREATE TABLE ev.m_1 PARTITION OF ev.m FOR VALUES FROM (0) TO (100)`);
      // the subscriber's tree takes any k (its own partitioning is its own)
      await west.query('CREATE TABLE ev.m_rest PARTITION OF ev.m DEFAULT');
      await east.query(`INSERT INTO ev.m SELECT g, g % 100, md5(g::text) FROM generate_series(1, 2000) g;
      CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}';
      GRANT USAGE ON SCHEMA ev TO ${APP.user}; GRANT INSERT, SELECT ON ev.m TO ${APP.user}`);
      const config = writeConfig(
        [
          'version: 1',
          'topology: evidence-cases',
          nodesYaml([east, west]),
          'publications:',
          '  ev_root: { node: east, tables: [ev.m], viaPartitionRoot: true }',
          'subscriptions:',
          `  ${SUB}: { node: west, from: east, publications: [ev_root] }`,
          '',
        ].join('\n'),
      );
      const env = { STEEP_VERIFY_SEGMENT_ROWS: '500' };
      const applied = await steep(['apply', '--auto-approve'], config, env);
      expect(applied.code, applied.stderr).toBe(0);
      const writer = startIdInsertWriter(
        east,
        APP,
        'INSERT INTO ev.m VALUES ($1::bigint, $1::bigint % 100, md5($1::text))',
      );
      const state = async () => {
        const r = await steep(['status', '--json'], config);
        return (
          JSON.parse(r.stdout) as { subscriptions: Array<{ name: string; state: string }> }
        ).subscriptions.find((s) => s.name === SUB)!.state;
      };
      const rolling = async () => steep(['verify', '--rolling', '--budget', '2min', SUB], config, env);
      const reinitAsPrinted = async (out: string) => {
        const hint = /repair with: (steep reinit \S+ --tables \S+)/.exec(out);
        expect(hint, out).not.toBeNull();
        const r = await steep([...hint![1]!.split(' ').slice(1), '--auto-approve'], config, env);
        expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      };
      try {
        expect(await state()).toBe('synchronized');

        // attached with 1,000 rows the root publication never sends
        await east.query(`CREATE TABLE ev.m_2 (LIKE ev.m INCLUDING ALL);
        INSERT INTO ev.m_2 SELECT g, 100 + g % 100, md5(g::text) FROM generate_series(10001, 11000) g;
        ALTER TABLE ev.m ATTACH PARTITION ev.m_2 FOR VALUES FROM (100) TO (200)`);
        await east.query('INSERT INTO ev.m VALUES (20001, 150, $1)', ['after the attach']);
        await waitCaughtUp(east, SUB);
        expect(await state()).toBe('gap');
        const found = await rolling();
        expect(found.code, `${found.stdout}\n${found.stderr}`).toBe(2);
        expect(found.stdout).toMatch(/ev\.m .*missing 1,000/);
        expect(await state()).toBe('diverged');
        await reinitAsPrinted(found.stdout);
        expect(await state()).toBe('synchronized');

        // detached: the 1,001 rows stay on the subscriber, its publisher's tree no longer has them
        await east.query('ALTER TABLE ev.m DETACH PARTITION ev.m_2');
        await waitCaughtUp(east, SUB);
        expect(await state()).toBe('gap');
        const extra = await rolling();
        expect(extra.code, `${extra.stdout}\n${extra.stderr}`).toBe(2);
        expect(extra.stdout).toMatch(/ev\.m .*extra 1,001/);
        expect(await state()).toBe('diverged');
        await reinitAsPrinted(extra.stdout);
        expect(await state()).toBe('synchronized');
      } finally {
        await writer.stop();
      }
      expect(writer.lastError()).toBeNull();
      await waitCaughtUp(east, SUB);
      const acked = writer.acknowledged().get('east') ?? [];
      expect(acked.length).toBeGreaterThan(20);
      expect(await idsMissing(west, 'ev.m', acked)).toBe(0);
      const all = 'SELECT id, k, v FROM ev.m';
      expect(await queryDigest(west, all)).toEqual(await queryDigest(east, all));
    }, 400_000);
  },
);
