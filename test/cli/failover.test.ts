import { createHash } from 'node:crypto';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { PgMajor } from '../../src/sandbox/binaries.js';
import { type CliResult, steepWith, writeConfig } from '../support/cli.js';
import {
  startCluster,
  startStandby,
  type TestCluster,
  type TestNode,
  testVersions,
} from '../support/cluster.js';
import { failoverFile } from '../support/failoverFile.js';
import {
  createTables,
  digests,
  fillTables,
  standbyLeftBehind,
  WRITE_PAUSE_MS,
  waitCaughtUp,
} from '../support/replicationData.js';
import { eventually, HANG_MS, passwordEnv } from '../support/topologyFile.js';

/**
 * A publisher's failover to its physical standby, mid-load, with a subscriber (issue 38). On 18:
 * steep names what slot synchronisation lacks (synchronized_standby_slots) and creates the
 * subscription with failover = true, naming the publisher alone; the old primary is stopped
 * immediately and the standby promoted while a writer runs: the subscriber waits (issue 63: it
 * never follows a promotion by itself); told of the new primary, status proves from what the
 * subscriber applied, read now, that it resumed with no gap, apply re-points it without copying,
 * and both sides end equal. On 16 (no failover slots): the lost slot is a possible gap, shown and
 * recorded as diverged with the reason, never resumed silently; steep reinit repairs it.
 * Issue 49 and 63: with a connection naming every host (as an earlier steep made it, or by hand),
 * synchronized_standby_slots dropped and the standby's WAL receiver stopped, the subscriber
 * follows the promotion by itself past the fork (phantom rows, a gap): steep says diverged —
 * from what it recorded before the promotion, or, with no steep run in between (a `ready`
 * recorded), from the slot confirming a position beyond the new primary's WAL — never resumed;
 * reinit --full recreates that slot and converges; the old primary restarted and streamed from
 * again is diverged, never synchronized. After a failover that resumed, a down standby still
 * makes the next failover not ready.
 */

const TABLE = 'fo_items';
const SUB = 'fo_sub';
/** The way out that keeps sub's rows past the fork (the old primary's writes, maybe their only copy) first. */
const KEEP_FIRST = `copy what sub must keep to pub first, then steep reinit ${SUB} --full --discard-past-fork deletes them and copies its tables again`;

/** Writes on whichever node `target()` names (the primary of the moment), each write a short transaction; acked ids kept. */
function startFailoverWriter(
  target: () => TestNode,
  after = 5_000_000,
): { stop: () => Promise<number[]>; acked: () => number } {
  let running = true;
  const acked: number[] = [];
  let next = after;
  const done = (async () => {
    let client: pg.Client | null = null;
    while (running) {
      try {
        if (!client) {
          client = await target().client();
          client.on('error', () => {});
        }
        next += 1;
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO public.${TABLE} (id, v, n) VALUES ($1::bigint, md5($1::bigint::text), 1)`,
          [next],
        );
        await client.query(`UPDATE public.${TABLE} SET n = n + 1 WHERE id = $1`, [1 + (next % 500)]);
        await client.query('COMMIT');
        acked.push(next);
      } catch {
        await client?.end().catch(() => {});
        client = null;
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, WRITE_PAUSE_MS));
    }
    await client?.end().catch(() => {});
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return acked;
    },
    acked: () => acked.length,
  };
}

function fileFor(primary: TestNode, standby: TestNode, sub: TestNode): string {
  return failoverFile({
    topology: 'failover',
    table: TABLE,
    publication: 'fo_pub',
    subscription: SUB,
    url: primary,
    standbys: [standby],
    sub,
  });
}

/** steep on a file naming `primary` with its standby; `repoint` names the promoted standby as the primary. */
function steepOn(primary: TestNode, standby: TestNode, sub: TestNode) {
  const file = { path: writeConfig(fileFor(primary, standby, sub)) };
  const env = { ...passwordEnv([sub]), PUB_PGPASSWORD: primary.password };
  const steep = steepWith({ config: () => file.path, env: () => env, timeoutMs: 120_000 });
  /** steep under a ceiling short of the test's own: a run that waits fails the test, never hangs it */
  const capped = steepWith({ config: () => file.path, env: () => env, timeoutMs: 30_000 });
  const repoint = (next: TestNode, nextStandby: TestNode) => {
    file.path = writeConfig(fileFor(next, nextStandby, sub));
    env.PUB_PGPASSWORD = next.password;
  };
  return { steep, capped, repoint };
}

function out(r: CliResult): string {
  return `${r.stdout}\n${r.stderr}`;
}

/**
 * synchronized_standby_slots on `pub` names the standby's slot; once status --check finds the
 * subscription ready, apply still names the publisher alone in its connection: a subscriber never
 * follows a promotion by itself (docs/failover.md).
 */
async function guardStandby(steep: ReturnType<typeof steepOn>['steep'], pub: TestNode, standby: TestNode) {
  await readyForFailover(steep, pub, standby);
  const alone = await steep(['apply', '--auto-approve']);
  expect(alone.code, out(alone)).toBe(0);
  expect(alone.stdout).not.toContain('target_session_attrs');
}

/**
 * The subscription's connection names every host, read-write only, the old primary first, with
 * steep's marker for it: as steep before issue 63 left it while the subscription was ready.
 */
async function everyHostByHand(sub: TestNode, pub: TestNode, standby: TestNode) {
  const [{ conninfo, comment } = { conninfo: '', comment: '' }] = await sub.query<{
    conninfo: string;
    comment: string;
  }>(
    "SELECT subconninfo AS conninfo, obj_description(oid, 'pg_subscription') AS comment FROM pg_subscription WHERE subname = $1",
    [SUB],
  );
  const every = conninfo
    .replace(/\bhost=\S+/, 'host=127.0.0.1,127.0.0.1')
    .replace(/\bport=\S+/, `port=${pub.port},${standby.port}`)
    .replace(/\s*target_session_attrs=\S+/, '');
  const withAttrs = `${every} target_session_attrs=read-write`;
  const hash = createHash('sha256')
    .update(withAttrs.replace(/\bpassword=\S+/, 'password=****'))
    .digest('hex');
  await sub.query(`ALTER SUBSCRIPTION ${SUB} CONNECTION '${withAttrs.replace(/'/g, "''")}'`);
  await sub.query(
    `COMMENT ON SUBSCRIPTION ${SUB} IS '${comment.replace(/conn=sha256:[0-9a-f]+/, `conn=sha256:${hash}`).replace(/'/g, "''")}'`,
  );
}

/** synchronized_standby_slots on `pub` names the standby's slot, until status --check finds the subscription ready. */
async function readyForFailover(
  steep: ReturnType<typeof steepOn>['steep'],
  pub: TestNode,
  standby: TestNode,
) {
  await pub.query("ALTER SYSTEM SET synchronized_standby_slots = 'pub_standby'");
  await pub.query('SELECT pg_reload_conf()');
  await eventually(
    async () => {
      await pub.query('SELECT pg_log_standby_snapshot()');
      await standby.query('SELECT pg_reload_conf()');
      return (await steep(['status', '--check'])).code === 0;
    },
    HANG_MS,
    'status --check to find the subscription ready for a failover',
  );
}

/** Until the subscriber streams from the promoted standby by itself and `more` writes commit there; the acked ids. */
async function followedByItself(
  standby: TestNode,
  writer: ReturnType<typeof startFailoverWriter>,
  more: number,
): Promise<number[]> {
  await eventually(
    async () =>
      (await standby.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [SUB]))
        .length === 1,
    HANG_MS,
    'the subscriber to stream from the promoted standby',
  );
  const ackedBefore = writer.acked();
  await eventually(
    async () => writer.acked() >= ackedBefore + more,
    HANG_MS,
    'the writer to commit on the new primary',
  );
  return writer.stop();
}

/**
 * The writer's rows after a failover, by id: acknowledged but missing on the new primary (`lost`),
 * on the new primary but not on the subscriber (`lostToSub`), on the subscriber only (`phantom`).
 */
async function countRows(acked: number[], primary: TestNode, sub: TestNode) {
  const ids = async (node: TestNode) =>
    new Set(
      (await node.query<{ id: string }>(`SELECT id::text AS id FROM public.${TABLE} WHERE id > 5000000`)).map(
        (r) => Number(r.id),
      ),
    );
  const onPrimary = await ids(primary);
  const onSub = await ids(sub);
  return {
    lost: acked.filter((id) => !onPrimary.has(id)).length,
    lostToSub: [...onPrimary].filter((id) => !onSub.has(id)).length,
    phantom: [...onSub].filter((id) => !onPrimary.has(id)).length,
  };
}

/**
 * verify and a reinit without --full refuse on the slot (`trouble`), naming the way out that keeps
 * sub's rows past the fork first (they may be the only copy of the old primary's writes), never a
 * bare reinit --full.
 */
async function refusedKeepingFirst(steep: ReturnType<typeof steepOn>['steep'], trouble: string) {
  for (const args of [
    ['verify', SUB],
    ['reinit', SUB, '--auto-approve', '--tables', `public.${TABLE}`],
  ]) {
    const r = await steep(args);
    expect.soft(r.code, out(r)).toBe(1);
    expect.soft(out(r)).toContain(trouble);
    expect.soft(out(r)).toContain(KEEP_FIRST);
    expect.soft(out(r)).not.toContain('creates the slot again');
    expect.soft(out(r)).not.toContain(`only steep reinit ${SUB} --full repairs it`);
  }
}

interface Pair {
  cluster: TestCluster;
  pub: TestNode;
  sub: TestNode;
  standby: TestNode & { promote(): Promise<void> };
}

async function startPair(version: PgMajor): Promise<Pair> {
  const cluster = await startCluster({ nodes: ['pub', 'sub'], version });
  try {
    const standby = await startStandby(cluster, 'pub', { name: 'pub_standby', slot: 'pub_standby' });
    const pub = cluster.node('pub');
    const sub = cluster.node('sub');
    await createTables([pub, sub], [{ name: TABLE, rows: 2000 }]);
    await fillTables(pub, [{ name: TABLE, rows: 2000 }]);
    return { cluster, pub, sub, standby };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** Seconds from `since` until a row written on `primary` now is on `sub`. */
async function secondsUntilStreaming(
  primary: TestNode,
  sub: TestNode,
  since: number,
  id: number,
): Promise<number> {
  await eventually(
    async () => {
      try {
        await primary.query(
          `INSERT INTO public.${TABLE} (id, v) VALUES ($1, 'marker') ON CONFLICT DO NOTHING`,
          [id],
        );
        return true;
      } catch {
        return false;
      }
    },
    HANG_MS,
    'the promoted standby to accept writes',
  );
  await eventually(
    async () => (await sub.query(`SELECT 1 FROM public.${TABLE} WHERE id = $1`, [id])).length === 1,
    HANG_MS,
    `marker ${id} to reach the subscriber`,
  );
  return (Date.now() - since) / 1000;
}

describe('a publisher failover', () => {
  // 18 by default; STEEP_TEST_PG=17 runs it on 17 (the first version with failover slots)
  const withSlots = testVersions().filter((v) => v >= 17);
  it.each(withSlots.length > 0 ? withSlots : [18 as PgMajor])(
    '%i: failover slots, immediate stop of the old primary, promotion mid-load: resumed with no gap, 0 rows lost',
    async (version) => {
      const { cluster, pub, sub, standby } = await startPair(version);
      try {
        const { steep, repoint } = steepOn(pub, standby, sub);

        // the plan: failover = true, what slot synchronisation lacks, and until it is in place the
        // publisher alone in the connection (a promotion is never followed without steep)
        const planned = await steep(['plan']);
        expect(planned.stdout).toContain(`host=127.0.0.1 port=${pub.port} `);
        expect(planned.stdout).not.toContain('target_session_attrs');
        expect(planned.stdout).toMatch(/failover = true/);
        expect(out(planned)).toContain('pub: set synchronized_standby_slots to include pub_standby');
        expect(out(planned)).toContain('its connection names pub alone, so after a promotion it waits');

        const applied = await steep(['apply', '--auto-approve']);
        expect(applied.code, out(applied)).toBe(0);
        const notReady = await steep(['status', '--check']);
        expect(notReady.code, out(notReady)).not.toBe(0);
        expect(out(notReady)).toContain(
          'not ready for a failover of pub: pub: set synchronized_standby_slots to include pub_standby',
        );
        await guardStandby(steep, pub, standby);
        const status = await steep(['status']);
        expect(status.stdout, out(status)).toContain('failover: ready');
        const readyMetric = await steep(['metrics', '--once']);
        expect(readyMetric.stdout).toMatch(
          /steep_subscription_failover_ready\{[^}]*subscription="fo_sub"[^}]*\} 1/,
        );

        // promotion mid-load, the old primary stopped immediately (a crash)
        let primary: TestNode = pub;
        const writer = startFailoverWriter(() => primary);
        await eventually(async () => writer.acked() >= 50, HANG_MS, 'the writer to commit');
        await pub.stop('immediate');
        const promotedAt = Date.now();
        await standby.promote();
        primary = standby;
        await eventually(
          async () => writer.acked() >= 200,
          HANG_MS,
          'the writer to commit on the new primary',
        );
        // the subscriber does not follow by itself: its connection names pub alone
        expect(
          await standby.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [SUB]),
        ).toEqual([]);

        // the file names the new primary, the old one as its standby: status proves from what the
        // subscriber applied, read now, that it resumed; apply re-points, copies nothing
        repoint(standby, pub);
        const judgedNow = await steep(['status']);
        expect(judgedNow.stdout, out(judgedNow)).toMatch(
          /failover: resumed\s+on pub \(promoted\) from slot fo_sub, synced before the promotion: timeline 2 of pub forked from timeline 1 at \S+; sub has applied \S+ \(read now\), at or before the fork/,
        );
        const repointed = await steep(['apply', '--auto-approve']);
        expect(repointed.code, out(repointed)).toBe(0);
        expect(out(repointed)).not.toMatch(/copies-data|copy_data = true/);
        const streamingAfter = await secondsUntilStreaming(standby, sub, promotedAt, 900_000_001);
        const ackedThen = writer.acked();
        await eventually(
          async () => writer.acked() >= ackedThen + 100,
          HANG_MS,
          'the writer to commit while it streams',
        );
        const acked = await writer.stop();
        const after = await steep(['status']);
        expect(after.stdout, out(after)).toMatch(
          /failover: resumed\s+on pub \(promoted\) from slot fo_sub, synced before the promotion/,
        );
        expect(after.stdout).not.toContain('diverged');
        const drift = await steep(['drift']);
        expect(drift.stdout, out(drift)).toMatch(/sub\/fo_sub ← pub: resumed\s+on pub \(promoted\)/);
        expect(drift.stdout).not.toContain('possible failover gap');
        // the last failover resumed, and the next one is judged all the same: its standby (the old
        // primary) is down, so plan warns, status --check and drift exit 2
        const downStandby = `standby 127.0.0.1:${pub.port} of pub cannot be read`;
        expect(drift.code, out(drift)).toBe(2);
        expect(drift.stdout).toMatch(/sub\/fo_sub ← pub: not-ready/);
        const nextCheck = await steep(['status', '--check']);
        expect(nextCheck.code, out(nextCheck)).toBe(2);
        expect(out(nextCheck)).toContain(`not ready for a failover of pub: ${downStandby}`);
        const nextPlan = await steep(['plan']);
        expect(out(nextPlan)).toContain(`would not survive a failover of pub without a gap: ${downStandby}`);

        await waitCaughtUp(standby, SUB);
        const onPublisher = await digests(standby, [TABLE]);
        expect(await digests(sub, [TABLE])).toEqual(onPublisher);
        const { lost, lostToSub, phantom } = await countRows(acked, standby, sub);
        expect({ lostToSub, phantom }).toEqual({ lostToSub: 0, phantom: 0 });
        // a verify that finds every table equal on the new primary puts the failover behind it
        const verified = await steep(['verify', SUB]);
        expect(verified.code, out(verified)).toBe(0);
        const settled = await steep(['status']);
        expect(settled.stdout, out(settled)).not.toContain('last failover');
        expect(settled.stdout).toContain('failover: not-ready');
        console.log(
          `failover ${version}: ${acked.length} writes acked, promotion → streaming ${streamingAfter.toFixed(1)} s, ` +
            `${lost} lost with the old primary, ${lostToSub} on the new primary missing on the subscriber, ${phantom} phantom on the subscriber`,
        );
      } finally {
        await cluster.stop();
      }
    },
    300_000,
  );

  it.each(withSlots.length > 0 ? withSlots : [18 as PgMajor])(
    '%i: synchronized_standby_slots dropped, the standby lagged, the subscriber followed the promotion by itself: diverged, never resumed',
    async (version) => {
      const { cluster, pub, sub, standby } = await startPair(version);
      try {
        const { steep, repoint } = steepOn(pub, standby, sub);
        const applied = await steep(['apply', '--auto-approve']);
        expect(applied.code, out(applied)).toBe(0);
        await guardStandby(steep, pub, standby);
        // a connection naming every host (as steep before issue 63 made it while ready)
        await everyHostByHand(sub, pub, standby);
        // the guarantee is lost while the subscription names every host: drift proposes the
        // publisher alone, but no one applies it before the failover
        await pub.query('ALTER SYSTEM RESET synchronized_standby_slots');
        await pub.query('SELECT pg_reload_conf()');
        const unguarded = await steep(['drift']);
        expect(unguarded.code, out(unguarded)).toBe(2);
        expect(unguarded.stdout).toContain('update subscription.fo_sub (sub)');
        expect(unguarded.stdout).toContain('its connection names pub alone, so after a promotion it waits');

        let primary: TestNode = pub;
        const writer = startFailoverWriter(() => primary);
        await eventually(async () => writer.acked() >= 50, HANG_MS, 'the writer to commit');
        // the standby's WAL receiver stops: it lags while the subscriber applies on
        await standbyLeftBehind(standby, sub, () => writer.acked() >= 300);
        // steep runs while the subscriber streams from pub (it records what the subscriber applied)
        const before = await steep(['status']);
        expect(before.stdout, out(before)).toContain('failover: not-ready');

        await pub.stop('immediate');
        await standby.query('ALTER SYSTEM RESET primary_conninfo');
        await standby.promote();
        primary = standby;
        // the file still names the old primary, which is down: drift proposes nothing it cannot
        // apply, and status names the declared standby, promoted, and what to do
        const pubDown = await steep(['drift']);
        expect(pubDown.code, out(pubDown)).toBe(1);
        expect(out(pubDown)).not.toContain('steep apply would');
        expect(out(pubDown)).toContain(`its standby 127.0.0.1:${standby.port} is out of recovery`);
        const downStatus = await steep(['status']);
        expect(downStatus.code, out(downStatus)).toBe(1);
        expect(downStatus.stdout).toContain(
          `its standby 127.0.0.1:${standby.port} is out of recovery: if it was promoted, make it pub's connection in steep.yaml`,
        );
        // the subscriber finds the promoted standby through its multi-host connection, before steep runs
        const acked = await followedByItself(standby, writer, 300);
        await waitCaughtUp(standby, SUB);

        const { lost, lostToSub, phantom } = await countRows(acked, standby, sub);
        console.log(
          `failover ${version}, lagging standby: ${acked.length} writes acked, ${lost} lost with the old primary, ` +
            `${lostToSub} on the new primary missing on the subscriber, ${phantom} phantom on the subscriber`,
        );
        expect(phantom + lostToSub).toBeGreaterThan(0);

        // the file names the new primary: steep never says resumed, status and drift exit 2 naming it
        repoint(standby, pub);
        const status = await steep(['status', '--check']);
        expect(status.code, out(status)).toBe(2);
        expect(status.stdout).not.toContain('failover: resumed');
        expect(status.stdout).toMatch(/fo_sub\s+sub ← pub\s+diverged/);
        expect(out(status)).toContain(`steep reinit ${SUB} --full`);
        // it had applied past the fork from pub: pub's writes after the fork are lost, and steep says so
        expect(status.stdout).toContain('writes lost with the old primary');
        // and the full copy that replaces its phantom rows comes after what sub must keep (issue 62)
        expect(status.stdout).toContain(KEEP_FIRST);
        const drift = await steep(['drift']);
        expect(drift.code, out(drift)).toBe(2);
        expect(drift.stdout).toMatch(/sub\/fo_sub ← pub: diverged/);
        expect(drift.stdout).not.toContain('resumed');

        // the way out it names: apply records it diverged, reinit --full copies the tables again
        const recorded = await steep(['apply', '--auto-approve']);
        expect(recorded.code, out(recorded)).toBe(0);
        // as the way out (KEEP_FIRST, asserted above) names it: --auto-approve alone deletes no row past the fork
        const repaired = await steep(['reinit', SUB, '--auto-approve', '--full', '--discard-past-fork']);
        expect(repaired.code, out(repaired)).toBe(0);
        await waitCaughtUp(standby, SUB);
        expect(await digests(sub, [TABLE])).toEqual(await digests(standby, [TABLE]));
        // an apply error counted in the last 30 s (the crash loop before the reinit) keeps it
        // failing that long (docs/status.md); then synchronized
        let healed = await steep(['status']);
        await eventually(
          async () => {
            healed = await steep(['status']);
            return /fo_sub\s+sub ← pub\s+synchronized/.test(healed.stdout);
          },
          HANG_MS,
          'fo_sub synchronized after the reinit',
        );
        expect(healed.stdout).not.toContain('last failover');
      } finally {
        await cluster.stop();
      }
    },
    300_000,
  );

  it.each(withSlots.length > 0 ? withSlots : [18 as PgMajor])(
    '%i: readiness lost between two readings, the subscriber followed by itself: never resumed; reinit --full repairs it; the old primary restarted is no synchronized source',
    async (version) => {
      const { cluster, pub, sub, standby } = await startPair(version);
      try {
        const { steep, repoint } = steepOn(pub, standby, sub);
        const applied = await steep(['apply', '--auto-approve']);
        expect(applied.code, out(applied)).toBe(0);
        await readyForFailover(steep, pub, standby);
        const ready = await steep(['status']);
        expect(ready.stdout, out(ready)).toContain('failover: ready');
        // a connection naming every host, read-write only (as steep before issue 63 made it, or a
        // DBA): the subscriber may follow a promotion by itself
        await everyHostByHand(sub, pub, standby);
        // readiness lost with no steep run in between: the last reading recorded `ready`
        await pub.query('ALTER SYSTEM RESET synchronized_standby_slots');
        await pub.query('SELECT pg_reload_conf()');
        let primary: TestNode = pub;
        const writer = startFailoverWriter(() => primary);
        await eventually(async () => writer.acked() >= 50, HANG_MS, 'the writer to commit');
        await standbyLeftBehind(standby, sub, () => writer.acked() >= 300);
        // WAL the standby never received, before the subscriber's last applied commit
        await pub.query("SELECT pg_logical_emit_message(false, 'filler', repeat('x', 4000000))");
        const last = writer.acked();
        await eventually(
          async () => writer.acked() >= last + 20,
          HANG_MS,
          'the writer to commit past the filler',
        );
        await eventually(
          async () =>
            (
              await sub.query<{ past: boolean }>(
                'SELECT bool_or(remote_lsn > $1::pg_lsn) AS past FROM pg_replication_origin_status',
                [(await pub.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l'))[0]!.l],
              )
            )[0]?.past === true || writer.acked() >= last + 200,
          HANG_MS,
          'the subscriber to apply past the filler',
        );
        await pub.stop('immediate');
        await standby.query('ALTER SYSTEM RESET primary_conninfo');
        await standby.promote();
        primary = standby;
        const acked = await followedByItself(standby, writer, 100);
        const before = await countRows(acked, standby, sub);

        repoint(standby, pub);
        const check = await steep(['status', '--check']);
        expect.soft(check.code, out(check)).toBe(2);
        expect.soft(check.stdout).not.toContain('resumed');
        expect.soft(out(check)).not.toContain('Check: healthy');
        expect.soft(check.stdout).toMatch(/fo_sub\s+sub ← pub\s+diverged/);
        expect.soft(out(check)).toContain("beyond pub's own WAL");
        expect.soft(out(check)).not.toMatch(/lag -\d/);
        const metrics = await steep(['metrics', '--once']);
        expect
          .soft(metrics.stdout)
          .toMatch(/steep_subscription_last_failover\{[^}]*verdict="diverged"[^}]*\} 1/);
        expect.soft(metrics.stdout).not.toMatch(/steep_subscription_lag_bytes\{[^}]*\} -/);
        const drift = await steep(['drift']);
        expect.soft(drift.code, out(drift)).toBe(2);
        expect.soft(drift.stdout).not.toContain('resumed');
        // before the repair, verify and a reinit without --full refuse on the slot beyond pub's WAL
        await refusedKeepingFirst(steep, "beyond pub's own WAL");

        // the way out status names: apply records it, reinit --full copies again (the slot recovered)
        const recorded = await steep(['apply', '--auto-approve']);
        expect(recorded.code, out(recorded)).toBe(0);
        // as the way out (KEEP_FIRST, asserted above) names it: --auto-approve alone deletes no row past the fork
        const repaired = await steep(['reinit', SUB, '--auto-approve', '--full', '--discard-past-fork']);
        expect.soft(repaired.code, out(repaired)).toBe(0);
        if (repaired.code === 0) {
          await waitCaughtUp(standby, SUB);
          expect(await digests(sub, [TABLE])).toEqual(await digests(standby, [TABLE]));
        }
        const after = await countRows(acked, standby, sub);
        console.log(
          `failover ${version}, readiness lost between readings: ${acked.length} acked; before the repair ` +
            `${before.lost} lost with the old primary, ${before.lostToSub} missing on the subscriber, ${before.phantom} phantom; ` +
            `after: ${after.lostToSub} missing, ${after.phantom} phantom`,
        );

        // the old primary restarts read-write, and a connection naming it first takes the subscriber back to it
        await everyHostByHand(sub, pub, standby);
        await pub.restart('fast');
        await pub.query(`INSERT INTO public.${TABLE} (id, v) VALUES (900000002, 'split brain')`);
        await sub.query('SELECT pg_terminate_backend(pid) FROM pg_stat_subscription WHERE subname = $1', [
          SUB,
        ]);
        await eventually(
          async () => (await sub.query(`SELECT 1 FROM public.${TABLE} WHERE id = 900000002`)).length === 1,
          HANG_MS,
          'the split-brain row to reach the subscriber',
        );
        const split = await steep(['status', '--check']);
        expect.soft(split.code, out(split)).toBe(2);
        expect.soft(split.stdout).not.toMatch(/fo_sub\s+sub ← pub\s+synchronized/);
        expect.soft(out(split)).toContain(`streams from 127.0.0.1:${pub.port}`);
        const splitDrift = await steep(['drift']);
        expect.soft(splitDrift.code, out(splitDrift)).toBe(2);
      } finally {
        await cluster.stop();
      }
    },
    420_000,
  );

  it('16: no failover slots: the lost slot is a gap, shown and recorded diverged, repaired by reinit --full', async () => {
    const { cluster, pub, sub, standby } = await startPair(16);
    try {
      const { steep, capped, repoint } = steepOn(pub, standby, sub);

      const planned = await steep(['plan']);
      expect(out(planned)).toContain(
        'PostgreSQL 16 on pub has no failover slots: a failover of pub loses slot fo_sub',
      );
      expect(planned.stdout).not.toMatch(/failover = true/);
      const applied = await steep(['apply', '--auto-approve']);
      expect(applied.code, out(applied)).toBe(0);

      let primary: TestNode = pub;
      const writer = startFailoverWriter(() => primary);
      await eventually(async () => writer.acked() >= 50, HANG_MS, 'the writer to commit');
      await pub.stop('fast');
      await standby.promote();
      primary = standby;
      await eventually(async () => writer.acked() >= 200, HANG_MS, 'the writer to commit on the new primary');
      const acked = await writer.stop();

      repoint(standby, pub);
      // never resumed silently: status, status --check and drift say so before anything is changed
      const status = await steep(['status']);
      expect(status.stdout, out(status)).toMatch(/fo_sub\s+sub ← pub\s+diverged/);
      expect(status.stdout).toContain(
        'slot fo_sub is missing on pub: PostgreSQL 16 keeps a logical slot only on the primary',
      );
      const check = await steep(['status', '--check']);
      expect(check.code, out(check)).not.toBe(0);
      const drift = await steep(['drift']);
      expect(drift.code, out(drift)).toBe(2);
      expect(drift.stdout).toContain('1 subscription(s) with a possible failover gap');
      // the failover's way out alone: no second one from the verdict on its worker beside it
      for (const r of [status, check, drift]) expect(out(r)).not.toContain('creates the slot again');
      // the way out names the apply that re-points it first: until then its connection names the old primary
      const repointFirst = `once steep apply has re-pointed its connection to pub (it names 127.0.0.1:${pub.port} now)`;
      expect(out(status)).toContain(`steep reinit ${SUB} --full copies its tables again, ${repointFirst}`);
      // before apply re-points it, its connection names the old primary (stopped): a full reinit
      // would wait on a worker that cannot connect; it refuses, naming apply, and changes nothing
      const early = await capped(['reinit', SUB, '--auto-approve', '--full']);
      expect(early.code, out(early)).toBe(1);
      expect(out(early)).toContain(
        `subscription ${SUB} on sub connects to 127.0.0.1:${pub.port} (a standby of pub in steep.yaml), not to pub: `,
      );
      expect(out(early)).toContain(
        `steep apply re-points it to pub, then run steep reinit again; nothing was changed`,
      );
      expect(await standby.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [SUB])).toEqual(
        [],
      );
      // apply records it diverged, with the reason
      const applied2 = await steep(['apply', '--auto-approve']);
      expect(applied2.code, out(applied2)).toBe(0);
      const [recorded] = await sub.query<{ state: string; error: string | null }>(
        "SELECT state, error FROM steep.subscription_state WHERE subscription = 'fo_sub'",
      );
      expect(recorded?.state).toBe('diverged');
      expect(recorded?.error).toContain('slot fo_sub is missing on pub');

      // the advice: verify --repair and a partial reinit are refused, the full reinit repairs it
      const verify = await steep(['verify', SUB, '--repair']);
      expect(verify.code, out(verify)).toBe(1);
      expect(out(verify)).toContain(
        `steep reinit ${SUB} --full creates the slot again and copies every table`,
      );
      // re-pointed: no apply is named before the reinit any more
      expect(out(verify)).not.toContain('once steep apply has re-pointed');
      const partial = await steep(['reinit', SUB, '--auto-approve', '--tables', `public.${TABLE}`]);
      expect(partial.code, out(partial)).toBe(1);
      expect(out(partial)).toContain(`only steep reinit ${SUB} --full repairs it`);
      const repaired = await steep(['reinit', SUB, '--auto-approve', '--full']);
      expect(repaired.code, out(repaired)).toBe(0);
      await waitCaughtUp(standby, SUB);
      expect(await digests(sub, [TABLE])).toEqual(await digests(standby, [TABLE]));
      const after = await steep(['status', '--check']);
      expect(after.code, out(after)).toBe(0);
      console.log(
        `failover 16: ${acked.length} writes acked; gap detected, recorded diverged, repaired by reinit --full; rows lost 0`,
      );
    } finally {
      await cluster.stop();
    }
  }, 300_000);

  it('16: no failover slots, disabled by hand after the failover: apply does not enable it, reinit --full repairs and enables it', async () => {
    const { cluster, pub, sub, standby } = await startPair(16);
    try {
      const { steep, repoint } = steepOn(pub, standby, sub);
      const applied = await steep(['apply', '--auto-approve']);
      expect(applied.code, out(applied)).toBe(0);
      await waitCaughtUp(pub, SUB);
      await pub.stop('fast');
      await standby.promote();
      await standby.query(`INSERT INTO ${TABLE} (id, v) VALUES (9000001, 'after the promotion')`);
      repoint(standby, pub);
      // stopped by hand (disable_on_error counts nothing): the file still enables it
      await sub.query(`ALTER SUBSCRIPTION ${SUB} DISABLE`);
      const enabledNow = async () =>
        (
          await sub.query<{ subenabled: boolean }>(
            `SELECT subenabled FROM pg_subscription WHERE subname = '${SUB}'`,
          )
        )[0]?.subenabled;

      const planned = await steep(['plan']);
      expect(planned.stdout, out(planned)).not.toContain('ENABLE');
      expect(out(planned)).toContain(
        `a failover of pub left ${SUB} diverged, so steep apply does not enable it: enabling it before the failover's way out resumes past the fork`,
      );
      const reapplied = await steep(['apply', '--auto-approve']);
      expect(reapplied.code, out(reapplied)).toBe(0);
      expect(await enabledNow()).toBe(false);
      // a partial reinit names the failover's way out, never steep apply; the full one repairs and enables it
      const partial = await steep(['reinit', SUB, '--auto-approve', '--tables', `public.${TABLE}`]);
      expect(partial.code, out(partial)).toBe(1);
      expect(out(partial)).not.toContain('enable it (steep apply)');
      const repaired = await steep(['reinit', SUB, '--auto-approve', '--full']);
      expect(repaired.code, out(repaired)).toBe(0);
      expect(await enabledNow()).toBe(true);
      await waitCaughtUp(standby, SUB);
      expect(await digests(sub, [TABLE])).toEqual(await digests(standby, [TABLE]));
      const after = await steep(['status', '--check']);
      expect(after.code, out(after)).toBe(0);
    } finally {
      await cluster.stop();
    }
  }, 300_000);

  it('16: no failover slots, the standby left behind: writes lost shown; verify and reinit name what sub must keep first, never a bare reinit --full', async () => {
    const { cluster, pub, sub, standby } = await startPair(16);
    try {
      const { steep, capped, repoint } = steepOn(pub, standby, sub);
      const applied = await steep(['apply', '--auto-approve']);
      expect(applied.code, out(applied)).toBe(0);

      let primary: TestNode = pub;
      const writer = startFailoverWriter(() => primary);
      await eventually(async () => writer.acked() >= 50, HANG_MS, 'the writer to commit');
      // the standby stops receiving; the subscriber applies past it, and steep records it streaming there
      await standbyLeftBehind(standby, sub, () => writer.acked() >= 150);
      await steep(['status']);
      await pub.stop('immediate');
      await standby.promote();
      primary = standby;
      await eventually(async () => writer.acked() >= 200, HANG_MS, 'the writer to commit on the new primary');
      const rows = await countRows(await writer.stop(), standby, sub);

      repoint(standby, pub);
      const status = await steep(['status']);
      expect.soft(status.stdout, out(status)).toMatch(/fo_sub\s+sub ← pub\s+diverged/);
      expect.soft(out(status)).toContain('writes lost with the old primary');
      expect.soft(out(status)).toContain(KEEP_FIRST);
      expect
        .soft(out(status))
        .toContain(
          `${KEEP_FIRST}, once steep apply has re-pointed its connection to pub (it names 127.0.0.1:${pub.port} now)`,
        );
      // verify and a reinit without --full refuse on the lost slot, naming the failover's way out
      await refusedKeepingFirst(steep, 'slot fo_sub of fo_sub is missing on pub');
      expect.soft(rows.phantom, JSON.stringify(rows)).toBeGreaterThan(0);

      // a full reinit with --auto-approve alone (STEEP_AUTO_APPROVE in a script) deletes nothing:
      // its rows past the fork may be the only copy of acknowledged writes
      const bare = await steep(['reinit', SUB, '--auto-approve', '--full']);
      expect(bare.code, out(bare)).toBe(1);
      expect(out(bare)).toContain(KEEP_FIRST);
      expect(out(bare)).toContain('nothing was changed');
      const phantoms = await sub.query<{ id: string; v: string; n: number }>(
        `SELECT id::text AS id, v, n FROM public.${TABLE} WHERE id > 5000000`,
      );
      expect(phantoms.length).toBeGreaterThan(0);
      const command = /steep reinit \S+ --full --discard-past-fork/.exec(out(bare))![0];
      const args = command.replace(/^steep /, '').split(' ');
      // what sub must keep goes to pub first (the writer's rows pub lacks), then the command, under writes on pub
      for (const r of phantoms)
        await standby.query(
          `INSERT INTO public.${TABLE} (id, v, n) VALUES ($1::bigint, $2, $3) ON CONFLICT (id) DO NOTHING`,
          [r.id, r.v, r.n],
        );
      // its connection still names the old primary (stopped): the reinit refuses, naming apply, never waits
      const early = await capped([...args, '--auto-approve']);
      expect(early.code, out(early)).toBe(1);
      expect(out(early)).toContain(
        `steep apply re-points it to pub, then run steep reinit again; nothing was changed`,
      );
      // apply first re-points its connection at the promoted node (docs/failover.md), recording it diverged
      const recorded = await steep(['apply', '--auto-approve']);
      expect(recorded.code, out(recorded)).toBe(0);
      // the way out, followed as printed: without a terminal its confirmation says what it deletes
      const unasked = await steep(args);
      expect(unasked.code, out(unasked)).toBe(1);
      expect(out(unasked)).toContain(
        "among them the rows sub applied past the fork of pub's failover, writes of the old primary that pub lacks and sub may hold the only copy of (copy what sub must keep to pub first)",
      );
      const onPub = startFailoverWriter(() => standby, 6_000_000);
      await eventually(async () => onPub.acked() >= 20, HANG_MS, 'the writer to commit on pub');
      const followed = await steep([...args, '--auto-approve']);
      expect(followed.code, out(followed)).toBe(0);
      const acked = await onPub.stop();
      await waitCaughtUp(standby, SUB);
      expect(await digests(sub, [TABLE])).toEqual(await digests(standby, [TABLE]));
      const after = await countRows([...acked, ...phantoms.map((r) => Number(r.id))], standby, sub);
      expect(after).toEqual({ lost: 0, lostToSub: 0, phantom: 0 });
      console.log(
        `failover 16, standby left behind: ${rows.lost} acked writes lost, ${rows.phantom} phantom rows on sub; ` +
          `reinit --full refused without --discard-past-fork; ${phantoms.length} kept on pub first, then followed under ${acked.length} writes: 0 lost`,
      );
    } finally {
      await cluster.stop();
    }
  }, 300_000);
});
