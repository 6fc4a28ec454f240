import { describe, expect, it } from 'vitest';
import { originNoneReason, unforwardedTables } from '../../../src/model/originFilter.js';

describe('origin = none by hand below a cascade (model/originFilter.ts)', () => {
  const fromEast = { name: 'north_from_east', from: 'east', tables: ['public.t', 'public.u'] };

  it('a table the publisher receives from a third node is one west never gets', () => {
    expect(unforwardedTables(['public.t', 'public.v'], 'west', [fromEast], [])).toEqual(
      new Map([['public.t', 'north_from_east from east']]),
    );
  });

  it('not a feed from the subscriber itself (a two-way link), nor one west also takes directly (a mesh)', () => {
    const fromWest = { name: 'north_from_west', from: 'west', tables: ['public.t'] };
    expect(unforwardedTables(['public.t'], 'west', [fromWest], []).size).toBe(0);
    const direct = [{ name: 'west_from_east', from: 'east', tables: ['public.t'] }];
    expect(unforwardedTables(['public.t', 'public.u'], 'west', [fromEast], direct)).toEqual(
      new Map([['public.u', 'north_from_east from east']]),
    );
  });

  it('every feed named, sorted; one steep.yaml does not declare the source of is still a feed', () => {
    const unknown = { name: 'a_feed', from: null, tables: ['public.t'] };
    expect(unforwardedTables(['public.t'], 'west', [fromEast, unknown], []).get('public.t')).toBe(
      'a_feed from a node steep.yaml does not declare, north_from_east from east',
    );
    expect(
      originNoneReason('west_from_north', 'west', 'north', 'public.t', 'north_from_east from east'),
    ).toBe(
      'west_from_north on west was set to origin = none by hand (steep.yaml says any), and north receives public.t through north_from_east from east: north sends west none of the changes it applies from there, so they never reach west',
    );
  });
});
