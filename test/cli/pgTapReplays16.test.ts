import { describe, expect, test } from 'vitest';
import type { PgMajor } from '../../src/sandbox/binaries.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';
import { waitCaughtUp } from '../support/replicationData.js';
import { dropReplication } from '../support/reset.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * PostgreSQL's subscription TAP tests as the oracle, on 16+ (src/test/subscription/t/014_binary.pl,
 * 030_origin.pl), replayed as steep.yaml as pgTapReplays.test.ts does: every
 * publication and subscription made by `steep apply`, the script's ALTERs as file edits, and
 * after each step the script's expectations, an empty re-plan, and `status --check`, `drift` and
 * `verify` agreeing with the data. Versions: those of STEEP_TEST_PG from 16 (default 18).
 */

const TOPOLOGY = 'pg-tap-16';
const versions: PgMajor[] = testVersions().filter((v) => v >= 16);
const each = versions.length > 0 ? describe.each(versions) : describe.skip.each<PgMajor>([16]);

each('PostgreSQL 16+ subscription TAP replays on %i', { timeout: 300_000 }, (version) => {
  const cluster = useCluster({ nodes: ['a', 'b', 'c'], version });
  const node = (n: string) => cluster().node(n);
  const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

  function config(body: string[]): string {
    return writeConfig(
      `version: 1\ntopology: ${TOPOLOGY}\n${nodesYaml(cluster().nodes)}\n${body.join('\n')}\n`,
    );
  }

  async function rows(n: TestNode, sql: string): Promise<string> {
    const r = await n.query<Record<string, unknown>>(sql);
    return r
      .map((x) =>
        Object.values(x)
          .map((v) => (v === null ? '' : String(v)))
          .join('|'),
      )
      .join('\n');
  }

  /** the subscription `name` on `subscriber`: every relation ready, its slot caught up */
  async function caughtUp(subscriber: TestNode, name: string): Promise<void> {
    await eventually(
      async () =>
        (
          await subscriber.query(
            `SELECT 1 FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
              WHERE s.subname = $1 AND r.srsubstate <> 'r'`,
            [name],
          )
        ).length === 0,
      HANG_MS,
      `every relation of ${name} ready`,
    );
    const [s] = await subscriber.query<{ slot: string; conn: string }>(
      'SELECT subslotname AS slot, subconninfo AS conn FROM pg_subscription WHERE subname = $1',
      [name],
    );
    const from = cluster().nodes.find(
      (n) => s!.conn.includes(`port=${n.port}`) || s!.conn.includes(`:${n.port}/`),
    );
    await waitCaughtUp(from!, s!.slot);
  }

  /** verify's verdict per table of each subscription named */
  async function verdicts(path: string, subs: string[]): Promise<Record<string, Record<string, string>>> {
    const out: Record<string, Record<string, string>> = {};
    for (const s of subs) {
      const v = await steep(['verify', s, '--json'], path);
      const report = JSON.parse(v.stdout) as { tables: Array<{ table: string; status: string }> };
      out[s] = Object.fromEntries(report.tables.map((t) => [t.table, t.status]));
      const equal = Object.values(out[s]).every((x) => x === 'equal');
      expect(v.code, `verify ${s}: ${v.stdout}`).toBe(equal ? 0 : 2);
    }
    return out;
  }

  /**
   * Each subscription caught up, then: the re-plan is empty, drift and status --check exit 0, and
   * verify gives the verdicts named
   */
  async function agree(
    path: string,
    subs: Array<[TestNode, string]>,
    expected: Record<string, Record<string, string>>,
  ): Promise<void> {
    for (const [n, s] of subs) await caughtUp(n, s);
    const [p, d, st] = await Promise.all([
      steep(['plan', '--detailed-exitcode'], path),
      steep(['drift'], path),
      steep(['status', '--check'], path),
    ]);
    expect(p.code, `plan: ${p.stdout}\n${p.stderr}`).toBe(0);
    expect(d.code, `drift: ${d.stdout}\n${d.stderr}`).toBe(0);
    expect(st.code, `status --check: ${st.stdout}\n${st.stderr}`).toBe(0);
    expect(await verdicts(path, Object.keys(expected))).toEqual(expected);
  }

  async function reset(): Promise<void> {
    await dropReplication(cluster().nodes);
    for (const n of cluster().nodes) await n.query('DROP SCHEMA IF EXISTS og, bin, alice CASCADE');
  }

  async function converge(
    path: string,
    subs: Array<[TestNode, string]>,
    expected: Record<string, Record<string, string>>,
  ): Promise<string> {
    const a = await steep(['apply', '--auto-approve'], path);
    expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
    await agree(path, subs, expected);
    return a.stdout;
  }

  // 030_origin.pl (2023): 9 expectations, all replayed; of its two copy_data warnings, the first
  // (a second subscription of the same table) is steep's plan refusing it, the second (a refresh
  // copying a table the publisher itself receives through a subscription) is the same warning in
  // steep's plan
  test('030_origin', async () => {
    const [A, B, C] = [node('a'), node('b'), node('c')];
    for (const n of [A, B, C]) await n.query('CREATE SCHEMA og; CREATE TABLE og.tab (a int PRIMARY KEY)');
    const body = (o: { withC?: boolean; ab2?: boolean; newOnA?: boolean; newOnB?: boolean }) => [
      'publications:',
      '  tap_pub_a:',
      '    node: a',
      `    tables: [og.tab${o.newOnA ? ', og.tab_new' : ''}]`,
      '  tap_pub_b:',
      '    node: b',
      `    tables: [og.tab${o.newOnB ? ', og.tab_new' : ''}]`,
      ...(o.withC ? ['  tap_pub_c:', '    node: c', '    tables: [og.tab]'] : []),
      'subscriptions:',
      '  tap_sub_b_a:',
      '    node: b',
      '    from: a',
      '    publications: [tap_pub_a]',
      '    options: { origin: none }',
      '  tap_sub_a_b:',
      '    node: a',
      '    from: b',
      '    publications: [tap_pub_b]',
      '    options: { origin: none }',
      '    init: { method: none, newTables: copy }',
      ...(o.withC
        ? [
            '  tap_sub_b_c:',
            '    node: b',
            '    from: c',
            '    publications: [tap_pub_c]',
            '    options: { origin: none }',
          ]
        : []),
      ...(o.ab2
        ? [
            '  tap_sub_a_b_2:',
            '    node: a',
            '    from: b',
            '    publications: [tap_pub_b]',
            '    options: { origin: none }',
          ]
        : []),
    ];
    // node_A <-> node_B, the way back without a copy (copy_data = off)
    let path = config(body({}));
    const ab: Array<[TestNode, string]> = [
      [B, 'tap_sub_b_a'],
      [A, 'tap_sub_a_b'],
    ];
    const tabEqual = { tap_sub_b_a: { 'og.tab': 'equal' }, tap_sub_a_b: { 'og.tab': 'equal' } };
    await converge(path, ab, tabEqual);
    await A.query('INSERT INTO og.tab VALUES (11)');
    await B.query('INSERT INTO og.tab VALUES (21)');
    await agree(path, ab, tabEqual);
    expect(await rows(A, 'SELECT * FROM og.tab ORDER BY 1')).toBe('11\n21');
    expect(await rows(B, 'SELECT * FROM og.tab ORDER BY 1')).toBe('11\n21');
    await A.query('DELETE FROM og.tab');
    await agree(path, ab, tabEqual);
    expect(await rows(A, 'SELECT * FROM og.tab ORDER BY 1')).toBe('');
    expect(await rows(B, 'SELECT * FROM og.tab ORDER BY 1')).toBe('');

    // node_C -> node_B: C's row reaches B, and B does not send it on to A. B's table is fed by two
    // publishers, and A's subscription (origin = none) never receives what B got from C: neither
    // comparison can be made, and A's empty table is no data gap
    path = config(body({ withC: true }));
    const abc: Array<[TestNode, string]> = [...ab, [B, 'tap_sub_b_c']];
    const notComparable = {
      tap_sub_b_a: { 'og.tab': 'not_verifiable' },
      tap_sub_a_b: { 'og.tab': 'not_verifiable' },
      tap_sub_b_c: { 'og.tab': 'not_verifiable' },
    };
    await converge(path, abc, notComparable);
    await C.query('INSERT INTO og.tab VALUES (32)');
    await agree(path, abc, notComparable);
    expect(await rows(B, 'SELECT * FROM og.tab ORDER BY 1')).toBe('32');
    expect(await rows(A, 'SELECT * FROM og.tab ORDER BY 1')).toBe('');
    const why = await steep(['verify', 'tap_sub_a_b'], path);
    expect(why.stdout).toContain(
      'og.tab is not comparable with b: subscription tap_sub_b_c on b applies into it too, and with origin = none b sends a only the changes made on b itself',
    );
    expect(why.stdout).not.toContain('reinit');
    // and run by hand, a copy from b would put C's row on a: refused, nothing changed
    const copy = await steep(['reinit', 'tap_sub_a_b', '--tables', 'og.tab', '--auto-approve'], path);
    expect(copy.code, copy.stdout + copy.stderr).toBe(1);
    expect(copy.stderr).toContain(
      'og.tab on b also receives rows from subscription tap_sub_b_c there, which tap_sub_a_b (origin = none) rightly never receives',
    );
    expect(await rows(A, 'SELECT * FROM og.tab ORDER BY 1')).toBe('');

    // CREATE SUBSCRIPTION tap_sub_A_B_2 … PUBLICATION tap_pub_B WITH (origin = none, copy_data = on):
    // PostgreSQL warns that it might copy data of another origin, and then applies every change of
    // tab twice on A; steep's plan refuses the second subscription
    const ab2 = await steep(['plan'], config(body({ withC: true, ab2: true })));
    expect(ab2.code, ab2.stdout).toBe(1);
    expect(ab2.stdout + ab2.stderr).toContain(
      'steep.yaml declares subscriptions tap_sub_a_b and tap_sub_a_b_2 on a, both receiving og.tab from b',
    );

    // tab_new added to tap_pub_A (B's refresh copies it), then to tap_pub_B (A's refresh copies
    // it: init none, newTables: copy)
    for (const n of [A, B]) await n.query('CREATE TABLE og.tab_new (a int PRIMARY KEY)');
    path = config(body({ withC: true, newOnA: true }));
    await converge(path, abc, {
      ...notComparable,
      tap_sub_b_a: { 'og.tab': 'not_verifiable', 'og.tab_new': 'equal' },
    });
    path = config(body({ withC: true, newOnA: true, newOnB: true }));
    // REFRESH PUBLICATION copying a table the publisher receives from a subscription of its own:
    // PostgreSQL warns that it might copy data of another origin, and so does steep's plan
    const warned = await steep(['plan'], path);
    expect(warned.code, warned.stdout + warned.stderr).toBe(0);
    expect((warned.stdout + warned.stderr).replace(/\s+/g, ' ')).toContain(
      "subscription tap_sub_a_b's refresh copies data from b with origin: none, but b itself receives og.tab_new " +
        '(tap_sub_b_a from a) through a subscription: origin: none does not filter the copy, so copied rows may have come from another node',
    );
    await converge(path, abc, {
      ...notComparable,
      tap_sub_b_a: { 'og.tab': 'not_verifiable', 'og.tab_new': 'equal' },
      tap_sub_a_b: { 'og.tab': 'not_verifiable', 'og.tab_new': 'equal' },
    });
    await A.query('INSERT INTO og.tab_new VALUES (1)');
    await B.query('INSERT INTO og.tab_new VALUES (2)');
    await agree(path, abc, {
      ...notComparable,
      tap_sub_b_a: { 'og.tab': 'not_verifiable', 'og.tab_new': 'equal' },
      tap_sub_a_b: { 'og.tab': 'not_verifiable', 'og.tab_new': 'equal' },
    });
    expect(await rows(A, 'SELECT * FROM og.tab_new ORDER BY 1')).toBe('1\n2');
    expect(await rows(B, 'SELECT * FROM og.tab_new ORDER BY 1')).toBe('1\n2');
    await dropReplication(cluster().nodes);
    for (const n of [A, B, C]) await n.query('DROP SCHEMA og CASCADE');
  });

  // 014_binary.pl (2024): 8 expectations, 7 replayed as rows; the binary sync of a type without
  // send/receive functions and the text-mode sync of mismatching types are refused by steep's
  // plan instead; the sync failure PostgreSQL logs (the script's REFRESH run by hand) is status
  // --check and drift naming the failing sync; the COPY's format is read from the subscription
  // (subbinary) rather than the publisher's statement log
  test('014_binary', async () => {
    const [A, B] = [node('a'), node('b')];
    const ddl = `CREATE SCHEMA bin;
      CREATE TABLE bin.test_numerical (a INTEGER PRIMARY KEY, b NUMERIC, c FLOAT, d BIGINT);
      CREATE TABLE bin.test_arrays (a INTEGER[] PRIMARY KEY, b NUMERIC[], c TEXT[]);`;
    for (const n of [A, B]) await n.query(ddl);
    await A.query(`INSERT INTO bin.test_numerical (a, b, c, d) VALUES (1, 1.2, 1.3, 10), (2, 2.2, 2.3, 20);
      INSERT INTO bin.test_arrays (a, b, c) VALUES
        ('{1,2,3}', '{1.1, 1.2, 1.3}', '{"one", "two", "three"}'),
        ('{3,1,2}', '{1.3, 1.1, 1.2}', '{"three", "one", "two"}');`);
    const body = (binary: boolean) => [
      'publications:',
      '  tpub:',
      '    node: a',
      '    allTables: true',
      'subscriptions:',
      '  tsub:',
      '    node: b',
      '    from: a',
      '    publications: [tpub]',
      '    slot: tpub_slot',
      `    options: { binary: ${binary} }`,
    ];
    const sub: Array<[TestNode, string]> = [[B, 'tsub']];
    const equal = { tsub: { 'bin.test_arrays': 'equal', 'bin.test_numerical': 'equal' } };
    let path = config(body(true));
    await converge(path, sub, equal);
    expect(await rows(B, `SELECT subbinary::text FROM pg_subscription WHERE subname = 'tsub'`)).toBe('true');
    const numerical = 'SELECT a, b, c, d FROM bin.test_numerical ORDER BY a';
    const arrays = 'SELECT a::text, b::text, c::text FROM bin.test_arrays ORDER BY a';
    expect(`${await rows(B, numerical)}\n${await rows(B, arrays)}`).toBe(
      '1|1.2|1.3|10\n2|2.2|2.3|20\n{1,2,3}|{1.1,1.2,1.3}|{one,two,three}\n{3,1,2}|{1.3,1.1,1.2}|{three,one,two}',
    );
    await A.query(`INSERT INTO bin.test_arrays (a, b, c) VALUES
        ('{2,1,3}', '{1.2, 1.1, 1.3}', '{"two", "one", "three"}'),
        ('{1,3,2}', '{1.1, 1.3, 1.2}', '{"one", "three", "two"}');
      INSERT INTO bin.test_numerical (a, b, c, d) VALUES (3, 3.2, 3.3, 30), (4, 4.2, 4.3, 40);`);
    await agree(path, sub, equal);
    expect(await rows(B, numerical)).toBe('1|1.2|1.3|10\n2|2.2|2.3|20\n3|3.2|3.3|30\n4|4.2|4.3|40');
    await A.query(
      'UPDATE bin.test_arrays SET b[1] = 42, c = NULL; UPDATE bin.test_numerical SET b = 42, c = NULL;',
    );
    await agree(path, sub, equal);
    expect(await rows(B, arrays)).toBe(
      '{1,2,3}|{42,1.2,1.3}|\n{1,3,2}|{42,1.3,1.2}|\n{2,1,3}|{42,1.1,1.3}|\n{3,1,2}|{42,1.1,1.2}|',
    );
    expect(await rows(B, numerical)).toBe('1|42||10\n2|42||20\n3|42||30\n4|42||40');

    // ALTER SUBSCRIPTION tsub SET (binary = false), then back to true, as file edits
    path = config(body(false));
    await converge(path, sub, equal);
    await A.query('INSERT INTO bin.test_numerical (a, b, c, d) VALUES (5, 5.2, 5.3, 50)');
    await agree(path, sub, equal);
    expect(await rows(B, numerical)).toBe('1|42||10\n2|42||20\n3|42||30\n4|42||40\n5|5.2|5.3|50');
    path = config(body(true));
    await converge(path, sub, equal);
    await A.query(
      `INSERT INTO bin.test_arrays (a, b, c) VALUES ('{2,3,1}', '{1.2, 1.3, 1.1}', '{"two", "three", "one"}')`,
    );
    await agree(path, sub, equal);
    expect(await rows(B, arrays)).toBe(
      '{1,2,3}|{42,1.2,1.3}|\n{1,3,2}|{42,1.3,1.2}|\n{2,1,3}|{42,1.1,1.3}|\n{2,3,1}|{1.2,1.3,1.1}|{two,three,one}\n{3,1,2}|{42,1.1,1.2}|',
    );

    // a type without send/receive functions: in binary mode its table cannot be copied
    const myvarchar = `CREATE TYPE bin.myvarchar;
      CREATE FUNCTION bin.myvarcharin(cstring, oid, integer) RETURNS bin.myvarchar
        LANGUAGE internal IMMUTABLE PARALLEL SAFE STRICT AS 'varcharin';
      CREATE FUNCTION bin.myvarcharout(bin.myvarchar) RETURNS cstring
        LANGUAGE internal IMMUTABLE PARALLEL SAFE STRICT AS 'varcharout';
      CREATE TYPE bin.myvarchar (input = bin.myvarcharin, output = bin.myvarcharout);
      CREATE TABLE bin.test_myvarchar (a bin.myvarchar);`;
    for (const n of [A, B]) await n.query(myvarchar);
    await A.query(`INSERT INTO bin.test_myvarchar (a) VALUES ('a')`);
    // the refresh steep would plan copies it in binary format, which PostgreSQL's table sync
    // cannot do: steep's plan refuses it before any step, naming the column, its type and the way out
    const sendRecv = `CREATE FUNCTION bin.myvarcharsend(bin.myvarchar) RETURNS bytea
        LANGUAGE internal STABLE PARALLEL SAFE STRICT AS 'varcharsend';
      CREATE FUNCTION bin.myvarcharrecv(internal, oid, integer) RETURNS bin.myvarchar
        LANGUAGE internal STABLE PARALLEL SAFE STRICT AS 'varcharrecv';
      ALTER TYPE bin.myvarchar SET (send = bin.myvarcharsend, receive = bin.myvarcharrecv);`;
    const copyRefused = (lacks: string) =>
      'subscription tsub on b would copy bin.test_myvarchar from a in binary format (options.binary: true, PostgreSQL 16 or later on both sides), ' +
      `but column a is bin.myvarchar, which has ${lacks}: PostgreSQL's table sync would fail on it again and again; ` +
      'set options.binary: false, or give bin.myvarchar binary send and receive functions on both nodes (ALTER TYPE … SET (send = …, receive = …))';
    const refused = await steep(['apply', '--auto-approve'], path);
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stdout + refused.stderr).toContain(
      copyRefused('no binary send function on a and no binary receive function on b'),
    );
    expect(
      await rows(
        B,
        `SELECT count(*) FROM pg_subscription_rel WHERE srrelid = 'bin.test_myvarchar'::regclass`,
      ),
    ).toBe('0');
    // with send and receive functions on the publisher only, the subscriber still cannot receive
    await A.query(sendRecv);
    const half = await steep(['plan'], path);
    expect(half.code, half.stdout).toBe(1);
    expect(half.stdout + half.stderr).toContain(copyRefused('no binary receive function on b'));
    // the script's REFRESH by hand: PostgreSQL's table sync fails on it again and again ("no
    // binary input function available for type"), and status --check and drift say the
    // subscription is failing, naming its sync errors
    await B.query('ALTER SUBSCRIPTION tsub REFRESH PUBLICATION');
    await eventually(
      async () =>
        (await rows(B, `SELECT sync_error_count FROM pg_stat_subscription_stats WHERE subname = 'tsub'`)) >
        '0',
      HANG_MS,
      'the table sync fails',
    );
    const [failing, drifting] = await Promise.all([
      steep(['status', '--check'], path),
      steep(['drift'], path),
    ]);
    expect(failing.code, failing.stdout).toBe(2);
    expect(failing.stdout).toMatch(/tsub\s+b ← a\s+failing .* errors: apply 0, sync [1-9]/);
    expect(drifting.code, drifting.stdout).toBe(2);
    expect(drifting.stdout).toContain('Replication failing:\n  subscription tsub on b ← a: ');
    // with send and receive functions on both, the sync succeeds
    await B.query(sendRecv);
    await caughtUp(B, 'tsub');
    expect(await rows(B, 'SELECT a::text FROM bin.test_myvarchar')).toBe('a');
    // the sync errors stop rising: healthy again, and every table equal
    await eventually(
      async () => (await steep(['status', '--check'], path)).code === 0,
      HANG_MS,
      'tsub healthy',
    );
    await agree(path, sub, { tsub: { ...equal.tsub, 'bin.test_myvarchar': 'equal' } });

    // mismatching column types (bigint on the publisher, int on the subscriber): PostgreSQL's
    // binary sync fails on them ("incorrect binary data format") and its text one converts;
    // steep's plan refuses the refresh either way, before any step, naming the column
    await A.query(
      'CREATE TABLE bin.test_mismatching_types (a bigint PRIMARY KEY); INSERT INTO bin.test_mismatching_types VALUES (1), (2)',
    );
    await B.query('CREATE TABLE bin.test_mismatching_types (a int PRIMARY KEY)');
    for (const binary of [true, false]) {
      const r = await steep(['plan'], config(body(binary)));
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout + r.stderr).toContain(
        'table bin.test_mismatching_types differs between a (publisher) and b (subscriber): column a is bigint on a, integer on b',
      );
    }
    await reset();
  });
});
