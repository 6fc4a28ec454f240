import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliResult,
  expectCleanOutput,
  REPO_ROOT,
  steepEnv,
  steepWith,
  writeConfig,
} from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fastCopy,
  fillTables,
  oneTableCopying,
  slowCopy,
  type TableDef,
  waitCaughtUp,
} from '../support/replicationData.js';
import { TcpProxy } from '../support/tcpProxy.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep apply --auto-approve` and `steep init cancel` started together against the same two
 * nodes, round after round, with different head starts, from a fresh topology and from an init
 * that failed (the one case where both have work on the same subscription). The advisory lock
 * serialises them: each exits 0 or 1; one that lost the lock says who holds it and what to do;
 * afterwards the catalog, the publisher's slots and steep.subscription_state agree with whichever
 * ran last, nothing is left running or locked, and a plain apply converges to synchronized with
 * both sides equal and an empty plan.
 *
 * The subscriber reaches the publisher through a TCP proxy (test/support/tcpProxy.ts), so a
 * round can start from a failed init: the proxy refuses connections mid-copy until apply records
 * `failed`, then lets them through again.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

const TABLES: TableDef[] = [
  { name: 'rc_a', rows: 60_000 },
  { name: 'rc_b', rows: 2_000 },
];
const NAMES = TABLES.map((t) => t.name);
const SUB = 'west_rc';

type Start = 'fresh' | 'failed';
interface Round {
  start: Start;
  /** ms the cancel starts after the apply; negative: before it */
  cancelAfterMs: number;
}

const ROUNDS: Round[] = [
  { start: 'fresh', cancelAfterMs: -400 },
  { start: 'fresh', cancelAfterMs: 0 },
  { start: 'fresh', cancelAfterMs: 300 },
  { start: 'fresh', cancelAfterMs: 1_500 },
  { start: 'failed', cancelAfterMs: -400 },
  { start: 'failed', cancelAfterMs: 0 },
  { start: 'failed', cancelAfterMs: 300 },
  { start: 'failed', cancelAfterMs: 1_500 },
];

/** An apply whose plan the other command overtook between planning and locking. */
const STALE =
  /the nodes changed since this plan was made \(another steep command or someone else came in between\): .*nothing was changed — run steep apply again/;

/** Who held the lock when a process lost it, as the message names it. */
const LOCK_LOST =
  /node (east|west): another steep command holds the lock: (steep apply|steep init cancel) \(pid \d+, since [^)]+\); wait for it to finish, or end that session/;

/** util-linux `script`, to give an apply the terminal its confirmation prompt needs. */
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;

/**
 * `steep apply` (no --auto-approve) on a pseudo-terminal: resolves `prompted` once it asks for
 * confirmation; `answer` types the reply; `done` is the result (stdout and stderr merged, as a
 * terminal shows them).
 */
function confirmingApply(
  args: string[],
  env: Record<string, string>,
): { prompted: Promise<void>; answer: (text: string) => void; done: Promise<CliResult> } {
  const t0 = Date.now();
  const command = [process.execPath, join(REPO_ROOT, 'bin/run.js'), 'apply', ...args]
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  // a terminal of a usual width: script's own has none, and progress lines wrap at it
  const child = spawn('script', ['-qfec', `stty cols 160 rows 50; exec ${command}`, '/dev/null'], {
    env: steepEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), HANG_MS);
  let out = '';
  let prompted: () => void = () => {};
  const asked = new Promise<void>((resolve) => {
    prompted = resolve;
  });
  const collect = (d: Buffer) => {
    out += d.toString();
    if (out.includes("Only 'yes' is accepted")) prompted();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      prompted();
      resolve({ code: code ?? (signal ? 128 : 1), stdout: out, stderr: out, ms: Date.now() - t0 });
    });
  });
  return { prompted: asked, answer: (text) => child.stdin.write(text), done };
}

describe('apply and init cancel racing on the same nodes', () => {
  let proxy: TcpProxy;
  let withSub: string;
  let withoutSub: string;
  const outcomes: string[] = [];

  beforeAll(async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    proxy = await TcpProxy.start(east.port);
    const line = `    url: postgres://postgres@127.0.0.1:${east.port}/app\n`;
    const head = [
      'version: 1',
      'topology: apply-cancel-race',
      nodesYaml([east, west]).replace(
        line,
        `${line}    replicationUrl: postgres://127.0.0.1:${proxy.port}/app\n`,
      ),
      'publications:',
      '  rc_pub:',
      '    node: east',
      `    tables: [${NAMES.map((t) => `public.${t}`).join(', ')}]`,
    ];
    withSub = writeConfig(
      [
        ...head,
        'subscriptions:',
        `  ${SUB}:`,
        '    node: west',
        '    from: east',
        '    publications: [rc_pub]',
        '',
      ].join('\n'),
    );
    withoutSub = writeConfig([...head, ''].join('\n'));
  });

  afterAll(async () => {
    console.log(`apply/cancel race outcomes:\n${outcomes.join('\n')}`);
    await proxy?.open();
    await cluster()
      .node('west')
      .query(`DROP SUBSCRIPTION IF EXISTS ${SUB}`)
      .catch(() => {});
    await proxy?.stop();
  });

  const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

  function expectClean(r: CliResult, what: string): void {
    expectCleanOutput(what, r);
    expect([0, 1], `${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`).toContain(r.code);
  }

  async function recorded(): Promise<{ state: string; error: string | null } | null> {
    const rows = await cluster()
      .node('west')
      .query<{ state: string; error: string | null }>(
        'SELECT state, error FROM steep.subscription_state WHERE subscription = $1',
        [SUB],
      )
      .catch(() => []);
    return rows[0] ?? null;
  }

  async function subscriptionExists(): Promise<boolean> {
    return (
      (await cluster().node('west').query('SELECT 1 FROM pg_subscription WHERE subname = $1', [SUB])).length >
      0
    );
  }

  async function slots(): Promise<string[]> {
    const rows = await cluster()
      .node('east')
      .query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots ORDER BY 1');
    return rows.map((r) => r.slot_name);
  }

  /** No subscription, its slot dropped, its tables empty, its state forgotten: as steep itself removes it. */
  async function reset(): Promise<void> {
    const west = cluster().node('west');
    if (await subscriptionExists()) {
      const r = await steep(['apply', '--auto-approve', '--allow-destroy'], withoutSub);
      expect(r.code, `reset: ${r.stdout}\n${r.stderr}`).toBe(0);
    }
    await west.query(`TRUNCATE ${NAMES.map((t) => `public.${t}`).join(', ')}`);
    // a copy of about 2.5 s: long enough to race (the converging apply copies at full speed)
    await fastCopy(west, 'rc_a');
    await slowCopy(west, 'rc_a', 1000, 40);
    await eventually(async () => (await slots()).length === 0, HANG_MS, 'no slot left on east');
    expect(await recorded().then((s) => s?.state ?? 'uninitialized')).toBe('uninitialized');
  }

  /** An init that failed mid-copy (the subscriber's path cut until apply recorded it), the path open again. */
  async function failedInit(): Promise<void> {
    const west = cluster().node('west');
    const applying = steep(['apply', '--auto-approve'], withSub, { STEEP_INIT_FAIL_AFTER_MS: '1000' });
    await oneTableCopying(west, SUB);
    await proxy.refuse();
    const r = await applying;
    await proxy.open();
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    expect((await recorded())?.state).toBe('failed');
  }

  /** Start both with the round's head start; both results. */
  async function race(round: Round): Promise<{ apply: CliResult; cancel: CliResult }> {
    const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const applyAt = Math.max(0, -round.cancelAfterMs);
    const cancelAt = Math.max(0, round.cancelAfterMs);
    const [apply, cancel] = await Promise.all([
      delay(applyAt).then(() => steep(['apply', '--auto-approve'], withSub)),
      delay(cancelAt).then(() => steep(['init', 'cancel', SUB], withSub)),
    ]);
    return { apply, cancel };
  }

  /** What the nodes hold agrees with itself: subscription, slot, recorded state, no lock, no running step. */
  async function expectConsistent(label: string): Promise<'subscribed' | 'cancelled'> {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await eventually(
        async () => (await n.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory'")).length === 0,
        HANG_MS,
        `${label}: no advisory lock on ${n.name}`,
      );
      const running = await n
        .query("SELECT address FROM steep.apply_log WHERE status = 'running'")
        .catch(() => []);
      expect(running, `${label}: running apply_log rows on ${n.name}`).toEqual([]);
    }
    const state = (await recorded())?.state ?? 'uninitialized';
    if (await subscriptionExists()) {
      expect(
        ['copying', 'catching_up', 'synchronized', 'failed'],
        `${label}: state of an existing subscription`,
      ).toContain(state);
      expect(await slots(), `${label}: its slot`).toContain(SUB);
      return 'subscribed';
    }
    expect(state, `${label}: state without a subscription`).toBe('uninitialized');
    // PostgreSQL drops a table-sync slot a moment after its worker ends
    await eventually(async () => (await slots()).length === 0, HANG_MS, `${label}: no slot left on east`);
    expect(await digests(west, NAMES), `${label}: nothing copied is left`).toEqual({
      rc_a: { count: 0, sum: '0' },
      rc_b: { count: 0, sum: '0' },
    });
    return 'cancelled';
  }

  it.skipIf(!HAS_SCRIPT)(
    'a plan confirmed after a cancel ran meanwhile is refused, not run on what the cancel removed',
    async () => {
      const label = 'confirmed after a cancel';
      await reset();
      await failedInit();
      const apply = confirmingApply(['-c', withSub], passwordEnv(cluster().nodes));
      await apply.prompted;
      // the plan on screen follows the failed init again; meanwhile, someone cancels that init
      const cancel = await steep(['init', 'cancel', SUB], withSub);
      expectClean(cancel, `${label}: cancel`);
      expect(cancel.code, cancel.stderr).toBe(0);
      apply.answer('yes\n');
      const r = await apply.done;
      console.log(`${label}: apply exited ${r.code} after ${r.ms} ms:\n${r.stdout}`);
      outcomes.push(`${label}: apply exited ${r.code}`);
      expectClean(r, `${label}: apply`);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout).toMatch(STALE);
      expect(r.stdout).toMatch(/subscription\.west_rc: the catalog rows it depends on on west changed/);
      expect(await expectConsistent(label)).toBe('cancelled');
    },
    180_000,
  );

  it.each(ROUNDS.map((r, i) => [i + 1, r] as const))(
    'round %i: %o',
    async (n, round) => {
      const east = cluster().node('east');
      const west = cluster().node('west');
      const label = `round ${n} (${round.start}, cancel ${round.cancelAfterMs >= 0 ? '+' : ''}${round.cancelAfterMs} ms)`;
      await reset();
      if (round.start === 'failed') await failedInit();

      const { apply, cancel } = await race(round);
      expectClean(apply, `${label}: apply`);
      expectClean(cancel, `${label}: cancel`);
      const applyLost = apply.code === 1 && LOCK_LOST.test(apply.stderr);
      const cancelLost = cancel.code === 1 && LOCK_LOST.test(cancel.stderr);
      const applyStale = apply.code === 1 && STALE.test(apply.stderr);
      // a process that failed did so because it lost the lock, or for a reason it states
      if (apply.code === 1 && !applyLost && !applyStale)
        expect.fail(`${label}: apply failed otherwise:\n${apply.stdout}\n${apply.stderr}`);
      if (cancel.code === 1 && !cancelLost)
        expect(cancel.stderr, `${label}: cancel failed otherwise`).toMatch(
          /subscription west_rc on west is synchronized: there is no init to cancel/,
        );
      // both take the nodes in the same order: one of them always gets through
      expect(applyLost && cancelLost, `${label}: both lost the lock`).toBe(false);
      if (applyLost) expect(apply.stderr).toMatch(/holds the lock: steep init cancel/);
      if (cancelLost) expect(cancel.stderr).toMatch(/holds the lock: steep apply/);

      const held = await expectConsistent(label);
      // whichever ran last decides
      if (apply.code === 0 && cancel.code === 0) {
        // cancel finished before apply took the lock, or apply before cancel took it (a failed
        // init apply synchronized cannot be cancelled, so that order is impossible)
        expect(held, label).toBe('subscribed');
      } else if (apply.code === 0) expect(held, label).toBe('subscribed');
      else if (cancel.code === 0) expect(held, label).toBe('cancelled');
      if (held === 'subscribed' && apply.code === 0)
        expect(await recorded(), label).toEqual({ state: 'synchronized', error: null });

      const won =
        apply.code === 0 && cancel.code === 0
          ? 'both ran: cancel, then apply'
          : apply.code === 0
            ? `apply won (cancel: ${cancelLost ? 'lost the lock' : 'nothing to cancel'})`
            : cancel.code === 0
              ? `cancel won (apply ${applyLost ? 'lost the lock' : 'refused its plan, overtaken by the cancel'})`
              : 'both lost the lock';
      outcomes.push(`${label}: ${won}; apply ${apply.ms} ms, cancel ${cancel.ms} ms; left ${held}`);

      // from whatever it left, a plain apply converges (at full speed: the race is over)
      await fastCopy(west, 'rc_a');
      const again = await steep(['apply', '--auto-approve'], withSub);
      expectClean(again, `${label}: converging apply`);
      expect(again.code, `${label}: converging apply\n${again.stdout}\n${again.stderr}`).toBe(0);
      expect(await recorded(), label).toEqual({ state: 'synchronized', error: null });
      await waitCaughtUp(east, SUB);
      expect(await digests(west, NAMES), label).toEqual(await digests(east, NAMES));
      const plan = await steep(['plan', '--detailed-exitcode'], withSub);
      expect(plan.code, `${label}: plan after converging\n${plan.stdout}`).toBe(0);
    },
    180_000,
  );
});
