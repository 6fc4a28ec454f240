import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import { stepTimeouts } from '../../../src/planner/stepTimeouts.js';
import { observe, publication, runPlan, subscription, topology } from './fixtures.js';

const settings = { lockTimeout: 750, statementTimeout: 30_000 };

describe('each step carries its own timeouts', () => {
  it('a catalog change: settings.lockTimeout and settings.statementTimeout', () => {
    for (const kind of [
      'publication-alter',
      'subscription-alter',
      'subscription-drop',
      'table-sync',
      'state-schema',
    ] as const)
      expect(stepTimeouts(kind, settings), kind).toEqual({ lockMs: 750, statementMs: 30_000 });
  });

  it("a subscription's drop waits at most 60 s for its slot's walsender when the file sets no statement timeout", () => {
    const none = { lockTimeout: 750, statementTimeout: 0 };
    expect(stepTimeouts('subscription-drop', none)).toEqual({ lockMs: 750, statementMs: 60_000 });
    expect(stepTimeouts('publication-alter', none)).toEqual({ lockMs: 750, statementMs: 0 });
  });

  it('a step that waits by design (CREATE SUBSCRIPTION, a slot, a copy, a merge) has no statement_timeout', () => {
    for (const kind of ['subscription-create', 'slot-create', 'subscription-init', 'merge-init'] as const)
      expect(stepTimeouts(kind, settings), kind).toEqual({ lockMs: 750, statementMs: 0 });
  });

  it('the planner puts them on every step of a plan', () => {
    const t = topology({
      publications: [publication('orders_pub', 'east', { tables: ['public.orders'] })],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    t.settings.statementTimeout = 30_000;
    const s = observe(t);
    const west = s.nodes.west!;
    if (west.reachable) west.subscriptions = {};
    const east = s.nodes.east!;
    if (east.reachable) {
      east.slots = {};
      east.publications = {};
    }
    const p = runPlan(t, s);
    expect(p.steps.length).toBeGreaterThan(0);
    for (const step of p.steps)
      expect(step.timeouts, printAddress(step.address)).toEqual(stepTimeouts(step.kind, t.settings));
    expect(p.steps.find((x) => x.kind === 'subscription-create')?.timeouts?.statementMs).toBe(0);
  });
});
