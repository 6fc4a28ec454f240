import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, startSteep, steepWith, writeConfig } from '../support/cli.js';
import { otherDatabase, type TestNode, useCluster } from '../support/cluster.js';
import { createTables, digests, fillTables, waitCaughtUp } from '../support/replicationData.js';
import { eventually, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * No wait is silent, and the plan counts every logical replication worker of the subscriber's
 * server: with max_logical_replication_workers 2 on west, a subscription of another database of
 * west's server takes one, the new subscription's apply worker the other, and no table copy can
 * start. plan warns, naming the setting and the other database's subscription; apply (run anyway)
 * says what its copy waits for at least every 10 s, then gives up at its ceiling with the cause
 * and the way out; followed (that subscription disabled), apply converges.
 */
const cluster = useCluster({
  nodes: ['east', 'west'],
  settings: { max_logical_replication_workers: '2' },
});
const FAIL_AFTER_MS = 4_000;
const env = () => ({ ...passwordEnv(cluster().nodes), STEEP_INIT_FAIL_AFTER_MS: String(FAIL_AFTER_MS) });
const steep = steepWith({ env, timeoutMs: 120_000 });
const out = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

/** The gaps, in seconds, between the JSON log lines of `event` (their timestamps). */
function gaps(r: CliResult, event: string): { count: number; gaps: number[]; messages: string[] } {
  const lines = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { timestamp: string; event: string; message?: string })
    .filter((e) => e.event === event);
  const at = lines.map((e) => Date.parse(e.timestamp));
  return {
    count: lines.length,
    gaps: at.slice(1).map((t, i) => (t - at[i]!) / 1000),
    messages: lines.map((e) => e.message ?? ''),
  };
}

let path = '';
let crm: TestNode;

describe('a copy that waits for a logical replication worker', () => {
  beforeAll(async () => {
    const [east, west] = cluster().nodes as [TestNode, TestNode];
    await createTables(
      [east, west],
      [
        { name: 'ww_t', rows: 500 },
        { name: 'ww_other', rows: 0 },
      ],
    );
    await fillTables(east, [{ name: 'ww_t', rows: 500 }]);
    await east.query('CREATE PUBLICATION ww_other_pub FOR TABLE public.ww_other');
    await west.query('CREATE DATABASE ww_crm');
    crm = otherDatabase(west, 'ww_crm');
    await crm.query(
      'CREATE TABLE public.ww_other (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0)',
    );
    await crm.query(
      `CREATE SUBSCRIPTION ww_crm_in CONNECTION 'host=127.0.0.1 port=${east.port} dbname=app user=postgres password=${east.password}' ` +
        'PUBLICATION ww_other_pub WITH (copy_data = false)',
    );
    path = writeConfig(
      [
        'version: 1',
        'topology: worker-waits',
        nodesYaml(cluster().nodes),
        'publications:',
        '  ww_pub:',
        '    node: east',
        '    tables: [public.ww_t]',
        'subscriptions:',
        '  ww_sub:',
        '    node: west',
        '    from: east',
        '    publications: [ww_pub]',
        '',
      ].join('\n'),
    );
  });

  it('plan warns, naming the setting and the subscription of the other database', async () => {
    const plan = await steep(['plan'], path);
    expect(plan.code, out(plan)).toBe(0);
    expect(out(plan)).toContain(
      'west: max_logical_replication_workers is 2, and the apply workers of 2 enabled subscriptions take them all ' +
        '(other databases of this server: ww_crm_in in ww_crm), so no table copy can start while those run',
    );
  });

  it('apply says what its copy waits for at most 10 s apart, gives up at its ceiling with the way out; followed, it converges', async () => {
    const [east, west] = cluster().nodes as [TestNode, TestNode];
    const t0 = Date.now();
    const r = await steep(['apply', '--auto-approve', '--log-format', 'json'], path);
    const took = (Date.now() - t0) / 1000;
    expect(r.code, out(r)).toBe(1);
    const waits = gaps(r, 'init.waiting');
    // said from the first reading of the wait to its ceiling (4 × the patience), at most 10 s apart
    expect(waits.count, out(r)).toBeGreaterThanOrEqual(3);
    expect(Math.max(...waits.gaps)).toBeLessThanOrEqual(10);
    expect(waits.messages[0]).toMatch(
      /^waiting \d+ s of at most 16 s for a free logical replication worker on west: all 2 of max_logical_replication_workers 2 are in use \(subscription in database \(workers\): .*ww_crm_in in ww_crm \(1\)/,
    );
    expect(r.stderr).toMatch(
      /init of subscription ww_sub on west failed: no table synchronisation worker could start for 1\d s: it waits for a free logical replication worker on west/,
    );
    expect(r.stderr).toContain(
      'raise max_logical_replication_workers on west (a restart), or disable a subscription that need not run now; ' +
        'the subscription stays and PostgreSQL starts its copy once a worker is free: run `steep apply` again to follow it',
    );
    console.log(
      `worker wait: ${waits.count} messages, gaps ${waits.gaps.join(', ')} s, gave up after ${took} s`,
    );

    // init status names the wait too
    const status = await steep(['init', 'status', 'ww_sub'], path);
    expect(status.stdout).toContain(
      'its copy waits for a free logical replication worker on west: all 2 of max_logical_replication_workers 2 are in use',
    );

    // without --log-format json: the progress lines say the same, at most 10 s apart
    const text = await steep(['apply', '--auto-approve'], path);
    expect(text.code, out(text)).toBe(1);
    const stamps = out(text)
      .split('\n')
      .filter((l) => l.includes('for a free logical replication worker on west'))
      .map((l) => /\[(\d\d):(\d\d):(\d\d)\]/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]));
    expect(stamps.length, out(text)).toBeGreaterThanOrEqual(3);
    const textGaps = stamps.slice(1).map((s, i) => s - stamps[i]!);
    expect(Math.max(...textGaps)).toBeLessThanOrEqual(10);
    console.log(`worker wait (text): ${stamps.length} lines, gaps ${textGaps.join(', ')} s`);

    // the way out: the other database's subscription disabled, apply follows the copy through
    await crm.query('ALTER SUBSCRIPTION ww_crm_in DISABLE');
    const resumed = await steep(['apply', '--auto-approve'], path);
    expect(resumed.code, out(resumed)).toBe(0);
    await waitCaughtUp(east, 'ww_sub');
    expect(await digests(west, ['ww_t'])).toEqual(await digests(east, ['ww_t']));
    await crm.query('ALTER SUBSCRIPTION ww_crm_in SET (slot_name = NONE)');
    await crm.query('DROP SUBSCRIPTION ww_crm_in');
    await east.query(`SELECT pg_drop_replication_slot('ww_crm_in')`);
  });

  it('verify waiting for a subscriber whose apply worker is held says so at most 10 s apart, then gives up with the way out', async () => {
    const [east, west] = cluster().nodes as [TestNode, TestNode];
    // a row lock on west holds the apply worker at the next change of that row: nothing replays
    const holder = await west.client();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM public.ww_t WHERE id = 1 FOR UPDATE');
      await east.query(`UPDATE public.ww_t SET v = 'held' WHERE id = 1`);
      // a ceiling of 25 s (STEEP_VERIFY_REPLAY_WAIT_MS; 60 s by default): said every 5 s until it
      const r = await steepWith({
        env: () => ({ ...env(), STEEP_VERIFY_REPLAY_WAIT_MS: '25000' }),
        timeoutMs: 120_000,
      })(['verify', 'ww_sub', '--log-format', 'json'], path);
      expect(r.code, out(r)).toBe(1);
      const waits = gaps(r, 'verify.waiting');
      expect(waits.count, out(r)).toBeGreaterThanOrEqual(4);
      expect(Math.max(...waits.gaps)).toBeLessThanOrEqual(10);
      expect(waits.messages[0]).toMatch(
        /^verify of ww_sub waits for west to replay past its publisher's WAL position [0-9A-F]+\/[0-9A-F]+ \(slot ww_sub; \d+ s of at most 25 s\)/,
      );
      expect(r.stderr).toContain("west has not replayed past the publisher's WAL position");
      expect(r.stderr).toContain('check it with steep status and run verify again once its lag is small');
      console.log(
        `verify wait: ${waits.count} messages, gaps ${waits.gaps.join(', ')} s\n${waits.messages[0]}`,
      );
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    await waitCaughtUp(east, 'ww_sub');
    expect((await steep(['verify', 'ww_sub'], path)).code).toBe(0);
  });

  it('reinit waiting for its slot before the switch says so at most 10 s apart, and goes on once the apply worker is let go', async () => {
    const [east, west] = cluster().nodes as [TestNode, TestNode];
    const holder = await west.client();
    await holder.query('BEGIN');
    await holder.query('SELECT * FROM public.ww_t WHERE id = 2 FOR UPDATE');
    await east.query(`UPDATE public.ww_t SET v = 'held again' WHERE id = 2`);
    const run = startSteep(
      ['reinit', 'ww_sub', '--tables', 'public.ww_t', '--auto-approve', '--log-format', 'json', '-c', path],
      env(),
    );
    const waits = () => run.events.filter((e) => e.event === 'reinit.waiting');
    try {
      await eventually(async () => waits().length >= 2, 60_000, 'two reinit.waiting events');
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    const done = await run.exited;
    expect(done.code, done.stderr).toBe(0);
    const at = run.events
      .filter((e) => e.event === 'reinit.started' || e.event === 'reinit.waiting')
      .map((e) => Date.parse(String((e as { timestamp?: string }).timestamp)));
    const gaps = at.slice(1).map((t, i) => (t - at[i]!) / 1000);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(10);
    expect(String(waits()[0]!.message)).toMatch(
      /^waiting before the switch until slot ww_sub on east confirms a position past the temporary publications: .* \(\d+ s of at most 600 s\)$/,
    );
    console.log(
      `reinit slot wait: ${waits().length} messages, gaps ${gaps.join(', ')} s\n${waits()[0]!.message}`,
    );
    await waitCaughtUp(east, 'ww_sub');
    expect(await digests(west, ['ww_t'])).toEqual(await digests(east, ['ww_t']));
  });
});
