import { describe, expect, it } from 'vitest';
import { type CliResult, steepWith, writeConfig } from '../support/cli.js';
import { startCluster, startStandby, type TestNode, testVersions } from '../support/cluster.js';
import { failoverFile } from '../support/failoverFile.js';
import { createTables, fillTables, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, passwordEnv } from '../support/topologyFile.js';

/**
 * A failover that loses the subscription's slot, on a pair whose link brings a table back to the
 * publisher (nightly torture seed 180049): the file then lists no standbys of the promoted node,
 * `apply` records the subscription diverged, PostgreSQL disables it at the error of its missing
 * slot (disableOnError), and status names no steep repair, only the copy by hand. The copy done,
 * a crash restart of the subscriber resets its error counters: the subscription looks disabled
 * by hand. steep keeps the recorded verdict: status, plan and `verify --repair` name the same
 * way out (the copy by hand), never `steep reinit --full`, and apply leaves it disabled.
 */

const VERSION = testVersions().find((v) => v >= 16) ?? 18;
const TABLE = 'fl_items';
const LINKED = 'fl_link';
const SUB = 'fl_sub';
const NO_REPAIR = `${SUB} is disabled and its tables come back to pub through l1_pub (origin = none), which steep reinit reconciles only while ${SUB} streams, and enabling it resumes past the fork, so steep has no repair for it: copy what pub wrote past the fork to sub by hand (docs/failover.md)`;

function out(r: CliResult): string {
  return `${r.stdout}\n${r.stderr}`;
}

/** The pair's steep.yaml (support/failoverFile.ts): `pub` at `url` with its `standbys`, the subscription with disableOnError, a link over LINKED. */
function fileFor(url: TestNode, standbys: TestNode[], sub: TestNode): string {
  const pair = failoverFile({
    topology: 'failover-link',
    table: TABLE,
    publication: 'fl_pub',
    subscription: SUB,
    url,
    standbys,
    sub,
  });
  const rest = ['    options:', '      disableOnError: true', 'links:', '  l1:', '    nodes: [pub, sub]'];
  return `${pair}${[...rest, `    tables: [public.${LINKED}]`, '    init: { method: none }', ''].join('\n')}`;
}

describe(`a failover without slot on a linked pair, PostgreSQL ${VERSION}`, () => {
  it('the counters reset by a crash restart of sub: status, plan and verify --repair name the copy by hand, never reinit --full', async () => {
    const cluster = await startCluster({ nodes: ['pub', 'sub'], version: VERSION });
    try {
      // no synced copy of the slot on the standby (17+): its promotion loses the subscription's slot
      const standby = await startStandby(cluster, 'pub', {
        name: 'pub_standby',
        slot: 'pub_standby',
        ...(VERSION >= 17 ? { settings: { sync_replication_slots: 'off' } } : {}),
      });
      const pub = cluster.node('pub');
      const sub = cluster.node('sub');
      await createTables(
        [pub, sub],
        [
          { name: TABLE, rows: 500 },
          { name: LINKED, rows: 0 },
        ],
      );
      await fillTables(pub, [{ name: TABLE, rows: 500 }]);
      const file = { path: writeConfig(fileFor(pub, [standby], sub)) };
      const env = { ...passwordEnv([sub]), PUB_PGPASSWORD: pub.password };
      const steep = steepWith({ config: () => file.path, env: () => env, timeoutMs: 120_000 });

      // the link's init takes write locks on both nodes
      const applied = await steep(['apply', '--auto-approve', '--allow-hazard', 'blocks-writes']);
      expect(applied.code, out(applied)).toBe(0);
      await waitCaughtUp(pub, SUB);
      // a monitor's reading while it streams from pub
      await steep(['status']);

      // the publisher crashes, its standby is promoted and written; the file names it, no standbys listed
      await pub.stop('immediate');
      await standby.promote();
      await standby.query(`INSERT INTO public.${TABLE} (id, v) VALUES (9000001, 'after the promotion')`);
      file.path = writeConfig(fileFor(standby, [], sub));
      env.PUB_PGPASSWORD = standby.password;
      // apply re-points the connection and records it diverged; the missing slot's error disables it
      const repointed = await steep(['apply', '--auto-approve']);
      expect(repointed.code, out(repointed)).toBe(0);
      const row = async () =>
        (
          await sub.query<{ subenabled: boolean; errors: string }>(
            `SELECT s.subenabled, (t.apply_error_count + t.sync_error_count)::text AS errors
               FROM pg_subscription s JOIN pg_stat_subscription_stats t ON t.subid = s.oid WHERE s.subname = $1`,
            [SUB],
          )
        )[0];
      await eventually(
        async () => (await row())?.subenabled === false,
        HANG_MS,
        `${SUB} disabled at its error`,
      );
      const before = await steep(['status', '--check']);
      expect(before.code, out(before)).toBe(2);
      expect(out(before)).toContain(NO_REPAIR);

      // the copy by hand, as status says: what pub wrote past the fork
      await sub.query(`INSERT INTO public.${TABLE} (id, v) VALUES (9000001, 'after the promotion')`);
      // a crash restart of sub resets its error counters: disabled, as if by hand
      await sub.restart('immediate');
      expect(await row()).toEqual({ subenabled: false, errors: '0' });

      const status = await steep(['status', '--check']);
      expect(status.code, out(status)).toBe(2);
      expect(out(status)).toContain(NO_REPAIR);
      // verify refuses its lost slot naming the way out status names, never a full reinit
      const verify = await steep(['verify', SUB, '--repair']);
      expect(verify.code, out(verify)).toBe(1);
      expect.soft(out(verify)).toContain(NO_REPAIR);
      expect.soft(out(verify)).not.toContain(`steep reinit ${SUB} --full`);
      // nor does apply enable it: enabled, it would resume past the fork
      const plan = await steep(['plan']);
      expect(out(plan)).not.toContain(`ALTER SUBSCRIPTION "${SUB}" ENABLE`);
      const again = await steep(['apply', '--auto-approve']);
      expect(again.code, out(again)).toBe(0);
      expect((await row())?.subenabled).toBe(false);

      // enabled by hand (disable_on_error off, so its missing slot's error leaves it enabled): no
      // longer the no-repair case; status names the verdict read now, as verify does, not the one
      // apply recorded while it was disabled
      await sub.query(`ALTER SUBSCRIPTION ${SUB} SET (disable_on_error = false)`);
      await sub.query(`ALTER SUBSCRIPTION ${SUB} ENABLE`);
      const enabled = await steep(['status', '--check']);
      expect(enabled.code, out(enabled)).toBe(2);
      expect.soft(out(enabled)).not.toContain(NO_REPAIR);
      expect
        .soft(out(enabled))
        .toContain(`steep reinit ${SUB} --full reconciles the tables it shares with l1_pub`);
      const verified = await steep(['verify', SUB, '--repair']);
      expect(verified.code, out(verified)).toBe(1);
      expect(out(verified)).toContain(`steep reinit ${SUB} --full`);
    } finally {
      await cluster.stop();
    }
  }, 300_000);
});
