import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { PgMajor } from '../../src/sandbox/binaries.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';
import { MANAGED_PASSWORD, MANAGED_PASSWORD_ENV } from '../support/managedRoles.js';
import { waitCaughtUp } from '../support/replicationData.js';
import { dropReplication } from '../support/reset.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv, passwordVar } from '../support/topologyFile.js';

/**
 * PostgreSQL's subscription TAP tests as the oracle, on 16+ (src/test/subscription/t/014_binary.pl,
 * 030_origin.pl, 033_run_as_table_owner.pl), replayed as steep.yaml as pgTapReplays.test.ts does: every
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
  const steep = steepWith({
    env: () => ({ ...passwordEnv(cluster().nodes), ...MANAGED_PASSWORD_ENV }),
    timeoutMs: 180_000,
  });

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
    // the verifies first: drift and status count a comparison since the workers' last errors
    expect(await verdicts(path, Object.keys(expected))).toEqual(expected);
    const [p, d, st] = await Promise.all([
      steep(['plan', '--detailed-exitcode'], path),
      steep(['drift'], path),
      steep(['status', '--check'], path),
    ]);
    expect(p.code, `plan: ${p.stdout}\n${p.stderr}`).toBe(0);
    expect(d.code, `drift: ${d.stdout}\n${d.stderr}`).toBe(0);
    expect(st.code, `status --check: ${st.stdout}\n${st.stderr}`).toBe(0);
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
    // publishers: not comparable with one of them (left out of the verify window, said so); A's
    // subscription (origin = none) never receives what B got from C, so it is compared in
    // PostgreSQL's direction (rows missing on A and rows different there allowed; before issue 79
    // it was not comparable either), and A's empty table is no data gap
    path = config(body({ withC: true }));
    const abc: Array<[TestNode, string]> = [...ab, [B, 'tap_sub_b_c']];
    const notComparable = {
      tap_sub_b_a: { 'og.tab': 'not_verifiable' },
      tap_sub_a_b: { 'og.tab': 'equal' },
      tap_sub_b_c: { 'og.tab': 'not_verifiable' },
    };
    await converge(path, abc, notComparable);
    await C.query('INSERT INTO og.tab VALUES (32)');
    await agree(path, abc, notComparable);
    expect(await rows(B, 'SELECT * FROM og.tab ORDER BY 1')).toBe('32');
    expect(await rows(A, 'SELECT * FROM og.tab ORDER BY 1')).toBe('');
    const why = await steep(['verify', 'tap_sub_a_b'], path);
    expect(why.stdout).toContain(
      "og.tab  equal in PostgreSQL's direction: 1 missing rows the publisher never sent are rightly absent (origin = none: b sends none of the changes subscription tap_sub_b_c on b applies)",
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
      tap_sub_a_b: { 'og.tab': 'equal', 'og.tab_new': 'equal' },
    });
    await A.query('INSERT INTO og.tab_new VALUES (1)');
    await B.query('INSERT INTO og.tab_new VALUES (2)');
    await agree(path, abc, {
      ...notComparable,
      tap_sub_b_a: { 'og.tab': 'not_verifiable', 'og.tab_new': 'equal' },
      tap_sub_a_b: { 'og.tab': 'equal', 'og.tab_new': 'equal' },
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
    // the sync errors stop rising; the table that joined by hand was never compared: unverified,
    // naming it, until the verify the advice names compares it; then healthy, every table equal
    // (and no comparison from before the sync errors counts: docs/status.md, "After errors")
    let check = await steep(['status', '--check'], path);
    await eventually(
      async () => {
        check = await steep(['status', '--check'], path);
        return check.stdout.includes('bin.test_myvarchar was never compared');
      },
      HANG_MS,
      'tsub streaming, bin.test_myvarchar unverified',
    );
    const printed = /`(steep verify tsub[^`]*)`/.exec(check.stdout);
    expect(printed, check.stdout).not.toBeNull();
    const compared = await steep(printed![1]!.replace(/^steep /, '').split(' '), path);
    expect(compared.code, compared.stdout).toBe(0);
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
  // 033_run_as_table_owner.pl (2024): 10 expectations, the apply worker acting as the
  // subscription's owner (runAsOwner: true) or as each table's owner (false), that owner not a
  // superuser. steep connects to the subscriber as that owner (the subscription's owner is the
  // role that creates it), to the publisher as postgres. The script's GRANTs, REVOKEs and ALTER
  // ROLEs are by hand (steep does not manage roles), its ALTER SUBSCRIPTION and DROP SUBSCRIPTION
  // file edits. password_required stays true: steep writes the publisher's password into the
  // subscription's connection, where the script connects without one
  test('033_run_as_table_owner', { timeout: 600_000 }, async () => {
    const [A, B] = [node('a'), node('b')];
    for (const n of [A, B])
      await n.query(`CREATE ROLE regress_admin SUPERUSER LOGIN PASSWORD '${MANAGED_PASSWORD}';
        CREATE ROLE regress_admin2 SUPERUSER LOGIN PASSWORD '${MANAGED_PASSWORD}';
        CREATE ROLE regress_alice NOSUPERUSER LOGIN;
        GRANT CREATE ON DATABASE app TO regress_alice;
        SET SESSION AUTHORIZATION regress_alice;
        CREATE SCHEMA alice;
        GRANT USAGE ON SCHEMA alice TO regress_admin;
        CREATE TABLE alice.unpartitioned (i INTEGER);
        ALTER TABLE alice.unpartitioned REPLICA IDENTITY FULL;
        GRANT SELECT ON TABLE alice.unpartitioned TO regress_admin;
        RESET SESSION AUTHORIZATION`);
    const asAlice = (n: TestNode, sql: string) =>
      n.query(`SET SESSION AUTHORIZATION regress_alice; ${sql}; RESET SESSION AUTHORIZATION`);
    const file = (owner: string, sub: { runAsOwner: boolean; enabled?: boolean } | null) =>
      writeConfig(
        [
          'version: 1',
          `topology: ${TOPOLOGY}`,
          'nodes:',
          '  a:',
          `    url: postgres://postgres@127.0.0.1:${A.port}/app`,
          `    password: \${env:${passwordVar(A)}}`,
          '  b:',
          `    url: postgres://${owner}@127.0.0.1:${B.port}/app`,
          `    password: \${env:ROLE_PGPASSWORD}`,
          'publications:',
          '  alice:',
          '    node: a',
          '    tables: [alice.unpartitioned]',
          '    viaPartitionRoot: true',
          ...(sub
            ? [
                'subscriptions:',
                '  admin_sub:',
                '    node: b',
                '    from: a',
                '    publications: [alice]',
                ...(sub.enabled === false ? ['    enabled: false'] : []),
                `    options: { runAsOwner: ${sub.runAsOwner} }`,
              ]
            : []),
          '',
        ].join('\n'),
      );
    const counted = 'SELECT count(i), min(i), max(i) FROM alice.unpartitioned';
    const sub: Array<[TestNode, string]> = [[B, 'admin_sub']];
    const equal = { admin_sub: { 'alice.unpartitioned': 'equal' } };
    /** plan, drift, status --check and verify of admin_sub at once (they only read), the plan empty */
    async function readOnlyChecks(path: string) {
      const out = await Promise.all([
        steep(['plan', '--detailed-exitcode'], path),
        steep(['drift'], path),
        steep(['status', '--check'], path),
        steep(['verify', 'admin_sub'], path),
      ]);
      expect(out[0].code, `plan: ${out[0].stdout}\n${out[0].stderr}`).toBe(0);
      expect(out[0].stdout).toContain('No changes');
      return out;
    }
    /** subscriber and publisher hold the same rows: count and an order-independent checksum */
    async function sameRows(): Promise<void> {
      const digest = `SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0) FROM alice.unpartitioned t`;
      expect(await rows(B, digest)).toBe(await rows(A, digest));
    }
    /**
     * The script's expect_replication: caught up, count|min|max on the subscriber, and then steep
     * agrees: healthy once the errors stop rising, no drift, an empty plan; verify equal where the
     * subscriber's role may read the table, else refused for that, and the subscription unverified
     */
    async function expectReplication(
      path: string,
      expected: string,
      verifyRefused: false | 'compared before' | 'never compared' = false,
    ): Promise<void> {
      await caughtUp(B, 'admin_sub');
      expect(await rows(B, counted)).toBe(expected);
      await sameRows();
      // streaming again: synchronized, or unverified where no comparison counts, since the
      // worker's errors (docs/status.md, "After errors") or ever; agree's verify settles it
      const streaming = /admin_sub\s+b ← a\s+unverified/;
      await eventually(
        async () =>
          /admin_sub\s+b ← a\s+(synchronized|unverified)/.test(
            (await steep(['status', '--check'], path)).stdout,
          ),
        HANG_MS,
        'admin_sub streaming',
      );
      if (!verifyRefused) return await agree(path, sub, equal);
      // a role that may not read the table cannot compare it (an init's comparison neither): one
      // compared before the worker's errors, or never, stays unverified, naming it
      const [, d, st, v] = await readOnlyChecks(path);
      expect(d.code, `drift: ${d.stdout}\n${d.stderr}`).toBe(2);
      expect(d.stdout).toContain(
        verifyRefused === 'never compared'
          ? 'alice.unpartitioned was never compared'
          : 'alice.unpartitioned was last found equal at',
      );
      expect(st.code, `status --check: ${st.stdout}\n${st.stderr}`).toBe(2);
      expect(st.stdout).toMatch(streaming);
      expect(v.code, v.stdout).toBe(1);
      expect(v.stderr).toContain(
        'comparing alice.unpartitioned of subscription admin_sub failed: permission denied for ',
      );
    }
    let logOffset = 0;
    /**
     * The script's expect_failure: PostgreSQL's error in the subscriber's log, the rows unchanged;
     * and steep says so: status --check and drift name admin_sub failing, the plan is empty (the
     * file is what the nodes hold), and verify stops at the failing worker rather than waiting
     * for a replay that does not come
     */
    async function expectFailure(path: string, expected: string, lacks: string): Promise<void> {
      await eventually(
        async () => {
          const log = readFileSync(join(B.dataDir, 'server.log'), 'utf8');
          const at = log
            .slice(logOffset)
            .search(/ERROR: ( [A-Z0-9]+:)? permission denied for table unpartitioned/i);
          if (at < 0) return false;
          logOffset += at + 1;
          return true;
        },
        HANG_MS,
        "permission denied in b's server log",
      );
      expect(await rows(B, counted)).toBe(expected);
      const [, d, st, v] = await readOnlyChecks(path);
      expect(d.code, `drift: ${d.stdout}`).toBe(2);
      expect(d.stdout).toContain('Replication failing:\n  subscription admin_sub on b ← a: ');
      expect(st.code, `status --check: ${st.stdout}`).toBe(2);
      expect(st.stdout).toMatch(/admin_sub\s+b ← a\s+failing .* errors: apply [1-9]/);
      // PostgreSQL's reason is in its log only: status names what the owner lacks, and both ways out
      expect(st.stdout.replace(/\s+/g, ' ')).toContain(
        `role regress_admin, the owner of subscription admin_sub, lacks ${lacks} on alice.unpartitioned, ` +
          `and its workers apply as that owner (runAsOwner true): run GRANT ${lacks} ON alice.unpartitioned TO "regress_admin"; on b, ` +
          "or set runAsOwner: false (its workers then apply as each table's owner, which regress_admin must be able to SET ROLE to)",
      );
      expect(v.code, v.stdout).toBe(1);
      expect(v.stderr).toContain(
        'verify cannot compare subscription admin_sub: its workers on b are failing (errors rose from ',
      );
    }

    /**
     * Every privilege on the table revoked, SET ROLE to its owner granted (not INHERIT), and a row
     * inserted: while the worker acts as the subscription's owner, it fails
     */
    async function setRoleOnly(i: number, expected: string): Promise<void> {
      await B.query(`SET SESSION AUTHORIZATION regress_alice;
        REVOKE ALL PRIVILEGES ON alice.unpartitioned FROM regress_admin; RESET SESSION AUTHORIZATION;
        GRANT regress_alice TO regress_admin WITH INHERIT FALSE, SET TRUE`);
      await asAlice(A, `INSERT INTO alice.unpartitioned (i) VALUES (${i})`);
      await expectFailure(path, expected, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE');
    }

    // CREATE SUBSCRIPTION admin_sub … WITH (run_as_owner = true) as regress_admin, a superuser
    let path = file('regress_admin', { runAsOwner: true });
    await converge(path, sub, equal);
    await asAlice(
      A,
      `INSERT INTO alice.unpartitioned (i) VALUES (1); INSERT INTO alice.unpartitioned (i) VALUES (3);
      INSERT INTO alice.unpartitioned (i) VALUES (5); UPDATE alice.unpartitioned SET i = 7 WHERE i = 1;
      DELETE FROM alice.unpartitioned WHERE i = 3`,
    );
    await expectReplication(path, '2|5|7');

    // superuser revoked: regress_admin has SELECT only, and the insert fails
    await B.query('ALTER ROLE regress_admin NOSUPERUSER');
    await asAlice(A, 'INSERT INTO alice.unpartitioned (i) VALUES (9)');
    await expectFailure(path, '2|5|7', 'INSERT, UPDATE, DELETE, TRUNCATE');

    // INSERT, UPDATE, DELETE granted, SELECT revoked: the insert replicates
    await B.query(`SET SESSION AUTHORIZATION regress_alice;
      GRANT INSERT,UPDATE,DELETE ON alice.unpartitioned TO regress_admin;
      REVOKE SELECT ON alice.unpartitioned FROM regress_admin; RESET SESSION AUTHORIZATION`);
    await expectReplication(path, '3|5|9', 'compared before');

    // without SELECT an UPDATE or DELETE (replica identity full) cannot find its row
    await asAlice(
      A,
      'UPDATE alice.unpartitioned SET i = 11 WHERE i = 5; DELETE FROM alice.unpartitioned WHERE i = 9',
    );
    await expectFailure(path, '3|5|9', 'SELECT, TRUNCATE');

    // SELECT granted: replication resumes
    await asAlice(B, 'GRANT SELECT ON alice.unpartitioned TO regress_admin');
    await expectReplication(path, '2|7|11');

    // no privilege on the table, SET ROLE to its owner: no help while the worker acts as the
    // subscription's owner
    await setRoleOnly(13, '2|7|11');

    // INHERIT instead of SET: the owner's privileges are the subscription owner's
    await B.query('GRANT regress_alice TO regress_admin WITH INHERIT TRUE, SET FALSE');
    await expectReplication(path, '3|7|13');

    // SET ROLE again, without INHERIT: fails as the subscription's owner …
    await setRoleOnly(14, '3|7|13');

    // … and ALTER SUBSCRIPTION admin_sub SET (run_as_owner = false), a file edit, applied by
    // regress_admin, not a superuser: the worker acts as the table's owner
    path = file('regress_admin', { runAsOwner: false });
    const a = await steep(['apply', '--auto-approve'], path);
    expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
    expect(a.stdout).toContain('ALTER SUBSCRIPTION "admin_sub" SET (run_as_owner = false)');
    await expectReplication(path, '4|7|14', 'compared before');

    // DROP SUBSCRIPTION admin_sub (a file edit) and TRUNCATE alice.unpartitioned
    path = file('regress_admin', null);
    const dropped = await steep(
      ['apply', '--auto-approve', '--allow-destroy', '--allow-hazard', 'drops-slot'],
      path,
    );
    expect(dropped.code, `${dropped.stdout}\n${dropped.stderr}`).toBe(0);
    expect(await rows(A, 'SELECT count(*) FROM pg_replication_slots')).toBe('0');
    await B.query('TRUNCATE alice.unpartitioned');

    // CREATE SUBSCRIPTION admin_sub … WITH (run_as_owner = false, enabled = false) as
    // regress_admin2, a superuser; then superuser revoked, SET ROLE to regress_alice granted, and
    // ENABLE (a file edit) applied by regress_admin2: the table sync copies as the table's owner
    path = file('regress_admin2', { runAsOwner: false, enabled: false });
    const created = await steep(['apply', '--auto-approve'], path);
    expect(created.code, `${created.stdout}\n${created.stderr}`).toBe(0);
    expect(created.stdout).toContain('enabled = false, copy_data = true');
    // disabled as the file says: nothing copied, nothing to do, and not synchronized
    const [pc, dc, sc] = await Promise.all([
      steep(['plan', '--detailed-exitcode'], path),
      steep(['drift'], path),
      steep(['status', '--check'], path),
    ]);
    expect(pc.code, `plan: ${pc.stdout}\n${pc.stderr}`).toBe(0);
    expect(dc.code, `drift: ${dc.stdout}\n${dc.stderr}`).toBe(0);
    expect(sc.code, `status --check: ${sc.stdout}`).toBe(2);
    expect(sc.stdout).toMatch(/admin_sub\s+b ← a\s+uninitialized\s+disabled .* tables 0\/1 ready/);
    expect(await rows(B, counted)).toBe('0||');
    // the verifies of the dropped admin_sub were that subscription's: the new one has none
    const shown = await steep(['status', '--json'], path);
    const fresh = (
      JSON.parse(shown.stdout) as { subscriptions: Array<{ name: string; lastVerify: unknown }> }
    ).subscriptions.find((x) => x.name === 'admin_sub');
    expect(fresh?.lastVerify, shown.stdout).toBeNull();
    await B.query(`ALTER ROLE regress_admin2 NOSUPERUSER;
      GRANT regress_alice TO regress_admin2 WITH INHERIT FALSE, SET TRUE`);
    path = file('regress_admin2', { runAsOwner: false });
    // regress_admin2, no longer a superuser, may not use steep's state schema regress_admin
    // made: the plan names the grants, which its owner runs
    const refused = await steep(['apply', '--auto-approve'], path);
    expect(refused.code, refused.stdout).toBe(1);
    const grants =
      /run (GRANT USAGE, CREATE ON SCHEMA "steep" TO "regress_admin2";.*;) on b as regress_admin \(or a member of it\)/.exec(
        refused.stderr,
      );
    expect(grants, refused.stderr).not.toBeNull();
    await B.query(`SET ROLE regress_admin; ${grants![1]} RESET ROLE`);
    const enabled = await steep(['apply', '--auto-approve'], path);
    expect(enabled.code, `${enabled.stdout}\n${enabled.stderr}`).toBe(0);
    expect(enabled.stdout).toContain('ALTER SUBSCRIPTION "admin_sub" ENABLE');
    expect(enabled.stdout).toContain('created disabled, as steep.yaml declared');
    await expectReplication(path, '4|7|14', 'never compared');
    await dropReplication(cluster().nodes);
    for (const n of [A, B])
      await n.query(`DROP SCHEMA alice CASCADE; REVOKE CREATE ON DATABASE app FROM regress_alice;
        DROP ROLE regress_admin, regress_admin2, regress_alice`);
  });
});
