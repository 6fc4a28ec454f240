import { describe, expect, it } from 'vitest';
import { defaultVersion, useCluster } from '../support/cluster.js';
import { ITEMS_SUB, itemsPair } from '../support/itemsPair.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * A slot's count of decoded transactions (pg_stat_replication_slots.total_txns) smaller than at a
 * reading before is a slot dropped and created again (model/handMoves.ts), but only where the
 * publisher's statistics were kept since: a crash discards them (the count starts over at 0) and
 * a reset zeroes them, and neither is a hole. A clean restart keeps them, so a slot made again by
 * hand after one is still found, with no reading during its pause, and its printed way out
 * converges. Under the app's id-logging writer on the publisher throughout.
 */
const version = defaultVersion();
const cluster = useCluster({ nodes: ['east', 'west'], version });
const APP = { user: 'count_app', password: 'count-app-secret-1' };
const { steep, setUp, startWriter, untilState, reinitConverges } = itemsPair(cluster, {
  topology: 'slot-count',
  app: APP,
});

describe(`a slot's decoded count starting over (PostgreSQL ${version})`, () => {
  it('after a crash or a reset is no gap; after a slot made again by hand, past a clean restart, it is', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await setUp(
      'id bigserial PRIMARY KEY, v text NOT NULL',
      'INSERT INTO public.items (v) SELECT md5(g::text) FROM generate_series(1, 100) g',
    );
    const decoded = async () =>
      Number(
        (
          await east.query<{ n: string }>(
            'SELECT total_txns::text AS n FROM pg_stat_replication_slots WHERE slot_name = $1',
            [ITEMS_SUB],
          )
        )[0]?.n ?? -1,
      );
    /** `more` writes, then a status that records the slot's count (at least `least`) */
    const readAfter = async (more: number, least: number) => {
      for (let i = 0; i < more; i++) await writer.more(`writes on east (${i + 1} of ${more})`);
      await eventually(async () => (await decoded()) >= least, HANG_MS, `the slot to count ${least}`);
      const read = await steep(['status']);
      expect(read.code, read.stdout).toBe(0);
      return decoded();
    };
    const writer = startWriter();
    try {
      const before = await readAfter(5, 100);
      await untilState('synchronized');

      // a crash: the statistics discarded, the count starts over
      await east.restart('immediate');
      await writer.more('writes after the crash');
      const crashed = await decoded();
      console.log(`crash on ${version}: ${before} transactions decoded before, ${crashed} after`);
      expect(crashed).toBeLessThan(before);
      await untilState('synchronized');

      // a reset of the slot's statistics by hand
      const counted = await readAfter(5, 100);
      await east.query('SELECT pg_stat_reset_replication_slot($1)', [ITEMS_SUB]);
      await writer.more('writes after the reset');
      // 14's statistics collector takes the reset in its own time
      await eventually(async () => (await decoded()) < counted, HANG_MS, 'the reset to show');
      await untilState('synchronized');

      // counted again, a clean restart keeps the count: then the slot made again by hand while
      // the subscription is disabled, no reading between, and enabled again
      const kept = await readAfter(8, 150);
      await east.restart('fast');
      expect(await decoded()).toBeGreaterThanOrEqual(kept);
      await west.query(`ALTER SUBSCRIPTION ${ITEMS_SUB} DISABLE`);
      await eventually(
        async () =>
          (
            await east.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [
              ITEMS_SUB,
            ])
          ).length === 0,
        HANG_MS,
        'the slot let go',
      );
      await east.query('SELECT pg_drop_replication_slot($1)', [ITEMS_SUB]);
      await writer.more('writes while the slot is gone');
      await east.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [ITEMS_SUB]);
      await west.query(`ALTER SUBSCRIPTION ${ITEMS_SUB} ENABLE`);
      await writer.more('writes after the ENABLE');
      const gap = await untilState('gap');
      const said = new RegExp(
        `${ITEMS_SUB}'s slot ${ITEMS_SUB} on east has decoded (\\d+) transactions, fewer than the (\\d+) it had at steep's reading of`,
      ).exec(gap);
      expect(said, gap).not.toBeNull();
      // the count kept was read before the restart, the one now is the new slot's
      expect(Number(said?.[1])).toBeLessThan(Number(said?.[2]));
      const check = await steep(['status', '--check']);
      expect(check.code).toBe(2);
      expect(check.stdout).toContain(`steep reinit ${ITEMS_SUB} --tables public.items`);
      await reinitConverges(writer, `slot made again after a clean restart (${version})`);
    } finally {
      await writer.stop();
    }
  }, 600_000);
});
