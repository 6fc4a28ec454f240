import { describe, expect, test } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';
import { waitCaughtUp } from '../support/replicationData.js';
import { dropReplication } from '../support/reset.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * PostgreSQL's own tests as the oracle (src/test/regress/sql/publication.sql,
 * src/test/subscription/t/013_partition.pl, 028_row_filter.pl, 031_column_list.pl): their
 * tables and DML, with every publication and subscription made by `steep apply`. After each
 * scenario the data is equal on both sides (row count and an order-independent checksum), the
 * re-plan is empty and `steep drift` exits 0. Where PostgreSQL refuses something, the scenario
 * shows PostgreSQL refusing it by hand first, then steep's plan refusing it before any step.
 * Versions: STEEP_TEST_PG (default 18 and 14); a scenario needing a newer server is skipped
 * on an older one.
 */

const TOPOLOGY = 'pg-semantics';

// each scenario runs a dozen steep commands against two nodes
describe.each(testVersions())('PostgreSQL semantics on %i', { timeout: 240_000 }, (version) => {
  const cluster = useCluster({ nodes: ['pub', 'sub'], version });
  const pub = () => cluster().node('pub');
  const sub = () => cluster().node('sub');
  const from15 = version >= 15 ? test : test.skip;
  const only18 = version >= 18 ? test : test.skip;

  const steep = steepWith({ env: () => passwordEnv(cluster().nodes) });

  function config(body: string): string {
    return writeConfig(`version: 1\ntopology: ${TOPOLOGY}\n${nodesYaml(cluster().nodes)}\n${body}\n`);
  }

  /** apply succeeds, the re-plan is empty, drift exits 0; returns apply's output */
  async function converge(path: string, extra: string[] = []): Promise<string> {
    const a = await steep(['apply', '--auto-approve', ...extra], path);
    expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
    await expectConverged(path);
    return a.stdout;
  }

  async function expectConverged(path: string): Promise<void> {
    // both only read the nodes: at once
    const [p, d] = await Promise.all([steep(['plan', '--detailed-exitcode'], path), steep(['drift'], path)]);
    expect(p.code, `${p.stdout}\n${p.stderr}`).toBe(0);
    expect(p.stdout).toContain('No changes');
    expect(d.code, `${d.stdout}\n${d.stderr}`).toBe(0);
  }

  async function both(sql: string): Promise<void> {
    for (const n of cluster().nodes) await n.query(sql);
  }

  async function digest(node: TestNode, from: string): Promise<{ count: string; sum: string }> {
    const [r] = await node.query<{ count: string; sum: string }>(
      `SELECT count(*)::text AS count, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS sum FROM ${from} t`,
    );
    return r!;
  }

  /** every relation of the subscription ready, the slot caught up, then each pair of relations equal */
  async function expectSameData(slot: string, pairs: Array<[string, string]>): Promise<void> {
    await eventually(
      async () =>
        (await sub().query(`SELECT 1 FROM pg_subscription_rel WHERE srsubstate <> 'r'`)).length === 0,
      HANG_MS,
      'every subscribed relation ready',
    );
    await waitCaughtUp(pub(), slot);
    for (const [onPub, onSub] of pairs) {
      const p = await digest(pub(), onPub);
      expect(Number(p.count), `${onPub} has rows on pub`).toBeGreaterThan(0);
      expect(await digest(sub(), onSub), `${onPub} on pub, ${onSub} on sub`).toEqual(p);
    }
  }

  async function subscribed(name: string): Promise<string[]> {
    const rows = await sub().query<{ rel: string }>(
      `SELECT r.srrelid::regclass::text AS rel FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
        WHERE s.subname = $1 ORDER BY 1`,
      [name],
    );
    return rows.map((r) => r.rel);
  }

  async function reset(schemas: string[]): Promise<void> {
    await dropReplication(cluster().nodes);
    await both(schemas.map((s) => `DROP SCHEMA IF EXISTS ${s} CASCADE;`).join(' '));
  }

  /** PostgreSQL itself, by hand on pub: the statement fails with this message */
  async function postgresRefuses(sql: string, message: RegExp): Promise<void> {
    await expect(pub().query(sql)).rejects.toThrow(message);
  }

  // 013_partition.pl: a partition tree published by its leaves, then via its root, then by its
  // leaves again; a partition attached later is a relation the subscription lacks until refreshed
  test('013_partition: viaPartitionRoot and new partitions refresh the subscription with the right copy decision', async () => {
    await both(`
      CREATE SCHEMA part;
      CREATE TABLE part.tab1 (a int PRIMARY KEY, b text) PARTITION BY RANGE (a);
      CREATE TABLE part.tab1_1 PARTITION OF part.tab1 FOR VALUES FROM (0) TO (100);
      CREATE TABLE part.tab1_2 PARTITION OF part.tab1 FOR VALUES FROM (100) TO (200) PARTITION BY RANGE (a);
      CREATE TABLE part.tab1_2_1 PARTITION OF part.tab1_2 FOR VALUES FROM (100) TO (150);
      CREATE TABLE part.tab1_2_2 PARTITION OF part.tab1_2 FOR VALUES FROM (150) TO (200);`);
    await pub().query(`INSERT INTO part.tab1 SELECT g, 'v' || g FROM generate_series(0, 199, 3) g`);
    const body = (via: boolean) =>
      [
        'publications:',
        '  pub_part:',
        '    node: pub',
        '    tables: [part.tab1]',
        `    viaPartitionRoot: ${via}`,
        'subscriptions:',
        '  sub_part:',
        '    node: sub',
        '    from: pub',
        '    publications: [pub_part]',
      ].join('\n');
    const leaves = ['part.tab1_1', 'part.tab1_2_1', 'part.tab1_2_2'];
    let path = config(body(false));
    // PostgreSQL's table syncs copy the three leaf partitions, not the one declared table
    const planned = await steep(['plan'], path);
    expect(planned.stdout).toContain('PostgreSQL copies 3 tables');
    await converge(path);
    expect(await subscribed('sub_part')).toEqual(leaves);
    await pub().query(`INSERT INTO part.tab1 SELECT g, 'w' || g FROM generate_series(1, 199, 3) g`);
    await pub().query(`UPDATE part.tab1 SET b = b || '!' WHERE a % 2 = 0`);
    await expectSameData('sub_part', [['part.tab1', 'part.tab1']]);

    // via the root: the subscriber receives part.tab1 instead, whose rows it already holds
    path = config(body(true));
    const viaRoot = await steep(['plan'], path);
    expect(viaRoot.stdout).toContain('REFRESH PUBLICATION WITH (copy_data = false)');
    expect(viaRoot.stdout).toContain('already holds the rows of part.tab1');
    // gated: changes between the ALTER PUBLICATION and the refresh would be dropped; none are made
    expect(`${viaRoot.stdout}\n${viaRoot.stderr}`).toContain('hazard data-gap');
    await converge(path, ['--allow-hazard', 'data-gap']);
    expect(await subscribed('sub_part')).toEqual(['part.tab1']);
    await pub().query(`INSERT INTO part.tab1 SELECT g, 'x' || g FROM generate_series(2, 199, 3) g`);
    await pub().query(`DELETE FROM part.tab1 WHERE a % 7 = 0`);
    await expectSameData('sub_part', [['part.tab1', 'part.tab1']]);

    // and back to the leaves
    path = config(body(false));
    await converge(path, ['--allow-hazard', 'data-gap']);
    expect(await subscribed('sub_part')).toEqual(leaves);

    // a partition attached later: published at once, unknown to the subscription, whose changes
    // PostgreSQL drops until a refresh (which copies it: the subscriber does not hold its rows)
    await both('CREATE TABLE part.tab1_3 PARTITION OF part.tab1 FOR VALUES FROM (200) TO (300)');
    await pub().query(`INSERT INTO part.tab1 SELECT g, 'y' || g FROM generate_series(200, 299, 2) g`);
    const drift = await steep(['drift'], path);
    expect(drift.code, drift.stdout).toBe(2);
    expect(drift.stdout).toContain('subscription.sub_part');
    const attach = await steep(['plan'], path);
    expect(attach.stdout).toContain('REFRESH PUBLICATION WITH (copy_data = true)');
    expect(attach.stdout).toContain('it receives part.tab1_3');
    await converge(path);
    expect(await subscribed('sub_part')).toEqual([...leaves, 'part.tab1_3']);
    await pub().query(`UPDATE part.tab1 SET b = b || '?' WHERE a % 5 = 0`);
    await expectSameData('sub_part', [['part.tab1', 'part.tab1']]);
    await reset(['part']);
  });

  // publication.sql: "WHERE clause cannot be used for a partitioned table when
  // publish_via_partition_root is false" (and column lists likewise): every transition between
  // the states PostgreSQL accepts, all at once, in both directions
  from15(
    'publication.sql: every via-root × row filter × column list transition applies in an order PostgreSQL accepts',
    async () => {
      await pub().query(`
      CREATE SCHEMA mat;
      CREATE TABLE mat.root (a int PRIMARY KEY, b int, c int) PARTITION BY RANGE (a);
      CREATE TABLE mat.root_1 PARTITION OF mat.root FOR VALUES FROM (0) TO (100);`);
      await postgresRefuses(
        'CREATE PUBLICATION refused FOR TABLE mat.root WHERE (b > 0)',
        /cannot use publication WHERE clause|WHERE clause cannot be used|cannot be used for a partitioned table/,
      );
      await postgresRefuses('CREATE PUBLICATION refused FOR TABLE mat.root (a, b)', /cannot use column list/);
      const STATES = [
        { via: false, where: false, columns: false },
        { via: true, where: false, columns: false },
        { via: true, where: true, columns: false },
        { via: true, where: false, columns: true },
        { via: true, where: true, columns: true },
      ];
      const entry = (name: string, s: (typeof STATES)[number]) =>
        [
          `  ${name}:`,
          '    node: pub',
          '    tables:',
          '      - name: mat.root',
          // on the key: a filter outside the replica identity breaks updates (rowFilterIdentity.test.ts)
          ...(s.where ? ['        where: "a > 0"'] : []),
          ...(s.columns ? ['        columns: [a, b]'] : []),
          `    viaPartitionRoot: ${s.via}`,
        ].join('\n');
      const pairs = STATES.flatMap((a, i) => STATES.map((b, j) => ({ i, j, a, b }))).filter(
        (x) => x.i !== x.j,
      );
      const file = (side: 'a' | 'b') =>
        config(['publications:', ...pairs.map((x) => entry(`m_${x.i}_${x.j}`, x[side]))].join('\n'));
      await converge(file('a'));
      await converge(file('b'));
      const stored = await pub().query<{
        pubname: string;
        via: boolean;
        qual: string | null;
        cols: string | null;
      }>(
        `SELECT p.pubname, p.pubviaroot AS via, pg_get_expr(r.prqual, r.prrelid) AS qual, r.prattrs::text AS cols
         FROM pg_publication p JOIN pg_publication_rel r ON r.prpubid = p.oid ORDER BY 1`,
      );
      expect(stored).toHaveLength(pairs.length);
      for (const x of pairs) {
        const row = stored.find((r) => r.pubname === `m_${x.i}_${x.j}`)!;
        expect({ via: row.via, where: row.qual !== null, columns: row.cols !== null }).toEqual(x.b);
      }
      await reset(['mat']);
    },
  );

  // publication.sql: "FOR TABLE inh_parent" adds the children, "FOR TABLE ONLY" does not
  test('publication.sql inheritance: children published with their parent converge; only: true publishes the parent alone', async () => {
    await both(`
      CREATE SCHEMA inh;
      CREATE TABLE inh.parent (a int PRIMARY KEY, b text);
      CREATE TABLE inh.child (c int, PRIMARY KEY (a)) INHERITS (inh.parent);`);
    await pub().query(`INSERT INTO inh.parent SELECT g, 'p' || g FROM generate_series(1, 50) g`);
    await pub().query(`INSERT INTO inh.child SELECT g, 'c' || g, g FROM generate_series(51, 90) g`);
    const body = (only: boolean) =>
      [
        'publications:',
        '  pub_inh:',
        '    node: pub',
        '    tables:',
        '      - name: inh.parent',
        ...(only ? ['        only: true'] : []),
        'subscriptions:',
        '  sub_inh:',
        '    node: sub',
        '    from: pub',
        '    publications: [pub_inh]',
      ].join('\n');
    let path = config(body(false));
    await converge(path);
    const rels = async () =>
      (
        await pub().query<{ rel: string }>(
          `SELECT prrelid::regclass::text AS rel FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
            WHERE p.pubname = 'pub_inh' ORDER BY 1`,
        )
      ).map((r) => r.rel);
    expect(await rels()).toEqual(['inh.child', 'inh.parent']);
    expect(await subscribed('sub_inh')).toEqual(['inh.child', 'inh.parent']);
    await pub().query(`UPDATE inh.parent SET b = b || '!' WHERE a % 3 = 0`);
    await expectSameData('sub_inh', [
      ['ONLY inh.parent', 'ONLY inh.parent'],
      ['inh.child', 'inh.child'],
    ]);

    path = config(body(true));
    await converge(path);
    expect(await rels()).toEqual(['inh.parent']);
    expect(await subscribed('sub_inh')).toEqual(['inh.parent']);
    await pub().query(`INSERT INTO inh.parent SELECT g, 'q' || g FROM generate_series(100, 120) g`);
    await expectSameData('sub_inh', [['ONLY inh.parent', 'ONLY inh.parent']]);
    await reset(['inh']);
  });

  // 028_row_filter.pl on 18: a row filter over a virtual generated column is stored expanded
  only18('028_row_filter: a row filter on a virtual generated column converges', async () => {
    await both(`
      CREATE SCHEMA gen;
      CREATE TABLE gen.t (x int PRIMARY KEY, y int GENERATED ALWAYS AS (x * 111) VIRTUAL);`);
    await pub().query('INSERT INTO gen.t (x) SELECT g FROM generate_series(0, 30) g');
    const path = config(
      [
        'publications:',
        '  pub_gen:',
        '    node: pub',
        '    tables:',
        '      - name: gen.t',
        '        where: "y > 100"',
        'subscriptions:',
        '  sub_gen:',
        '    node: sub',
        '    from: pub',
        '    publications: [pub_gen]',
      ].join('\n'),
    );
    await converge(path);
    const [q] = await pub().query<{ qual: string }>(
      `SELECT pg_get_expr(prqual, prrelid) AS qual FROM pg_publication_rel WHERE prrelid = 'gen.t'::regclass`,
    );
    expect(q!.qual).toBe('((x * 111) > 100)');
    await pub().query('INSERT INTO gen.t (x) SELECT g FROM generate_series(31, 60) g');
    await expectSameData('sub_gen', [['(SELECT * FROM gen.t WHERE y > 100)', 'gen.t']]);
    await reset(['gen']);
  });

  // CheckCmdReplicaIdentity: on the relation the row is in (a leaf partition), for the
  // operations published; 031_column_list.pl: the column list must cover the identity
  test('replica identity: checked on the leaf partitions, for the operations published', async () => {
    await both(`
      CREATE SCHEMA ri;
      CREATE TABLE ri.parted (a int, b int) PARTITION BY LIST (a);
      CREATE TABLE ri.parted_1 PARTITION OF ri.parted (PRIMARY KEY (a)) FOR VALUES IN (1, 2, 3);
      CREATE TABLE ri.parted_2 PARTITION OF ri.parted (PRIMARY KEY (a)) FOR VALUES IN (4, 5, 6);
      CREATE TABLE ri.full_parent (a int, b int) PARTITION BY LIST (a);
      CREATE TABLE ri.full_1 PARTITION OF ri.full_parent FOR VALUES IN (1);
      ALTER TABLE ri.full_parent REPLICA IDENTITY FULL;
      CREATE TABLE ri.noid (a int);`);
    await pub().query('INSERT INTO ri.parted SELECT g, g * 10 FROM generate_series(1, 6) g');
    await pub().query('INSERT INTO ri.full_parent VALUES (1, 1)');
    await pub().query('INSERT INTO ri.noid SELECT generate_series(1, 5)');

    // PostgreSQL: a parent with FULL does not help its partitions
    await pub().query('CREATE PUBLICATION by_hand FOR TABLE ri.full_parent');
    await postgresRefuses('UPDATE ri.full_parent SET b = 2', /does not have a replica identity/);
    await pub().query('DROP PUBLICATION by_hand');
    const refused = await steep(
      ['plan'],
      config(['publications:', '  pub_full:', '    node: pub', '    tables: [ri.full_parent]'].join('\n')),
    );
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toContain(
      'table ri.full_1 (a partition of ri.full_parent) has no replica identity',
    );

    // a parent without a key whose partitions have one; an insert-only table without identity
    const path = config(
      [
        'publications:',
        '  pub_ri:',
        '    node: pub',
        '    tables: [ri.parted]',
        '  pub_ins:',
        '    node: pub',
        '    tables: [ri.noid]',
        '    publish: [insert]',
        'subscriptions:',
        '  sub_ri:',
        '    node: sub',
        '    from: pub',
        '    publications: [pub_ins, pub_ri]',
      ].join('\n'),
    );
    await converge(path);
    await pub().query('UPDATE ri.parted SET b = b + 1 WHERE a % 2 = 0');
    await pub().query('DELETE FROM ri.parted WHERE a = 5');
    await pub().query('INSERT INTO ri.noid SELECT generate_series(6, 9)');
    await expectSameData('sub_ri', [
      ['ri.parted', 'ri.parted'],
      ['ri.noid', 'ri.noid'],
    ]);
    await reset(['ri']);
  });

  from15(
    '031_column_list: a column list that does not cover the replica identity is refused before any step',
    async () => {
      await pub().query(`
      CREATE SCHEMA cl;
      CREATE TABLE cl.t (a int PRIMARY KEY, b int, c int);
      INSERT INTO cl.t VALUES (1, 1, 1);`);
      await pub().query('CREATE PUBLICATION by_hand FOR TABLE cl.t (b, c)');
      await postgresRefuses(
        'UPDATE cl.t SET b = 2',
        /Column list used by the publication does not cover the replica identity|cannot update table/,
      );
      await pub().query('DROP PUBLICATION by_hand');
      const body = (publish: string) =>
        [
          'publications:',
          '  pub_cl:',
          '    node: pub',
          '    tables:',
          '      - name: cl.t',
          '        columns: [b, c]',
          `    publish: ${publish}`,
        ].join('\n');
      const r = await steep(['plan'], config(body('[insert, update, delete]')));
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toContain('does not cover the replica identity of cl.t (a)');
      // an insert-only publication needs no identity: accepted, and PostgreSQL agrees
      await converge(config(body('[insert]')));
      await pub().query('UPDATE cl.t SET b = 3');
      await reset(['cl']);
    },
  );

  // publication.sql: FOR TABLE …, TABLES IN SCHEMA … in one publication (15+)
  from15('publication.sql: tables and schemas in one publication', async () => {
    await both(`
      CREATE SCHEMA mix1; CREATE SCHEMA mix2;
      CREATE TABLE mix1.t1 (a int PRIMARY KEY, b text);
      CREATE TABLE mix1.other (a int PRIMARY KEY);
      CREATE TABLE mix2.t2 (a int PRIMARY KEY, b text);
      CREATE TABLE mix2.t3 (a int PRIMARY KEY, b text);`);
    for (const t of ['mix1.t1', 'mix2.t2', 'mix2.t3', 'mix1.other'])
      await pub().query(
        `INSERT INTO ${t} SELECT g${t === 'mix1.other' ? '' : ", 'x'"} FROM generate_series(1, 20) g`,
      );
    const path = config(
      [
        'publications:',
        '  pub_mix:',
        '    node: pub',
        '    tables: [mix1.t1]',
        '    schemas: [mix2]',
        'subscriptions:',
        '  sub_mix:',
        '    node: sub',
        '    from: pub',
        '    publications: [pub_mix]',
      ].join('\n'),
    );
    await converge(path);
    expect(await subscribed('sub_mix')).toEqual(['mix1.t1', 'mix2.t2', 'mix2.t3']);
    await pub().query(`UPDATE mix2.t3 SET b = 'y' WHERE a < 5`);
    await expectSameData('sub_mix', [
      ['mix1.t1', 'mix1.t1'],
      ['mix2.t2', 'mix2.t2'],
      ['mix2.t3', 'mix2.t3'],
    ]);
    expect((await digest(sub(), 'mix1.other')).count).toBe('0');
    await reset(['mix1', 'mix2']);
  });

  // publication.sql: CREATE PUBLICATION testpub_default (no tables), FOR ALL TABLES WITH (publish = …)
  test('publication.sql: an empty publication, and allTables with a publish subset, round-trip', async () => {
    const path = config(
      [
        'publications:',
        '  pub_empty:',
        '    node: pub',
        '    tables: []',
        '  pub_all_ins:',
        '    node: pub',
        '    allTables: true',
        '    publish: [insert, truncate]',
      ].join('\n'),
    );
    await converge(path);
    const rows = await pub().query<Record<string, unknown>>(
      `SELECT pubname, puballtables, pubinsert, pubupdate, pubdelete, pubtruncate,
              (SELECT count(*)::int FROM pg_publication_rel r WHERE r.prpubid = p.oid) AS rels
         FROM pg_publication p ORDER BY 1`,
    );
    expect(rows).toEqual([
      {
        pubname: 'pub_all_ins',
        puballtables: true,
        pubinsert: true,
        pubupdate: false,
        pubdelete: false,
        pubtruncate: true,
        rels: 0,
      },
      {
        pubname: 'pub_empty',
        puballtables: false,
        pubinsert: true,
        pubupdate: true,
        pubdelete: true,
        pubtruncate: true,
        rels: 0,
      },
    ]);
    await reset([]);
  });

  // PostgreSQL maps columns by name and leaves a subscriber's own columns at their default
  test('extra subscriber columns: reported, not an error, under schemaSync strict; a missing column still is', async () => {
    await pub().query(`CREATE SCHEMA ext; CREATE TABLE ext.t (id int PRIMARY KEY, v text NOT NULL);`);
    await sub().query(`CREATE SCHEMA ext;
      CREATE TABLE ext.t (id int PRIMARY KEY, v text NOT NULL, note text, n int NOT NULL DEFAULT 7);`);
    await pub().query(`INSERT INTO ext.t SELECT g, 'v' || g FROM generate_series(1, 30) g`);
    const path = config(
      [
        'publications:',
        '  pub_ext:',
        '    node: pub',
        '    tables: [ext.t]',
        'subscriptions:',
        '  sub_ext:',
        '    node: sub',
        '    from: pub',
        '    publications: [pub_ext]',
        '    schemaSync: strict',
      ].join('\n'),
    );
    const planned = await steep(['plan'], path);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toContain('column note of ext.t (text) exists only on sub');
    await converge(path);
    await pub().query(`UPDATE ext.t SET v = v || '!' WHERE id < 10`);
    await expectSameData('sub_ext', [['ext.t', '(SELECT id, v FROM ext.t)']]);
    expect(await sub().query('SELECT DISTINCT n FROM ext.t')).toEqual([{ n: 7 }]);
    // a published column the subscriber lacks is still an error
    await dropReplication(cluster().nodes);
    await sub().query('ALTER TABLE ext.t DROP COLUMN v');
    const missing = await steep(['plan'], path);
    expect(missing.code).toBe(1);
    expect(missing.stdout + missing.stderr).toContain('column v');
    await reset(['ext']);
  });

  test('the text plan prints names as SQL quotes them', async () => {
    await both(`CREATE SCHEMA "My Schema"; CREATE TABLE "My Schema"."Odd.Table" (id int PRIMARY KEY);`);
    const path = config(
      ['publications:', '  pub_odd:', '    node: pub', `    tables: ['"My Schema"."Odd.Table"']`].join('\n'),
    );
    const r = await steep(['plan'], path);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"My Schema"."Odd.Table"');
    expect(r.stdout).not.toContain('My Schema.Odd.Table');
    await converge(path);
    await reset(['"My Schema"']);
  });
});
