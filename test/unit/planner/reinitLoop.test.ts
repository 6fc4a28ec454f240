import { describe, expect, it } from 'vitest';
import type { SubscriptionSpec } from '../../../src/model/topology.js';
import {
  type BrokenStream,
  type LoopInput,
  missedDeletesRule,
  planLoopedReinit,
} from '../../../src/planner/init/reinitLoop.js';

function sub(
  name: string,
  node: string,
  from: string,
  origin: 'none' | 'any',
  strategy?: string,
): SubscriptionSpec {
  return {
    name,
    node,
    from,
    publications: [`${name}_pub`],
    slot: name,
    enabled: true,
    options: { origin },
    schemaSync: 'strict',
    init: { method: strategy ? 'merge' : 'snapshot', parallel: 1, existingData: 'fail', strategy },
    protect: false,
  } as SubscriptionSpec;
}

function input(over: Partial<LoopInput> = {}): LoopInput {
  return {
    subscription: sub('l_us', 'us', 'eu', 'none', 'last-modified:updated_at'),
    back: [sub('l_eu', 'eu', 'us', 'none')],
    publishedBack: new Map([['l_eu', new Set(['p.a'])]]),
    tables: ['p.a', 'p.b'],
    enabled: true,
    recorded: 'diverged',
    underWay: false,
    stateSchema: 'steep',
    ...over,
  };
}

describe('reinit of tables replicated both ways', () => {
  it('reconciles only the tables published back, by the link strategy; the lock after the triggers, let go before they are dropped', () => {
    const plan = planLoopedReinit(input(), 5000)!;
    expect(plan.looped).toEqual(['p.a']);
    expect(plan.rest).toEqual(['p.b']);
    expect(plan.strategy).toEqual({ kind: 'last-modified', column: 'updated_at', tieNode: 'eu' });
    expect(plan.back).toEqual([{ name: 'l_eu', slot: 'l_eu' }]);
    for (const side of [plan.publisher, plan.subscriber]) {
      expect(side.take.some((s) => s.includes('pg_replication_origin_session_setup'))).toBe(true);
      expect(
        side.take.some((s) =>
          /CREATE TRIGGER "steep_reinit_fence" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "p"\."a" FOR EACH STATEMENT/.test(
            s,
          ),
        ),
      ).toBe(true);
      expect(side.take.some((s) => s.includes('"p"."b"'))).toBe(false);
      // each trigger in a transaction of its own, the lock after them all: no wait holds another lock
      const lock = side.take.findIndex((s) => s.includes('pg_advisory_lock('));
      const create = side.take.findIndex((s) => s.startsWith('CREATE TRIGGER'));
      expect(side.take.slice(create - 3, create + 2)).toEqual([
        'BEGIN',
        'SET LOCAL lock_timeout = 5000',
        'DROP TRIGGER IF EXISTS "steep_reinit_fence" ON "p"."a"',
        expect.stringMatching(/^CREATE TRIGGER/),
        'COMMIT',
      ]);
      expect(create).toBeLessThan(lock);
      expect(side.take.slice(lock - 2, lock + 2)).toEqual([
        'BEGIN',
        'SET LOCAL lock_timeout = 5000',
        expect.stringContaining('pg_advisory_lock('),
        'COMMIT',
      ]);
      const unlock = side.release.findIndex((s) => s.includes('pg_advisory_unlock'));
      const drop = side.release.findIndex((s) => s.startsWith('DROP TRIGGER'));
      expect(unlock).toBeGreaterThanOrEqual(0);
      expect(unlock).toBeLessThan(drop);
    }
  });

  it('is not needed when nothing is published back; a manual strategy keeps the publisher row', () => {
    expect(planLoopedReinit(input({ back: [] }), 5000)).toBeNull();
    expect(planLoopedReinit(input({ tables: ['p.b'] }), 5000)).toBeNull();
    const manual = planLoopedReinit(
      input({ subscription: sub('l_us', 'us', 'eu', 'none', 'manual') }),
      5000,
    )!;
    expect(manual.strategy).toEqual({ kind: 'prefer', node: 'eu' });
  });

  it('refuses a loop with origin any, a disabled subscription and one still copying', () => {
    expect(() => planLoopedReinit(input({ back: [sub('l_eu', 'eu', 'us', 'any')] }), 5000)).toThrow(
      /l_eu has origin = any: .*set origin: none on both/,
    );
    expect(() => planLoopedReinit(input({ enabled: false }), 5000)).toThrow(/is disabled/);
    expect(() => planLoopedReinit(input({ recorded: 'copying' }), 5000)).toThrow(
      /is copying, not initialised/,
    );
  });

  it('runs again over a reinit stopped part way: its reconcile, or the copy of its other tables', () => {
    expect(planLoopedReinit(input({ recorded: 'reinitializing' }), 5000)?.looped).toEqual(['p.a']);
    expect(planLoopedReinit(input({ recorded: 'copying', underWay: true }), 5000)?.looped).toEqual(['p.a']);
  });
});

describe('the rows only on the subscriber of a link whose stream broke (missedDeletesRule)', () => {
  const d = sub('l_us', 'us', 'eu', 'none');
  const intact: BrokenStream = { slot: null, gap: false, failoverDiverged: false, pastFork: false };
  const synchronized = [{ name: 'l_eu', verdict: 'synchronized' }];
  const unverified = [{ name: 'l_eu', verdict: 'unverified' }];

  it('no known break: no rule, every one-sided row goes across unlogged as in any merge', () => {
    expect(missedDeletesRule(d, intact, synchronized)).toBeNull();
  });

  it('a slot gone, the way back synchronized: deletes it missed, deleted; unproven way back: copied back, logged', () => {
    const gone = { ...intact, slot: { kind: 'absent' } as BrokenStream['slot'] };
    expect(missedDeletesRule(d, gone, synchronized)?.deleted).toBe(true);
    const copied = missedDeletesRule(d, gone, unverified);
    expect(copied?.deleted).toBe(false);
    expect(copied?.why).toContain('l_eu is unverified');
    expect(copied?.why).toContain('strategy copied-back');
  });

  it('a failover that skipped changes of its slot, which still exists (nightly seed 180083): a broken stream too', () => {
    // the slot synced before the promotion confirming past what us applied: no slot repair, no gap
    // read, yet eu's deletes since the failover never reached us
    const skipped = { ...intact, failoverDiverged: true };
    expect(missedDeletesRule(d, skipped, unverified)).toEqual({
      deleted: false,
      why:
        'l_us missed changes of eu (the last failover of eu skipped them), and l_eu is unverified: what us wrote may not all be on eu, so ' +
        'rows only on us are copied to eu, deletes it missed with them (each kept in merge_log on both nodes, strategy copied-back: those to delete again are among them) (docs/repair.md)',
    });
    expect(missedDeletesRule(d, skipped, synchronized)?.deleted).toBe(true);
  });

  it('rows past the fork (diverged keeping them, or unknown): never deleted, each copied back and logged', () => {
    for (const broke of [
      { ...intact, failoverDiverged: true, pastFork: true },
      { ...intact, pastFork: true },
    ]) {
      const r = missedDeletesRule(d, broke, synchronized);
      expect(r?.deleted).toBe(false);
      expect(r?.why).toContain("us may hold rows past eu's failover");
      expect(r?.why).toContain('strategy copied-back');
    }
  });
});
