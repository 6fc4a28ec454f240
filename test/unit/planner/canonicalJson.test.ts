import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/planner/digest.js';

/** The definition: JSON.stringify of a copy with every object's keys sorted, undefined members left out. */
function reference(value: unknown): string {
  const copy = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : copy(x)));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[key];
        // defined, not assigned: an own `__proto__` key is a member, not the copy's prototype
        if (x !== undefined)
          Object.defineProperty(out, key, {
            value: copy(x),
            enumerable: true,
            writable: true,
            configurable: true,
          });
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(copy(value));
}

describe('canonicalJson', () => {
  it('is JSON.stringify of the value with keys sorted at every level', () => {
    fc.assert(
      fc.property(
        fc.anything({
          withNullPrototype: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withSparseArray: true,
          values: [fc.string(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined)],
        }),
        (v) => {
          expect(canonicalJson(v)).toBe(reference(v));
        },
      ),
      { numRuns: 1000 },
    );
    // an own `__proto__` member (JSON.parse makes one) is kept, as JSON.stringify keeps it
    expect(canonicalJson(JSON.parse('{"z":1,"__proto__":{"b":2,"a":1}}'))).toBe(
      '{"__proto__":{"a":1,"b":2},"z":1}',
    );
    expect(canonicalJson({ b: [1, undefined, () => 1], a: { d: undefined, c: new Date(0) } })).toBe(
      '{"a":{"c":{}},"b":[1,null,null]}',
    );
  });
});
