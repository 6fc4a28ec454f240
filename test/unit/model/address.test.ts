import { describe, expect, it } from 'vitest';
import {
  type Address,
  linkAddress,
  parseAddress,
  printAddress,
  publicationAddress,
  subscriptionAddress,
  subscriptionNameOf,
} from '../../../src/model/address.js';
import { displayTable } from '../../../src/model/sql.js';

/** Names steep accepts (test/cli/hostileNames.test.ts): quotes, semicolons, dots, slashes, unicode, 63 bytes. */
const HOSTILE = [
  'orders_pub',
  'Pub "hostile"; $$',
  'Sub "hostile"; DROP',
  'a.b.c',
  'with/slash',
  "back\\slash\\' it's",
  'new\nline',
  'ÜniCödé_表_🙂',
  `L${'o'.repeat(62)}`,
  '.',
];
const SLOTS = ['west_orders', 'sub_hostile', 'pg_16384_sync_16385_7000000000000000000'];
const TABLES = [
  { schema: 'public', name: 'orders' },
  { schema: 'Sch"ema; $$x$$', name: 'quo"te' },
  { schema: 'my.schema', name: 'Odd.Table' },
  { schema: 'a/b', name: 'c/d' },
  { schema: 'public', name: 'ÜniCödé_表_🙂' },
  { schema: 'public', name: 'new\nline' },
];

describe('Address', () => {
  it('prints the forms SPEC §3 names, which the JSON plan carries', () => {
    expect(printAddress({ kind: 'node', node: 'east' })).toBe('node.east');
    expect(publicationAddress('orders_pub')).toBe('publication.orders_pub');
    expect(subscriptionAddress('west_orders')).toBe('subscription.west_orders');
    expect(linkAddress('eu_us')).toBe('link.eu_us');
    expect(printAddress({ kind: 'slot', node: 'east', slot: 'west_orders' })).toBe('slot.east/west_orders');
    expect(printAddress({ kind: 'table', node: 'west', table: 'public.orders' })).toBe(
      'table.west/public.orders',
    );
  });

  it('parses back every address it prints, hostile names included', () => {
    const all: Address[] = [];
    for (const n of HOSTILE) {
      all.push(
        { kind: 'node', node: n },
        { kind: 'publication', name: n },
        { kind: 'subscription', name: n },
        { kind: 'link', name: n },
      );
      for (const slot of SLOTS) all.push({ kind: 'slot', node: n, slot });
      for (const t of TABLES) all.push({ kind: 'table', node: n, table: displayTable(t) });
    }
    for (const a of all) expect(parseAddress(printAddress(a)), printAddress(a)).toEqual(a);
  });

  it('reads a subscription name back only from a subscription address', () => {
    expect(subscriptionNameOf(parseAddress(subscriptionAddress('a.b')))).toBe('a.b');
    expect(subscriptionNameOf(parseAddress(subscriptionAddress('Sub "hostile"; DROP')))).toBe(
      'Sub "hostile"; DROP',
    );
    expect(subscriptionNameOf(parseAddress(publicationAddress('x')))).toBeUndefined();
    expect(subscriptionNameOf(parseAddress('slot.east/x'))).toBeUndefined();
  });

  it('refuses text that is no address', () => {
    for (const text of [
      '',
      'subscription',
      'subscription.',
      'sequence.x',
      'slot.east',
      'slot./x',
      'table.west/not a table',
      'table./public.t',
    ])
      expect(parseAddress(text), text).toBeUndefined();
  });
});
