import { describe, expect, it } from 'vitest';
import { observe, publication, runPlan, sqlOf, stepAt, subscription, topology } from './fixtures.js';

/**
 * A cascade east → north → west: west's subscription from north switched from `origin: any` to
 * `origin: none` stops receiving the rows north itself gets from east (pgoutput filters out every
 * change that was applied on north by a subscription), so the ALTER carries hazard data-gap.
 */
function cascade(westOrigin: 'any' | 'none', northPublishes = ['public.shared', 'public.north_data']) {
  return topology({
    publications: [
      publication('east_pub', 'east', { tables: ['public.shared'] }),
      publication('north_pub', 'north', { tables: northPublishes }),
    ],
    subscriptions: [
      subscription('north_from_east', 'north', 'east', ['east_pub']),
      subscription('west_from_north', 'west', 'north', ['north_pub'], { options: { origin: westOrigin } }),
    ],
  });
}

describe('origin: none switched on downstream of a subscriber', () => {
  it('the ALTER carries data-gap, naming the tables the publisher receives and from where', () => {
    const p = runPlan(cascade('none'), observe(cascade('any')));
    expect(p.errors).toEqual([]);
    expect(sqlOf(p, 'subscription.west_from_north')).toEqual([
      `ALTER SUBSCRIPTION "west_from_north" SET (origin = 'none')`,
    ]);
    const step = stepAt(p, 'subscription.west_from_north');
    expect(step.hazards).toContain('data-gap');
    // what apply records as the gap status names once the step ran
    expect(step.changes).toContainEqual({
      path: 'gaps',
      before: null,
      after: [
        {
          table: 'public.shared',
          reason: expect.stringContaining('north receives public.shared through north_from_east from east'),
          lasting: true,
        },
      ],
    });
    expect(p.warnings).toEqual([
      expect.objectContaining({
        code: 'data-gap',
        address: 'subscription.west_from_north',
        node: 'west',
        message: expect.stringContaining(
          'north receives public.shared through north_from_east from east: with origin: none',
        ),
      }),
    ]);
  });

  it('no hazard when the publisher receives none of its tables, or only from the subscriber (a two-way link)', () => {
    const own = runPlan(
      cascade('none', ['public.north_data']),
      observe(cascade('any', ['public.north_data'])),
    );
    expect(stepAt(own, 'subscription.west_from_north').hazards).not.toContain('data-gap');
    expect(own.warnings).toEqual([]);
    const twoWay = (origin: 'any' | 'none') =>
      topology({
        publications: [
          publication('east_pub', 'east', { tables: ['public.shared'] }),
          publication('west_pub', 'west', { tables: ['public.shared'] }),
        ],
        subscriptions: [
          subscription('east_from_west', 'east', 'west', ['west_pub'], { options: { origin: 'none' } }),
          subscription('west_from_east', 'west', 'east', ['east_pub'], { options: { origin } }),
        ],
      });
    const link = runPlan(twoWay('none'), observe(twoWay('none')));
    expect(link.steps).toEqual([]);
    // (the file with origin any is a loop, refused by checkCycles; observed any, desired none is the fix)
    const fix = runPlan(twoWay('none'), observe(twoWay('any')));
    expect(stepAt(fix, 'subscription.west_from_east').hazards).not.toContain('data-gap');
    expect(fix.warnings).toEqual([]);
  });

  it('no hazard in a mesh: the subscriber receives the table from its source itself', () => {
    const mesh = (origin: 'any' | 'none') => {
      const t = cascade(origin);
      t.subscriptions.west_from_east = subscription('west_from_east', 'west', 'east', ['east_pub'], {
        options: { origin: 'none' },
      });
      return t;
    };
    const p = runPlan(mesh('none'), observe(mesh('any')));
    expect(sqlOf(p, 'subscription.west_from_north')).toEqual([
      `ALTER SUBSCRIPTION "west_from_north" SET (origin = 'none')`,
    ]);
    expect(stepAt(p, 'subscription.west_from_north').hazards).not.toContain('data-gap');
    expect(p.warnings).toEqual([]);
  });
});
