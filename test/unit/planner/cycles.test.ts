import { describe, expect, it } from 'vitest';
import { findCycles } from '../../../src/planner/cycles.js';
import { at, codes, observe, PG15, publication, runPlan, subscription, topology } from './fixtures.js';

function ring(names: string[], origin: 'any' | 'none' | undefined) {
  return topology({
    publications: names.map((n) => publication(`${n}_pub`, n, { tables: [`public.${n}_data`] })),
    subscriptions: names.map((n, i) => {
      const from = names[(i + names.length - 1) % names.length]!;
      return subscription(`${n}_from_${from}`, n, from, [`${from}_pub`], {
        options: origin ? { origin } : {},
      });
    }),
  });
}

describe('cycles', () => {
  it('finds every elementary cycle once, from its smallest node', () => {
    expect(
      findCycles([
        { from: 'east', to: 'west' },
        { from: 'west', to: 'east' },
        { from: 'west', to: 'north' },
        { from: 'north', to: 'east' },
      ]),
    ).toEqual([
      ['east', 'west'],
      ['east', 'west', 'north'],
    ]);
  });

  it('two nodes subscribing to each other with origin any → error naming the loop', () => {
    const t = ring(['east', 'west'], 'any');
    const p = runPlan(t, observe(t));
    expect(codes(p.errors)).toEqual(['cycle']);
    expect(p.errors[0]!.message).toContain('loop east → west → east');
    expect(p.errors[0]!.message).toContain('set options.origin: none');
  });

  it('origin left to the default (any) is an error too', () => {
    const t = ring(['east', 'west'], undefined);
    expect(codes(runPlan(t, observe(t)).errors)).toEqual(['cycle']);
  });

  it('three nodes in a ring with origin any → error naming the three-node loop', () => {
    const t = ring(['east', 'north', 'west'], 'any');
    const p = runPlan(t, observe(t));
    expect(p.errors.map((e) => e.code)).toEqual(['cycle']);
    expect(p.errors[0]!.message).toContain('loop east → north → west → east');
  });

  it('one subscription with origin any is enough to make the loop an error', () => {
    const t = ring(['east', 'west'], 'none');
    t.subscriptions.east_from_west!.options = {};
    const p = runPlan(t, observe(t));
    expect(codes(p.errors)).toEqual(['cycle']);
    expect(p.errors[0]!.message).toContain('origin any on east_from_west');
  });

  it.each([2, 3])('%i nodes with origin none everywhere → fine', (n) => {
    const t = ring(['east', 'north', 'west'].slice(0, n), 'none');
    const p = runPlan(t, observe(t));
    expect(p.errors).toEqual([]);
    expect(p.steps).toEqual([]);
  });

  it('before 16 there is no origin option: a loop there is always an error', () => {
    const t = ring(['east', 'west'], undefined);
    expect(codes(runPlan(t, observe(t, { version: PG15 })).errors)).toEqual(['cycle']);
  });

  it('copy_data with origin none from a publisher that itself subscribes → warning', () => {
    const t = ring(['east', 'west'], 'none');
    const s = observe(t);
    at(s, 'west').subscriptions = {};
    at(s, 'east').slots = {};
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(p.warnings).toEqual([
      expect.objectContaining({
        code: 'origin-copy',
        address: 'subscription.west_from_east',
        message: expect.stringContaining('east itself subscribes (east_from_west from west)'),
      }),
    ]);
  });
});
