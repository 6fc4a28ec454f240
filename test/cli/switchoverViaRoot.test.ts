import { describe, expect, it } from 'vitest';
import type { SwitchoverReport } from '../../src/model/switchover.js';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { idsMissing, queryDigest, waitCaughtUp } from '../support/replicationData.js';
import { followRollback } from '../support/rollback.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A switchover of a partitioned table published via its root (issue 62): east partitions vr.e
 * by hash, west by range under other names, so only the root's name is common to both. The
 * forward stream carries the root's name (viaPartitionRoot); the way back (--reverse) must too,
 * or east's subscription names west's partitions, which east does not have. The data fence
 * covers each tree's partitions, east's at the switchover, west's (other names) at the rollback.
 * The application writes on east, on west through the way back, then on east again after the
 * rollback as printed: every acknowledged id on east, the trees equal row for row at the way back.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'west_vr';
const APP = { user: 'vrs_app', password: 'vrs-app-secret-1' };
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

describe('steep switchover of a tree published via its root (18 → 18)', () => {
  it('the way back carries the root too: partitions named differently on each side, nothing lost either way', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query('CREATE SCHEMA vr');
      await n.query('CREATE TABLE vr.e (id bigserial PRIMARY KEY, v text NOT NULL) PARTITION BY HASH (id)');
      await n.query(`GRANT USAGE ON SCHEMA vr TO ${APP.user}`);
      await n.query(`GRANT SELECT, INSERT ON vr.e TO ${APP.user}`);
      await n.query(`GRANT USAGE ON SEQUENCE vr.e_id_seq TO ${APP.user}`);
    }
    for (const r of [0, 1])
      await east.query(
        `CREATE TABLE vr.e_${r} PARTITION OF vr.e FOR VALUES WITH (MODULUS 2, REMAINDER ${r})`,
      );
    await west.query('DROP TABLE vr.e');
    await west.query('CREATE TABLE vr.e (id bigserial PRIMARY KEY, v text NOT NULL) PARTITION BY RANGE (id)');
    await west.query(`GRANT SELECT, INSERT ON vr.e TO ${APP.user}`);
    await west.query(`GRANT USAGE ON SEQUENCE vr.e_id_seq TO ${APP.user}`);
    await west.query('CREATE TABLE vr.w_lo PARTITION OF vr.e FOR VALUES FROM (MINVALUE) TO (5000)');
    await west.query('CREATE TABLE vr.w_hi PARTITION OF vr.e FOR VALUES FROM (5000) TO (MAXVALUE)');
    await east.query('INSERT INTO vr.e (v) SELECT md5(g::text) FROM generate_series(1, 2000) g');
    const path = writeConfig(
      [
        'version: 1',
        'topology: switchover-via-root',
        nodesYaml([east, west]),
        'publications:',
        '  vr_pub:',
        '    node: east',
        '    tables: [vr.e]',
        '    viaPartitionRoot: true',
        'subscriptions:',
        `  ${SUB}:`,
        '    node: west',
        '    from: east',
        '    publications: [vr_pub]',
        '',
      ].join('\n'),
    );
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    await waitCaughtUp(east, SUB);

    let primary = 'east';
    const writer = startIdWriter({ east, west }, APP, 'vr.e', () => primary);
    const acked = (node: string) => writer.acknowledged().get(node) ?? [];
    let report: SwitchoverReport;
    try {
      await eventually(async () => acked('east').length > 100, HANG_MS, 'writes on east');
      const done = await steep(['switchover', SUB, '--reverse', '--grace', '1s', '--json'], path);
      expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
      report = JSON.parse(done.stdout) as SwitchoverReport;
      expect(report.reverse).toEqual({
        publication: 'steep_reverse_west_vr',
        subscription: 'steep_reverse_west_vr',
        node: 'east',
        from: 'west',
      });
      primary = 'west';
      await eventually(async () => acked('west').length > 100, HANG_MS, 'writes on west');
      // the data fence holds for a write straight into a partition of east's tree too
      await expect(
        east.query("INSERT INTO vr.e_0 (id, v) VALUES (-1, 'past the fence')"),
      ).rejects.toMatchObject({
        code: '25006',
      });
      const [back] = await east.query<{ slot: string }>(
        'SELECT subslotname::text AS slot FROM pg_subscription WHERE subname = $1',
        [report.reverse!.subscription],
      );
      const fromWest = [...acked('west')];
      await waitCaughtUp(west, back!.slot);
      expect(await idsMissing(east, 'vr.e', fromWest)).toBe(0);

      // the rollback, exactly as printed: its fence on west names west's own partitions
      await followRollback(report, { east, west }, steep, path, () => {
        primary = 'east';
      });
      expect(primary).toBe('east');
      await expect(
        west.query("INSERT INTO vr.w_lo (id, v) VALUES (-1, 'past the fence')"),
      ).rejects.toMatchObject({
        code: '25006',
      });
      const mark = acked('east').length;
      await eventually(async () => acked('east').length > mark + 50, HANG_MS, 'writes on east again');
    } finally {
      await writer.stop();
    }
    const all = [...acked('east'), ...acked('west')];
    expect(await idsMissing(east, 'vr.e', all)).toBe(0);
    expect(await idsMissing(west, 'vr.e', acked('west'))).toBe(0);
    // east holds west's tree row for row (its own writes since the rollback come after west's ids)
    const top = (await west.query<{ top: string }>('SELECT max(id)::text AS top FROM vr.e'))[0]!.top;
    expect(await queryDigest(east, `SELECT * FROM vr.e WHERE id <= ${top}`)).toEqual(
      await queryDigest(west, 'SELECT * FROM vr.e'),
    );
  }, 240_000);
});
