import { describe, expect, it } from 'vitest';
import type { Plan, Step } from '../../../src/model/plan.js';
import { asSaved, staleness } from '../../../src/workflows/savedPlan.js';

const step = (over: Partial<Step>): Step =>
  ({
    id: 'init:west:orders_sub',
    address: 'subscription.orders_sub',
    node: 'west',
    action: 'init',
    statements: [],
    hazards: [],
    changes: [{ path: 'init.state', before: 'uninitialized', after: 'synchronized' }],
    catalogDigest: 'abc',
    ...over,
  }) as Step;

const plan = (steps: Step[]): Plan =>
  ({ observed: { digest: 'o' }, config: { digest: 'c' }, steps }) as unknown as Plan;

describe('staleness of a plan against the fresh one', () => {
  it('an init step that only follows and records is not stale when PostgreSQL finished the copy meanwhile', () => {
    expect(staleness(asSaved(plan([step({})])), plan([]))).toEqual([]);
  });

  it('an init step that copies, or runs SQL, and is no longer needed is stale', () => {
    const copies = step({
      changes: [
        { path: 'init.copy', before: null, after: 'steep' },
        { path: 'init.state', before: 'copying', after: 'synchronized' },
      ],
    });
    const enables = step({
      statements: [{ sql: 'ALTER SUBSCRIPTION "orders_sub" ENABLE', transactional: true }],
    });
    for (const s of [copies, enables]) {
      expect(staleness(asSaved(plan([s])), plan([]))).toEqual([
        'subscription.orders_sub: the init step is no longer needed',
      ]);
    }
  });
});
