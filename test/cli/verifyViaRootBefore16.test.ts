import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, verifyJson, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { idsMissing, queryDigest, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A leaf published on its own beside its root published via root, before PostgreSQL 16 (issue
 * 62; 028_row_filter.pl's tap_pub_parent_sync / tap_pub_child_sync): the subscription lists the
 * leaf too and copies it once on its own, with its own filter, while every change of it streams
 * as its root's, with the root's filter. The subscriber's copy of the leaf is never streamed
 * into: verify says it is not comparable, with why, rather than diverged under writes, compares
 * the root, and verify --repair copies the root again and leaves the leaf as PostgreSQL did.
 * 16+ leaves such a leaf out of the subscription (continuityPartitions.test.ts, (4)).
 */
const cluster = useCluster({ nodes: ['east', 'west'], version: 15 });
const SUB = 'vr15_sub';
const APP = { user: 'vr_app', password: 'vr-app-secret-1' };
const ROOT = 'id % 5 <> 0';
const LEAF = 'id % 3 <> 0';
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

function digest(node: 'east' | 'west', sql: string): Promise<{ count: string; sum: string }> {
  return queryDigest(cluster().node(node), sql);
}

describe('verify of a leaf replicated through its root, before 16 (15)', { timeout: 240_000 }, () => {
  it('the leaf is not comparable, with why; the root is compared and repaired as PostgreSQL copies it', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await east.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
    for (const n of [east, west]) await n.query('CREATE SCHEMA vr');
    await east.query('CREATE TABLE vr.e (id bigserial PRIMARY KEY, v text NOT NULL) PARTITION BY HASH (id)');
    for (const r of [0, 1])
      await east.query(
        `CREATE TABLE vr.e_${r} PARTITION OF vr.e FOR VALUES WITH (MODULUS 2, REMAINDER ${r})`,
      );
    // two plain tables on west: which one PostgreSQL applies into shows
    for (const t of ['e', 'e_0'])
      await west.query(`CREATE TABLE vr.${t} (id bigint PRIMARY KEY, v text NOT NULL)`);
    await east.query('INSERT INTO vr.e (id, v) SELECT g, md5(g::text) FROM generate_series(1, 2000) g');
    await east.query("SELECT setval('vr.e_id_seq', 100000)");
    await east.query(`GRANT USAGE ON SCHEMA vr TO ${APP.user}`);
    await east.query(`GRANT SELECT, INSERT ON vr.e TO ${APP.user}`);
    await east.query(`GRANT USAGE ON SEQUENCE vr.e_id_seq TO ${APP.user}`);
    const path = writeConfig(
      [
        'version: 1',
        'topology: via-root-15',
        nodesYaml([east, west]),
        'publications:',
        '  vr_eroot:',
        '    node: east',
        `    tables: [{ name: vr.e, where: "${ROOT}" }]`,
        '    viaPartitionRoot: true',
        '  vr_eleaf:',
        '    node: east',
        `    tables: [{ name: vr.e_0, where: "${LEAF}" }]`,
        'subscriptions:',
        `  ${SUB}:`,
        '    node: west',
        '    from: east',
        '    publications: [vr_eroot, vr_eleaf]',
        '    schemaSync: manual',
        '',
      ].join('\n'),
    );
    const applied = await steep(['apply', '--auto-approve', '--accept-schema-drift'], path);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    await eventually(
      async () =>
        (await west.query(`SELECT 1 FROM pg_subscription_rel WHERE srsubstate <> 'r'`)).length === 0,
      HANG_MS,
      'the copies done',
    );

    const verify = (args: string[] = []) =>
      verifyJson(steep, SUB, args, ['table', 'status', 'missing', 'extra', 'notComparable'], path);
    const leaf = { table: 'vr.e_0', status: 'not_verifiable', missing: 0, extra: 0, notComparable: true };

    const writer = startIdWriter({ east }, APP, 'vr.e', () => 'east');
    const acked = () => writer.acknowledged().get('east') ?? [];
    try {
      await eventually(async () => acked().length > 30, HANG_MS, 'writes on east');
      const first = await verify();
      expect(first.tables, first.out).toEqual([
        { table: 'vr.e', status: 'equal', missing: 0, extra: 0 },
        leaf,
      ]);
      expect(first.out).toContain(
        "vr.e_0 is not comparable on its own: publication vr_eroot publishes its partition ancestor vr.e with publish_via_partition_root, so PostgreSQL sends its changes as vr.e's, with vr.e's row filter (compared in vr.e); before PostgreSQL 16 the subscription lists vr.e_0 as well and copied it once on its own, so what west holds in it is that copy, which no change streams into",
      );
      expect(first.code, first.out).toBe(2);
      expect(first.state).toBe('synchronized');

      await west.query('DELETE FROM vr.e WHERE id = 1');
      const diverged = await verify();
      expect(diverged.tables, diverged.out).toEqual([
        { table: 'vr.e', status: 'diverged', missing: 1, extra: 0 },
        leaf,
      ]);
      // the reinit's window held open (its TRUNCATE waits for this lock): the subscription is on
      // the temporary publications while east writes into vr.e_0, and decodes those writes
      const lock = await west.client();
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE vr.e IN ACCESS SHARE MODE');
      const repairing = verify(['--repair', '--allow-destroy']);
      try {
        await eventually(
          async () =>
            (
              await west.query<{ on: boolean }>(
                `SELECT subpublications[1] LIKE 'steep_reinit_%' AS on FROM pg_subscription WHERE subname = '${SUB}'`,
              )
            )[0]?.on === true,
          HANG_MS,
          'the subscription on the temporary publications',
        );
        const inWindow = acked().length;
        await eventually(async () => acked().length > inWindow + 20, HANG_MS, 'writes in the window');
        const lsn = (await east.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
        await eventually(
          async () =>
            (
              await west.query<{ past: boolean }>(
                `SELECT received_lsn >= '${lsn}'::pg_lsn AS past FROM pg_stat_subscription WHERE subname = '${SUB}' AND relid IS NULL`,
              )
            )[0]?.past === true,
          HANG_MS,
          'the window decoded',
        );
      } finally {
        await lock.query('COMMIT');
        await lock.end();
      }
      const repaired = await repairing;
      expect(repaired.tables, repaired.out).toEqual([
        { table: 'vr.e', status: 'equal', missing: 0, extra: 0 },
        leaf,
      ]);
      expect(repaired.code, repaired.out).toBe(2);
      const mark = acked().length;
      await eventually(async () => acked().length > mark + 30, HANG_MS, 'writes after the repair');
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, SUB);
    const passed = acked().filter((id) => id % 5 !== 0);
    expect(await idsMissing(west, 'vr.e', passed)).toBe(0);
    // west's vr.e: the whole tree through the root's filter; its vr.e_0: the leaf's first copy alone
    expect(await digest('west', 'SELECT * FROM vr.e')).toEqual(
      await digest('east', `SELECT * FROM vr.e WHERE ${ROOT}`),
    );
    expect(await digest('west', 'SELECT * FROM vr.e_0')).toEqual(
      await digest('east', `SELECT * FROM vr.e_0 WHERE ${LEAF} AND id <= 2000`),
    );
  });
});
