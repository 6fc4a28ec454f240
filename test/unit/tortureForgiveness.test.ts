import { describe, expect, it } from 'vitest';
import { lsnValue, markOf, WalMarks } from '../../torture/writes.js';

/**
 * The fault harness's bound on what a lagging failover may lose (torture/forgiveness.ts): where
 * each acknowledged id stood in its node's WAL, without a server.
 */
describe('torture: WAL marks of the application', () => {
  it('compares LSNs by value, not as text', () => {
    expect(lsnValue('0/A') > lsnValue('0/9')).toBe(true);
    expect(lsnValue('1/0') > lsnValue('0/FFFFFFFF')).toBe(true);
    expect(lsnValue('16/B374D848')).toBe((0x16n << 32n) + 0xb374d848n);
  });

  it("bounds an id's commit by the next write of its loop on the same node, and by nothing else", () => {
    const m = new WalMarks();
    const [id, parent] = [(n: number) => markOf('t_ids', n), (n: number) => markOf('t_parent', n)];
    m.mark('ids', 'pa', id(1), '0/100');
    m.mark('column', 'pa', id(2), '0/180');
    m.mark('family', 'pa', parent(1), '0/190');
    m.mark('ids', 'pa', id(3), '0/200');
    // the primary changed: pa_standby's WAL says nothing of pa's commit of 3
    m.mark('ids', 'pa_standby', id(4), '0/90');
    expect(m.committedBefore(id(1))).toBe('0/200');
    expect(m.committedBefore(id(2))).toBeNull();
    expect(m.committedBefore(parent(1))).toBeNull();
    expect(m.committedBefore(id(3))).toBeNull();
    expect(m.committedBefore(id(4))).toBeNull();
    expect(m.committedBefore(id(5))).toBeNull();
  });
});
