import { afterEach, describe, expect, it } from 'vitest';
import { FIRST_CHOICES } from '../../torture/choices.js';
import { ciRun } from '../../torture/coverage.js';
import { initialApply } from '../../torture/operations.js';
import { oracle } from '../../torture/oracle.js';
import { SELF_TESTS } from '../../torture/selfTests.js';
import { describeFailure, stopAbandoned, torture, worldArena } from '../../torture/sequence.js';
import { startWorld } from '../../torture/world.js';
import { faultVersions } from '../support/cluster.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * The fault-sequence harness (torture/README.md) in the suite: one seed of the version's CI set,
 * rotating by day (TORTURE_CI=all: the whole set; torture/coverage.ts: together they draw every
 * operation that is not open, and every init method; test/unit/tortureCoverage checks it), ending
 * with 0 disagreements between steep and the oracle; and the oracle's self-tests (torture/selfTests.ts), each breaking the world
 * behind steep's back in one way that the oracle must name. A seed runs the first sequence
 * fast-check draws from it, unshrunk (shrinking is minutes a step): a failure prints the seed and
 * path that replay it, and `npm run torture -- --seed S` shrinks it.
 */
// a sequence its test's ceiling abandoned: its servers down before the next test
afterEach(async () => void (await stopAbandoned()));

describe.each(faultVersions())('torture on PostgreSQL %i', (version) => {
  it.each(ciRun(version))(
    'seed %s: 0 disagreements',
    async (seed) => {
      const r = await torture(version, { seed, runs: 1, shrink: false });
      expect(r.failure === null && r.error === null, describeFailure(r)).toBe(true);
    },
    600_000,
  );

  it(`the oracle disagrees: ${SELF_TESTS.map((t) => t.name).join(', ')}`, async () => {
    const world = await startWorld(version, 'snapshot', null);
    // stopped as a sequence's world is: the servers go down even under a write that never returns
    const arena = worldArena(world);
    try {
      await initialApply.run(world, FIRST_CHOICES);
      expect(await oracle(world)).toEqual([]);
      for (const t of SELF_TESTS) {
        world.say(`== self-test: ${t.name}`);
        await t.break(world);
        const found = await oracle(world, t.opts);
        // the writes the break made fail until the repair are this case's, not the next one's
        const repairing = world.blackout(`self-test: ${t.name}, repaired`);
        await t.repair(world);
        const acked = world.ackedCount(world.primary);
        await eventually(async () => world.ackedCount(world.primary) > acked, HANG_MS, 'writes again');
        repairing();
        expect(found.join('\n'), `${t.name}: the oracle must disagree`).toContain(
          `[${t.check}] ${t.expect(world)}`,
        );
      }
      expect(await oracle(world), 'every case repaired').toEqual([]);
    } finally {
      await arena.stop();
    }
  }, 400_000);
});
