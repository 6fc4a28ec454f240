import { describe, expect, it } from 'vitest';
import { initialApply } from '../../torture/operations.js';
import { oracle } from '../../torture/oracle.js';
import { seeded } from '../../torture/random.js';
import { describeFailure, runSequence } from '../../torture/sequence.js';
import { FIRST_CLIENT_ID, startWorld } from '../../torture/world.js';
import { faultVersions } from '../support/cluster.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * The fault-sequence harness (torture/README.md) in the suite: a fixed set of seeds, chosen so
 * that together they draw every operation of the catalog and every init method, each ending with
 * 0 disagreements between steep and the oracle; and the oracle itself made to disagree, by a row
 * deleted behind steep's back on a subscriber it calls synchronized and by an acknowledged id
 * deleted on the primary. `npm run torture` runs new seeds; TORTURE_SEED=x replays one.
 */
const SEEDS = ['ci-17', 'ci-18', 'ci-25'];

describe.each(faultVersions())('torture on PostgreSQL %i', (version) => {
  it.each(SEEDS)(
    'seed %s: 0 disagreements',
    async (seed) => {
      const r = await runSequence(seed, version);
      expect(r.disagreements, describeFailure(r)).toEqual([]);
    },
    600_000,
  );

  it('the oracle disagrees with steep where a row is missing behind its back, and where an acknowledged id is lost', async () => {
    const world = await startWorld(version, 'snapshot', null);
    try {
      world.startWriters();
      await initialApply.run(world, seeded('self-test'));
      expect(await oracle(world)).toEqual([]);

      // a row deleted on the subscriber, which nothing replicates: steep still says synchronized
      await world.subscriber.query('DELETE FROM public.t_ids WHERE id = 7');
      const missing = await oracle(world);
      expect(missing.join('\n')).toContain(
        'steep status calls ts1 synchronized, but its rows differ once caught up',
      );
      expect(missing.join('\n')).toContain("ts1's rows differ");
      await world.subscriber.query("INSERT INTO public.t_ids (id, v) VALUES (7, md5('7'))");

      // an acknowledged id gone from the primary (the delete replicates: the subscription stays equal)
      await eventually(
        async () =>
          (await world.publisher.query(`SELECT 1 FROM public.t_ids WHERE id = ${FIRST_CLIENT_ID + 1}`))
            .length === 1,
        HANG_MS,
        'the first acknowledged id',
      );
      await world.publisher.query(`DELETE FROM public.t_ids WHERE id = ${FIRST_CLIENT_ID + 1}`);
      const lost = await oracle(world);
      expect(lost).toEqual([
        `1 id(s) acknowledged on pa are not on pa, which steep calls primary (${FIRST_CLIENT_ID + 1}…)`,
      ]);
    } finally {
      await world.stopWriters();
      await world.cluster.stop();
    }
  }, 300_000);
});
