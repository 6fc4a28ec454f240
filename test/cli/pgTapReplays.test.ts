import { describe, expect, test } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';
import { waitCaughtUp } from '../support/replicationData.js';
import { dropReplication } from '../support/reset.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * PostgreSQL's subscription TAP tests as the oracle (src/test/subscription/t/001_rep_changes.pl,
 * 010_truncate.pl, 014_binary.pl, 024_add_drop_pub.pl): their tables and DML, every publication
 * and subscription made by `steep apply`, their ALTERs as edits of steep.yaml. After each step the
 * script's expectations hold (row counts, min/max, values), the re-plan is empty, and `status
 * --check`, `drift` and `verify` agree with the data: 0 when the two sides are equal, and a table
 * PostgreSQL does not replicate whole (an insert-only publication) is `not_verifiable`, never
 * `equal`. Where PostgreSQL refuses something, the step shows PostgreSQL refusing it by hand, then
 * steep's plan refusing it before any step. Where steep restores what PostgreSQL would leave
 * broken (a table joining a subscription again over rows it holds is copied, as
 * `init.existingData` says), the step says so and checks steep's outcome instead of the script's
 * number. Versions: STEEP_TEST_PG (default 18 alone).
 */

const TOPOLOGY = 'pg-tap';

// on the first version of STEEP_TEST_PG's default (18) unless STEEP_TEST_PG names versions
// (STEEP_TEST_PG=14,16 for the others): each replay runs a hundred steep commands
const versions = process.env.STEEP_TEST_PG ? testVersions() : testVersions().slice(0, 1);

describe.each(versions)('PostgreSQL subscription TAP replays on %i', { timeout: 240_000 }, (version) => {
  const cluster = useCluster({ nodes: ['pub', 'sub'], version });
  const pub = () => cluster().node('pub');
  const sub = () => cluster().node('sub');
  const on18 = version >= 18;

  const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

  function config(body: string[], urlTail = ''): string {
    const nodes = nodesYaml(cluster().nodes).replace(/\/app$/gm, `/app${urlTail}`);
    return writeConfig(`version: 1\ntopology: ${TOPOLOGY}\n${nodes}\n${body.join('\n')}\n`);
  }

  async function both(sql: string): Promise<void> {
    for (const n of cluster().nodes) await n.query(sql);
  }

  async function one(node: TestNode, sql: string): Promise<string> {
    const rows = await node.query<Record<string, unknown>>(sql);
    return rows
      .map((r) =>
        Object.values(r)
          .map((v) => (v === null ? '' : String(v)))
          .join('|'),
      )
      .join('\n');
  }

  /** apply succeeds and everything agrees; returns apply's output */
  async function converge(
    path: string,
    verdicts: Record<string, Record<string, string>>,
    flags: string[] = [],
  ): Promise<string> {
    const a = await steep(['apply', '--auto-approve', ...flags], path);
    expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
    await agree(path, verdicts);
    return a.stdout;
  }

  /**
   * Every subscription caught up, then: the re-plan is empty, drift exits 0, status --check exits 0
   * when every verdict is `equal` (2 otherwise), and verify gives each subscription's tables the
   * verdicts named (and exits 0 only when all are `equal`).
   */
  async function agree(path: string, verdicts: Record<string, Record<string, string>>): Promise<void> {
    for (const s of Object.keys(verdicts)) await caughtUp(s);
    // they only read the nodes (verify records its verdicts): plan and the verifies at once, then
    // drift and status, which count a comparison since the workers' last errors (a scenario that
    // makes them fail first is proven by the verify: docs/status.md, "After errors")
    const subs = Object.entries(verdicts);
    const [p, ...verified] = await Promise.all([
      steep(['plan', '--detailed-exitcode'], path),
      ...subs.map(([s]) => steep(['verify', s, '--json'], path)),
    ]);
    const [d, st] = await Promise.all([steep(['drift'], path), steep(['status', '--check'], path)]);
    expect(p.code, `plan: ${p.stdout}\n${p.stderr}`).toBe(0);
    expect(p.stdout).toContain('No changes');
    expect(d.code, `drift: ${d.stdout}\n${d.stderr}`).toBe(0);
    for (const [i, [s, expected]] of subs.entries()) {
      const v = verified[i]!;
      const report = JSON.parse(v.stdout) as { tables: Array<{ table: string; status: string }> };
      const got = Object.fromEntries(report.tables.map((t) => [t.table, t.status]));
      expect(got, `verify ${s}: ${v.stdout}`).toEqual(expected);
      const equal = Object.values(expected).every((x) => x === 'equal');
      expect(v.code, `verify ${s}`).toBe(equal ? 0 : 2);
    }
    // status --check looks at the stream, and a verdict of verify only when it is `diverged`
    expect(st.code, `status --check: ${st.stdout}\n${st.stderr}`).toBe(0);
  }

  /**
   * A table altered by hand: drift exits 2 naming it (its fingerprint changed); once the DBA
   * saves the node's fingerprints again (`schema fingerprint NODE --save`; an apply with no step
   * does not), everything agrees
   */
  async function ddlIsDrift(
    path: string,
    table: string,
    verdicts: Record<string, Record<string, string>>,
  ): Promise<void> {
    const d = await steep(['drift'], path);
    expect(d.code, d.stdout).toBe(2);
    expect(d.stdout).toContain(`${table}: fingerprint`);
    const saved = await steep(['schema', 'fingerprint', table.split('/')[0]!, '--save'], path);
    expect(saved.code, saved.stderr).toBe(0);
    await agree(path, verdicts);
  }

  /** every relation of the subscription ready and its slot caught up with the publisher */
  async function caughtUp(subname: string, from = pub()): Promise<void> {
    await eventually(
      async () =>
        (
          await sub().query(
            `SELECT 1 FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
              WHERE s.subname = $1 AND r.srsubstate <> 'r'`,
            [subname],
          )
        ).length === 0,
      HANG_MS,
      `every relation of ${subname} ready`,
    );
    const [slot] = await sub().query<{ slot: string }>(
      'SELECT subslotname AS slot FROM pg_subscription WHERE subname = $1',
      [subname],
    );
    await waitCaughtUp(from, slot!.slot);
  }

  async function walsenderPid(appname: string): Promise<number | undefined> {
    const [r] = await pub().query<{ pid: number }>(
      `SELECT pid FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`,
      [appname],
    );
    return r?.pid;
  }

  /** PostgreSQL itself, by hand: the statement fails with this message */
  async function postgresRefuses(node: TestNode, sql: string, message: RegExp): Promise<void> {
    await expect(node.query(sql)).rejects.toThrow(message);
  }

  async function reset(schemas: string[]): Promise<void> {
    await dropReplication(cluster().nodes);
    await both(schemas.map((s) => `DROP SCHEMA IF EXISTS ${s} CASCADE;`).join(' '));
  }

  // 001_rep_changes.pl (2025): 36 expectations, 34 replayed (the three conflict log lines as
  // PostgreSQL 18's pg_stat_subscription_stats counters, on 18; not the empty-transaction DEBUG
  // line nor wal_level = minimal, which concern the server alone); three are steep's copy of a
  // table joining again instead of the script's number
  test('001_rep_changes', { timeout: 600_000 }, async () => {
    await pub().query(`
      CREATE SCHEMA rc;
      CREATE TABLE rc.tab_notrep AS SELECT generate_series(1,10) AS a;
      CREATE TABLE rc.tab_ins AS SELECT generate_series(1,1002) AS a;
      CREATE TABLE rc.tab_full AS SELECT generate_series(1,10) AS a;
      CREATE TABLE rc.tab_full2 (x text);
      INSERT INTO rc.tab_full2 VALUES ('a'), ('b'), ('b');
      CREATE TABLE rc.tab_rep (a int primary key);
      CREATE TABLE rc.tab_mixed (a int primary key, b text, c numeric);
      INSERT INTO rc.tab_mixed (a, b, c) VALUES (1, 'foo', 1.1);
      CREATE TABLE rc.tab_include (a int, b text, CONSTRAINT covering PRIMARY KEY(a) INCLUDE(b));
      CREATE TABLE rc.tab_full_pk (a int primary key, b text);
      ALTER TABLE rc.tab_full_pk REPLICA IDENTITY FULL;
      CREATE TABLE rc.tab_nothing (a int);
      ALTER TABLE rc.tab_nothing REPLICA IDENTITY NOTHING;
      CREATE TABLE rc.tab_no_replidentity_index (c1 int);
      CREATE INDEX idx_no_replidentity_index ON rc.tab_no_replidentity_index (c1);
      CREATE TABLE rc.tab_no_col ();
      INSERT INTO rc.tab_no_col DEFAULT VALUES;`);
    await sub().query(`
      CREATE SCHEMA rc;
      CREATE TABLE rc.tab_notrep (a int);
      CREATE TABLE rc.tab_ins (a int);
      CREATE TABLE rc.tab_full (a int);
      CREATE TABLE rc.tab_full2 (x text);
      CREATE TABLE rc.tab_rep (a int primary key);
      CREATE TABLE rc.tab_full_pk (a int primary key, b text);
      ALTER TABLE rc.tab_full_pk REPLICA IDENTITY FULL;
      CREATE TABLE rc.tab_nothing (a int);
      CREATE TABLE rc.tab_mixed (d text default 'local', c numeric, b text, a int primary key);
      CREATE TABLE rc.tab_include (a int, b text, CONSTRAINT covering PRIMARY KEY(a) INCLUDE(b));
      CREATE TABLE rc.tab_no_replidentity_index (c1 int);
      CREATE INDEX idx_no_replidentity_index ON rc.tab_no_replidentity_index (c1);
      CREATE TABLE rc.tab_no_col ();`);

    // tap_pub publishes updates and deletes of tables without a replica identity: PostgreSQL
    // creates it and then refuses their updates; steep's plan refuses before any step
    await pub().query('CREATE PUBLICATION by_hand FOR TABLE rc.tab_full, rc.tab_nothing');
    await postgresRefuses(pub(), 'UPDATE rc.tab_full SET a = a', /does not have a replica identity/);
    await postgresRefuses(pub(), 'DELETE FROM rc.tab_nothing', /does not have a replica identity/);
    await pub().query('DROP PUBLICATION by_hand');
    const all = [
      'rc.tab_rep',
      'rc.tab_full',
      'rc.tab_full2',
      'rc.tab_mixed',
      'rc.tab_include',
      'rc.tab_nothing',
      'rc.tab_full_pk',
      'rc.tab_no_replidentity_index',
      'rc.tab_no_col',
    ];
    const body = (o: {
      tapPub: string[];
      insOnly: string[];
      insOnlyPublish?: string;
      pubs: string[];
      subName?: string;
      renamedFrom?: string;
      existingData?: string;
      noid?: boolean;
    }) => [
      'publications:',
      '  tap_pub:',
      '    node: pub',
      `    tables: [${o.tapPub.join(', ')}]`,
      '  tap_pub_ins_only:',
      '    node: pub',
      `    tables: [${o.insOnly.join(', ')}]`,
      `    publish: ${o.insOnlyPublish ?? '[insert]'}`,
      ...(o.noid === false
        ? []
        : [
            '  tap_pub_noid:',
            '    node: pub',
            '    tables: [rc.tab_nothing, rc.tab_no_replidentity_index, rc.tab_no_col]',
            '    publish: [insert]',
          ]),
      'subscriptions:',
      `  ${o.subName ?? 'tap_sub'}:`,
      '    node: sub',
      '    from: pub',
      `    publications: [${o.pubs.join(', ')}]`,
      ...(o.renamedFrom ? [`    renamedFrom: ${o.renamedFrom}`] : []),
      ...(o.existingData ? ['    init:', `      existingData: ${o.existingData}`] : []),
    ];
    const refused = await steep(
      ['plan'],
      config(
        body({ tapPub: all, insOnly: ['rc.tab_ins'], pubs: ['tap_pub', 'tap_pub_ins_only'], noid: false }),
      ),
    );
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stdout + refused.stderr).toContain('table rc.tab_full has no replica identity');
    expect(refused.stdout + refused.stderr).toContain('table rc.tab_nothing has no replica identity');
    // what PostgreSQL can replicate of the script: the tables it only inserts into in an
    // insert-only publication, and tab_full, tab_full2 with the identity the script gives them later
    await both(`ALTER TABLE rc.tab_full REPLICA IDENTITY FULL; ALTER TABLE rc.tab_full2 REPLICA IDENTITY FULL;
      ALTER TABLE rc.tab_ins REPLICA IDENTITY FULL`);
    const keyed = [
      'rc.tab_rep',
      'rc.tab_full',
      'rc.tab_full2',
      'rc.tab_mixed',
      'rc.tab_include',
      'rc.tab_full_pk',
    ];
    const pubs = ['tap_pub', 'tap_pub_ins_only', 'tap_pub_noid'];
    let path = config(body({ tapPub: keyed, insOnly: ['rc.tab_ins'], pubs }));
    const insertOnly = {
      'rc.tab_ins': 'not_verifiable',
      'rc.tab_nothing': 'not_verifiable',
      'rc.tab_no_replidentity_index': 'not_verifiable',
      'rc.tab_no_col': 'not_verifiable',
    };
    const equal = Object.fromEntries(keyed.map((t) => [t, 'equal']));
    await converge(path, { tap_sub: { ...equal, ...insertOnly } });
    expect(await one(sub(), 'SELECT count(*) FROM rc.tab_notrep')).toBe('0');
    expect(await one(sub(), 'SELECT count(*) FROM rc.tab_ins')).toBe('1002');

    await pub().query(`
      INSERT INTO rc.tab_ins SELECT generate_series(1,50);
      DELETE FROM rc.tab_ins WHERE a > 20;
      UPDATE rc.tab_ins SET a = -a;
      INSERT INTO rc.tab_rep SELECT generate_series(1,50);
      DELETE FROM rc.tab_rep WHERE a > 20;
      UPDATE rc.tab_rep SET a = -a;
      INSERT INTO rc.tab_mixed VALUES (2, 'bar', 2.2);
      INSERT INTO rc.tab_full_pk VALUES (1, 'foo'), (2, 'baz');
      INSERT INTO rc.tab_nothing VALUES (generate_series(1,20));
      INSERT INTO rc.tab_include SELECT generate_series(1,50);
      DELETE FROM rc.tab_include WHERE a > 20;
      UPDATE rc.tab_include SET a = -a;
      INSERT INTO rc.tab_no_replidentity_index VALUES (1);
      INSERT INTO rc.tab_no_col DEFAULT VALUES;`);
    await agree(path, { tap_sub: { ...equal, ...insertOnly } });
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_ins')).toBe('1052|1|1002');
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_rep')).toBe('20|-20|-1');
    expect(await one(sub(), 'SELECT * FROM rc.tab_mixed ORDER BY a')).toBe(
      'local|1.1|foo|1\nlocal|2.2|bar|2',
    );
    expect(await one(sub(), 'SELECT count(*) FROM rc.tab_nothing')).toBe('20');
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_include')).toBe('20|-20|-1');
    expect(await one(sub(), 'SELECT c1 FROM rc.tab_no_replidentity_index')).toBe('1');
    expect(await one(sub(), 'SELECT count(*) FROM rc.tab_no_col')).toBe('2');

    // ALTER PUBLICATION tap_pub_ins_only DROP TABLE tab_ins, as a file edit
    await pub().query('INSERT INTO rc.tab_full SELECT generate_series(1,10)');
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_ins')).toBe('1052|1|1002');
    path = config(body({ tapPub: keyed, insOnly: [], pubs }));
    await converge(path, { tap_sub: { ...equal, ...insertOnly, 'rc.tab_ins': undefined as never } });
    await pub().query('INSERT INTO rc.tab_ins VALUES (8888)');
    await caughtUp('tap_sub');
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_ins')).toBe('1052|1|1002');
    await pub().query('DELETE FROM rc.tab_ins WHERE a = 8888');
    // ADD TABLE tab_ins again: PostgreSQL's REFRESH would not copy it (it never left
    // pg_subscription_rel there); steep's apply took it out of the subscription, so it joins again
    // over rows the subscriber holds, and init.existingData decides
    path = config(body({ tapPub: keyed, insOnly: ['rc.tab_ins'], pubs }));
    const rejoin = await steep(['plan'], path);
    expect(rejoin.code, rejoin.stdout).toBe(1);
    expect(rejoin.stdout + rejoin.stderr).toContain(
      'subscription tap_sub would copy rc.tab_ins, which join it, into tables that already hold rows on sub',
    );
    path = config(body({ tapPub: keyed, insOnly: ['rc.tab_ins'], pubs, existingData: 'truncate' }));
    await converge(path, { tap_sub: { ...equal, ...insertOnly } }, ['--allow-hazard', 'truncates-data']);
    // copied again: the publisher's 40 rows, where PostgreSQL's subscriber kept its 1052
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_ins')).toBe('40|-20|-1');
    expect(await one(pub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_ins')).toBe('40|-20|-1');

    // a subscription of two publications, the first insert-only (temp2 gets an identity: its
    // publication publishes updates and deletes, refused above without one)
    await both(`CREATE TABLE rc.temp1 (a int); CREATE TABLE rc.temp2 (a int);
      ALTER TABLE rc.temp2 REPLICA IDENTITY FULL`);
    const temps = [
      '  tap_pub_temp1:',
      '    node: pub',
      '    tables: [rc.temp1]',
      '    publish: [insert]',
      '  tap_pub_temp2:',
      '    node: pub',
      '    tables: [rc.temp2]',
    ];
    const withTemps = (b: string[]) => {
      const at = b.indexOf('subscriptions:');
      return [
        ...b.slice(0, at),
        ...temps,
        ...b.slice(at),
        '  tap_sub_temp1:',
        '    node: sub',
        '    from: pub',
        '    publications: [tap_pub_temp1, tap_pub_temp2]',
      ];
    };
    const main = body({ tapPub: keyed, insOnly: ['rc.tab_ins'], pubs, existingData: 'truncate' });
    path = config(withTemps(main));
    await converge(path, {
      tap_sub: { ...equal, ...insertOnly },
      tap_sub_temp1: { 'rc.temp1': 'not_verifiable', 'rc.temp2': 'equal' },
    });
    expect(await one(sub(), 'SELECT count(*) FROM rc.temp1')).toBe('0');
    await pub().query('INSERT INTO rc.temp1 VALUES (1)');
    await caughtUp('tap_sub_temp1');
    expect(await one(sub(), 'SELECT count(*) FROM rc.temp1')).toBe('1');
    // DROP SUBSCRIPTION tap_sub_temp1, DROP PUBLICATION tap_pub_temp1, tap_pub_temp2
    path = config(main);
    await converge(path, { tap_sub: { ...equal, ...insertOnly } }, ['--allow-destroy']);
    expect(await one(sub(), "SELECT count(*) FROM pg_subscription WHERE subname = 'tap_sub_temp1'")).toBe(
      '0',
    );
    expect(
      await one(pub(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'tap_sub_temp1'"),
    ).toBe('0');
    // (the script drops temp1 and temp2 here; steep keeps their fingerprints from the apply that
    // subscribed them, so a drop would be `drift`: left for the reset)

    await pub().query(`
      UPDATE rc.tab_full SET a = a * a;
      UPDATE rc.tab_full2 SET x = 'bb' WHERE x = 'b';
      UPDATE rc.tab_mixed SET b = 'baz' WHERE a = 1;
      UPDATE rc.tab_full_pk SET b = 'bar' WHERE a = 1;`);
    await agree(path, { tap_sub: { ...equal, ...insertOnly } });
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_full')).toBe('20|1|100');
    expect(await one(sub(), 'SELECT x FROM rc.tab_full2 ORDER BY 1')).toBe('a\nbb\nbb');
    expect(await one(sub(), 'SELECT * FROM rc.tab_mixed ORDER BY a')).toBe(
      'local|1.1|baz|1\nlocal|2.2|bar|2',
    );
    expect(await one(sub(), 'SELECT * FROM rc.tab_full_pk ORDER BY a')).toBe('1|bar\n2|baz');

    // rows deleted by hand on the subscriber: the publisher's update and delete find nothing
    // (update_missing, delete_missing); the sides differ, and steep says so
    await sub().query('DELETE FROM rc.tab_full_pk; DELETE FROM rc.tab_full WHERE a = 25');
    await pub().query(`
      UPDATE rc.tab_full_pk SET b = 'quux' WHERE a = 1;
      UPDATE rc.tab_full SET a = a + 1 WHERE a = 25;
      DELETE FROM rc.tab_full_pk WHERE a = 2;`);
    await caughtUp('tap_sub');
    if (on18) {
      // the apply worker flushes its counters to the statistics at most once a second
      const counted = async () =>
        (
          await sub().query<{ um: string; dm: string }>(
            `SELECT confl_update_missing::text AS um, confl_delete_missing::text AS dm
               FROM pg_stat_subscription_stats WHERE subname = 'tap_sub'`,
          )
        )[0];
      await eventually(
        async () => (await counted())?.um === '3',
        HANG_MS,
        'the update_missing conflicts counted',
      ).catch(() => {});
      expect(await counted()).toEqual({ um: '3', dm: '1' });
      const check = await steep(['status', '--check'], path);
      expect(check.code, check.stdout).toBe(2);
    }
    const found = await steep(['verify', 'tap_sub', '--json'], path);
    expect(found.code).toBe(2);
    const verdicts = Object.fromEntries(
      (JSON.parse(found.stdout) as { tables: Array<{ table: string; status: string }> }).tables.map((t) => [
        t.table,
        t.status,
      ]),
    );
    expect(verdicts).toEqual({
      ...equal,
      ...insertOnly,
      'rc.tab_full': 'diverged',
      'rc.tab_full_pk': 'diverged',
    });
    const diverged = await steep(['status', '--check'], path);
    expect(diverged.code, diverged.stdout).toBe(2);
    expect(diverged.stdout).toContain('diverged');
    // steep's way out, followed literally
    const repaired = await steep(
      ['verify', 'tap_sub', '--tables', 'rc.tab_full,rc.tab_full_pk', '--repair', '--allow-destroy'],
      path,
    );
    expect(repaired.code, `${repaired.stdout}\n${repaired.stderr}`).toBe(0);
    await agree(path, { tap_sub: { ...equal, ...insertOnly } });
    expect(await one(sub(), 'SELECT * FROM rc.tab_full_pk ORDER BY a')).toBe('1|quux');

    // toasted values
    await pub().query(`UPDATE rc.tab_mixed SET b = repeat('xyzzy', 100000) WHERE a = 2`);
    await caughtUp('tap_sub');
    expect(await one(sub(), 'SELECT a, length(b), c, d FROM rc.tab_mixed ORDER BY a')).toBe(
      '1|3|1.1|local\n2|500000|2.2|local',
    );
    await pub().query('UPDATE rc.tab_mixed SET c = 3.3 WHERE a = 2');
    await agree(path, { tap_sub: { ...equal, ...insertOnly } });
    expect(await one(sub(), 'SELECT a, length(b), c, d FROM rc.tab_mixed ORDER BY a')).toBe(
      '1|3|1.1|local\n2|500000|3.3|local',
    );

    // a column dropped on the publisher, then one dropped on the subscriber
    await pub().query(`UPDATE rc.tab_mixed SET b = 'bar', c = 2.2 WHERE a = 2`);
    await pub().query('ALTER TABLE rc.tab_mixed DROP COLUMN b');
    await pub().query('UPDATE rc.tab_mixed SET c = 11.11 WHERE a = 1');
    await caughtUp('tap_sub');
    expect(await one(sub(), 'SELECT * FROM rc.tab_mixed ORDER BY a')).toBe(
      'local|11.11|baz|1\nlocal|2.2|bar|2',
    );
    await ddlIsDrift(path, 'pub/rc.tab_mixed', { tap_sub: { ...equal, ...insertOnly } });
    await sub().query('ALTER TABLE rc.tab_mixed DROP COLUMN d');
    await pub().query('UPDATE rc.tab_mixed SET c = 22.22 WHERE a = 2');
    await ddlIsDrift(path, 'sub/rc.tab_mixed', { tap_sub: { ...equal, ...insertOnly } });
    expect(await one(sub(), 'SELECT * FROM rc.tab_mixed ORDER BY a')).toBe('11.11|baz|1\n22.22|bar|2');

    // ALTER SUBSCRIPTION … CONNECTION: the node's url changes; the apply worker restarts
    let oldPid = await walsenderPid('tap_sub');
    expect(oldPid).toBeDefined();
    path = config(main, '?sslmode=disable');
    await converge(path, { tap_sub: { ...equal, ...insertOnly } });
    await eventually(async () => ((await walsenderPid('tap_sub')) ?? oldPid) !== oldPid, HANG_MS, 'restart');

    // ALTER SUBSCRIPTION tap_sub SET PUBLICATION tap_pub_ins_only WITH (copy_data = false)
    oldPid = await walsenderPid('tap_sub');
    const insOnly = body({
      tapPub: keyed,
      insOnly: ['rc.tab_ins'],
      pubs: ['tap_pub_ins_only'],
      existingData: 'truncate',
    });
    path = config(insOnly, '?sslmode=disable');
    await converge(path, { tap_sub: { 'rc.tab_ins': 'not_verifiable' } });
    await eventually(async () => ((await walsenderPid('tap_sub')) ?? oldPid) !== oldPid, HANG_MS, 'restart');
    await pub().query('INSERT INTO rc.tab_ins SELECT generate_series(1001,1100)');
    await pub().query('DELETE FROM rc.tab_rep');
    await pub().restart();
    await agree(path, { tap_sub: { 'rc.tab_ins': 'not_verifiable' } });
    // the script: 1152|1|1100 (1052 kept + 100); here 40 copied + 100
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_ins')).toBe('140|-20|1100');
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_rep')).toBe('20|-20|-1');

    // ALTER PUBLICATION tap_pub_ins_only SET (publish = 'insert, delete'), ADD TABLE tab_full;
    // tab_full joins the subscription again over rows it holds: copied (existingData: truncate)
    const insDel = body({
      tapPub: keyed,
      insOnly: ['rc.tab_ins', 'rc.tab_full'],
      insOnlyPublish: '[insert, delete]',
      pubs: ['tap_pub_ins_only'],
      existingData: 'truncate',
    });
    path = config(insDel, '?sslmode=disable');
    const both2 = { 'rc.tab_ins': 'not_verifiable', 'rc.tab_full': 'not_verifiable' };
    await converge(path, { tap_sub: both2 }, ['--allow-hazard', 'truncates-data']);
    await pub().query('DELETE FROM rc.tab_ins WHERE a > 0');
    await pub().query('INSERT INTO rc.tab_full VALUES (0)');
    await pub().query('INSERT INTO rc.tab_notrep VALUES (11)');
    await agree(path, { tap_sub: both2 });
    expect(await one(sub(), 'SELECT count(*) FROM rc.tab_notrep')).toBe('0');
    // the script: 1052|1|1002 and 19|0|100 (rows it never copied); here the publisher's rows
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_ins')).toBe('40|-20|-1');
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_full')).toBe('21|0|100');
    expect(await one(pub(), 'SELECT count(*), min(a), max(a) FROM rc.tab_full')).toBe('21|0|100');

    // ALTER SUBSCRIPTION tap_sub RENAME TO tap_sub_renamed: in place, the worker restarts
    oldPid = await walsenderPid('tap_sub');
    path = config(
      body({
        tapPub: keyed,
        insOnly: ['rc.tab_ins', 'rc.tab_full'],
        insOnlyPublish: '[insert, delete]',
        pubs: ['tap_pub_ins_only'],
        existingData: 'truncate',
        subName: 'tap_sub_renamed',
        renamedFrom: 'tap_sub',
      }),
      '?sslmode=disable',
    );
    await converge(path, { tap_sub_renamed: both2 });
    await eventually(async () => (await walsenderPid('tap_sub_renamed')) !== undefined, HANG_MS, 'restart');
    expect(await walsenderPid('tap_sub_renamed')).not.toBe(oldPid);

    // DROP SUBSCRIPTION: everything PostgreSQL made for it is gone
    path = config(['publications: {}'], '?sslmode=disable');
    const dropped = await steep(['apply', '--auto-approve', '--allow-destroy'], path);
    expect(dropped.code, `${dropped.stdout}\n${dropped.stderr}`).toBe(0);
    expect(await one(sub(), 'SELECT count(*) FROM pg_subscription')).toBe('0');
    expect(await one(pub(), 'SELECT count(*) FROM pg_replication_slots')).toBe('0');
    expect(await one(sub(), 'SELECT count(*) FROM pg_subscription_rel')).toBe('0');
    expect(await one(sub(), 'SELECT count(*) FROM pg_replication_origin')).toBe('0');
    await reset(['rc']);
  });

  // 024_add_drop_pub.pl (2025): 4 expectations
  test('024_add_drop_pub', async () => {
    await both(`CREATE SCHEMA ad;
      CREATE TABLE ad.tab_1 (a int); ALTER TABLE ad.tab_1 REPLICA IDENTITY FULL;`);
    await pub().query('INSERT INTO ad.tab_1 SELECT generate_series(1,10)');
    const body = (o: { pub2: string[]; pubs: string[]; existingData?: string; pub3?: boolean }) => [
      'publications:',
      '  tap_pub_1:',
      '    node: pub',
      '    tables: [ad.tab_1]',
      '  tap_pub_2:',
      '    node: pub',
      `    tables: [${o.pub2.join(', ')}]`,
      ...(o.pub3 ? ['  tap_pub_3:', '    node: pub', '    tables: [ad.tab_3]'] : []),
      'subscriptions:',
      '  tap_sub:',
      '    node: sub',
      '    from: pub',
      `    publications: [${o.pubs.join(', ')}]`,
      ...(o.existingData ? ['    init:', `      existingData: ${o.existingData}`] : []),
    ];
    let path = config(body({ pub2: [], pubs: ['tap_pub_1', 'tap_pub_2'] }));
    await converge(path, { tap_sub: { 'ad.tab_1': 'equal' } });
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM ad.tab_1')).toBe('10|1|10');

    // ALTER PUBLICATION tap_pub_2 ADD TABLE tab_2; ALTER SUBSCRIPTION tap_sub DROP PUBLICATION tap_pub_1
    await both('CREATE TABLE ad.tab_2 (a int); ALTER TABLE ad.tab_2 REPLICA IDENTITY FULL');
    await pub().query('INSERT INTO ad.tab_2 SELECT generate_series(1,10)');
    path = config(body({ pub2: ['ad.tab_2'], pubs: ['tap_pub_2'] }));
    await converge(path, { tap_sub: { 'ad.tab_2': 'equal' } });
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM ad.tab_2')).toBe('10|1|10');

    // ALTER SUBSCRIPTION tap_sub ADD PUBLICATION tap_pub_1: PostgreSQL copies tab_1 on top of
    // the rows the subscriber kept (the script's 20|1|10: every row twice); steep's plan refuses,
    // then copies it once over an emptied table when existingData says truncate
    path = config(body({ pub2: ['ad.tab_2'], pubs: ['tap_pub_1', 'tap_pub_2'] }));
    const refused = await steep(['plan'], path);
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stdout + refused.stderr).toContain(
      'subscription tap_sub would copy ad.tab_1, which join it, into tables that already hold rows on sub',
    );
    path = config(body({ pub2: ['ad.tab_2'], pubs: ['tap_pub_1', 'tap_pub_2'], existingData: 'truncate' }));
    const both12 = { 'ad.tab_1': 'equal', 'ad.tab_2': 'equal' };
    await converge(path, { tap_sub: both12 }, ['--allow-hazard', 'truncates-data']);
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM ad.tab_1')).toBe('10|1|10');

    // SET PUBLICATION tap_pub_3 before it exists: PostgreSQL accepts it (and skips it with a
    // warning); steep's plan refuses a publication the file does not declare
    await both('CREATE TABLE ad.tab_3 (a int); ALTER TABLE ad.tab_3 REPLICA IDENTITY FULL');
    const missing = await steep(['plan'], config(body({ pub2: ['ad.tab_2'], pubs: ['tap_pub_3'] })));
    expect(missing.code, missing.stdout).toBe(1);
    expect(missing.stdout + missing.stderr).toContain('tap_pub_3');
    await pub().query('INSERT INTO ad.tab_3 VALUES (1)');
    // CREATE PUBLICATION tap_pub_3 FOR TABLE tab_3, and the subscription set to it: tab_3 copied
    path = config(body({ pub2: ['ad.tab_2'], pubs: ['tap_pub_3'], existingData: 'truncate', pub3: true }));
    await converge(path, { tap_sub: { 'ad.tab_3': 'equal' } });
    await pub().query('INSERT INTO ad.tab_3 VALUES (2)');
    await agree(path, { tap_sub: { 'ad.tab_3': 'equal' } });
    expect(await one(sub(), 'SELECT a FROM ad.tab_3 ORDER BY a')).toBe('1\n2');
    await reset(['ad']);
  });

  // 010_truncate.pl (2025): 15 expectations (the synchronous_standby_names pair with the
  // subscription as a synchronous standby, set by hand as the script does)
  test('010_truncate', async () => {
    await both(`CREATE SCHEMA tr;
        CREATE TABLE tr.tab1 (a int PRIMARY KEY);
        CREATE TABLE tr.tab2 (a int PRIMARY KEY);
        CREATE TABLE tr.tab3 (a int PRIMARY KEY);
        CREATE TABLE tr.tab4 (x int PRIMARY KEY, y int REFERENCES tr.tab3);`);
    await sub().query('CREATE SEQUENCE tr.seq1 OWNED BY tr.tab1.a; ALTER SEQUENCE tr.seq1 START 101');
    const body = (o: { pub2?: string; tab5?: boolean }) => [
      'publications:',
      '  pub1:',
      '    node: pub',
      '    tables: [tr.tab1]',
      ...(o.pub2 ? ['  pub2:', '    node: pub', '    tables: [tr.tab2]', `    publish: ${o.pub2}`] : []),
      '  pub3:',
      '    node: pub',
      '    tables: [tr.tab3, tr.tab4]',
      ...(o.tab5
        ? ['  pub5:', '    node: pub', '    tables: [tr.tab5]', '    publish: [insert, truncate]']
        : []),
      'subscriptions:',
      '  sub1:',
      '    node: sub',
      '    from: pub',
      '    publications: [pub1]',
      ...(o.pub2 ? ['  sub2:', '    node: sub', '    from: pub', '    publications: [pub2]'] : []),
      '  sub3:',
      '    node: sub',
      '    from: pub',
      '    publications: [pub3]',
      ...(o.tab5
        ? [
            '  sub5_1:',
            '    node: sub',
            '    from: pub',
            '    publications: [pub5]',
            '  sub5_2:',
            '    node: sub',
            '    from: pub',
            '    publications: [pub5]',
          ]
        : []),
    ];
    const tab34 = { 'tr.tab3': 'equal', 'tr.tab4': 'equal' };
    // pub2 publishes inserts only: its table is compared in PostgreSQL's direction (before issue 79
    // it was not comparable), extra and different rows allowed
    let path = config(body({ pub2: '[insert]' }));
    await converge(path, {
      sub1: { 'tr.tab1': 'equal' },
      sub2: { 'tr.tab2': 'equal' },
      sub3: tab34,
    });

    // rows only the subscriber holds, emptied by the publisher's TRUNCATE
    await sub().query('INSERT INTO tr.tab1 VALUES (1), (2), (3)');
    await pub().query('TRUNCATE tr.tab1');
    await caughtUp('sub1');
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM tr.tab1')).toBe('0||');
    expect(await one(sub(), "SELECT nextval('tr.seq1')")).toBe('1');
    await pub().query('TRUNCATE tr.tab1 RESTART IDENTITY');
    await caughtUp('sub1');
    expect(await one(sub(), "SELECT nextval('tr.seq1')")).toBe('101');

    // a publication that does not publish truncate
    await sub().query('INSERT INTO tr.tab2 VALUES (1), (2), (3)');
    await pub().query('TRUNCATE tr.tab2');
    await caughtUp('sub2');
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM tr.tab2')).toBe('3|1|3');
    // ALTER PUBLICATION pub2 SET (publish = 'insert, truncate')
    path = config(body({ pub2: '[insert, truncate]' }));
    await converge(path, {
      sub1: { 'tr.tab1': 'equal' },
      sub2: { 'tr.tab2': 'equal' },
      sub3: tab34,
    });
    await pub().query('TRUNCATE tr.tab2');
    await caughtUp('sub2');
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM tr.tab2')).toBe('0||');

    // tables linked by a foreign key, truncated together
    await sub().query('INSERT INTO tr.tab3 VALUES (1), (2), (3)');
    await sub().query('INSERT INTO tr.tab4 VALUES (11, 1), (111, 1), (22, 2)');
    await pub().query('TRUNCATE tr.tab3, tr.tab4');
    await agree(path, {
      sub1: { 'tr.tab1': 'equal' },
      sub2: { 'tr.tab2': 'equal' },
      sub3: tab34,
    });
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM tr.tab3')).toBe('0||');
    expect(await one(sub(), 'SELECT count(*), min(x), max(x) FROM tr.tab4')).toBe('0||');

    // DROP SUBSCRIPTION sub2, DROP PUBLICATION pub2; then a TRUNCATE of a published table and
    // an unpublished one
    path = config(body({}));
    await converge(path, { sub1: { 'tr.tab1': 'equal' }, sub3: tab34 }, ['--allow-destroy']);
    await sub().query('INSERT INTO tr.tab1 VALUES (1), (2), (3)');
    await sub().query('INSERT INTO tr.tab2 VALUES (1), (2), (3)');
    await pub().query('TRUNCATE tr.tab1, tr.tab2');
    await agree(path, { sub1: { 'tr.tab1': 'equal' }, sub3: tab34 });
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM tr.tab1')).toBe('0||');
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM tr.tab2')).toBe('3|1|3');

    // synchronous logical replication (the publisher's setting, by hand as in the script)
    await pub().query(`ALTER SYSTEM SET synchronous_standby_names TO 'sub1'`);
    await pub().query('SELECT pg_reload_conf()');
    await pub().query('INSERT INTO tr.tab1 VALUES (1), (2), (3)');
    await agree(path, { sub1: { 'tr.tab1': 'equal' }, sub3: tab34 });
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM tr.tab1')).toBe('3|1|3');
    await pub().query('TRUNCATE tr.tab1');
    await caughtUp('sub1');
    expect(await one(sub(), 'SELECT count(*), min(a), max(a) FROM tr.tab1')).toBe('0||');
    await pub().query('ALTER SYSTEM RESET synchronous_standby_names');
    await pub().query('SELECT pg_reload_conf()');

    // two subscriptions of one table: PostgreSQL applies every change twice (the script's
    // 6|1|3); steep's plan refuses the second subscription before any step
    await both('CREATE TABLE tr.tab5 (a int)');
    const twice = await steep(['plan'], config(body({ tab5: true })));
    expect(twice.code, twice.stdout).toBe(1);
    expect(twice.stdout + twice.stderr).toContain(
      'sub5_1 and sub5_2 on sub, both receiving tr.tab5 from pub',
    );
    const [d] = await sub().query<{ deadlocks: string }>(
      'SELECT deadlocks::text AS deadlocks FROM pg_stat_database WHERE datname = current_database()',
    );
    expect(d!.deadlocks).toBe('0');
    await reset(['tr']);
  });
});
