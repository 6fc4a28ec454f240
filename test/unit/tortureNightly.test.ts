import { describe, expect, it } from 'vitest';
import { advance, allows, drawn, initialModel, planned } from '../../torture/commands.js';
import { COVERED_VERSIONS, coverage } from '../../torture/coverage.js';
import {
  allowedPairs,
  NIGHTLY_MAX_OPS,
  type NightlySequence,
  nightlySet,
  pairCoverage,
  pairsOf,
  parseShard,
  shard,
} from '../../torture/nightly.js';
import { CATALOG } from '../../torture/operations.js';
import { describeFailure, type SequenceResult, torture } from '../../torture/sequence.js';

/**
 * The fault harness's nightly set (torture/nightly.ts), from the model alone (no server): on each
 * of 16, 17 and 18 its sequences perform every ordered pair of operations the model allows, each
 * sequence is one the model allows as the runner runs it, and shards split it.
 */
const op = (name: string) => CATALOG.find((o) => o.name === name)!;

/** A nightly sequence through the real runner, in a fake world: `after` sees the operations so far, logged. */
const runFake = (s: NightlySequence, after: (ops: string[]) => void) =>
  torture(18, {
    seed: s.seed,
    runs: 1,
    names: s.ops,
    shrink: false,
    start: async (version, method) => {
      const result: SequenceResult = { version, method, ops: [], disagreements: [], log: [] };
      const perform = async (o: { name: string }) => {
        result.ops.push(o.name);
        result.log.push(`== ${o.name}`);
        after(result.ops);
      };
      return { result, perform, stop: async () => {} };
    },
  });

describe('torture nightly set', () => {
  it.each(COVERED_VERSIONS)('on PostgreSQL %i it performs every ordered pair the model allows', (v) => {
    const allowed = allowedPairs(v);
    const performed = new Set(nightlySet(v).flatMap((s) => pairsOf(v, s.ops)));
    expect([...allowed].filter((p) => !performed.has(p))).toEqual([]);
    const c = coverage().pairs[v]!;
    expect(c.covered).toBe(c.allowed);
    expect(c.allowed).toBe(allowed.size);
  });

  it('a pair is allowed where the model lets b follow a, and only there', () => {
    const p18 = allowedPairs(18);
    expect(p18).toContain('restart-subscriber → reinit');
    expect(p18).toContain('reinit → reinit');
    // a failover earlier, then anything, then the old primary back
    expect(p18).toContain('restart-subscriber → old-primary-back');
    expect(p18).toContain('failover-ready → old-primary-back');
    expect(p18).toContain('switchover → failover-no-slot');
    // one switchover, one failover, the old primary back once, and never before a failover
    expect(p18).not.toContain('switchover → switchover-reverse');
    expect(p18).not.toContain('failover-ready → failover-lagging');
    expect(p18).not.toContain('old-primary-back → old-primary-back');
    expect(p18).not.toContain('old-primary-back → failover-ready');
    // failovers are 17+
    const p16 = [...allowedPairs(16)];
    expect(p16.filter((p) => /failover|old-primary/.test(p))).toEqual([]);
    expect(p16).toContain('switchover-inbound → column-swap');
  });

  it('each sequence is what the runner performs: the model allows it from its world, in order', async () => {
    for (const v of COVERED_VERSIONS)
      for (const s of nightlySet(v)) {
        expect(s.ops.length).toBeLessThanOrEqual(NIGHTLY_MAX_OPS);
        const seq = drawn(s.seed, v, { names: s.ops });
        const model = initialModel(v, seq);
        for (const name of s.ops) {
          expect(allows(model, op(name)), `${v} seed ${s.seed}: ${s.ops.join(',')}: ${name}`).toBe(true);
          advance(model, op(name));
        }
        expect(planned(v, seq).map((o) => o.name)).toEqual(s.ops);
      }
    // one through the real runner with a world that agrees: it performs exactly the sequence
    const s = nightlySet(18)[0]!;
    const r = await runFake(s, () => {});
    expect(r.error).toBeNull();
    expect(r.last?.ops).toEqual(['apply', ...s.ops]);
  });

  it('the set is the same every time, its seeds distinct, every init method drawn', () => {
    for (const v of COVERED_VERSIONS) {
      const set = nightlySet(v);
      expect(nightlySet(v, [...CATALOG])).toEqual(set);
      expect(new Set(set.map((s) => s.seed)).size).toBe(set.length);
      expect(Object.keys(pairCoverage(v).init).sort()).toEqual(['own-copy', 'snapshot', 'two-phase']);
    }
  });

  it('shards split the set: each sequence in one shard, sizes within one of each other', () => {
    const set = nightlySet(18);
    for (const n of [1, 4, 8, 10]) {
      const parts = Array.from({ length: n }, (_, i) => shard(set, i + 1, n));
      expect(
        parts
          .flat()
          .map((s) => s.index)
          .sort((a, b) => a - b),
      ).toEqual(set.map((s) => s.index));
      const sizes = parts.map((p) => p.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
    expect(parseShard('2/8')).toEqual({ i: 2, n: 8 });
    for (const bad of ['0/8', '9/8', '2', 'a/b'])
      expect(() => parseShard(bad)).toThrow(`--shard ${bad}: give I/N with 1 ≤ I ≤ N, e.g. --shard 2/8`);
  });

  it('a sequence stopped by an error (a ceiling, no disagreement) is reported with what it did and its log', async () => {
    const s = nightlySet(18)[0]!;
    const r = await runFake(s, (ops) => {
      if (ops.length === 3) throw new Error(`still waiting for ${ops[2]}: a hang`);
    });
    expect(r.failure).toBeNull();
    expect(r.error).toContain('a hang');
    expect(r.last?.ops).toEqual(['apply', ...s.ops.slice(0, 2)]);
    expect(describeFailure(r)).toContain(`--- log\n== apply\n== ${s.ops[0]}`);
  });

  it('a sequence the model does not allow is named', () => {
    expect(() => pairsOf(18, ['switchover', 'switchover-reverse'])).toThrow(
      'PostgreSQL 18: switchover,switchover-reverse: the model does not allow switchover-reverse there',
    );
    expect(() => pairsOf(16, ['failover-ready'])).toThrow(/does not allow failover-ready/);
  });
});
