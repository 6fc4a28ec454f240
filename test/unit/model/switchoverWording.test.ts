import { describe, expect, it } from 'vitest';
import { afterRelease, unsentMessage } from '../../../src/model/switchover.js';

describe('what went wrong after a switchover release', () => {
  it('says "released, but" once, also when the message already says it', () => {
    const unsent = unsentMessage(
      { subscription: 'west_sw', oldNode: 'east', newNode: 'west', slot: 'west_sw', reverse: false },
      { unknown: 'permission denied' },
    );
    expect(afterRelease(unsent)).toBe(unsent);
    expect(afterRelease(unsent)).not.toContain('released, but released, but');
    expect(afterRelease('connection lost')).toBe('released, but connection lost');
  });
});
