import { describe, expect, it } from 'vitest';
import { faultVersions } from '../test/support/cluster.js';
import { describeFailure, drawOptions, runSequence } from './sequence.js';

/**
 * `npm run torture`: seeded sequences of operations with the oracle after each (README.md).
 * TORTURE_SEED=x replays one (x,y: several); TORTURE_SEEDS=N runs N new ones (default 5); STEEP_TEST_PG=16,17,18;
 * TORTURE_OPEN=1 draws the open operations too; TORTURE_OPS=a,b runs those operations in order.
 */
function seeds(): string[] {
  if (process.env.TORTURE_SEED) return process.env.TORTURE_SEED.split(',');
  const base = process.env.TORTURE_BASE ?? Math.random().toString(36).slice(2, 8);
  return Array.from({ length: Number(process.env.TORTURE_SEEDS ?? 5) }, (_, i) => `${base}-${i + 1}`);
}

describe.each(faultVersions())('torture on PostgreSQL %i', (version) => {
  it.each(seeds())('seed %s', async (seed) => {
    const r = await runSequence(seed, version, drawOptions());
    console.log(
      `torture ${version} seed ${seed}: ${r.disagreements.length === 0 ? 'ok' : 'DISAGREE'}: ${r.ops.join(' → ')}`,
    );
    for (const d of r.disagreements) console.log(`  ${d}`);
    expect(r.disagreements, describeFailure(r)).toEqual([]);
  });
});
