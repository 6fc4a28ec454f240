import { describe, expect, it } from 'vitest';
import { type IdWriter, idsGoOn, startIdInsertWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { defaultVersion, useCluster } from '../support/cluster.js';
import { idsMissing, queryDigest, waitCaughtUp } from '../support/replicationData.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * What a published table holds that no membership row says (model/treeContents.ts), read at
 * the next status: a partition made with CREATE … PARTITION OF, or an empty table attached, is
 * taken into the baseline (no gap: PostgreSQL sends every row written to it after); a table moved
 * out of the schema a publication covers and back (PostgreSQL 15+) is a gap at once, under an
 * application that writes all along through its search_path, and the printed way out converges
 * with no acknowledged id lost; so is publish_via_partition_root turned off by hand and back
 * (the publication's row written anew: model/continuity.ts) while it writes through the root.
 * The attach with rows and the detach: evidenceCases.test.ts.
 */
const version = defaultVersion();
const APP = { user: 'tc_app', password: 'tc-app-secret-1' };

describe(`what a published table holds (PostgreSQL ${version})`, () => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 240_000 });
  const config = () =>
    writeConfig(
      [
        'version: 1',
        'topology: tree-contents',
        nodesYaml([cluster().node('east'), cluster().node('west')]),
        'publications:',
        '  tc_root: { node: east, tables: [tc.m], viaPartitionRoot: true }',
        ...(version >= 15 ? ['  tc_schema: { node: east, schemas: [mv] }'] : []),
        'subscriptions:',
        '  tc_part: { node: west, from: east, publications: [tc_root] }',
        ...(version >= 15 ? ['  tc_mv: { node: west, from: east, publications: [tc_schema] }'] : []),
        '',
      ].join('\n'),
    );
  const state = async (file: string, sub: string) => {
    const r = await steep(['status', '--json'], file);
    const s = (
      JSON.parse(r.stdout) as { subscriptions: Array<{ name: string; state: string; reasons?: string[] }> }
    ).subscriptions.find((x) => x.name === sub)!;
    return { state: s.state, text: r.stdout };
  };

  /** The copy status --check prints for `table` of `sub`, followed as printed, and `sub` synchronized after more writes. */
  const followPrinted = async (file: string, sub: string, table: string, writer: IdWriter) => {
    const check = await steep(['status', '--check'], file);
    expect(check.code).toBe(2);
    const way = `steep reinit ${sub} --tables ${table}`;
    expect(check.stdout).toContain(`\`${way}\``);
    const r = await steep([...way.split(' ').slice(1), '--auto-approve'], file);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    await idsGoOn(writer, 'east', 30);
    expect((await state(file, sub)).state).toBe('synchronized');
  };

  it('partitions made or attached empty stay synchronized; out of a schema and back is a gap, repaired as printed', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west])
      await n.query(`CREATE SCHEMA tc; CREATE SCHEMA mv; CREATE SCHEMA mv_away;
        CREATE TABLE tc.m (id bigint NOT NULL, k int NOT NULL, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
        CREATE TABLE tc.m_1 PARTITION OF tc.m FOR VALUES FROM (0) TO (100);
        CREATE TABLE mv.items (id bigint PRIMARY KEY, v text NOT NULL)`);
    await west.query('CREATE TABLE tc.m_rest PARTITION OF tc.m DEFAULT');
    await east.query(`INSERT INTO tc.m SELECT g, g % 100, md5(g::text) FROM generate_series(1, 500) g;
      INSERT INTO mv.items SELECT g, md5(g::text) FROM generate_series(1, 500) g;
      CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}';
      ALTER ROLE ${APP.user} SET search_path = mv, mv_away;
      GRANT USAGE ON SCHEMA tc, mv, mv_away TO ${APP.user};
      GRANT INSERT, SELECT ON tc.m, mv.items TO ${APP.user}`);
    const file = config();
    const applied = await steep(['apply', '--auto-approve'], file);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    expect((await state(file, 'tc_part')).state).toBe('synchronized');

    // a partition made in place, and an empty table attached: rows written through the root after
    await east.query('CREATE TABLE tc.m_2 PARTITION OF tc.m FOR VALUES FROM (100) TO (200)');
    await east.query('CREATE TABLE tc.m_3 (LIKE tc.m INCLUDING ALL)');
    await east.query('ALTER TABLE tc.m ATTACH PARTITION tc.m_3 FOR VALUES FROM (200) TO (300)');
    await east.query(
      'INSERT INTO tc.m SELECT g, 100 + g % 200, md5(g::text) FROM generate_series(1001, 1400) g',
    );
    await waitCaughtUp(east, 'tc_part');
    const made = await state(file, 'tc_part');
    expect(made.state, made.text).toBe('synchronized');
    const all = 'SELECT id, k, v FROM tc.m';
    expect(await queryDigest(west, all)).toEqual(await queryDigest(east, all));

    // publish_via_partition_root off by hand and back while the application writes through the
    // root: meanwhile its rows go out as tc.m_1's, which west's subscription does not list
    const rooted = startIdInsertWriter(
      east,
      APP,
      'INSERT INTO tc.m VALUES ($1::bigint, $1 % 100, md5($1::text))',
    );
    try {
      await idsGoOn(rooted, 'east', 20);
      await east.query('ALTER PUBLICATION tc_root SET (publish_via_partition_root = false)');
      await idsGoOn(rooted, 'east', 30);
      await east.query('ALTER PUBLICATION tc_root SET (publish_via_partition_root = true)');
      await idsGoOn(rooted, 'east', 20);
      const toggled = await state(file, 'tc_part');
      expect(toggled.state, toggled.text).toBe('gap');
      expect(toggled.text).toContain('publication tc_root on east was altered by hand');
      await followPrinted(file, 'tc_part', 'tc.m', rooted);
    } finally {
      await rooted.stop();
    }
    expect(rooted.lastError()).toBeNull();
    await waitCaughtUp(east, 'tc_part');
    const sent = rooted.acknowledged().get('east') ?? [];
    console.log(
      `via root off and back (${version}): acknowledged ${sent.length}, missing on west ${await idsMissing(west, 'tc.m', sent)}`,
    );
    expect(sent.length).toBeGreaterThan(60);
    expect(await idsMissing(west, 'tc.m', sent)).toBe(0);
    expect(await queryDigest(west, all)).toEqual(await queryDigest(east, all));
    if (version < 15) return;

    // out of the schema its publication covers, and back, while the application writes
    expect((await state(file, 'tc_mv')).state).toBe('synchronized');
    const writer = startIdInsertWriter(east, APP, 'INSERT INTO items VALUES ($1::bigint, md5($1::text))');
    try {
      await idsGoOn(writer, 'east', 30);
      await east.query('ALTER TABLE mv.items SET SCHEMA mv_away');
      await idsGoOn(writer, 'east', 50);
      await east.query('ALTER TABLE mv_away.items SET SCHEMA mv');
      await idsGoOn(writer, 'east', 30);
      const moved = await state(file, 'tc_mv');
      expect(moved.state, moved.text).toBe('gap');
      expect(moved.text).toContain(
        "mv.items on east left its schema and came back (ALTER TABLE … SET SCHEMA) since steep's baseline",
      );
      await followPrinted(file, 'tc_mv', 'mv.items', writer);
    } finally {
      await writer.stop();
    }
    expect(writer.lastError()).toBeNull();
    await waitCaughtUp(east, 'tc_mv');
    const acked = writer.acknowledged().get('east') ?? [];
    console.log(
      `out of its schema and back (${version}): acknowledged ${acked.length}, missing on west ${await idsMissing(west, 'mv.items', acked)}`,
    );
    expect(acked.length).toBeGreaterThan(100);
    expect(await idsMissing(west, 'mv.items', acked)).toBe(0);
    const items = 'SELECT id, v FROM mv.items';
    expect(await queryDigest(west, items)).toEqual(await queryDigest(east, items));
  }, 400_000);
});
