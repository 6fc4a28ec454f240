import { describe, expect, it } from 'vitest';
import { databaseTag, withDatabaseTag } from '../../../src/model/databaseTag.js';
import { classifySlot } from '../../../src/planner/subscriptions/slotKinds.js';
import { reverseSlotName } from '../../../src/planner/switchover/reverseChecks.js';
import { at, observe, observedSlot, publication, subscription, topology } from './fixtures.js';

/** Slots and origins are the server's: names steep makes carry their database; status reads each slot's database (issue 65). */
describe('names unique per database', () => {
  it("a way back's slot and a merge's origin carry a tag of their database, within 63 bytes", () => {
    expect(databaseTag('app')).toBe('a172cedc');
    expect(reverseSlotName('west_sw', 'app')).toBe('steep_reverse_west_sw_a172cedc');
    expect(reverseSlotName('west_sw', 'app2')).not.toBe(reverseSlotName('west_sw', 'app'));
    const long = reverseSlotName('s'.repeat(63), 'app');
    expect(long).toHaveLength(63);
    expect(long.endsWith('_a172cedc')).toBe(true);
    expect(withDatabaseTag('steep_merge_eu_us_eu', 'shop')).toBe('steep_merge_eu_us_eu_8d9001d3');
  });

  it("a slot of another database with a declared subscription's slot name is not that subscription's", () => {
    const t = topology({
      publications: [publication('orders_pub', 'east', { tables: ['public.orders'] })],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    const state = observe(t);
    const home = at(state, 'east').database;
    const ours = observedSlot('west_orders', { database: home });
    expect(classifySlot(t, state, 'east', ours)).toMatchObject({
      kind: 'subscription',
      subscription: 'west_orders',
    });
    // the same name in another database of east's server: that database's, never a reader here
    const theirs = observedSlot('west_orders', { database: `${home}_other` });
    expect(classifySlot(t, state, 'east', theirs)).toMatchObject({
      kind: 'unknown',
      subscription: null,
      otherDatabase: { node: 'east', database: `${home}_other` },
    });
  });
});
