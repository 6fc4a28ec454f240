import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { editDistance, nearest } from '../../../src/config/suggest.js';

/** The textbook table, whole: what the bounded editDistance must agree with. */
function reference(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}

/** nearest as it read before it bounded the distances: every candidate's full distance. */
function referenceNearest(word: string, candidates: string[]): string | undefined {
  const fold = (w: string) => w.toLowerCase().replace(/[_-]/g, '');
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    if (c === word) continue;
    const distance = reference(fold(word), fold(c));
    if (distance < bestDistance) [best, bestDistance] = [c, distance];
  }
  if (best === undefined) return undefined;
  const allowed = Math.max(1, Math.min(3, Math.floor(Math.max(fold(word).length, fold(best).length) / 3)));
  return bestDistance <= allowed ? best : undefined;
}

describe('suggestions', () => {
  const word = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '_', 'D'), maxLength: 12 });

  it('editDistance is the full table, and above a limit exactly limit + 1', () => {
    fc.assert(
      fc.property(word, word, fc.integer({ min: 0, max: 5 }), (a, b, limit) => {
        const full = reference(a, b);
        expect(editDistance(a, b)).toBe(full);
        expect(editDistance(a, b, limit)).toBe(Math.min(full, limit + 1));
      }),
      { numRuns: 2000 },
    );
  });

  it('nearest picks what every full distance would pick', () => {
    fc.assert(
      fc.property(word, fc.array(word, { maxLength: 8 }), (w, candidates) => {
        expect(nearest(w, candidates)).toBe(referenceNearest(w, candidates));
      }),
      { numRuns: 2000 },
    );
  });

  it('nearest finds the likely typo, and nothing for a word far from every candidate', () => {
    const keys = [
      'version',
      'topology',
      'settings',
      'ignore',
      'nodes',
      'publications',
      'subscriptions',
      'links',
    ];
    expect(nearest('topolgy', keys)).toBe('topology');
    expect(nearest('subscription', keys)).toBe('subscriptions');
    expect(nearest('Sub-Scriptions', keys)).toBe('subscriptions');
    expect(nearest('k12345', keys)).toBeUndefined();
    expect(nearest('via_partition_root', ['viaPartitionRoot', 'rowFilter'])).toBe('viaPartitionRoot');
  });
});
