import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliResult, steepWith, writeConfig } from '../support/cli.js';
import { faultVersions, type TestNode, useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fastCopy,
  fillTables,
  oneTableCopying,
  slowCopy,
  startWriter,
  type TableDef,
  waitCaughtUp,
} from '../support/replicationData.js';
import { dropReplication } from '../support/reset.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A node restarted with `pg_ctl restart -m immediate` (a crash, then recovery) while `steep
 * apply` runs (on faultVersions(): 18, or what STEEP_TEST_PG names): publisher east, subscriber west.
 *
 * - During the steps (one held in a lock wait, or the node's session idle between two steps):
 *   apply exits 1 soon after, with one sentence naming the node, saying the connection was lost
 *   and to run apply again; no stack trace, no crash.
 * - The subscriber during an init's COPY: the restart took apply's session and lock there, so
 *   apply stops with that reason, records the init `failed` once west answers again, and exits 1.
 * - The publisher during an init's COPY: apply only reads the publisher while it follows, and
 *   PostgreSQL reconnects by itself: apply rides it out and reaches synchronized.
 *
 * After each, a plain `steep apply` converges: plan empty, only the declared slots on east, no
 * `running` step left in apply_log, no advisory lock held, rows replicate (both sides equal).
 * Every wait is bounded; each test prints its timings.
 */

/** What a restarted node's apply session leaves behind, said by name (not the driver's words alone). */
const LOST = (node: string) =>
  new RegExp(
    `lost the connection to ${node} \\([^)]+\\): the server restarted or stopped, or ended steep's session, and apply's lock there with it`,
  );

describe.each(faultVersions())('a node restarted (immediate) during apply on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  let holder: pg.Client | undefined;

  afterEach(async () => {
    await holder?.end().catch(() => {});
    holder = undefined;
    await reset();
  });

  function env(): Record<string, string> {
    return passwordEnv(cluster().nodes);
  }

  const steep = steepWith({ env, timeoutMs: 180_000 });

  /** Back to no steep objects; the tables stay (each test makes its own). */
  async function reset(): Promise<void> {
    await dropReplication(cluster().nodes);
  }

  /** One publication `<p>_pub` on east and one subscription `west_<p>` on west per entry. */
  function topology(name: string, pubs: Record<string, string[]>, settings: string[] = []): string {
    return writeConfig(
      [
        'version: 1',
        `topology: ${name}`,
        ...(settings.length > 0 ? ['settings:', ...settings.map((s) => `  ${s}`)] : []),
        nodesYaml([cluster().node('east'), cluster().node('west')]),
        'publications:',
        ...Object.entries(pubs).flatMap(([p, tables]) => [
          `  ${p}_pub:`,
          '    node: east',
          `    tables: [${tables.map((t) => `public.${t}`).join(', ')}]`,
        ]),
        'subscriptions:',
        ...Object.keys(pubs).flatMap((p) => [
          `  west_${p}:`,
          '    node: west',
          '    from: east',
          `    publications: [${p}_pub]`,
        ]),
        '',
      ].join('\n'),
    );
  }

  async function waitFor(node: TestNode, sql: string, what: string, timeoutMs = HANG_MS): Promise<void> {
    await eventually(async () => (await node.query(sql)).length > 0, timeoutMs, what);
  }

  /** A session on `node` holding `lock` in an open transaction, as a long report would. */
  async function hold(node: TestNode, lock: string): Promise<pg.Client> {
    const c = await node.client();
    await c.query("SET application_name = 'a long report'");
    await c.query('BEGIN');
    await c.query(lock);
    return c;
  }

  /** apply's own session on `node` waits for a lock */
  const APPLY_WAITS =
    "SELECT 1 FROM pg_stat_activity WHERE application_name = 'steep apply' AND wait_event_type = 'Lock'";

  async function slotNames(n: TestNode): Promise<string[]> {
    const rows = await n.query<{ slot_name: string }>(
      'SELECT slot_name FROM pg_replication_slots ORDER BY 1',
    );
    return rows.map((r) => r.slot_name);
  }

  async function runningSteps(n: TestNode): Promise<string[]> {
    const rows = await n.query<{ address: string }>(
      "SELECT address FROM steep.apply_log WHERE status = 'running' ORDER BY 1",
    );
    return rows.map((r) => r.address);
  }

  /**
   * A plain `steep apply` converges: exit 0, plan empty, only the declared slots, no step left
   * `running`, no advisory lock, rows replicate through every subscription. Returns its duration.
   */
  async function expectConverged(
    path: string,
    tables: Record<string, string[]>,
    round: number,
  ): Promise<number> {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const again = await steep(['apply', '--auto-approve'], path);
    expect(again.code, `re-apply\n${again.stdout}\n${again.stderr}`).toBe(0);
    const plan = await steep(['plan', '--detailed-exitcode'], path);
    expect(plan.code, `plan after re-apply\n${plan.stdout}\n${plan.stderr}`).toBe(0);
    const declared = Object.keys(tables)
      .map((p) => `west_${p}`)
      .sort();
    // table-sync slots come and go while an initial copy runs
    await eventually(
      async () => JSON.stringify(await slotNames(east)) === JSON.stringify(declared),
      HANG_MS,
      `slots on east = ${declared.join(', ')} (have ${(await slotNames(east)).join(', ')})`,
    );
    for (const n of [east, west]) {
      expect(await runningSteps(n), `running steps on ${n.name}`).toEqual([]);
      await eventually(
        async () => (await n.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory'")).length === 0,
        HANG_MS,
        `no advisory lock on ${n.name}`,
      );
    }
    const id = 1_000_000 + round;
    for (const t of Object.values(tables).flat()) {
      await east.query(`INSERT INTO public.${t} (id, v) VALUES ($1, 'after the restart')`, [id]);
      await eventually(
        async () => (await west.query(`SELECT 1 FROM public.${t} WHERE id = $1`, [id])).length === 1,
        HANG_MS,
        `row ${id} of ${t} on west`,
      );
    }
    return again.ms;
  }

  it('the publisher, while a step on it and one that needs it wait: exit 1 naming east, then converges', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const tables = { ra_a: ['ra_a'], ra_b: ['ra_b'], ra_c: ['ra_c'] };
    await createTables(
      [east, west],
      Object.keys(tables).map((name) => ({ name, rows: 0 })),
    );
    const path = topology('restart-apply-pub', tables, ['lockTimeout: 60s']);
    // CREATE PUBLICATION ra_c_pub waits for this lock (within lockTimeout), holding a
    // transaction id; a CREATE SUBSCRIPTION on west meanwhile waits for that transaction to
    // make its slot on east. The lock's own transaction takes an id too: a slot waits for every
    // transaction that has one, so the CREATE SUBSCRIPTIONs wait even when they reach east
    // before CREATE PUBLICATION ra_c_pub took its id (under load on 14, one run in the full
    // suite made both slots first and never waited)
    holder = await hold(east, 'LOCK TABLE public.ra_c IN EXCLUSIVE MODE');
    await holder.query('SELECT pg_catalog.txid_current()');
    const applying = steep(['apply', '--auto-approve'], path);
    await waitFor(east, APPLY_WAITS, 'CREATE PUBLICATION ra_c_pub to wait for the lock');
    // its walsender waits on the transaction id, or (reading WAL for a consistent point) for WAL:
    // either way the slot cannot be made while the lock's transaction is open
    await waitFor(
      east,
      "SELECT 1 FROM pg_stat_activity WHERE backend_type = 'walsender' AND state = 'active' AND query LIKE 'CREATE_REPLICATION_SLOT%'",
      'a CREATE SUBSCRIPTION to wait for its slot on east',
    );
    const t0 = Date.now();
    await east.restart('immediate');
    const failed = await applying;
    const failMs = Date.now() - t0;
    expect(failed.code, `${failed.stdout}\n${failed.stderr}`).toBe(1);
    expect(failed.stderr).toMatch(
      new RegExp(
        `^failed: publication\\.ra_c_pub on east: ${LOST('east').source}; once east accepts connections again, run steep apply again: its plan reads from the catalog whether this step took effect$`,
        'm',
      ),
    );
    // the CREATE SUBSCRIPTION that waited for its slot: PostgreSQL's message, on one line
    expect(failed.stderr).toMatch(
      /^failed: subscription\.west_ra_[ab] on west: could not create replication slot "west_ra_[ab]": .*$/m,
    );
    expect(failed.stderr).toMatch(/^not run: .*create subscription\.west_ra_c/m);
    expect(failMs, 'apply still running 120 s after the restart: a hang').toBeLessThan(120_000);
    // the slot being made when east went down was never persisted
    expect((await slotNames(east)).filter((s) => !s.startsWith('pg_'))).toEqual(
      (await west.query<{ subname: string }>('SELECT subname FROM pg_subscription ORDER BY 1')).map(
        (s) => s.subname,
      ),
    );

    const resumeMs = await expectConverged(path, tables, 1);
    console.info(
      `PG${version} publisher restarted mid-step: apply failed ${failMs} ms after; resume ${resumeMs} ms`,
    );
  }, 180_000);

  it('the subscriber, while CREATE SUBSCRIPTION waits on it: exit 1 naming west, no slot left on east, then converges', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const tables = { rb_a: ['rb_a'], rb_b: ['rb_b'] };
    await createTables(
      [east, west],
      Object.keys(tables).map((name) => ({ name, rows: 0 })),
    );
    const path = topology('restart-apply-sub', tables, ['lockTimeout: 60s']);
    // CREATE SUBSCRIPTION opens pg_subscription first, before it reaches the publisher
    holder = await hold(west, 'LOCK TABLE pg_catalog.pg_subscription IN EXCLUSIVE MODE');
    const applying = steep(['apply', '--auto-approve'], path);
    // the subscription's own CREATE, not apply's probe before it (which gives way after 1 s)
    await waitFor(
      west,
      `${APPLY_WAITS} AND query LIKE 'CREATE SUBSCRIPTION "west_rb_a"%'`,
      'CREATE SUBSCRIPTION to wait for the lock',
    );
    const t0 = Date.now();
    await west.restart('immediate');
    const failed = await applying;
    const failMs = Date.now() - t0;
    expect(failed.code, `${failed.stdout}\n${failed.stderr}`).toBe(1);
    expect(failed.stderr).toMatch(
      new RegExp(
        `^failed: subscription\\.west_rb_a on west: ${LOST('west').source}; once west accepts connections again, run steep apply again`,
        'm',
      ),
    );
    expect(failed.stderr).toMatch(/^not run: .*create subscription\.west_rb_b/m);
    expect(failMs, 'apply still running 120 s after the restart: a hang').toBeLessThan(120_000);
    expect(await slotNames(east)).toEqual([]);

    const resumeMs = await expectConverged(path, tables, 2);
    console.info(
      `PG${version} subscriber restarted mid-step: apply failed ${failMs} ms after; resume ${resumeMs} ms`,
    );
  }, 180_000);

  it('the subscriber, between its steps: the next step finds the session gone, exit 1 naming west (no hang, no crash), then converges', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const tables = { rc_a: ['rc_a'], rc_b: ['rc_b'] };
    await createTables(
      [east, west],
      Object.keys(tables).map((name) => ({ name, rows: 0 })),
    );
    const path = topology('restart-apply-idle', tables, ['lockTimeout: 60s']);
    // the publications wait (CREATE PUBLICATION opens pg_publication first); west's session
    // is idle once its state schema is made, until the subscriptions may run
    holder = await hold(east, 'LOCK TABLE pg_catalog.pg_publication IN EXCLUSIVE MODE');
    const applying = steep(['apply', '--auto-approve'], path);
    await waitFor(east, APPLY_WAITS, 'CREATE PUBLICATION to wait for the lock');
    await eventually(
      async () => {
        const [made] = await west.query<{ ok: boolean }>(
          "SELECT to_regclass('steep.apply_log') IS NOT NULL AS ok",
        );
        if (!made?.ok) return false;
        const done = await west.query(
          "SELECT 1 FROM steep.apply_log WHERE address = 'node.west' AND status = 'completed'",
        );
        return done.length > 0;
      },
      HANG_MS,
      "west's state schema made and recorded (apply's session there idle since)",
    );
    const t0 = Date.now();
    await west.restart('immediate');
    await holder.query('ROLLBACK');
    const failed = await applying;
    const failMs = Date.now() - t0;
    expect(failed.code, `${failed.stdout}\n${failed.stderr}`).toBe(1);
    expect(failed.stderr).toMatch(
      new RegExp(
        `^failed: subscription\\.west_rc_a on west: ${LOST('west').source}; once west accepts connections again, run steep apply again`,
        'm',
      ),
    );
    expect(failed.stderr).toMatch(/^completed: .*create publication\.rc_b_pub/m);
    expect(failMs, 'apply still running 120 s after the restart: a hang').toBeLessThan(120_000);

    const resumeMs = await expectConverged(path, tables, 3);
    console.info(
      `PG${version} subscriber restarted between steps: apply failed ${failMs} ms after; resume ${resumeMs} ms`,
    );
  }, 180_000);

  /** A snapshot init of `<prefix>_a` (slow to copy into west) and `<prefix>_b`; resolves once a table is in state d. */
  async function slowInit(
    prefix: string,
  ): Promise<{ path: string; names: string[]; applying: Promise<CliResult> }> {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const defs: TableDef[] = [
      { name: `${prefix}_a`, rows: 60_000 },
      { name: `${prefix}_b`, rows: 5_000 },
    ];
    const names = defs.map((t) => t.name);
    await createTables([east, west], defs);
    await fillTables(east, defs);
    await slowCopy(west, `${prefix}_a`, 1000, 100);
    const path = topology(`restart-init-${prefix}`, { [prefix]: names });
    const applying = steep(['apply', '--auto-approve'], path);
    await oneTableCopying(west, `west_${prefix}`);
    // the workers commit the small table's `s` and `r` asynchronously: on disk before west crashes,
    // or the restart takes it back to `f`, its slot gone (the lost-slot test below)
    await west.query('CHECKPOINT');
    await waitFor(
      west,
      "SELECT 1 FROM pg_stat_activity WHERE application_name = 'steep init'",
      'apply to follow the init',
    );
    return { path, names, applying };
  }

  /** pg_subscription_rel states of the subscription's tables, e.g. "dr" */
  async function tableStates(node: TestNode, subscription: string): Promise<string> {
    const rows = await node.query<{ s: string }>(
      `SELECT r.srsubstate AS s FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
        WHERE s.subname = $1 ORDER BY r.srrelid`,
      [subscription],
    );
    return rows.map((r) => r.s).join('');
  }

  async function recordedInit(subscription: string): Promise<{ state: string; error: string | null }> {
    const [row] = await cluster()
      .node('west')
      .query<{ state: string; error: string | null }>(
        'SELECT state, error FROM steep.subscription_state WHERE subscription = $1',
        [subscription],
      );
    return row!;
  }

  it('the subscriber, mid-copy and down 7 s: apply says what it waits for, exits 1 naming west, the init recorded failed; apply again follows it to synchronized', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const { path, names, applying } = await slowInit('rs');
    const t0 = Date.now();
    // down longer than a wait may stay silent (5 s): the text output says what apply waits for
    await west.restart('immediate', 7_000);
    const failed = await applying;
    const failMs = Date.now() - t0;
    expect(failed.code, `${failed.stdout}\n${failed.stderr}`).toBe(1);
    expect(failed.stdout).toMatch(
      /lost the connection to west \([^)]+\): the server restarted or stopped, or ended steep's session: waiting for west to answer again, to record the init of west_rs failed so that steep apply follows it again \(\d+ s of at most \d+ s\)/,
    );
    const reason = new RegExp(
      `init of subscription west_rs on west failed: ${LOST('west').source}; ` +
        'the slot west_rs on east is kept and PostgreSQL goes on with the init: run steep apply again to follow it to synchronized',
    );
    expect(failed.stderr).toMatch(new RegExp(`^failed: ${reason.source}$`, 'm'));
    expect(failMs, 'apply still running 120 s after the restart: a hang').toBeLessThan(120_000);
    const recorded = await recordedInit('west_rs');
    expect(recorded.state).toBe('failed');
    expect(recorded.error).toMatch(reason);
    const plan = await steep(['plan'], path);
    expect(plan.stdout).toMatch(
      /> subscription\.west_rs \(west\) init: its init failed \(lost the connection to west .*apply follows it again/,
    );

    // PostgreSQL started the copy over (still slow): the next apply follows it to the end
    const copying = await tableStates(west, 'west_rs');
    const resumeMs = await expectConverged(path, { rs: names }, 4);
    expect(await recordedInit('west_rs')).toEqual({ state: 'synchronized', error: null });
    await waitCaughtUp(east, 'west_rs');
    expect(await digests(west, names)).toEqual(await digests(east, names));
    await fastCopy(west, 'rs_a');
    console.info(
      `PG${version} subscriber restarted mid-copy: apply failed ${failMs} ms after; resume ${resumeMs} ms, from table states ${copying}`,
    );
  }, 180_000);

  /**
   * PostgreSQL's table-sync worker drops its slot on the publisher, then commits the table's
   * `s` state asynchronously: a subscriber restarted (or a connection cut) in between leaves the
   * table in `f` with no slot, and its worker fails for good (seen once in 12 runs of the test
   * above before it waited for the small table's sync). Made here on purpose: the worker is held
   * in its catch-up (a trigger waits for a lock the test holds), its slot dropped on east.
   */
  it('a table copied whose table-sync slot is gone: apply fails naming it and the reinit that copies it again; that reinit reaches synchronized', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const defs: TableDef[] = [
      { name: 'rl_a', rows: 3_000 },
      { name: 'rl_b', rows: 2_000 },
    ];
    const names = defs.map((t) => t.name);
    await createTables([east, west], defs);
    await fillTables(east, defs);
    await slowCopy(west, 'rl_a', 1000, 500);
    await west.query(`CREATE OR REPLACE FUNCTION public.steep_test_hold() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id > 1000000 THEN PERFORM pg_advisory_xact_lock_shared(4711); END IF;
        RETURN NEW;
      END $$`);
    await west.query(
      'CREATE TRIGGER steep_test_hold BEFORE INSERT ON public.rl_a FOR EACH ROW EXECUTE FUNCTION public.steep_test_hold()',
    );
    await west.query('ALTER TABLE public.rl_a ENABLE ALWAYS TRIGGER steep_test_hold');
    holder = await west.client();
    await holder.query('SELECT pg_advisory_lock(4711)');
    const path = topology('restart-lost-sync', { rl: names });
    const applying = steep(['apply', '--auto-approve'], path, { STEEP_INIT_FAIL_AFTER_MS: '3000' });
    const SYNC_SLOT = `SELECT slot_name, active_pid FROM pg_replication_slots WHERE slot_name LIKE 'pg\\_%\\_sync\\_%'`;
    // the slot is listed while PostgreSQL still builds its snapshot: a row committed before that
    // is part of the copy (its insert would wait in state d); confirmed_flush_lsn is set once it is
    // built, and the COPY into west begins only once the copy reads at that snapshot
    await waitFor(
      east,
      `${SYNC_SLOT} AND confirmed_flush_lsn IS NOT NULL`,
      "rl_a's table sync to make its slot and snapshot",
    );
    await waitFor(
      west,
      "SELECT 1 FROM pg_stat_progress_copy WHERE relid = 'public.rl_a'::regclass",
      "rl_a's copy to begin",
    );
    // a row written after the copy's snapshot: the worker applies it in its catch-up, and waits
    await east.query(`INSERT INTO public.rl_a (id, v) VALUES (2000000, 'caught up')`);
    await waitFor(
      west,
      "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
      'the catch-up to wait',
    );
    expect(await tableStates(west, 'west_rl')).toContain('f');
    const [sync] = await east.query<{ slot_name: string; active_pid: number }>(SYNC_SLOT);
    await east.query('SELECT pg_terminate_backend($1)', [sync!.active_pid]);
    await eventually(
      () =>
        east.query('SELECT pg_drop_replication_slot($1)', [sync!.slot_name]).then(
          () => true,
          () => false,
        ),
      HANG_MS,
      `${sync!.slot_name} dropped`,
    );
    await holder.query('SELECT pg_advisory_unlock(4711)');

    const failed = await applying;
    expect(failed.code, `${failed.stdout}\n${failed.stderr}`).toBe(1);
    const reason =
      /init of subscription west_rl on west failed: PostgreSQL lost the table synchronisation slot of public\.rl_a: its copy is recorded done \(state f\) but the slot is gone from the publisher, .*; copy it again with steep reinit west_rl --tables public\.rl_a \(the other tables keep streaming\), which follows the init to synchronized$/m;
    expect(failed.stderr).toMatch(reason);
    expect((await recordedInit('west_rl')).state).toBe('failed');
    const plan = await steep(['plan'], path);
    expect(plan.stdout).toMatch(
      /> subscription\.west_rl \(west\) init: its init failed \(PostgreSQL lost the table synchronisation slot of public\.rl_a: .*\); PostgreSQL cannot finish it: steep reinit west_rl --tables public\.rl_a copies those tables again/,
    );

    const status = await steep(['init', 'status', 'west_rl'], path);
    expect(status.stdout).toMatch(
      /lost sync {2}public\.rl_a: copied, but the table-sync slot is gone from east, so PostgreSQL cannot finish \(.*steep reinit west_rl --tables public\.rl_a copies it again\)/,
    );
    const statusJson = await steep(['init', 'status', 'west_rl', '--json'], path);
    expect(JSON.parse(statusJson.stdout)[0]).toMatchObject({
      state: 'failed',
      lostSyncSlots: ['public.rl_a'],
    });
    // steep status says it too, for every subscription at once
    const overview = await steep(['status'], path);
    expect(overview.stdout).toMatch(
      /lost sync: public\.rl_a: copied, but the table-sync slot is gone from east, so PostgreSQL cannot finish \(steep reinit west_rl --tables public\.rl_a copies it again\)/,
    );
    const overviewJson = JSON.parse((await steep(['status', '--json'], path)).stdout) as {
      subscriptions: Array<{ name: string; state: string; lostSyncSlots: string[] }>;
    };
    expect(overviewJson.subscriptions.find((x) => x.name === 'west_rl')).toMatchObject({
      state: 'failed',
      lostSyncSlots: ['public.rl_a'],
    });
    await west.query('DROP TRIGGER steep_test_hold ON public.rl_a');
    await fastCopy(west, 'rl_a');
    const writer = startWriter(east, names);
    let reinit: CliResult;
    try {
      reinit = await steep(['reinit', 'west_rl', '--auto-approve', '--tables', 'public.rl_a'], path);
    } finally {
      await writer.stop();
    }
    expect(reinit.code, `${reinit.stdout}\n${reinit.stderr}`).toBe(0);
    expect(await recordedInit('west_rl')).toEqual({ state: 'synchronized', error: null });
    await waitCaughtUp(east, 'west_rl');
    expect(await digests(west, names)).toEqual(await digests(east, names));
    await expectConverged(path, { rl: names }, 6);
    expect((await steep(['status'], path)).stdout).not.toContain('lost sync');
  }, 180_000);

  it('the publisher, mid-copy: apply rides it out (PostgreSQL reconnects) and reaches synchronized', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const { path, names, applying } = await slowInit('rp');
    const t0 = Date.now();
    await east.restart('immediate');
    // the table sync broke with east's restart; the copy PostgreSQL starts again need not be slow
    await fastCopy(west, 'rp_a');
    const done = await applying;
    const doneMs = Date.now() - t0;
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    expect(done.stdout).toContain('Apply complete');
    expect(doneMs, 'apply still running 120 s after the restart: a hang').toBeLessThan(120_000);
    expect(await recordedInit('west_rp')).toEqual({ state: 'synchronized', error: null });
    await waitCaughtUp(east, 'west_rp');
    expect(await digests(west, names)).toEqual(await digests(east, names));

    const resumeMs = await expectConverged(path, { rp: names }, 5);
    console.info(
      `PG${version} publisher restarted mid-copy: apply completed ${doneMs} ms after; re-apply ${resumeMs} ms`,
    );
  }, 180_000);
});
