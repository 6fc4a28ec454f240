import { describe, expect, it } from 'vitest';
import { gatedHazards, heldSteps, missingHazards } from '../../../src/model/hazardGate.js';
import type { Action, Hazard } from '../../../src/model/plan.js';

const step = (action: Action, hazards: Hazard[], address = 'subscription.x') => ({
  action,
  hazards,
  address,
});

describe('hazards are gates', () => {
  it('truncates-data, data-gap, rewrites-table, blocks-writes and drops-slot need a name; the others do not', () => {
    expect(
      gatedHazards(
        step('init', [
          'copies-data',
          'locks-table',
          'truncates-data',
          'data-gap',
          'rewrites-table',
          'blocks-writes',
          'drops-slot',
        ]),
      ),
    ).toEqual(['truncates-data', 'data-gap', 'rewrites-table', 'blocks-writes', 'drops-slot']);
    expect(gatedHazards(step('create', ['copies-data', 'locks-table']))).toEqual([]);
  });

  it('the slot a delete or a replace drops with its object is --allow-destroy’s; its other gates are not', () => {
    expect(gatedHazards(step('delete', ['drops-object', 'drops-slot']))).toEqual([]);
    expect(gatedHazards(step('replace', ['drops-object', 'drops-slot', 'truncates-data']))).toEqual([
      'truncates-data',
    ]);
    // an init that starts over drops a leftover slot: a gate
    expect(gatedHazards(step('init', ['truncates-data', 'drops-slot']))).toEqual([
      'truncates-data',
      'drops-slot',
    ]);
  });

  it('a step is held until each of its gated hazards is allowed; what the held steps need, once each', () => {
    const steps = [
      step('create', ['copies-data', 'truncates-data'], 'subscription.a'),
      step('init', ['truncates-data', 'drops-slot'], 'subscription.b'),
      step('sync-schema', ['locks-table'], 'table.west/public.t'),
    ];
    const held = heldSteps(steps, ['truncates-data']);
    expect(held.map((h) => [h.step.address, h.missing])).toEqual([['subscription.b', ['drops-slot']]]);
    expect(missingHazards(heldSteps(steps, []))).toEqual(['truncates-data', 'drops-slot']);
    expect(heldSteps(steps, ['drops-slot', 'truncates-data'])).toEqual([]);
  });
});
