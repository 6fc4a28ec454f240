import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSteep, startSteep, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fastCopy,
  fillTables,
  holdCopy,
  slowCopy,
  startWriter,
  type TableDef,
  waitCaughtUp,
} from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * SIGINT and SIGTERM sent to a real `steep reinit`, `steep init cancel` and `steep init prepare`
 * (SPEC §4): each stops where a rerun can pick up, says what it did and the command that
 * finishes it, and exits 130 / 143; the command it names then finishes the work, and the data
 * ends equal on both sides (row counts and checksums, with writes running).
 *
 * 1. reinit, SIGINT mid-copy: the copy goes on in PostgreSQL, the state says copying, the
 *    temporary publications stay; the named rerun resumes it and drops them.
 * 2. init cancel, SIGTERM while its TRUNCATE waits for a lock: the drop and the truncate finish
 *    together, nothing after them; the named rerun records the init uninitialized, and apply
 *    initialises it again.
 * 3. init prepare, SIGTERM while its slot waits for a transaction open on the publisher: the
 *    wait is cancelled, no slot is made (with --json, one document says so); the rerun prepares it.
 * 4. apply killed (SIGKILL) while CREATE SUBSCRIPTION waits: the create completes server-side,
 *    its init step never ran; the next plan shows that init, and apply follows it to synchronized.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

const TABLES: TableDef[] = [
  { name: 'is_a', rows: 60_000 },
  { name: 'is_b', rows: 2_000 },
  { name: 'is_c', rows: 20_000 },
  { name: 'is_m', rows: 1_000 },
  { name: 'is_k', rows: 5_000 },
];
const REPLICATED = ['is_a', 'is_b', 'is_c', 'is_k'];

function nodes(): { east: TestNode; west: TestNode } {
  return { east: cluster().node('east'), west: cluster().node('west') };
}

function env(): Record<string, string> {
  return passwordEnv(cluster().nodes);
}

let path = '';
/** `path` plus west_isk, for the kill scenario */
let killPath = '';
const figures: string[] = [];

async function stateOf(sub: string): Promise<string | undefined> {
  const rows = await nodes().west.query<{ state: string }>(
    'SELECT state FROM steep.subscription_state WHERE subscription = $1',
    [sub],
  );
  return rows[0]?.state;
}

async function temporaryPublications(): Promise<string[]> {
  const rows = await nodes().east.query<{ pubname: string }>(
    "SELECT pubname FROM pg_publication WHERE pubname LIKE 'steep_reinit_%' ORDER BY 1",
  );
  return rows.map((r) => r.pubname);
}

async function slotExists(slot: string): Promise<boolean> {
  const rows = await nodes().east.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return rows.length > 0;
}

describe('SIGINT and SIGTERM during reinit, init cancel and init prepare', () => {
  let writer: ReturnType<typeof startWriter>;

  beforeAll(async () => {
    const { east, west } = nodes();
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    path = writeConfig(
      [
        'version: 1',
        'topology: init-signals',
        nodesYaml([east, west]),
        'publications:',
        '  is_pub:',
        '    node: east',
        '    tables: [public.is_a, public.is_b]',
        '  is_c_pub:',
        '    node: east',
        '    tables: [public.is_c]',
        '  is_m_pub:',
        '    node: east',
        '    tables: [public.is_m]',
        'subscriptions:',
        '  west_is:',
        '    node: west',
        '    from: east',
        '    publications: [is_pub]',
        '  west_isc:',
        '    node: west',
        '    from: east',
        '    publications: [is_c_pub]',
        '  west_ism:',
        '    node: west',
        '    from: east',
        '    publications: [is_m_pub]',
        '    init: { method: manual }',
        '',
      ].join('\n'),
    );
    killPath = writeConfig(
      readFileSync(path, 'utf8')
        .replace(
          'subscriptions:',
          ['  is_k_pub:', '    node: east', '    tables: [public.is_k]', 'subscriptions:'].join('\n'),
        )
        .concat(
          ['  west_isk:', '    node: west', '    from: east', '    publications: [is_k_pub]', ''].join('\n'),
        ),
    );
    // west_is first, to synchronized; west_isc's init is started by the cancel test
    const first = await runSteep(
      ['apply', '--auto-approve', '--target', 'subscription.west_is', '-c', path],
      {
        env: env(),
      },
    );
    expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
    writer = startWriter(east, REPLICATED);
  }, 180_000);

  afterAll(async () => {
    await writer?.stop().catch(() => {});
    if (figures.length > 0) console.log(`initSignals: ${figures.join('; ')}`);
  });

  it('reinit: SIGINT mid-copy exits 130, leaves the copy to PostgreSQL; the named rerun resumes and finishes it', async () => {
    const { west } = nodes();
    // a copy of is_a of ~5 s: 60 pauses of 80 ms
    await slowCopy(west, 'is_a', 1000, 80);
    const reinit = startSteep(
      ['reinit', 'west_is', '--auto-approve', '--tables', 'is_a', '--log-format', 'json', '-c', path],
      env(),
    );
    await reinit.when((e) => e.event === 'init.state_change' && e.phase === 'copying');
    // the follow has sampled the copy at least once: its figures are in the state schema
    await eventually(
      async () =>
        (
          await west.query(
            "SELECT 1 FROM steep.init_progress WHERE subscription = 'west_is' AND phase = 'copying'",
          )
        ).length === 1,
      HANG_MS,
      'a sample of the copy recorded',
    );
    const sentAt = Date.now();
    reinit.child.kill('SIGINT');
    const r = await reinit.exited;
    figures.push(`reinit SIGINT mid-copy → exit in ${r.at - sentAt} ms`);
    expect(r.code, r.stderr).toBe(130);
    const messages = reinit.events.map((e) => e.message ?? '');
    expect(messages).toContain(
      'interrupted (SIGINT): no further statement starts, and a running copy is left to PostgreSQL (a second Ctrl-C exits at once)',
    );
    const stopped = messages.find((m) =>
      m.startsWith('reinit of public.is_a in subscription west_is stopped'),
    );
    expect(stopped, r.stderr).toMatch(
      /^reinit of public\.is_a in subscription west_is stopped while the copy runs: it goes on in PostgreSQL on west \(copying, \d+\.\d% copied\), and the temporary publications stay on east until the reinit is resumed; run `steep reinit west_is --tables public\.is_a` again to resume it; the other tables keep streaming meanwhile$/,
    );
    expect(await stateOf('west_is')).toBe('copying');
    expect(await temporaryPublications()).toEqual(['steep_reinit_0_west_is']);

    // the command it named, as printed
    await fastCopy(west, 'is_a');
    const again = await runSteep(
      ['reinit', 'west_is', '--auto-approve', '--tables', 'public.is_a', '-c', path],
      {
        env: env(),
      },
    );
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.stdout).toMatch(
      /Reinit of public\.is_a in subscription west_is done \(resumed: copying\): west is synchronized/,
    );
    expect(await stateOf('west_is')).toBe('synchronized');
    expect(await temporaryPublications()).toEqual([]);
  }, 120_000);

  it('init cancel: SIGTERM while its TRUNCATE waits finishes the drop and the truncate, then stops; the rerun finishes it', async () => {
    const { west } = nodes();
    // an init under way: west_isc copies slowly
    await slowCopy(west, 'is_c', 1000, 200);
    const started = await runSteep(['apply', '--auto-approve', '--no-wait', '-c', path], { env: env() });
    expect(started.code, `${started.stdout}\n${started.stderr}`).toBe(0);
    expect(await stateOf('west_isc')).toBe('copying');

    // a reader on west holds is_c: the cancel's TRUNCATE waits for it, for its lock_timeout (60 s
    // here: the signal and the reader's COMMIT come within that, even on a loaded machine)
    const patient = writeConfig(`${readFileSync(path, 'utf8')}settings:\n  lockTimeout: 60s\n`);
    const reader: pg.Client = await west.client();
    await reader.query('BEGIN');
    await reader.query('SELECT count(*) FROM public.is_c');
    let exited: Awaited<ReturnType<typeof startSteep>['exited']>;
    try {
      const cancel = startSteep(['init', 'cancel', 'west_isc', '--log-format', 'json', '-c', patient], env());
      await eventually(
        async () =>
          (
            await west.query(
              "SELECT 1 FROM pg_stat_activity WHERE application_name = 'steep init cancel' AND wait_event_type = 'Lock' AND query LIKE 'TRUNCATE%'",
            )
          ).length > 0,
        HANG_MS,
        'the cancel waiting to truncate is_c',
      );
      cancel.child.kill('SIGTERM');
      await cancel.when((e) => (e.message ?? '').startsWith('interrupted (SIGTERM)'));
      await reader.query('COMMIT');
      exited = await cancel.exited;
      expect(exited.code, exited.stderr).toBe(143);
      const messages = cancel.events.map((e) => e.message ?? '');
      expect(messages).toContain(
        'interrupted (SIGTERM): the running statement finishes, nothing starts after it (a second Ctrl-C exits at once)',
      );
      expect(messages).toContain(
        'init cancel of west_isc stopped; done: drop subscription west_isc on west and truncate public.is_c; not done: drop the temporary publications of an interrupted reinit on east, if any; record the init uninitialized; run `steep init cancel west_isc` again to finish it',
      );
    } finally {
      await reader.end().catch(() => {});
    }
    // the drop and the truncate are whole; the state still says what was under way
    expect(await west.query("SELECT 1 FROM pg_subscription WHERE subname = 'west_isc'")).toEqual([]);
    expect(await slotExists('west_isc')).toBe(false);
    expect((await digests(west, ['is_c'])).is_c!.count).toBe(0);
    expect(await stateOf('west_isc')).toBe('copying');

    const again = await runSteep(['init', 'cancel', 'west_isc', '-c', path], { env: env() });
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.stdout).toMatch(
      /^Init of west_isc cancelled \(was copying\): no subscription west_isc on west; now uninitialized/,
    );
    expect(await stateOf('west_isc')).toBe('uninitialized');

    // and apply initialises it again: every row arrives, with the writer running
    await fastCopy(west, 'is_c');
    const apply = await runSteep(['apply', '--auto-approve', '-c', path], { env: env() });
    expect(apply.code, `${apply.stdout}\n${apply.stderr}`).toBe(0);
    expect(await stateOf('west_isc')).toBe('synchronized');
  }, 120_000);

  it('init prepare: SIGTERM while the slot waits for an open transaction cancels the wait, no slot made; the rerun prepares it', async () => {
    const { east } = nodes();
    const blocker = await east.client();
    await blocker.query('BEGIN');
    await blocker.query('SELECT pg_current_xact_id()');
    try {
      const prepare = startSteep(
        ['init', 'prepare', 'west_ism', '--json', '--log-format', 'json', '-c', path],
        env(),
      );
      await eventually(
        async () =>
          (
            await east.query(
              "SELECT 1 FROM pg_stat_activity WHERE application_name = 'steep init prepare' AND backend_type = 'walsender' AND query LIKE 'CREATE_REPLICATION_SLOT%' AND state = 'active'",
            )
          ).length > 0,
        HANG_MS,
        'prepare waiting for the open transaction',
      );
      const sentAt = Date.now();
      prepare.child.kill('SIGTERM');
      const r = await prepare.exited;
      figures.push(`prepare SIGTERM while the slot waits → exit in ${r.at - sentAt} ms`);
      expect(r.code, r.stderr).toBe(143);
      const stopped =
        'init prepare of slot west_ism on east stopped while it waited for the transactions open there to end: no slot was made, nothing was changed';
      expect(prepare.events.map((e) => e.message)).toContain(stopped);
      // with --json, like init cancel and reinit: one document says what the signal stopped
      expect(JSON.parse(r.stdout)).toEqual({ subscription: 'west_ism', signal: 'SIGTERM', stopped });
    } finally {
      await blocker.query('COMMIT').catch(() => {});
      await blocker.end().catch(() => {});
    }
    expect(await slotExists('west_ism')).toBe(false);
    expect(await stateOf('west_ism')).not.toBe('preparing');

    const again = await runSteep(['init', 'prepare', 'west_ism', '-c', path], { env: env() });
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.stdout).toMatch(/^Slot west_ism created on east for subscription west_ism/);
    expect(await slotExists('west_ism')).toBe(true);
    expect(await stateOf('west_ism')).toBe('preparing');
    // nothing left behind for the next test file: the prepared slot goes again
    const cancel = await runSteep(['init', 'cancel', 'west_ism', '-c', path], { env: env() });
    expect(cancel.code, `${cancel.stdout}\n${cancel.stderr}`).toBe(0);
    expect(await slotExists('west_ism')).toBe(false);
  }, 120_000);

  it('apply killed while CREATE SUBSCRIPTION waits: the next plan finishes the init it never started', async () => {
    const { east, west } = nodes();
    // its copy is held (not only slowed: ~10 s slowed was waited out whole by the apply that
    // follows) until the next plan has read it under way
    const releaseCopy = await holdCopy(west, 'is_k');
    const blocker = await east.client();
    await blocker.query('BEGIN');
    await blocker.query('SELECT pg_current_xact_id()');
    try {
      const apply = startSteep(['apply', '--auto-approve', '--log-format', 'json', '-c', killPath], env());
      await apply.when((e) => e.event === 'apply.step_waiting' && e.address === 'subscription.west_isk');
      apply.child.kill('SIGKILL');
      expect((await apply.exited).signal).toBe('SIGKILL');
    } finally {
      await blocker.query('COMMIT').catch(() => {});
      await blocker.end().catch(() => {});
    }
    // the statement goes on server-side: the subscription exists, its init was never recorded
    await eventually(
      async () => (await west.query("SELECT 1 FROM pg_subscription WHERE subname = 'west_isk'")).length > 0,
      HANG_MS,
      'west_isk created server-side',
    );
    expect([undefined, 'uninitialized']).toContain(await stateOf('west_isk'));
    let planned = await runSteep(['plan', '--json', '-c', killPath], { env: env() });
    for (const deadline = Date.now() + HANG_MS; planned.code === 1 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 500));
      planned = await runSteep(['plan', '--json', '-c', killPath], { env: env() });
    }
    expect(planned.code, planned.stderr).toBe(0);
    const steps = (JSON.parse(planned.stdout) as { steps: Array<{ action: string; address: string }> }).steps;
    // killed before its marker was written, it is adopted too
    expect(steps.map((x) => `${x.action} ${x.address}`).sort()).toEqual([
      'adopt subscription.west_isk',
      'init subscription.west_isk',
    ]);
    await releaseCopy();

    let applied = await runSteep(['apply', '--auto-approve', '-c', killPath], { env: env() });
    for (const deadline = Date.now() + HANG_MS; applied.code === 1 && Date.now() < deadline; ) {
      if (!/another steep command holds the lock/.test(applied.stderr)) break;
      await new Promise((r) => setTimeout(r, 500));
      applied = await runSteep(['apply', '--auto-approve', '-c', killPath], { env: env() });
    }
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    expect(await stateOf('west_isk')).toBe('synchronized');
    expect((await runSteep(['plan', '--detailed-exitcode', '-c', killPath], { env: env() })).code).toBe(0);
  }, 180_000);

  it('the data ends equal on both sides, with writes running throughout', async () => {
    const { east, west } = nodes();
    const ops = await writer.stop();
    expect(ops).toBeGreaterThan(20);
    for (const s of ['west_is', 'west_isc', 'west_isk']) await waitCaughtUp(east, s);
    expect(await digests(west, REPLICATED)).toEqual(await digests(east, REPLICATED));
  }, 120_000);
});
