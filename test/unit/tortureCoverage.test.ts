import { describe, expect, it } from 'vitest';
import { drawn, planned } from '../../torture/commands.js';
import { CI_SEEDS, COVERED_VERSIONS, ciRun, coverage, gaps } from '../../torture/coverage.js';
import { CATALOG, OPEN_OPERATIONS } from '../../torture/operations.js';
import { type SequenceResult, torture } from '../../torture/sequence.js';

/**
 * The fault-sequence harness's CI seeds (torture/coverage.ts), from the draw alone: on each of
 * 16, 17 and 18 they draw every operation of the catalog that runs there (the open ones aside)
 * and every init method; a catalog change that leaves one undrawn fails here, before any run.
 */
describe('torture coverage', () => {
  it('CI seeds draw every operation that is not open, and every init method, on 16, 17 and 18', () => {
    expect(gaps(coverage())).toEqual([]);
  });

  it('what the suite runs for a CI seed (one sequence, the real runner, a world that agrees) is what the draw counts', async () => {
    for (const v of COVERED_VERSIONS)
      for (const seed of CI_SEEDS[v]) {
        let ran: SequenceResult | null = null;
        let standby: string | null = null;
        await torture(v, {
          seed,
          runs: 1,
          shrink: false,
          start: async (version, method, sb) => {
            standby = sb;
            const result: SequenceResult = { version, method, ops: [], disagreements: [], log: [] };
            return { result, perform: async (op) => void result.ops.push(op.name), stop: async () => {} };
          },
          onRun: (r) => {
            ran = r;
          },
        });
        const seq = drawn(seed, v);
        const ops = planned(v, seq);
        expect(ran!.method).toBe(seq.method);
        expect(ran!.ops).toEqual(['apply', ...ops.map((op) => op.name)]);
        expect(standby).toBe(ops.find((op) => op.standby)?.standby ?? null);
      }
  });

  it('each open operation is in the catalog and names the issue it waits for', () => {
    for (const [name, why] of Object.entries(OPEN_OPERATIONS)) {
      expect(CATALOG.map((op) => op.name)).toContain(name);
      expect(why).toMatch(/issues? \d+/);
    }
  });

  it('the suite runs one seed of the set a day, rotating through it, or all of it with TORTURE_CI=all', () => {
    const day = 86_400_000;
    const runs = CI_SEEDS[18].map((_, d) => ciRun(18, {}, d * day));
    expect(runs.flat().sort()).toEqual([...CI_SEEDS[18]].sort());
    expect(ciRun(18, { TORTURE_CI: 'all' })).toEqual(CI_SEEDS[18]);
  });

  it('a seed set that misses an operation is a gap, named', () => {
    const c = coverage({ 16: [CI_SEEDS[16][0]!], 17: [], 18: [] });
    expect(gaps(c)).toContain('PostgreSQL 17: no CI seed draws restart-subscriber');
    expect(COVERED_VERSIONS).toEqual([16, 17, 18]);
  });
});
