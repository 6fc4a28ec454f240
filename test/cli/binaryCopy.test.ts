import { describe, expect, test } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { testVersions, useCluster } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { dropReplication } from '../support/reset.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `options.binary: true` and PostgreSQL's table sync (014_binary.pl): from 16 on both sides the
 * sync's COPY is binary, and a column whose type has no binary send function on the publisher or
 * no receive function on the subscriber fails it, again and again, after `steep apply` said it was
 * done. steep's plan refuses such a copy before any step, naming the table, the column and its
 * type; before 16 the copy is text and the same file applies. Streaming such a column is fine in
 * binary mode (pgoutput sends a type without a send function as text), so a subscription that is
 * made binary after its copy goes on. aclitem is a built-in type without send/receive functions.
 * An array of it is not: its own type has array_send, so pgoutput streams it in binary, and that
 * fails on the element, on every version: refused as binary-stream.
 */

const TOPOLOGY = 'binary-copy';

describe.each(testVersions())('binary table sync on %i', { timeout: 240_000 }, (version) => {
  const cluster = useCluster({ nodes: ['a', 'b'], version });
  const node = (n: string) => cluster().node(n);
  const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });
  const binaryCopy = version >= 16;

  function config(binary: boolean, init = '', table = 'public.grants_log', more: string[] = []): string {
    return writeConfig(
      [
        'version: 1',
        `topology: ${TOPOLOGY}`,
        nodesYaml(cluster().nodes),
        'publications:',
        '  grants_pub:',
        '    node: a',
        `    tables: [${table}]`,
        'subscriptions:',
        '  grants_sub:',
        '    node: b',
        '    from: a',
        '    publications: [grants_pub]',
        `    options: { binary: ${binary} }`,
        ...(init ? [`    init: ${init}`] : []),
        ...more,
        '',
      ].join('\n'),
    );
  }

  async function insert(from: number, to: number): Promise<void> {
    await node('a').query(
      `INSERT INTO public.grants_log SELECT i, '=r/postgres'::aclitem, 'row ' || i FROM generate_series($1::int, $2::int) i`,
      [from, to],
    );
  }

  async function caughtUp(): Promise<void> {
    await eventually(
      async () =>
        (
          await node('b').query(
            `SELECT 1 FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
              WHERE s.subname = 'grants_sub' AND r.srsubstate <> 'r'`,
          )
        ).length === 0,
      HANG_MS,
      'every relation of grants_sub ready',
    );
    await waitCaughtUp(node('a'), 'grants_sub');
  }

  /** grants_log holds `count` rows, equal on both nodes; then nothing of the test is left */
  async function equalThenDropped(count: number): Promise<void> {
    const [onA, onB] = [await digests(node('a'), ['grants_log']), await digests(node('b'), ['grants_log'])];
    expect(onA.grants_log!.count).toBe(count);
    expect(onB).toEqual(onA);
    await dropReplication(cluster().nodes);
    for (const n of [node('a'), node('b')]) await n.query('DROP TABLE public.grants_log');
  }

  test('a copy of a column without binary send/receive functions', async () => {
    for (const n of [node('a'), node('b')])
      await n.query('CREATE TABLE public.grants_log (id int PRIMARY KEY, acl aclitem, note text)');
    await insert(1, 100);

    const binary = config(true);
    const plan = await steep(['plan'], binary);
    if (binaryCopy) {
      // refused before any step: nothing is created, nothing loops
      expect(plan.code, plan.stdout + plan.stderr).toBe(1);
      expect(plan.stdout + plan.stderr).toContain(
        'subscription grants_sub on b would copy public.grants_log from a in binary format (options.binary: true, PostgreSQL 16 or later on both sides), ' +
          'but column acl is aclitem, which has no binary send function on a and no binary receive function on b: ' +
          "PostgreSQL's table sync would fail on it again and again; set options.binary: false",
      );
      const applied = await steep(['apply', '--auto-approve'], binary);
      expect(applied.code, applied.stdout + applied.stderr).toBe(1);
      expect(await node('b').query('SELECT 1 FROM pg_subscription')).toEqual([]);
      expect(await node('a').query('SELECT 1 FROM pg_replication_slots')).toEqual([]);
      // the way out the error names: a text copy
      const text = await steep(['apply', '--auto-approve'], config(false));
      expect(text.code, text.stdout + text.stderr).toBe(0);
    } else {
      // before 16 the table sync copies in text whatever binary says
      expect(plan.code, plan.stdout + plan.stderr).toBe(0);
      const applied = await steep(['apply', '--auto-approve'], binary);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    }
    await caughtUp();
    expect(await digests(node('b'), ['grants_log'])).toEqual(await digests(node('a'), ['grants_log']));

    // binary streaming of the same column works: made binary after its copy, it goes on
    const made = await steep(['apply', '--auto-approve'], binary);
    expect(made.code, made.stdout + made.stderr).toBe(0);
    expect(await node('b').query(`SELECT subbinary FROM pg_subscription`)).toEqual([{ subbinary: true }]);
    await insert(101, 150);
    await node('a').query(`UPDATE public.grants_log SET note = 'updated' WHERE id % 10 = 0`);
    await caughtUp();
    const [onA, onB] = [await digests(node('a'), ['grants_log']), await digests(node('b'), ['grants_log'])];
    expect(onA.grants_log!.count).toBe(150);
    expect(onB).toEqual(onA);
    const replan = await steep(['plan', '--detailed-exitcode'], binary);
    expect(replan.code, replan.stdout + replan.stderr).toBe(0);
    const check = await steep(['status', '--check'], binary);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    await dropReplication(cluster().nodes);
    for (const n of [node('a'), node('b')]) await n.query('DROP TABLE public.grants_log');
  });

  test('streaming an array of a type without send/receive functions (aclitem[])', async () => {
    for (const n of [node('a'), node('b')])
      await n.query('CREATE TABLE public.grants_log (id int PRIMARY KEY, acls aclitem[], note text)');
    await node('a').query(
      `INSERT INTO public.grants_log SELECT i, ARRAY['=r/postgres'::aclitem], 'row ' || i FROM generate_series(1, 100) i`,
    );
    const binary = config(true);
    const refused = binaryCopy
      ? 'subscription grants_sub on b would copy public.grants_log from a in binary format (options.binary: true, PostgreSQL 16 or later on both sides), ' +
        'but column acls is aclitem[], made of aclitem, which has no binary send function on a and no binary receive function on b: ' +
        "PostgreSQL's table sync would fail on it again and again; set options.binary: false"
      : 'subscription grants_sub on b would stream public.grants_log from a in binary format (options.binary: true), ' +
        'but column acls is aclitem[], made of aclitem, which has no binary send function on a and no binary receive function on b: ' +
        "PostgreSQL's apply worker would fail on the first change to it, again and again; set options.binary: false";
    const created = await steep(['apply', '--auto-approve'], binary);
    expect(created.code, created.stdout + created.stderr).toBe(1);
    expect(created.stderr).toContain(refused);
    expect(await node('b').query('SELECT 1 FROM pg_subscription')).toEqual([]);
    expect(await node('a').query('SELECT 1 FROM pg_replication_slots')).toEqual([]);

    // the way out, a text subscription, then made binary: refused on every version, as streaming
    const text = await steep(['apply', '--auto-approve'], config(false));
    expect(text.code, text.stdout + text.stderr).toBe(0);
    await caughtUp();
    const made = await steep(['plan'], binary);
    expect(made.code, made.stdout + made.stderr).toBe(1);
    expect(made.stderr).toContain(
      'subscription grants_sub on b would stream public.grants_log from a in binary format (options.binary: true), ' +
        'but column acls is aclitem[], made of aclitem',
    );
    expect(await node('b').query('SELECT subbinary FROM pg_subscription')).toEqual([{ subbinary: false }]);
    await node('a').query(`UPDATE public.grants_log SET note = 'updated' WHERE id % 10 = 0`);
    await caughtUp();
    await equalThenDropped(100);
  });

  // steep's own copy engine (init.parallel above 1) copies in binary when both sides run the same
  // major version and every column is of a built-in type: not for a built-in type without
  // send/receive functions, which it copies in text, whatever options.binary says
  test("steep's own copy of a built-in type without binary send/receive functions", async () => {
    for (const n of [node('a'), node('b')])
      await n.query('CREATE TABLE public.grants_log (id int PRIMARY KEY, acl aclitem, note text)');
    await insert(1, 200);
    const path = config(false, '{ method: snapshot, parallel: 2 }');
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(applied.stdout).toContain("steep's own copy");
    await caughtUp();
    await insert(201, 250);
    await caughtUp();
    await equalThenDropped(250);
  });

  // 014_binary.pl's last case: bigint on the publisher, integer on the subscriber. Binary data
  // fails on it ("incorrect binary data format"), text converts. schemaSync: strict refuses any
  // such difference and auto alters the subscriber's column first; manual only warns, so the
  // binary subscription is refused there: its copy from 16, its stream on every version (before
  // 16 the copy is text, and the first change streamed after it stopped the apply worker)
  test('schemaSync manual: a column of another type on each side', async () => {
    await node('a').query(
      'CREATE TABLE public.mismatch (a bigint PRIMARY KEY); INSERT INTO public.mismatch SELECT generate_series(1, 100)',
    );
    await node('b').query('CREATE TABLE public.mismatch (a int PRIMARY KEY)');
    const manual = ['    schemaSync: manual'];
    const binary = config(true, '', 'public.mismatch', manual);
    const accept = ['apply', '--auto-approve', '--accept-schema-drift'];
    const plan = await steep(['plan'], binary);
    expect(plan.code, plan.stdout + plan.stderr).toBe(1);
    expect(plan.stdout + plan.stderr).toContain(
      binaryCopy
        ? 'subscription grants_sub on b would copy public.mismatch from a in binary format (options.binary: true, PostgreSQL 16 or later on both sides), ' +
            "but column a is bigint on a and integer on b, which a binary copy does not convert: PostgreSQL's table sync would fail on it " +
            'again and again; set options.binary: false, or give the column one type on both nodes'
        : 'subscription grants_sub on b would stream public.mismatch from a in binary format (options.binary: true), ' +
            "but column a is bigint on a and integer on b, which a binary stream does not convert: PostgreSQL's apply worker would fail on " +
            'the first change to it, again and again; set options.binary: false, or give the column one type on both nodes',
    );
    const applied = await steep(accept, binary);
    expect(applied.code, applied.stdout + applied.stderr).toBe(1);
    expect(await node('b').query('SELECT 1 FROM pg_subscription')).toEqual([]);
    const text = await steep(accept, config(false, '', 'public.mismatch', manual));
    expect(text.code, text.stdout + text.stderr).toBe(0);
    await caughtUp();
    // a change streamed after the copy converts too
    await node('a').query('INSERT INTO public.mismatch VALUES (101)');
    await caughtUp();
    expect(await digests(node('b'), ['mismatch'])).toEqual(await digests(node('a'), ['mismatch']));
    expect((await digests(node('b'), ['mismatch'])).mismatch!.count).toBe(101);
    await dropReplication(cluster().nodes);
    for (const n of [node('a'), node('b')]) await n.query('DROP TABLE public.mismatch');
  });
});
