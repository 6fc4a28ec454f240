import { describe, expect, test } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { testVersions, useCluster } from '../support/cluster.js';
import { dropReplication } from '../support/reset.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A row filter on a column outside the replica identity: PostgreSQL accepts the publication,
 * then refuses every UPDATE and DELETE of the table on the publisher. The oracle is PostgreSQL
 * itself, on the cases of src/test/regress/sql/publication.sql ("More row filter tests for
 * validating column references", its `-- ok` / `-- fail` verdicts): each publication is made by
 * hand and an UPDATE tried, then `steep plan` of the same publication must refuse exactly those
 * PostgreSQL would break, with the sentence that names the columns and the fix. Versions:
 * STEEP_TEST_PG (default 18 and 14); 14 has no row filters and skips.
 */

const TOPOLOGY = 'row-filter-identity';

const TABLES = `
  CREATE SCHEMA rfi;
  CREATE TABLE rfi.nopk (a int, b int, c int, d int);
  CREATE TABLE rfi.pk (a int, b int, c int, d int, PRIMARY KEY (a, b));
  CREATE TABLE rfi.full_pk (a int, b int, c int, d int, PRIMARY KEY (a, b));
  ALTER TABLE rfi.full_pk REPLICA IDENTITY FULL;
  CREATE TABLE rfi.idx (a int, b int, c int NOT NULL, d int, PRIMARY KEY (a, b));
  CREATE UNIQUE INDEX idx_c ON rfi.idx (c);
  ALTER TABLE rfi.idx REPLICA IDENTITY USING INDEX idx_c;
  CREATE TABLE rfi.part (a int PRIMARY KEY, b int) PARTITION BY RANGE (a);
  CREATE TABLE rfi.part_1 (b int, a int PRIMARY KEY);
  ALTER TABLE rfi.part ATTACH PARTITION rfi.part_1 FOR VALUES FROM (1) TO (10);
  INSERT INTO rfi.pk VALUES (1, 1, 1, 1);
  INSERT INTO rfi.part VALUES (1, 1);`;

interface Case {
  /** publication.sql's verdict on the UPDATE */
  fails: boolean;
  table: string;
  where: string;
  via?: boolean;
}

const CASES: Array<[string, Case]> = [
  ['1a. "a" is a PK col', { fails: false, table: 'rfi.pk', where: 'a > 99' }],
  ['1a. "b" is a PK col', { fails: false, table: 'rfi.pk', where: 'b > 99' }],
  ['1a. "c" is not part of the PK', { fails: true, table: 'rfi.pk', where: 'c > 99' }],
  ['1a. "d" is not part of the PK', { fails: true, table: 'rfi.pk', where: 'd > 99' }],
  ['1b. no PK: "a" is not part of REPLICA IDENTITY', { fails: true, table: 'rfi.nopk', where: 'a > 99' }],
  ['2. FULL: "c" is in REPLICA IDENTITY', { fails: false, table: 'rfi.full_pk', where: 'c > 99' }],
  ['4. "a" is in PK but not in REPLICA IDENTITY INDEX', { fails: true, table: 'rfi.idx', where: 'a > 99' }],
  ['4. "c" is part of REPLICA IDENTITY INDEX', { fails: false, table: 'rfi.idx', where: 'c > 99' }],
  ['partition, not via root: "a" is a PK col', { fails: false, table: 'rfi.part_1', where: 'a > 99' }],
  ['partition, not via root: "b" is not', { fails: true, table: 'rfi.part_1', where: 'b > 99' }],
  ['via root: "a" is a PK col', { fails: false, table: 'rfi.part', where: 'a > 99', via: true }],
  [
    'via root: "b" is not (the leaf orders its columns otherwise)',
    { fails: true, table: 'rfi.part', where: 'b > 99', via: true },
  ],
];

describe.each(testVersions())(
  'a row filter outside the replica identity on %i',
  { timeout: 240_000 },
  (version) => {
    const cluster = useCluster({ nodes: ['pub'], version });
    const pub = () => cluster().node('pub');
    const from15 = version >= 15 ? test : test.skip;
    const steep = steepWith({ env: () => passwordEnv(cluster().nodes) });

    function config(c: Case, publish: string): string {
      const body = [
        'publications:',
        '  rf_pub:',
        '    node: pub',
        '    tables:',
        `      - name: ${c.table}`,
        `        where: "${c.where}"`,
        `    publish: ${publish}`,
        `    viaPartitionRoot: ${c.via ?? false}`,
      ];
      return writeConfig(
        `version: 1\ntopology: ${TOPOLOGY}\n${nodesYaml(cluster().nodes)}\n${body.join('\n')}\n`,
      );
    }

    /** PostgreSQL's verdict: the publication made by hand, then an UPDATE of the table */
    async function postgresRefusesUpdate(c: Case): Promise<boolean> {
      await pub().query(
        `CREATE PUBLICATION by_hand FOR TABLE ${c.table} WHERE (${c.where}) WITH (publish_via_partition_root = ${c.via ?? false})`,
      );
      try {
        await pub().query(`UPDATE ${c.table} SET a = a`);
        return false;
      } catch (err) {
        const e = err as { message: string; detail?: string };
        expect(`${e.message}: ${e.detail}`).toMatch(
          /cannot update table .*: Column used in the publication WHERE expression is not part of the replica identity/,
        );
        return true;
      } finally {
        await pub().query('DROP PUBLICATION by_hand');
      }
    }

    from15('publication.sql: steep refuses exactly the filters PostgreSQL breaks updates for', async () => {
      await pub().query(TABLES);
      try {
        for (const [name, c] of CASES) {
          expect(await postgresRefusesUpdate(c), `${name}: PostgreSQL`).toBe(c.fails);
          const r = await steep(['plan'], config(c, '[insert, update, delete]'));
          expect(r.code, `${name}: steep plan\n${r.stdout}\n${r.stderr}`).toBe(c.fails ? 1 : 0);
          if (!c.fails) continue;
          // rfi.nopk has no identity at all: the error that says so stands alone
          const why = c.table === 'rfi.nopk' ? 'has no replica identity' : 'outside the replica identity of';
          expect(r.stderr, name).toContain(why);
        }
      } finally {
        await dropReplication(cluster().nodes);
        await pub().query('DROP SCHEMA rfi CASCADE');
      }
    });

    // pub_contains_invalid_column: "With REPLICA IDENTITY FULL, no column list is allowed"
    from15('a column list with REPLICA IDENTITY FULL, even one naming every column, is refused', async () => {
      await pub().query(TABLES);
      try {
        await pub().query('CREATE PUBLICATION by_hand FOR TABLE rfi.full_pk (a, b, c, d)');
        await expect(pub().query('UPDATE rfi.full_pk SET c = 1')).rejects.toThrow(
          /cannot update table "full_pk"/,
        );
        await pub().query('DROP PUBLICATION by_hand');
        const body = (publish: string) => [
          'publications:',
          '  cl_pub:',
          '    node: pub',
          '    tables:',
          '      - name: rfi.full_pk',
          '        columns: [a, b, c, d]',
          `    publish: ${publish}`,
        ];
        const file = (publish: string) =>
          writeConfig(
            `version: 1\ntopology: ${TOPOLOGY}\n${nodesYaml(cluster().nodes)}\n${body(publish).join('\n')}\n`,
          );
        const r = await steep(['plan'], file('[insert, update, delete]'));
        expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
        expect(r.stderr).toContain(
          'pub: table rfi.full_pk has REPLICA IDENTITY FULL, which PostgreSQL lets no column list cover, so with the column list ' +
            'of rfi.full_pk in publication cl_pub (a, b, c, d) every update and delete on it would fail; drop the column list, ' +
            'give the table a primary key or REPLICA IDENTITY USING INDEX the list covers, or publish only insert and truncate',
        );
        expect((await steep(['plan'], file('[insert, truncate]'))).code).toBe(0);
      } finally {
        await dropReplication(cluster().nodes);
        await pub().query('DROP SCHEMA rfi CASCADE');
      }
    });

    from15(
      'the sentence names the publication, table, columns and fix; insert-only is accepted',
      async () => {
        await pub().query(TABLES);
        try {
          const c: Case = { fails: true, table: 'rfi.pk', where: 'c > 99 and a > 0' };
          const r = await steep(['plan'], config(c, '[insert, update, delete]'));
          expect(r.code).toBe(1);
          expect(r.stderr).toContain(
            'pub: the row filter of rfi.pk in publication rf_pub (c > 99 and a > 0) uses c, outside the replica identity ' +
              'of rfi.pk (a, b), so every update and delete on it would fail; make the replica identity cover it ' +
              '(ALTER TABLE "rfi"."pk" REPLICA IDENTITY FULL on pub, or REPLICA IDENTITY USING INDEX of a unique index on it), ' +
              'or publish only insert and truncate',
          );
          expect(r.stdout + r.stderr).not.toContain('CREATE PUBLICATION');

          // only inserts published: PostgreSQL checks nothing, and steep applies it
          const insertOnly = config(c, '[insert, truncate]');
          const a = await steep(['apply', '--auto-approve'], insertOnly);
          expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
          await pub().query('UPDATE rfi.pk SET c = c + 1');
          await pub().query('DELETE FROM rfi.pk WHERE a = 1');
          const again = await steep(['plan', '--detailed-exitcode'], insertOnly);
          expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
        } finally {
          await dropReplication(cluster().nodes);
          await pub().query('DROP SCHEMA rfi CASCADE');
        }
      },
    );
  },
);
