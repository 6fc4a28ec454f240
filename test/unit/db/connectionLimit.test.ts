import { describe, expect, it } from 'vitest';
import { connectionLimit } from '../../../src/db/connectionLimit.js';

describe('connectionLimit', () => {
  it('runs at most max tasks at once, starts them in order, and passes results and failures through', async () => {
    const limited = connectionLimit(3);
    let open = 0;
    let peak = 0;
    const started: number[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        limited(async () => {
          started.push(i);
          open++;
          peak = Math.max(peak, open);
          await new Promise((r) => setTimeout(r, (i * 7) % 5));
          open--;
          if (i === 4) throw new Error('node 4 refused');
          return i * 2;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(started).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(results[4]).toEqual({ status: 'rejected', reason: new Error('node 4 refused') });
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => r.value)).toEqual(
      Array.from({ length: 20 }, (_, i) => i * 2).filter((v) => v !== 8),
    );
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => connectionLimit(0)).toThrow(RangeError);
  });
});
