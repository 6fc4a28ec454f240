import { describe, expect, it } from 'vitest';
import { dataGapProbes, dataGaps } from '../../../src/planner/subscriptions/dataGaps.js';
import { observe, publication, subscription, topology } from './fixtures.js';

/**
 * `steep drift`'s data gaps under `origin = none` (030_origin.pl): b receives og.tab from a and
 * from c; a subscribes to b with origin = none, so b never sends a the rows c sent it. An empty
 * og.tab on a beside rows on b is no gap; without c (a link: b receives only a's own rows back),
 * or with origin any, it still is.
 */
describe('data gaps with origin = none', () => {
  const pubs = [
    publication('pa', 'a', { tables: ['og.tab'] }),
    publication('pb', 'b', { tables: ['og.tab'] }),
    publication('pc', 'c', { tables: ['og.tab'] }),
  ];
  const ba = subscription('sub_b_a', 'b', 'a', ['pa'], { options: { origin: 'none' } });
  const bc = subscription('sub_b_c', 'b', 'c', ['pc'], { options: { origin: 'none' } });
  const rows = new Map([
    ['a', new Set<string>()],
    ['b', new Set(['og.tab'])],
    ['c', new Set(['og.tab'])],
  ]);
  const gapsOn = (origin: 'none' | 'any', withC: boolean) => {
    const ab = subscription('sub_a_b', 'a', 'b', ['pb'], { options: { origin } });
    const t = topology({ publications: pubs, subscriptions: [ba, ab, ...(withC ? [bc] : [])] });
    return dataGaps(dataGapProbes(t, observe(t)), rows).filter((g) => g.node === 'a');
  };

  it('is no gap when the publisher also receives the table from a third node', () => {
    expect(gapsOn('none', true)).toEqual([]);
  });

  it('is a gap when the publisher receives it only back from the subscriber, or with origin any', () => {
    expect(gapsOn('none', false).map((g) => g.table)).toEqual(['og.tab']);
    expect(gapsOn('any', true).map((g) => g.table)).toEqual(['og.tab']);
  });
});
