/**
 * What a failover judgement reads of a primary (catalog/failover.ts): its own WAL position and its
 * logical slots. A slot confirming past the node's own WAL is how steep recognises changes
 * applied elsewhere (an old primary's, past a fork), a diverged failover; so a slot that streams
 * must never read as beyond. Read the WAL position before the slots, and a subscription
 * confirming a commit between the two reads looked so (torture seed 180087: 360 B, a plan
 * refused as diverged). Here a subscription streams a writer's commits while the read repeats.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFailover } from '../../src/catalog/failover.js';
import { compareLsn } from '../../src/model/lsn.js';
import { useCluster } from '../support/cluster.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

const cluster = useCluster({ nodes: ['east', 'west'] });
const READS = 300;

describe('a streaming slot never reads as past its node’s own WAL', () => {
  let writing = true;
  afterAll(() => {
    writing = false;
  });

  it(`in ${READS} reads while a subscription confirms a writer's commits`, async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) await n.query('CREATE TABLE public.fr (id bigserial PRIMARY KEY, v text)');
    await east.query('CREATE PUBLICATION fr_pub FOR TABLE public.fr');
    await west.query(
      `CREATE SUBSCRIPTION fr_sub CONNECTION 'host=127.0.0.1 port=${east.port} dbname=app user=postgres password=${east.password}' PUBLICATION fr_pub`,
    );
    const writer = await east.client();
    let commits = 0;
    const writes = (async () => {
      while (writing) {
        await writer.query("INSERT INTO public.fr (v) VALUES ('x')");
        commits++;
      }
    })();
    try {
      const confirmed = async () =>
        (
          await east.query<{ lsn: string | null }>(
            "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'fr_sub'",
          )
        )[0]?.lsn ?? null;
      const first = await confirmed();
      await eventually(
        async () => (await confirmed()) !== first && commits > 100,
        HANG_MS,
        'fr_sub confirming',
      );
      const beyond: string[] = [];
      for (let i = 0; i < READS; i++) {
        const { self } = await readFailover('east', east.connection, []);
        const slot = self.slots.fr_sub!.confirmedFlushLsn;
        if (slot !== null && self.walLsn !== null && compareLsn(slot, self.walLsn) > 0)
          beyond.push(`${slot} > ${self.walLsn}`);
      }
      console.log(`${READS} reads during ${commits} commits: ${beyond.length} read the slot beyond the WAL`);
      expect(beyond).toEqual([]);
    } finally {
      writing = false;
      await writes;
      await writer.end();
    }
  }, 300_000);
});
