import { describe, expect, it } from 'vitest';
import { parseBytes } from '../../../src/model/bytes.js';

describe('parseBytes', () => {
  it('reads sizes in units of 1024, bytes when plain', () => {
    expect(parseBytes('1024')).toBe(1024);
    expect(parseBytes(' 1.5 kB ')).toBe(1536);
    expect(parseBytes('2GB')).toBe(2 * 1024 ** 3);
    expect(parseBytes('1TB')).toBe(1024 ** 4);
    expect(parseBytes('0')).toBe(0);
    expect(parseBytes('0.4B')).toBe(0);
  });

  it('takes the units only as PostgreSQL writes them, unless anyCase (the flags)', () => {
    expect(parseBytes('16mb')).toBeUndefined();
    expect(parseBytes('16KB')).toBeUndefined();
    expect(parseBytes('16mb', true)).toBe(16 * 1024 ** 2);
    expect(parseBytes('16KB', true)).toBe(16 * 1024);
  });

  it('refuses what is not a size', () => {
    for (const text of ['', 'MB', '-1', '1e3', '1PB', '1MiB', '.5MB', '30s'])
      expect([text, parseBytes(text, true)]).toEqual([text, undefined]);
  });
});
