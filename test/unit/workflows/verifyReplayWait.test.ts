import { describe, expect, it, vi } from 'vitest';
import { replayTimeoutMs } from '../../../src/workflows/verifySettings.js';

describe("verify's wait for the subscriber to replay", () => {
  it('is 60 s, or STEEP_VERIFY_REPLAY_WAIT_MS where it is a positive number of ms', () => {
    expect(replayTimeoutMs()).toBe(60_000);
    vi.stubEnv('STEEP_VERIFY_REPLAY_WAIT_MS', '600000');
    expect(replayTimeoutMs()).toBe(600_000);
    for (const bad of ['0', '-5', 'soon', '']) {
      vi.stubEnv('STEEP_VERIFY_REPLAY_WAIT_MS', bad);
      expect(replayTimeoutMs()).toBe(60_000);
    }
  });
});
