import { describe, expect, it } from 'vitest';
import { Disagreement, drawn, planned } from '../../torture/commands.js';
import { CATALOG } from '../../torture/operations.js';
import { type SequenceResult, type StartArena, torture } from '../../torture/sequence.js';

/**
 * The fault-sequence harness's shrinking (torture/README.md), without PostgreSQL: the real
 * commands (the catalog's operations, their preconditions, fast-check's commands arbitrary) run
 * against a fake arena whose "oracle" disagrees when `reinit` follows `restart-subscriber`.
 * fast-check must reduce a 6-command sequence to exactly those 2, and its seed, path and replay
 * path must replay that one sequence, once.
 */
const fakeArena =
  (before: string, after: string): StartArena =>
  async (version, method, standby) => {
    const result: SequenceResult = {
      version,
      method,
      ops: [],
      disagreements: [],
      log: [`standby ${standby}`],
    };
    return {
      result,
      perform: async (op) => {
        result.ops.push(op.name);
        if (op.name === after && result.ops.slice(0, -1).includes(before)) {
          result.disagreements.push(`${after} after ${before}`);
          throw new Disagreement(result.disagreements[0]);
        }
      },
      stop: async () => {},
    };
  };

// a seed whose first failing sequence is 6 operations long (after the first apply)
const SEED = 7;
const start = fakeArena('restart-subscriber', 'reinit');

describe('torture shrinking (a fake world)', () => {
  it('the first failure as drawn is long; shrunk, it is the 2 operations that fail', async () => {
    const drawnFailure = await torture(18, { seed: SEED, runs: 200, shrink: false, start });
    expect(drawnFailure.failure?.ops.length).toBe(7);
    expect(drawnFailure.shrinks).toBe(0);
    // unshrunk (as CI runs a seed), the seed and path alone replay it
    const again = await torture(18, { seed: SEED, runs: 200, path: drawnFailure.path!, start });
    expect(again.runs).toBe(1);
    expect(again.failure?.ops).toEqual(drawnFailure.failure?.ops);

    const shrunk = await torture(18, { seed: SEED, runs: 200, start });
    expect(shrunk.failure?.ops).toEqual(['apply', 'restart-subscriber', 'reinit']);
    expect(shrunk.failure?.disagreements).toEqual(['reinit after restart-subscriber']);
    expect(shrunk.commands).toBe('restart-subscriber,reinit');
    expect(shrunk.shrinks).toBeGreaterThan(0);
    expect(shrunk.path).toMatch(/^\d+(:\d+)+$/);
    // fast-check's replay path of the shrunk commands (its base64-like runs), read from their /*replayPath=…*/
    expect(shrunk.replayPath).toMatch(/^[A-Za-z0-9+/]+(:[A-Za-z0-9+/]+)*$/);

    // the seed, path and replay path run that sequence again, and only it
    const replayed = await torture(18, {
      seed: shrunk.seed,
      runs: 200,
      path: shrunk.path!,
      replayPath: shrunk.replayPath!,
      start,
    });
    expect(replayed.runs).toBe(1);
    expect(replayed.failure?.ops).toEqual(['apply', 'restart-subscriber', 'reinit']);
  });

  it('a sequence that passes is not shrunk, and the first run draws what the coverage draw says', async () => {
    const seen: string[][] = [];
    const r = await torture(18, {
      seed: 1,
      runs: 3,
      start: fakeArena('never', 'drawn'),
      onRun: (res) => seen.push(res.ops.slice(1)),
    });
    expect(r.failure).toBeNull();
    expect(r.runs).toBe(3);
    expect(seen[0]).toEqual(planned(18, drawn(1, 18)).map((op) => op.name));
    expect(seen[0]!.length).toBeGreaterThanOrEqual(3);
  });

  it('the model allows no failover without its standby, nor a second one, and one switchover', async () => {
    const seen: SequenceResult[] = [];
    await torture(18, {
      seed: 5,
      runs: 100,
      start: fakeArena('never', 'drawn'),
      onRun: (res) => seen.push(res),
    });
    let failovers = 0;
    for (const { ops, log } of seen) {
      const failover = ops.filter((o) => o.startsWith('failover-'));
      expect(failover.length).toBeLessThanOrEqual(1);
      expect(ops.filter((o) => o.startsWith('switchover')).length).toBeLessThanOrEqual(1);
      // the world has the standby its failover needs, and none without a failover
      const needs = CATALOG.find((op) => op.name === failover[0])?.standby ?? null;
      expect(log[0]).toBe(`standby ${needs}`);
      failovers += failover.length;
    }
    expect(failovers).toBeGreaterThan(10);
    const on16: string[][] = [];
    await torture(16, {
      seed: 5,
      runs: 100,
      start: fakeArena('never', 'drawn'),
      onRun: (res) => on16.push(res.ops),
    });
    expect(on16.flat().filter((o) => o.startsWith('failover-'))).toEqual([]);
  });
});
