import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Exited,
  runSteep,
  type Started,
  type SteepEvent,
  startSteep,
  steepWith,
  writeConfig,
} from '../support/cli.js';
import {
  otherDatabase,
  startCluster,
  type TestCluster,
  type TestNode,
  testVersions,
  useCluster,
} from '../support/cluster.js';
import { waitCaughtUp, writesGoOn } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `links:` end to end (issue 16) on a PostgreSQL 16+ pair (the first of testVersions() that is
 * 16 or later, else 18; run with STEEP_TEST_PG=16 for the oldest a link accepts): two regional
 * nodes that both hold rows of three tables per schema — a composite key, a foreign key to
 * another merged table — with identical, conflicting and one-sided rows, merged by
 * `prefer:eu` (schema p) and by `last-modified:updated_at` (schema lm). Each link holds the
 * issue's figures across its three tables: 10,000 identical rows, 1,000 conflicting and 500 only
 * on each side. An application inserts and updates rows on both nodes without a pause before,
 * during and after the whole prefer:eu apply: one locked pass merges what it wrote since the
 * reconcile inside the locked transactions, and what waited on the locks streams after them.
 * The last-modified merge is SIGKILLed in its reconcile, between making its slots and taking
 * the locks, under the locks, and after committing (before it records synchronized) before a
 * fifth apply converges. Afterwards both sides are equal (counts and checksums), merge_log holds
 * exactly the conflict decisions (each once), no slot or steep origin is left beyond the
 * subscriptions' own, a row written on each side arrives on the other exactly once and nothing
 * loops (counts as they were once each node has confirmed all the other wrote, twice over), and
 * the plan is empty. A one-way subscription with `prefer-target` and origin any merges through
 * the read-only final pass. A reinit of a link table SIGKILLed while its write fence is up on
 * one node lets the writes go on, is `reinitializing` until run again, and the rerun takes the
 * fence again without deadlocking the writers on the fence it left. A link between two
 * databases of one server merges under writers on both. `manual` first writes the conflicts to a
 * file and changes nothing. A PostgreSQL 15 node in a link is a plan error naming it.
 */
const VERSION = testVersions().find((v) => v >= 16) ?? 18;
const cluster = useCluster({ nodes: ['eu', 'us'], version: VERSION });

/** Per table: rows on both nodes (`conflicts` of them differing on us), and rows only on each node. */
const SIZES = {
  accounts: { rows: 3668, conflicts: 334, oneSided: 168 },
  orders: { rows: 3666, conflicts: 333, oneSided: 166 },
  lines: { rows: 3666, conflicts: 333, oneSided: 166 },
} as const;
const TABLES = Object.keys(SIZES) as Array<keyof typeof SIZES>;
const total = (f: (s: (typeof SIZES)[keyof typeof SIZES]) => number) =>
  TABLES.reduce((sum, t) => sum + f(SIZES[t]), 0);
/** the issue's figures, per link */
const IDENTICAL = total((s) => s.rows - s.conflicts);
const CONFLICTS = total((s) => s.conflicts);
const ONE_SIDED = total((s) => s.oneSided);

function env(): Record<string, string> {
  return passwordEnv(cluster().nodes);
}

const steep = steepWith({ env, timeoutMs: 180_000 });
/** a merge init blocks writes, and one started again after a kill drops the slots its run made */
const MERGE = ['--allow-hazard', 'blocks-writes', '--allow-hazard', 'drops-slot'];

const eu = () => cluster().node('eu');
const us = () => cluster().node('us');

function linkYaml(name: string, schema: string, strategy: string): string {
  return [
    `  ${name}:`,
    '    nodes: [eu, us]',
    `    tables: [${TABLES.map((t) => `${schema}.${t}`).join(', ')}]`,
    `    init: { method: merge, strategy: "${strategy}" }`,
  ].join('\n');
}

function file(links: string[], nodes: TestNode[] = cluster().nodes): string {
  return writeConfig(`version: 1\ntopology: regions\n${nodesYaml(nodes)}\nlinks:\n${links.join('\n')}\n`);
}

/**
 * The same rows on both nodes, then on us: the first `conflicts` keys of each table changed (even
 * keys newer than eu's row, odd keys older), and `oneSided` rows only on each node, whose orders
 * and lines belong to that node's own one-sided accounts and orders (the foreign keys hold on
 * each side, so a merge must copy accounts before orders).
 */
async function seed(schema: string): Promise<void> {
  const ts = (g: string) => `timestamptz '2026-01-01 00:00:00+00' + ${g} * interval '1 second'`;
  for (const node of [eu(), us()]) {
    await node.query(`CREATE SCHEMA ${schema}`);
    await node.query(
      `CREATE TABLE ${schema}.accounts (id bigint PRIMARY KEY, name text NOT NULL, balance numeric(12,2) NOT NULL, updated_at timestamptz NOT NULL)`,
    );
    await node.query(
      `CREATE TABLE ${schema}.orders (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES ${schema}.accounts(id), amount numeric(12,2) NOT NULL, updated_at timestamptz NOT NULL)`,
    );
    await node.query(
      `CREATE TABLE ${schema}.lines (order_id bigint NOT NULL, line_no int NOT NULL, qty int NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (order_id, line_no))`,
    );
    await node.query(
      `INSERT INTO ${schema}.accounts SELECT g, 'acct ' || g, g * 1.5, ${ts('g')} FROM generate_series(1, ${SIZES.accounts.rows}) g`,
    );
    await node.query(
      `INSERT INTO ${schema}.orders SELECT g, g, g * 2.25, ${ts('g')} FROM generate_series(1, ${SIZES.orders.rows}) g`,
    );
    await node.query(
      `INSERT INTO ${schema}.lines SELECT g, 1 + g % 3, g % 7, ${ts('g')} FROM generate_series(1, ${SIZES.lines.rows}) g`,
    );
  }
  // conflicts: even keys newer on us, odd keys older
  const later = `updated_at + CASE WHEN %KEY% % 2 = 0 THEN interval '1 hour' ELSE interval '-1 hour' END`;
  await us().query(
    `UPDATE ${schema}.accounts SET name = name || ' (us)', updated_at = ${later.replaceAll('%KEY%', 'id')} WHERE id <= ${SIZES.accounts.conflicts}`,
  );
  await us().query(
    `UPDATE ${schema}.orders SET amount = amount + 1, updated_at = ${later.replaceAll('%KEY%', 'id')} WHERE id <= ${SIZES.orders.conflicts}`,
  );
  await us().query(
    `UPDATE ${schema}.lines SET qty = qty + 100, updated_at = ${later.replaceAll('%KEY%', 'order_id')} WHERE order_id <= ${SIZES.lines.conflicts}`,
  );
  for (const [node, base] of [
    [eu(), 100_000],
    [us(), 200_000],
  ] as const) {
    const g = (t: keyof typeof SIZES) => `generate_series(${base + 1}, ${base + SIZES[t].oneSided}) g`;
    await node.query(
      `INSERT INTO ${schema}.accounts SELECT g, '${node.name} ' || g, 1, ${ts('g')} FROM ${g('accounts')}`,
    );
    await node.query(`INSERT INTO ${schema}.orders SELECT g, g, 3, ${ts('g')} FROM ${g('orders')}`);
    await node.query(`INSERT INTO ${schema}.lines SELECT g, 1, 5, ${ts('g')} FROM ${g('lines')}`);
  }
  for (const node of [eu(), us()]) await node.query('ANALYZE');
}

async function digest(
  node: TestNode,
  schema: string,
): Promise<Record<string, { count: number; sum: string }>> {
  const out: Record<string, { count: number; sum: string }> = {};
  for (const t of TABLES) {
    const [r] = await node.query<{ count: string; sum: string }>(
      `SELECT count(*)::text AS count, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS sum FROM ${schema}.${t} t`,
    );
    out[t] = { count: Number(r!.count), sum: r!.sum };
  }
  return out;
}

async function expectEqual(schema: string): Promise<void> {
  const a = await digest(eu(), schema);
  expect(a.accounts!.count).toBe(SIZES.accounts.rows + 2 * SIZES.accounts.oneSided);
  expect(await digest(us(), schema)).toEqual(a);
}

async function mergeLog(node: TestNode, name: string): Promise<number> {
  const [r] = await node.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM steep.merge_log WHERE merge_name = $1 AND node_name = $2',
    [name, node.name],
  );
  return Number(r!.n);
}

/** `steep apply` with its JSON events, in the background. */
function startApply(path: string): Started {
  return startSteep(['apply', '--auto-approve', ...MERGE, '--log-format', 'json', '-c', path], env());
}

/**
 * `steep apply`, SIGKILLed at the first event `at` accepts; whether it was (false: it ended
 * first). `holdFrom`: from the first event it accepts, the state table of `nodes` is held (a
 * share lock) until the apply has exited, so a record apply makes right after `at` waits for the
 * kill instead of racing it.
 */
async function applyKilledAt(
  path: string,
  at: (e: SteepEvent) => boolean,
  hold?: { from: (e: SteepEvent) => boolean; nodes: TestNode[] },
): Promise<boolean> {
  const apply = startApply(path);
  const holders: Array<Awaited<ReturnType<TestNode['client']>>> = [];
  try {
    // `when` gives up after 90 s; an apply that ends first never matched
    const first = (match: (e: SteepEvent) => boolean) =>
      Promise.race([apply.when(match).catch(() => null), apply.exited.then(() => null)]);
    if (hold && (await first(hold.from)))
      for (const n of hold.nodes) {
        const c = await n.client();
        holders.push(c);
        await c.query('BEGIN');
        await c.query('LOCK TABLE steep.subscription_state IN SHARE MODE');
      }
    const seen = await first(at);
    if (seen) apply.child.kill('SIGKILL');
    return seen !== null && (await apply.exited).signal === 'SIGKILL';
  } finally {
    for (const c of holders) await c.end().catch(() => {});
  }
}

/**
 * An application writing lines on `node` without a pause until stopped: each round inserts a
 * line (order ids from `from`, one row per transaction) and updates the one it inserted ten
 * rounds before. Returns how many inserts it committed. Writes waiting on the merge's write
 * locks commit after the release.
 */
function startLineWriter(
  node: TestNode,
  from: number,
  schema = 'p',
): { stop: () => Promise<number>; ops: () => number } {
  let running = true;
  let committed = 0;
  const done = (async () => {
    const c = await node.client();
    try {
      while (running) {
        await c.query(`INSERT INTO ${schema}.lines VALUES ($1, 1, 1, now())`, [from + committed + 1]);
        committed += 1;
        if (committed > 10)
          await c.query(
            `UPDATE ${schema}.lines SET qty = qty + 1, updated_at = now() WHERE order_id = $1 AND line_no = 1`,
            [from + committed - 10],
          );
      }
    } finally {
      await c.end();
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return committed;
    },
    ops: () => committed,
  };
}

/** The keys merge_log holds for a merge on `node`: per table, how many in the seeded conflicts' ranges and how many elsewhere. */
async function loggedKeys(
  node: TestNode,
  name: string,
): Promise<{ seeded: number; writers: number; other: number }> {
  const [r] = await node.query<{ seeded: string; writers: string; other: string }>(
    `SELECT count(*) FILTER (WHERE k <= 334)::text AS seeded,
            count(*) FILTER (WHERE table_name = 'p.lines' AND k > 500000 AND k <= 700000)::text AS writers,
            count(*) FILTER (WHERE k > 334 AND NOT (table_name = 'p.lines' AND k > 500000 AND k <= 700000))::text AS other
       FROM (SELECT table_name, coalesce(row_key->>'id', row_key->>'order_id')::bigint AS k
               FROM steep.merge_log WHERE merge_name = $1 AND node_name = $2) l`,
    [name, node.name],
  );
  return { seeded: Number(r!.seeded), writers: Number(r!.writers), other: Number(r!.other) };
}

/**
 * Logical slots and replication origins on `node` besides those its subscriptions and publications use.
 * A link's slot is named after its subscription with its database's tag (docs/links.md):
 * `_a172cedc` for database app, `_4fd1bdca` for eu2.
 */
async function replicationObjects(node: TestNode): Promise<{ slots: string[]; origins: string[] }> {
  const slots = await node.query<{ n: string }>(
    "SELECT slot_name AS n FROM pg_replication_slots WHERE database = current_database() AND slot_type = 'logical' ORDER BY 1",
  );
  const origins = await node.query<{ n: string }>(
    "SELECT roname AS n FROM pg_replication_origin WHERE roname NOT LIKE 'pg\\_%' ORDER BY 1",
  );
  return { slots: slots.map((r) => r.n), origins: origins.map((r) => r.n) };
}

/** The two links' slots, one per subscription, and no steep origin, on each node. */
async function expectOnlyTheLinksSlots(): Promise<void> {
  for (const [node, sub] of [
    [eu(), 'us'],
    [us(), 'eu'],
  ] as const)
    expect(await replicationObjects(node), node.name).toEqual({
      slots: [`lm_link_${sub}_a172cedc`, `p_link_${sub}_a172cedc`],
      origins: [],
    });
}

/** `steep reinit p_link_us --tables TABLES -c PATH` in the background, once its fence waits for a lock on `node`. */
async function reinitWaiting(path: string, tables: string, node: TestNode): Promise<Started> {
  const reinit = startSteep(
    ['reinit', 'p_link_us', '--tables', tables, '--auto-approve', '--log-format', 'json', '-c', path],
    env(),
  );
  await untilWaitingForLock(node, 'steep reinit');
  return reinit;
}

/** Until a session of steep's (`application`) waits for a lock on a relation of `node`. */
async function untilWaitingForLock(node: TestNode, application: string): Promise<void> {
  await eventually(
    async () =>
      (
        await node.query(
          "SELECT FROM pg_stat_activity WHERE application_name = $1 AND wait_event = 'relation'",
          [application],
        )
      ).length > 0,
    HANG_MS,
    `${application} waiting for a lock on ${node.name}`,
  );
}

/**
 * steep's triggers on the user's tables of `node`: a reinit's write fence (steep's own state tables
 * carry the replicated-row trigger for good: docs/state-schema.md)
 */
async function fenceTriggers(node: TestNode): Promise<number> {
  const [t] = await node.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE 'steep%' AND c.relnamespace <> 'steep'::regnamespace",
  );
  return t!.n;
}

async function subscriptions(node: TestNode): Promise<string[]> {
  const rows = await node.query<{ n: string }>('SELECT subname AS n FROM pg_subscription ORDER BY 1');
  return rows.map((r) => r.n);
}

describe(`links on PostgreSQL ${VERSION}`, () => {
  let prefer = '';
  let both = '';
  beforeAll(async () => {
    await seed('p');
    await seed('lm');
    prefer = file([linkYaml('p_link', 'p', 'prefer:eu')]);
    both = file([
      linkYaml('p_link', 'p', 'prefer:eu'),
      linkYaml('lm_link', 'lm', 'last-modified:updated_at'),
    ]);
  }, HANG_MS);

  it('merge analyze counts exactly; plan shows the link expanded; prefer:eu makes both sides equal, eu winning every conflict', async () => {
    const analyze = await steep(['merge', 'analyze', 'p_link', '--json'], prefer);
    expect(analyze.code, analyze.stderr).toBe(2);
    const a = JSON.parse(analyze.stdout) as { totals: Record<string, number> };
    expect(a.totals).toEqual({
      identical: IDENTICAL,
      conflicting: CONFLICTS,
      onlyA: ONE_SIDED,
      onlyB: ONE_SIDED,
    });

    const plan = await steep(['plan'], prefer);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('publication.p_link_eu (eu) create: declared by link p_link in steep.yaml');
    expect(plan.stdout).toContain('link.p_link (eu) init:');
    expect(plan.stdout).toContain('hazards: blocks-writes, copies-data');
    expect(plan.stdout).toContain('[on us] CREATE SUBSCRIPTION "p_link_us"');

    // manual: every conflict to a file, nothing changed
    const manual = file([linkYaml('p_link', 'p', 'manual')]);
    const before = { eu: await digest(eu(), 'p'), us: await digest(us(), 'p') };
    const stopped = await runSteep(['apply', '--auto-approve', ...MERGE, '-c', manual], {
      env: env(),
      cwd: dirname(manual),
      timeoutMs: 180_000,
    });
    expect(stopped.code, stopped.stdout).toBe(1);
    expect(stopped.stderr).toContain('steep-merge-p_link-conflicts.json');
    const conflicts = JSON.parse(
      readFileSync(join(dirname(manual), 'steep-merge-p_link-conflicts.json'), 'utf8'),
    ) as {
      conflicts: Array<{ table: string; rows: Record<string, unknown> }>;
    };
    expect(conflicts.conflicts).toHaveLength(CONFLICTS);
    expect(Object.keys(conflicts.conflicts[0]!.rows).sort()).toEqual(['eu', 'us']);
    expect({ eu: await digest(eu(), 'p'), us: await digest(us(), 'p') }).toEqual(before);
    expect(await subscriptions(eu())).toEqual([]);

    // an application writing on both nodes without a pause, before, during and after the whole apply
    const writers = [startLineWriter(eu(), 500_000), startLineWriter(us(), 600_000)];
    const apply = startApply(prefer);
    let applied: Exited;
    let written: number[] = [];
    try {
      applied = await apply.exited;
      await Promise.all(writers.map((w) => writesGoOn(w)));
    } finally {
      written = await Promise.all(writers.map((w) => w.stop()));
    }
    expect(applied.code, applied.stderr).toBe(0);
    expect(Math.min(...written), 'each writer committed rows during the apply').toBeGreaterThan(0);
    // one locked pass: what was written since the reconcile was merged under the locks
    expect(apply.events.filter((e) => e.event === 'merge.locked').length, applied.stderr).toBe(1);
    // what each wrote before the locks was merged, what waited on them and came after streams: all of it on both
    for (const [from, n] of [
      [500_000, written[0]!],
      [600_000, written[1]!],
    ] as const) {
      await eventually(
        async () => {
          const counts = await Promise.all(
            [eu(), us()].map((node) =>
              node.query<{ n: string }>(
                `SELECT count(*)::text AS n FROM p.lines WHERE order_id > ${from} AND order_id <= ${from + 100_000}`,
              ),
            ),
          );
          return counts.every((c) => Number(c[0]!.n) === n);
        },
        HANG_MS,
        `the ${n} rows written from ${from} on both nodes`,
      );
    }
    await eventually(
      async () => JSON.stringify(await digest(eu(), 'p')) === JSON.stringify(await digest(us(), 'p')),
      HANG_MS,
      'p equal on both (the last updates streamed)',
    );
    await expectEqual('p');
    // eu's row won every conflict, on both nodes
    for (const node of [eu(), us()]) {
      const [r] = await node.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM p.accounts WHERE name LIKE '%(us)'`,
      );
      expect(r!.n).toBe('0');
    }
    // merge_log: each seeded conflict once, and otherwise only rows the writers changed before the subscriptions streamed
    for (const node of [eu(), us()]) {
      const logged = await loggedKeys(node, 'p_link');
      expect({ seeded: logged.seeded, other: logged.other }).toEqual({ seeded: CONFLICTS, other: 0 });
      expect(await mergeLog(node, 'p_link')).toBe(CONFLICTS + logged.writers);
    }
    expect(await subscriptions(eu())).toEqual(['p_link_eu']);
    expect(await subscriptions(us())).toEqual(['p_link_us']);
  }, 180_000);

  it('last-modified: killed in its reconcile, between making its slots and locking, under the locks and after committing, a fifth apply converges with the newer row everywhere', async () => {
    expect(await applyKilledAt(both, (e) => e.event === 'init.state_change' && e.phase === 'copying')).toBe(
      true,
    );
    expect(await subscriptions(us())).toEqual(['p_link_us']);
    // the slots are made before the locks are taken
    expect(await applyKilledAt(both, (e) => e.event === 'merge.locking')).toBe(true);
    expect((await replicationObjects(eu())).slots).toEqual(['lm_link_us_a172cedc', 'p_link_us_a172cedc']);
    expect(await applyKilledAt(both, (e) => e.event === 'merge.locked')).toBe(true);
    // committed and streaming, not yet recorded synchronized: made again by the next apply
    // (its record of synchronized, right after the unlock, waits on the state tables held from
    // the lock on, or it could win the race with the kill)
    expect(
      await applyKilledAt(both, (e) => e.event === 'merge.unlocked', {
        from: (e) => e.event === 'merge.locked',
        nodes: [eu(), us()],
      }),
    ).toBe(true);
    // A killed run's backend can still hold the merge's replication origin when the next apply
    // sets it up: PostgreSQL releases its table locks before its origin as it exits (CI saw
    // "replication origin with ID 3 is already active"). A session holding it stands in for one.
    const holder = await eu().client();
    let apply: Exited;
    try {
      await holder.query("SELECT pg_replication_origin_create('steep_merge_lm_link_eu_a172cedc')");
      await holder.query("SELECT pg_replication_origin_session_setup('steep_merge_lm_link_eu_a172cedc')");
      // held past lock_timeout: refused before any lock, naming the origin and what to do
      const short = writeConfig(`${readFileSync(both, 'utf8')}settings:\n  lockTimeout: 1s\n`);
      const refused = await steep(['apply', '--auto-approve', ...MERGE], short);
      expect(refused.code, refused.stderr + refused.stdout).toBe(1);
      expect(refused.stderr).toMatch(
        /link\.lm_link on eu: replication origin steep_merge_lm_link_eu_a172cedc is still held by another session after lock_timeout \(1 s\): .*PID \d+.*; a killed steep run's session lets go of it as it ends: apply again, or end that session \(pg_terminate_backend\)/,
      );
      expect(await subscriptions(us())).toEqual(['p_link_us']);
      // let go while apply waits: it goes on
      const waiting = startApply(both);
      const seen = await Promise.race([
        waiting.when(
          (e) =>
            e.event === 'apply.step_waiting' && (e.message ?? '').includes('steep_merge_lm_link_eu_a172cedc'),
        ),
        waiting.exited.then((r) => ({ message: `apply ended first: ${r.stderr}` })),
      ]);
      expect(seen.message).toMatch(/still held by another session .*; waiting up to 5 s for it/);
      await holder.query('SELECT pg_replication_origin_session_reset()');
      apply = await waiting.exited;
    } finally {
      await holder.end();
    }
    expect(apply.code, apply.stderr + apply.stdout).toBe(0);
    await expectEqual('lm');
    // even keys were newer on us, odd keys on eu
    for (const node of [eu(), us()]) {
      const rows = await node.query<{ id: string; us: boolean }>(
        `SELECT id::text, name LIKE '%(us)' AS us FROM lm.accounts WHERE id <= ${SIZES.accounts.conflicts} ORDER BY id`,
      );
      expect(rows.every((r) => r.us === (Number(r.id) % 2 === 0))).toBe(true);
    }
    expect(await mergeLog(eu(), 'lm_link')).toBe(CONFLICTS);
    expect(await mergeLog(us(), 'lm_link')).toBe(CONFLICTS);
    expect(await subscriptions(eu())).toEqual(['lm_link_eu', 'p_link_eu']);
    // nothing an interrupted merge made is left: one slot per subscription, no steep origin
    await expectOnlyTheLinksSlots();
  }, 240_000);

  it('a row written on each side arrives on the other exactly once; nothing loops; the plan is empty', async () => {
    await eu().query(`INSERT INTO p.accounts VALUES (300001, 'written on eu', 1, now())`);
    await us().query(`INSERT INTO p.accounts VALUES (300002, 'written on us', 2, now())`);
    await us().query(`UPDATE p.accounts SET balance = balance + 10 WHERE id = 5`);
    const onBoth = async (id: number) => {
      const counts = await Promise.all(
        [eu(), us()].map((n) =>
          n.query<{ n: string }>(`SELECT count(*)::text AS n FROM p.accounts WHERE id = ${id}`),
        ),
      );
      return counts.every((c) => c[0]!.n === '1');
    };
    await eventually(
      async () => (await onBoth(300001)) && (await onBoth(300002)),
      HANG_MS,
      'the rows on both nodes',
    );
    await eventually(
      async () => JSON.stringify(await digest(eu(), 'p')) === JSON.stringify(await digest(us(), 'p')),
      HANG_MS,
      'p equal on both',
    );
    const before = await digest(eu(), 'p');
    // nothing loops: twice over, each node confirms all the other has written, so what a loop
    // would send back has been applied on the node it came from (a row inserted there again
    // would stop that apply worker on its key, and the wait with it)
    for (let round = 0; round < 2; round++) {
      await waitCaughtUp(eu(), 'p_link_us_a172cedc');
      await waitCaughtUp(us(), 'p_link_eu_a172cedc');
    }
    expect(await digest(eu(), 'p')).toEqual(before);
    expect(await digest(us(), 'p')).toEqual(before);
    for (const node of [eu(), us()]) {
      const [s] = await node.query<{ e: string }>(
        'SELECT coalesce(sum(apply_error_count), 0)::text AS e FROM pg_stat_subscription_stats',
      );
      expect(s!.e, `${node.name}: apply errors`).toBe('0');
    }
    const replan = await steep(['plan', '--detailed-exitcode'], both);
    expect(replan.code, replan.stdout + replan.stderr).toBe(0);

    // a link has nothing to switch over: refused before anything changes, saying what to do
    const refused = await steep(['switchover', 'p_link_us'], both);
    expect(refused.code, refused.stdout + refused.stderr).toBe(1);
    expect(refused.stderr).toContain(
      "subscription p_link_us is one side of link p_link, and a link has nothing to switch over: eu and us both take writes and each carries the other's back; point the application at us as it is",
    );
    for (const node of [eu(), us()])
      expect(
        (
          await node.query<{ e: boolean }>(
            "SELECT bool_and(subenabled) AS e FROM pg_subscription WHERE subname LIKE 'p_link_%'",
          )
        )[0]!.e,
      ).toBe(true);
    expect(await digest(eu(), 'p')).toEqual(before);
  }, 120_000);

  it('verify --repair of a link table under writes on both nodes empties neither: every row is kept, both equal', async () => {
    // divergence planted under a replication origin, which origin = none never sends across:
    // a row missing on us, a row only on us, a row different on us
    const planted = await us().client();
    try {
      await planted.query("SELECT pg_replication_origin_create('test_plant')");
      await planted.query("SELECT pg_replication_origin_session_setup('test_plant')");
      await planted.query('DELETE FROM p.lines WHERE order_id = 7');
      await planted.query(`INSERT INTO p.lines VALUES (800001, 1, 1, now())`);
      await planted.query('UPDATE p.lines SET qty = 999 WHERE order_id = 9');
      await planted.query('SELECT pg_replication_origin_session_reset()');
      await planted.query("SELECT pg_replication_origin_drop('test_plant')");
    } finally {
      await planted.end();
    }
    const lines = async (node: TestNode) =>
      Number((await node.query<{ n: string }>('SELECT count(*)::text AS n FROM p.lines'))[0]!.n);
    const before = await lines(eu());
    expect(await lines(us())).toBe(before);
    const writers = [startLineWriter(eu(), 700_000), startLineWriter(us(), 750_000)];
    let repaired: Awaited<ReturnType<typeof steep>>;
    let written: number[] = [];
    try {
      await Promise.all(writers.map((w) => writesGoOn(w)));
      repaired = await steep(
        ['verify', 'p_link_us', '--tables', 'p.lines', '--repair', '--allow-destroy', '--json'],
        both,
      );
      await Promise.all(writers.map((w) => writesGoOn(w)));
    } finally {
      written = await Promise.all(writers.map((w) => w.stop()));
    }
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(Math.min(...written), 'each writer committed rows during the repair').toBeGreaterThan(0);
    const out = JSON.parse(repaired.stdout) as {
      before: { tables: Array<{ missing: number; extra: number; different: number }> };
      after: { diverged: boolean };
    };
    expect(out.before.tables[0]).toMatchObject({ missing: 1, extra: 1, different: 1 });
    expect(out.after.diverged).toBe(false);
    // every row: the seeded ones, the one only on us, and every row either writer committed
    const expected = before + 1 + written[0]! + written[1]!;
    await eventually(
      async () => (await lines(eu())) === expected && (await lines(us())) === expected,
      HANG_MS,
      `${expected} lines on both nodes`,
    );
    await eventually(
      async () => JSON.stringify(await digest(eu(), 'p')) === JSON.stringify(await digest(us(), 'p')),
      HANG_MS,
      'p equal on both',
    );
    for (const node of [eu(), us()]) {
      const rows = await node.query<{ k: string; qty: number }>(
        'SELECT l.order_id::text AS k, l.qty FROM p.lines l WHERE l.order_id IN (7, 9, 800001) ORDER BY l.order_id',
      );
      // prefer:eu: eu's row of 9 won
      expect(rows.map((r) => r.k)).toEqual(['7', '9', '800001']);
      expect(rows[1]!.qty).not.toBe(999);
      const [s] = await node.query<{ e: string }>(
        'SELECT coalesce(sum(apply_error_count), 0)::text AS e FROM pg_stat_subscription_stats',
      );
      expect(s!.e, `${node.name}: apply errors`).toBe('0');
      expect(await fenceTriggers(node), `${node.name}: no trigger left`).toBe(0);
    }
    await expectOnlyTheLinksSlots();
    const replan = await steep(['plan', '--detailed-exitcode'], both);
    expect(replan.code, replan.stdout + replan.stderr).toBe(0);
  }, 180_000);

  it('reinit of a link table killed while it takes its write fence: the writes go on, the rerun fences again and every row is on both', async () => {
    // a transaction on us that wrote to p.lines (and will roll back) keeps the fence's trigger
    // there waiting (for its lockTimeout): eu's fence is up (its trigger, its advisory lock), us's is not
    const holder = await us().client();
    const writers = [startLineWriter(eu(), 850_000), startLineWriter(us(), 900_000)];
    let written: number[] = [];
    try {
      await Promise.all(writers.map((w) => writesGoOn(w)));
      await holder.query('BEGIN');
      await holder.query('UPDATE p.lines SET qty = qty WHERE order_id = 5');
      const reinit = await reinitWaiting(both, 'p.lines', us());
      expect(await fenceTriggers(eu()), 'the fence is up on eu').toBe(1);
      reinit.child.kill('SIGKILL');
      expect((await reinit.exited).signal).toBe('SIGKILL');
      await holder.query('ROLLBACK');
      // the killed run's sessions are gone with their advisory lock: eu's writer is let through
      await Promise.all(writers.map((w) => writesGoOn(w)));
      // not finished: not synchronized, and the way out is the reinit that reconciles in place
      const [status, check, drift] = await Promise.all([
        steep(['status', '--json'], both),
        steep(['status', '--check'], both),
        steep(['drift'], both),
      ]);
      const state = (
        JSON.parse(status.stdout) as { subscriptions: Array<{ name: string; state: string }> }
      ).subscriptions.find((x) => x.name === 'p_link_us')?.state;
      expect(state, status.stdout).toBe('reinitializing');
      expect([check.code, drift.code], `${check.stdout}\n${drift.stdout}`).toEqual([2, 2]);
      for (const out of [check.stdout, drift.stdout])
        expect(out).toContain('`steep reinit p_link_us --tables p.accounts,p.lines,p.orders` finishes it');
      const again = await steep(['reinit', 'p_link_us', '--tables', 'p.lines', '--auto-approve'], both);
      expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
      await Promise.all(writers.map((w) => writesGoOn(w)));
    } finally {
      await holder.end();
      written = await Promise.all(writers.map((w) => w.stop()));
    }
    await waitCaughtUp(eu(), 'p_link_us_a172cedc');
    await waitCaughtUp(us(), 'p_link_eu_a172cedc');
    console.log(
      `links: reinit killed at its fence; lines committed by the writers on eu ${written[0]}, on us ${written[1]}`,
    );
    expect(await digest(us(), 'p')).toEqual(await digest(eu(), 'p'));
    for (const [i, node] of [eu(), us()].entries()) {
      const [r] = await eu().query<{ n: number }>(
        'SELECT count(*)::int AS n FROM p.lines WHERE order_id BETWEEN $1 AND $2',
        [850_001 + i * 50_000, 850_000 + i * 50_000 + written[i]!],
      );
      expect(r!.n, `every line ${node.name}'s writer committed`).toBe(written[i]);
      expect(await fenceTriggers(node), `${node.name}: no fence left`).toBe(0);
    }
    await expectOnlyTheLinksSlots();
    const [check, replan] = await Promise.all([
      steep(['status', '--check'], both),
      steep(['plan', '--detailed-exitcode'], both),
    ]);
    expect(check.code, check.stdout).toBe(0);
    expect(replan.code, replan.stdout + replan.stderr).toBe(0);
  }, 180_000);

  it('reinit of two link tables while a transaction writes them in the other order: no deadlock, both commit', async () => {
    // an application transaction holds p.orders on eu while the reinit fences p.lines, then p.orders
    const app = await eu().client();
    try {
      await app.query('BEGIN');
      await app.query('INSERT INTO p.orders VALUES (950001, 1, 1, now())');
      const reinit = await reinitWaiting(both, 'p.lines,p.orders', eu());
      // the same transaction now writes the table the fence took first, and commits
      await app.query('INSERT INTO p.lines VALUES (950001, 1, 1, now())');
      await app.query('COMMIT');
      const done = await reinit.exited;
      expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    } finally {
      await app.end();
    }
    await waitCaughtUp(eu(), 'p_link_us_a172cedc');
    for (const node of [eu(), us()]) {
      const rows = await node.query<{ o: number; l: number }>(
        'SELECT (SELECT count(*)::int FROM p.orders WHERE id = 950001) AS o, (SELECT count(*)::int FROM p.lines WHERE order_id = 950001) AS l',
      );
      expect(rows, `${node.name}: the transaction's rows`).toEqual([{ o: 1, l: 1 }]);
      expect(await fenceTriggers(node), `${node.name}: no fence left`).toBe(0);
    }
    expect(await digest(us(), 'p')).toEqual(await digest(eu(), 'p'));
  }, 180_000);

  it('a link made while a transaction writes two of its tables in the other order: the merge waits, no deadlock', async () => {
    for (const node of [eu(), us()]) {
      await node.query('CREATE SCHEMA dl');
      for (const t of ['a', 'b']) {
        await node.query(`CREATE TABLE dl.${t} (id bigint PRIMARY KEY, v text NOT NULL)`);
        await node.query(`INSERT INTO dl.${t} SELECT g, 'same' FROM generate_series(1, 100) g`);
      }
    }
    const path = file([
      linkYaml('p_link', 'p', 'prefer:eu'),
      linkYaml('lm_link', 'lm', 'last-modified:updated_at'),
      [
        '  dl_link:',
        '    nodes: [eu, us]',
        '    tables: [dl.a, dl.b]',
        '    init: { method: merge, strategy: "prefer:eu" }',
      ].join('\n'),
    ]);
    // the transaction holds dl.b on eu while the merge locks dl.a, then dl.b (the lock alone: no
    // transaction id yet, which the merge's slot would wait for before it locks anything)
    const app = await eu().client();
    try {
      await app.query('BEGIN');
      await app.query('LOCK TABLE dl.b IN ROW EXCLUSIVE MODE');
      const apply = startApply(path);
      await untilWaitingForLock(eu(), 'steep apply (merge)');
      // the same transaction writes dl.b, then the table the merge locked first, and commits
      await app.query(`INSERT INTO dl.b VALUES (1001, 'eu')`);
      await app.query(`INSERT INTO dl.a VALUES (1001, 'eu')`);
      await app.query('COMMIT');
      const done = await apply.exited;
      expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    } finally {
      await app.end();
    }
    await waitCaughtUp(eu(), 'dl_link_us_a172cedc');
    for (const node of [eu(), us()])
      expect(
        await node.query(
          'SELECT (SELECT count(*)::int FROM dl.a) AS a, (SELECT count(*)::int FROM dl.b) AS b, (SELECT count(*)::int FROM dl.a WHERE id = 1001) + (SELECT count(*)::int FROM dl.b WHERE id = 1001) AS app',
        ),
        node.name,
      ).toEqual([{ a: 101, b: 101, app: 2 }]);
    expect((await steep(['plan', '--detailed-exitcode'], path)).code).toBe(0);
    // the next tests' files hold the first two links only: dl_link goes
    const dropped = await steep(['apply', '--auto-approve', '--allow-destroy'], both);
    expect(dropped.code, dropped.stdout + dropped.stderr).toBe(0);
  }, 180_000);

  it("a one-way subscription (origin any) merges too: prefer-target keeps the subscriber's rows, one-sided rows go both ways, then it streams", async () => {
    for (const node of [eu(), us()]) {
      await node.query('CREATE SCHEMA ow');
      await node.query('CREATE TABLE ow.accounts (id bigint PRIMARY KEY, name text NOT NULL)');
      await node.query(`INSERT INTO ow.accounts SELECT g, 'acct ' || g FROM generate_series(1, 200) g`);
    }
    await us().query(`UPDATE ow.accounts SET name = name || ' (us)' WHERE id <= 10`);
    await eu().query(`INSERT INTO ow.accounts SELECT g, 'eu' FROM generate_series(1001, 1005) g`);
    await us().query(`INSERT INTO ow.accounts SELECT g, 'us' FROM generate_series(2001, 2005) g`);
    const path = writeConfig(
      `version: 1\ntopology: regions\n${nodesYaml(cluster().nodes)}\nlinks:\n${linkYaml('p_link', 'p', 'prefer:eu')}\n${linkYaml('lm_link', 'lm', 'last-modified:updated_at')}\n` +
        'publications:\n  ow_pub: { node: eu, tables: [ow.accounts] }\n' +
        'subscriptions:\n  ow_sub: { node: us, from: eu, publications: [ow_pub], init: { method: merge, strategy: prefer-target } }\n',
    );
    const apply = await steep(['apply', '--auto-approve', ...MERGE], path);
    expect(apply.code, apply.stderr + apply.stdout).toBe(0);
    // origin any (PostgreSQL's default) would send writes under the locks back to us: its pass only re-checks there
    expect(apply.stdout).toContain('merges what was written meanwhile after releasing them and locks again');
    // the plan's figure is an estimate; apply says how long writes waited, measured
    expect(apply.stdout).toMatch(/unlocked: writes to the merged tables waited \d+\.\d s on eu and us/);
    const rows = async (node: TestNode) =>
      node.query<{ n: string; us: string }>(
        `SELECT count(*)::text AS n, count(*) FILTER (WHERE name LIKE '%(us)')::text AS us FROM ow.accounts`,
      );
    expect(await rows(eu())).toEqual([{ n: '210', us: '10' }]);
    expect(await rows(us())).toEqual([{ n: '210', us: '10' }]);
    await eu().query(`INSERT INTO ow.accounts VALUES (3001, 'after')`);
    await eventually(async () => (await rows(us()))[0]!.n === '211', HANG_MS, 'the row on us');
    const replan = await steep(['plan', '--detailed-exitcode'], path);
    expect(replan.code, replan.stdout + replan.stderr).toBe(0);
  }, 120_000);

  it.each([
    ['snapshot', "the first node's rows reach the second", 'sn'],
    ['none', 'rows already equal stay so', 'sx'],
  ])(
    'init %s on two fresh nodes: %s, both edges stream; steep never waits on itself',
    async (method, _what, schema) => {
      for (const node of [eu(), us()]) {
        await node.query(`CREATE SCHEMA ${schema}`);
        await node.query(`CREATE TABLE ${schema}.items (id bigint PRIMARY KEY, v text NOT NULL)`);
      }
      const seeded = method === 'none' ? [eu(), us()] : [eu()];
      for (const node of seeded)
        await node.query(`INSERT INTO ${schema}.items SELECT g, 'eu ' || g FROM generate_series(1, 500) g`);
      const items = async (node: TestNode) =>
        Object.values(
          (
            await node.query(
              `SELECT count(*)::text || ' ' || coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS d FROM ${schema}.items t`,
            )
          )[0]!,
        )[0] as string;
      const config = writeConfig(
        `version: 1\ntopology: regions-${method}\n${nodesYaml(cluster().nodes)}\nlinks:\n` +
          `  ${schema}_link:\n    nodes: [eu, us]\n    tables: [${schema}.items]\n    init: { method: ${method} }\n`,
      );
      // both CREATE SUBSCRIPTIONs at once made each slot wait for the other node's create: never done
      const applied = await steep(['apply', '--auto-approve', ...MERGE, '--parallel', '4'], config);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      await eventually(async () => (await items(eu())) === (await items(us())), HANG_MS, "eu's rows on us");
      await us().query(`INSERT INTO ${schema}.items VALUES (900001, 'written on us')`);
      await eu().query(`INSERT INTO ${schema}.items VALUES (900002, 'written on eu')`);
      await eventually(
        async () => (await items(eu())) === (await items(us())),
        HANG_MS,
        "each side's row on the other",
      );
      expect(await items(us())).toMatch(/^502 /);
      const replan = await steep(['plan', '--detailed-exitcode'], config);
      expect(replan.code, replan.stdout + replan.stderr).toBe(0);
    },
    240_000,
  );

  it('last-modified on a table without that column is a plan error naming it and the fix; a strategy of its own per table merges it', async () => {
    for (const node of [eu(), us()]) {
      await node.query('CREATE SCHEMA jt');
      await node.query(
        'CREATE TABLE jt.items (id bigint PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL)',
      );
      // a join table: no updated_at
      await node.query(
        'CREATE TABLE jt.item_tags (item_id bigint NOT NULL, tag text NOT NULL, PRIMARY KEY (item_id, tag))',
      );
      await node.query(
        `INSERT INTO jt.items SELECT g, 'item ' || g, timestamptz '2026-01-01 00:00:00+00' FROM generate_series(1, 100) g`,
      );
      await node.query(`INSERT INTO jt.item_tags SELECT g, 't' || g FROM generate_series(1, 100) g`);
    }
    // a conflict on items (newer on us), one-sided join rows on each node
    await us().query(
      `UPDATE jt.items SET name = 'us', updated_at = updated_at + interval '1 hour' WHERE id = 5`,
    );
    await eu().query(`INSERT INTO jt.item_tags VALUES (1, 'eu')`);
    await us().query(`INSERT INTO jt.item_tags VALUES (2, 'us')`);
    const yaml = (init: string) =>
      writeConfig(
        `version: 1\ntopology: regions\n${nodesYaml(cluster().nodes)}\nlinks:\n${linkYaml('p_link', 'p', 'prefer:eu')}\n${linkYaml('lm_link', 'lm', 'last-modified:updated_at')}\n` +
          `  jt_link:\n    nodes: [eu, us]\n    tables: [jt.items, jt.item_tags]\n    init: ${init}\n` +
          'publications:\n  ow_pub: { node: eu, tables: [ow.accounts] }\n' +
          'subscriptions:\n  ow_sub: { node: us, from: eu, publications: [ow_pub], init: { method: merge, strategy: prefer-target } }\n',
      );
    const refused = yaml('{ method: merge, strategy: "last-modified:updated_at" }');
    const plan = await steep(['plan'], refused);
    expect(plan.code, plan.stdout + plan.stderr).toBe(1);
    expect(plan.stdout + plan.stderr).toContain(
      'link.jt_link: strategy last-modified:updated_at decides conflicting rows by column updated_at, which jt.item_tags lacks on eu and us; ' +
        'give jt.item_tags a strategy of its own in steep.yaml (init: { strategies: { jt.item_tags: "prefer:eu" } }), or add the column',
    );
    const apply = await steep(['apply', '--auto-approve'], refused);
    expect(apply.code).toBe(1);
    // nothing was created: the error is the plan's
    expect(await subscriptions(eu())).not.toContain('jt_link_eu');
    expect((await eu().query("SELECT 1 FROM pg_publication WHERE pubname LIKE 'jt_link%'")).length).toBe(0);

    const fixed = yaml(
      '{ method: merge, strategy: "last-modified:updated_at", strategies: { jt.item_tags: "prefer:eu" } }',
    );
    const applied = await steep(['apply', '--auto-approve', ...MERGE], fixed);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    for (const node of [eu(), us()]) {
      expect(await node.query('SELECT name FROM jt.items WHERE id = 5')).toEqual([{ name: 'us' }]);
      expect(await node.query('SELECT count(*)::int AS n FROM jt.item_tags')).toEqual([{ n: 102 }]);
    }
    const sums = async (node: TestNode) =>
      node.query(
        'SELECT (SELECT sum(hashtextextended(t::text, 0)::numeric)::text FROM jt.items t) AS a, (SELECT sum(hashtextextended(t::text, 0)::numeric)::text FROM jt.item_tags t) AS b',
      );
    expect(await sums(us())).toEqual(await sums(eu()));
    const replan = await steep(['plan', '--detailed-exitcode'], fixed);
    expect(replan.code, replan.stdout + replan.stderr).toBe(0);
  }, 120_000);
});

describe(`a link between two databases of one PostgreSQL ${VERSION} server`, () => {
  /** database eu2 on eu's server, as a node */
  const eu2 = () => otherDatabase(eu(), 'eu2');

  it('merges under writers on both databases without waiting on itself; the slots are made before the locks', async () => {
    await eu().query('CREATE DATABASE eu2');
    for (const node of [eu(), eu2()]) {
      await node.query('CREATE SCHEMA ss');
      await node.query(
        'CREATE TABLE ss.lines (order_id bigint NOT NULL, line_no int NOT NULL, qty int NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (order_id, line_no))',
      );
      await node.query(
        `INSERT INTO ss.lines SELECT g, 1, g % 7, timestamptz '2026-01-01 00:00:00+00' FROM generate_series(1, 2000) g`,
      );
    }
    await eu2().query('UPDATE ss.lines SET qty = qty + 100 WHERE order_id <= 100');
    await eu().query(`INSERT INTO ss.lines SELECT g, 1, 5, now() FROM generate_series(100001, 100050) g`);
    await eu2().query(`INSERT INTO ss.lines SELECT g, 1, 5, now() FROM generate_series(200001, 200050) g`);
    const port = eu().port;
    const path = writeConfig(
      [
        'version: 1',
        'topology: onehost',
        'nodes:',
        ...['eu', 'eu2'].flatMap((n) => [
          `  ${n}:`,
          `    url: postgres://postgres@127.0.0.1:${port}/${n === 'eu' ? 'app' : 'eu2'}`,
          `    password: \${env:EU_PGPASSWORD}`,
        ]),
        'links:',
        '  ss_link:',
        '    nodes: [eu, eu2]',
        '    tables: [ss.lines]',
        '    init: { method: merge, strategy: "prefer:eu" }',
        '',
      ].join('\n'),
    );
    const writers = [startLineWriter(eu(), 500_000, 'ss'), startLineWriter(eu2(), 600_000, 'ss')];
    const apply = startApply(path);
    let applied: Exited;
    let written: number[] = [];
    try {
      applied = await apply.exited;
    } finally {
      written = await Promise.all(writers.map((w) => w.stop()));
    }
    expect(applied.code, applied.stderr).toBe(0);
    expect(Math.min(...written), 'each writer committed rows during the apply').toBeGreaterThan(0);
    expect(apply.events.filter((e) => e.event === 'merge.locked').length, applied.stderr).toBe(1);
    const count = async (node: TestNode) =>
      Number((await node.query<{ n: string }>('SELECT count(*)::text AS n FROM ss.lines'))[0]!.n);
    await eventually(
      async () =>
        (await count(eu())) === 2100 + written[0]! + written[1]! &&
        (await count(eu2())) === 2100 + written[0]! + written[1]!,
      HANG_MS,
      'every row on both databases',
    );
    const sums = async (node: TestNode) =>
      (
        await node.query<{ s: string }>(
          'SELECT sum(hashtextextended(t::text, 0)::numeric)::text AS s FROM ss.lines t',
        )
      )[0]!.s;
    await eventually(async () => (await sums(eu())) === (await sums(eu2())), HANG_MS, 'ss.lines equal');
    // eu won the seeded conflicts, each decided once
    expect(
      await eu2().query('SELECT count(*)::int AS n FROM ss.lines WHERE order_id <= 100 AND qty >= 100'),
    ).toEqual([{ n: 0 }]);
    const [logged] = await eu().query<{ n: number }>(
      "SELECT count(*)::int AS n FROM steep.merge_log WHERE merge_name = 'ss_link' AND node_name = 'eu' AND (row_key->>'order_id')::bigint <= 100",
    );
    expect(logged!.n).toBe(100);
    // one slot per subscription (on the other database of the same server), no steep origin
    expect((await replicationObjects(eu2())).slots).toEqual(['ss_link_eu_4fd1bdca']);
    expect((await replicationObjects(eu())).slots).toContain('ss_link_eu2_a172cedc');
    expect((await replicationObjects(eu())).origins).toEqual([]);
    await eu2().query(`INSERT INTO ss.lines VALUES (900001, 1, 1, now())`);
    await eventually(
      async () => (await eu().query('SELECT 1 FROM ss.lines WHERE order_id = 900001')).length === 1,
      HANG_MS,
      'a row written on eu2 on eu',
    );
    const replan = await steep(['plan', '--detailed-exitcode'], path);
    expect(replan.code, replan.stdout + replan.stderr).toBe(0);
  }, 120_000);
});

describe('a node older than 16 in a link', () => {
  let old: TestCluster | undefined;
  beforeAll(async () => {
    old = await startCluster({ nodes: ['legacy'], version: 15 });
  }, 120_000);
  afterAll(async () => {
    await old?.stop();
  }, HANG_MS);

  it('is a plan error naming the node and its version, and nothing changes', async () => {
    const nodes = [eu(), old!.node('legacy')];
    const path = writeConfig(
      `version: 1\ntopology: regions\n${nodesYaml(nodes)}\nlinks:\n  eu_legacy:\n    nodes: [eu, legacy]\n    tables: [public.t]\n    init: { method: merge, strategy: "prefer:eu" }\n`,
    );
    const r = await runSteep(['apply', '--auto-approve', ...MERGE, '-c', path], {
      env: passwordEnv(nodes),
      timeoutMs: HANG_MS,
    });
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toContain('link eu_legacy: node legacy runs PostgreSQL 15');
    expect(await subscriptions(old!.node('legacy'))).toEqual([]);
  }, 120_000);
});
