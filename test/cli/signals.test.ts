import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runSteep, type Started, startSteep, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fillTables,
  holdCopy,
  slowCopy,
  startWriter,
  type TableDef,
  waitCaughtUp,
} from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * SIGINT and SIGTERM sent to a real `steep apply` (SPEC §4): no new step starts, a running
 * statement finishes, an init being followed is left to PostgreSQL with its apply_log row
 * `interrupted`, steep says what completed, what still runs and the command that follows it,
 * and exits 130 / 143; a second signal exits at once. Each round's data then arrives whole
 * (row counts and checksums equal, with writes running), and the plan is empty.
 *
 * 1. SIGINT mid-copy: the follow stops, the copy goes on, and the printed
 *    `steep init status SUB --watch` follows it to synchronized.
 * 2. SIGTERM while CREATE SUBSCRIPTION waits for a transaction open on the publisher: steep
 *    says what it waits for and waits; once the transaction ends the create completes, and the
 *    copy it started is recorded, not followed.
 * 3. Two SIGINTs while the same wait: the second exits at once; the next apply converges.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

const TABLES: TableDef[] = [
  { name: 'sg_a', rows: 100_000 },
  { name: 'sg_b', rows: 3_000 },
  { name: 'sg_c', rows: 5_000 },
  { name: 'sg_d', rows: 5_000 },
];
const NAMES = TABLES.map((t) => t.name);

/** `steep apply --auto-approve --log-format json` in the background, its events as they come. */
function startApply(path: string): Started {
  return startSteep(['apply', '--auto-approve', '--log-format', 'json', '-c', path], env());
}

function env(): Record<string, string> {
  return passwordEnv(cluster().nodes);
}

function config(subs: Array<{ name: string; tables: string[] }>): string {
  const { east, west } = nodes();
  return writeConfig(
    [
      'version: 1',
      'topology: signals',
      nodesYaml([east, west]),
      'publications:',
      ...subs.flatMap((s) => [
        `  ${s.name}_pub:`,
        '    node: east',
        `    tables: [${s.tables.map((t) => `public.${t}`).join(', ')}]`,
      ]),
      'subscriptions:',
      ...subs.flatMap((s) => [
        `  ${s.name}:`,
        '    node: west',
        '    from: east',
        `    publications: [${s.name}_pub]`,
      ]),
      '',
    ].join('\n'),
  );
}

function nodes(): { east: TestNode; west: TestNode } {
  return { east: cluster().node('east'), west: cluster().node('west') };
}

/** The apply_log rows of one run on west: step action and address → status. */
async function logOf(runId: string): Promise<Record<string, string>> {
  const rows = await nodes().west.query<{ action: string; address: string; status: string }>(
    'SELECT action, address, status FROM steep.apply_log WHERE run_id = $1::uuid ORDER BY started_at',
    [runId],
  );
  return Object.fromEntries(rows.map((r) => [`${r.action} ${r.address}`, r.status]));
}

/** The run id west's apply_log holds for the last run that touched this address. */
async function lastRun(address: string): Promise<string> {
  const [r] = await nodes().west.query<{ run_id: string }>(
    'SELECT run_id::text FROM steep.apply_log WHERE address = $1 ORDER BY started_at DESC LIMIT 1',
    [address],
  );
  return r!.run_id;
}

/** A transaction open on east with an xid: CREATE SUBSCRIPTION's slot waits for it to end. */
async function openTransaction(): Promise<pg.Client> {
  const c = await nodes().east.client();
  await c.query('BEGIN');
  await c.query('SELECT pg_current_xact_id()');
  return c;
}

const SUB1 = { name: 'west_sg', tables: ['sg_a', 'sg_b'] };
const SUB2 = { name: 'west_sg2', tables: ['sg_c'] };
const SUB3 = { name: 'west_sg3', tables: ['sg_d'] };
const figures: string[] = [];

describe('SIGINT and SIGTERM during steep apply', () => {
  let writer: ReturnType<typeof startWriter>;
  let releaseCopy: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const { east, west } = nodes();
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    // the copy of sg_a held until round 1 has signalled apply (a copy slowed to ~8 s took 40 s
    // under load: the whole wait of round 1's follow to synchronized)
    const release = await holdCopy(west, 'sg_a');
    releaseCopy = async () => {
      releaseCopy = async () => {};
      await release();
    };
    // and of sg_c (~2 s), so its copy still runs when round 2's signal stops the follow
    await slowCopy(west, 'sg_c', 250, 100);
    writer = startWriter(east, NAMES);
  });

  afterAll(async () => {
    await releaseCopy();
    if (figures.length > 0) console.log(`signals: ${figures.join('; ')}`);
  });

  it('SIGINT mid-copy: exit 130, the copy goes on in PostgreSQL, the command it names follows it to synchronized', async () => {
    const path = config([SUB1]);
    const apply = startApply(path);
    await apply.when((e) => e.event === 'init.state_change' && e.phase === 'copying');
    // the follow has sampled the copy at least once: its figures are in the state schema
    await eventually(
      async () =>
        (
          await nodes().west.query(
            "SELECT 1 FROM steep.init_progress WHERE subscription = 'west_sg' AND phase = 'copying'",
          )
        ).length === 1,
      HANG_MS,
      'a sample of the copy recorded',
    );
    const sentAt = Date.now();
    apply.child.kill('SIGINT');
    const r = await apply.exited;
    figures.push(`SIGINT mid-copy → exit in ${r.at - sentAt} ms`);
    expect(hasStackTrace(r.stderr), r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(130);
    const messages = apply.events.map((e) => e.message ?? '');
    expect(messages).toContain('interrupted (SIGINT): no new step starts (a second Ctrl-C exits at once)');
    expect(messages).toContain('stopped by SIGINT: no step started after it.');
    const still = messages.find((m) => m.startsWith('still running: init subscription.west_sg: '));
    expect(still, r.stderr).toMatch(
      /^still running: init subscription\.west_sg: the init of subscription west_sg goes on in PostgreSQL on west \(copying, \d+\.\d% copied\): follow it with `steep init status west_sg --watch`, which records it synchronized once it is, then `steep verify west_sg` compares its rows \(until then it is unverified\)$/,
    );
    const done = messages.find((m) => m.startsWith('completed: '));
    expect(done).toMatch(/create subscription\.west_sg/);
    expect(messages).toContain('not run: none');
    expect(apply.events.some((e) => e.event === 'apply.interrupted')).toBe(true);
    expect(apply.events.some((e) => e.event === 'apply.completed')).toBe(false);

    // the row of the init step says interrupted; nothing is left running
    const runId = await lastRun('subscription.west_sg');
    const log = await logOf(runId);
    expect(log['init subscription.west_sg']).toBe('interrupted');
    expect(log['create subscription.west_sg']).toBe('completed');
    expect(Object.values(log)).not.toContain('running');
    // the copy is still under way: steep left it to PostgreSQL
    const [copying] = await nodes().west.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_subscription_rel sr JOIN pg_subscription s ON s.oid = sr.srsubid
        WHERE s.subname = 'west_sg' AND sr.srsubstate <> 'r'`,
    );
    expect(copying!.n).toBeGreaterThan(0);
    await releaseCopy();

    // the command steep named, as printed
    const watch = startSteep(
      ['init', 'status', 'west_sg', '--watch', '--json', '--interval', '500', '-c', path],
      env(),
    );
    // it exits by itself once west_sg is synchronized: its last refresh says so
    const watched = await Promise.race([
      watch.exited,
      new Promise<null>((r) => setTimeout(() => r(null), HANG_MS)),
    ]);
    if (watched === null) watch.child.kill('SIGINT');
    expect(watched?.code, 'init status --watch exits once synchronized').toBe(0);
    const lines = watch.output.stdout.split('\n').filter((l) => l.trim() !== '');
    expect(lines.at(-1)).toContain('"state":"synchronized"');
    // and it recorded it: status reads it from the state schema, unverified (its rows never
    // compared: the init's comparison was apply's, which the signal stopped) until the verify
    // the message names, then synchronized
    const stateOf = async () => {
      const s = await runSteep(['status', '--json', '-c', path], { env: env() });
      const doc = JSON.parse(s.stdout) as { subscriptions: Array<{ name: string; state: string }> };
      return doc.subscriptions.find((x) => x.name === 'west_sg')?.state;
    };
    await eventually(async () => (await stateOf()) === 'unverified', HANG_MS, 'west_sg recorded, unverified');
    const verified = await runSteep(['verify', 'west_sg', '-c', path], { env: env() });
    expect(verified.code, verified.stdout).toBe(0);
    expect(await stateOf()).toBe('synchronized');
  }, 240_000);

  it('SIGTERM while CREATE SUBSCRIPTION waits: steep says what it waits for, lets it finish, exits 143', async () => {
    const path = config([SUB1, SUB2]);
    const blocker = await openTransaction();
    let exited: Awaited<ReturnType<typeof startApply>['exited']>;
    try {
      const apply = startApply(path);
      await apply.when((e) => e.event === 'apply.step_waiting' && e.address === 'subscription.west_sg2');
      apply.child.kill('SIGTERM');
      await apply.when((e) => (e.message ?? '').startsWith('interrupted (SIGTERM)'));
      // still there, waiting for the statement (a fixed wait: not exiting has no event to wait for)
      await new Promise((r) => setTimeout(r, 1_500));
      expect(apply.child.exitCode).toBeNull();
      expect(apply.events.map((e) => e.message)).toContain(
        'interrupted (SIGTERM): no new step starts; waiting for create subscription.west_sg2 on west to finish (a second Ctrl-C exits at once)',
      );
      const endedAt = Date.now();
      await blocker.query('COMMIT');
      exited = await apply.exited;
      figures.push(
        `SIGTERM during a waiting CREATE SUBSCRIPTION → exit ${exited.at - endedAt} ms after the blocker ended`,
      );
      expect(hasStackTrace(exited.stderr), exited.stderr).toBe(false);
      expect(exited.code, exited.stderr).toBe(143);
      const messages = apply.events.map((e) => e.message ?? '');
      expect(messages).toContain('stopped by SIGTERM: no step started after it.');
      expect(messages.find((m) => m.startsWith('still running: init subscription.west_sg2: '))).toMatch(
        /follow it with `steep init status west_sg2 --watch`/,
      );
    } finally {
      await blocker.end().catch(() => {});
    }
    const log = await logOf(await lastRun('subscription.west_sg2'));
    expect(log).toEqual({
      'create subscription.west_sg2': 'completed',
      'init subscription.west_sg2': 'interrupted',
    });
    const r = await runSteep(['init', 'status', 'west_sg2', '--json', '-c', path], { env: env() });
    expect(r.code, r.stderr).toBe(0);
  }, 240_000);

  it('a second SIGINT exits at once; the next apply converges, rows equal, plan empty', async () => {
    const path = config([SUB1, SUB2, SUB3]);
    const blocker = await openTransaction();
    let runId: string;
    try {
      const apply = startApply(path);
      await apply.when((e) => e.event === 'apply.step_waiting' && e.address === 'subscription.west_sg3');
      apply.child.kill('SIGINT');
      await apply.when((e) => (e.message ?? '').startsWith('interrupted (SIGINT)'));
      const sentAt = Date.now();
      apply.child.kill('SIGINT');
      const r = await apply.exited;
      figures.push(`second SIGINT → exit in ${r.at - sentAt} ms`);
      expect(hasStackTrace(r.stderr), r.stderr).toBe(false);
      expect(r.code, r.stderr).toBe(130);
      expect(apply.events.map((e) => e.message)).toContain(
        'interrupted (SIGINT): exiting now; a statement still running goes on in PostgreSQL, and `steep plan` shows what it left',
      );
      runId = await lastRun('subscription.west_sg3');
      expect(await logOf(runId)).toEqual({ 'create subscription.west_sg3': 'running' });
    } finally {
      await blocker.query('COMMIT').catch(() => {});
      await blocker.end().catch(() => {});
    }
    // the CREATE SUBSCRIPTION went on server-side; its session holds the lock until it ends
    let again = await runSteep(['apply', '--auto-approve', '-c', path], { env: env() });
    for (const deadline = Date.now() + HANG_MS; again.code === 1 && Date.now() < deadline; ) {
      if (!/another steep command holds the lock/.test(again.stderr)) break;
      await new Promise((r) => setTimeout(r, 500));
      again = await runSteep(['apply', '--auto-approve', '-c', path], { env: env() });
    }
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    // the killed run's row is closed by the apply that came next
    const [row] = await nodes().west.query<{ status: string; error: string }>(
      'SELECT status, error FROM steep.apply_log WHERE run_id = $1::uuid',
      [runId],
    );
    expect(row!.status).not.toBe('running');
    expect(row!.error).toMatch(/^interrupted: /);

    const { east, west } = nodes();
    const ops = await writer.stop();
    expect(ops).toBeGreaterThan(50);
    for (const s of [SUB1, SUB2, SUB3]) await waitCaughtUp(east, s.name);
    await eventually(
      async () => {
        const rows = await west.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_subscription_rel WHERE srsubstate <> 'r'`,
        );
        return rows[0]!.n === 0;
      },
      HANG_MS,
      'every table ready',
    );
    for (const s of [SUB1, SUB2, SUB3]) await waitCaughtUp(east, s.name);
    expect(await digests(west, NAMES)).toEqual(await digests(east, NAMES));
    await eventually(
      async () => (await runSteep(['plan', '--detailed-exitcode', '-c', path], { env: env() })).code === 0,
      HANG_MS,
      'an empty plan',
    );
  }, 240_000);
});
