import { describe, expect, it } from 'vitest';
import type { StatusReport, SubscriptionStatus } from '../../../src/model/statusReport.js';
import { renderPrometheus } from '../../../src/render/prometheus.js';
import { subscriptionStatus } from '../../support/statusReport.js';

/**
 * The state set `steep_subscription_state`: one series per state, exactly one of them 1, the
 * current state's — also a state `status` reports that this renderer's list does not hold yet
 * (the example rule SteepSubscriptionNotSynchronized reads `state="synchronized"` and needs no
 * change for it). No PostgreSQL.
 */

function sample(state: string): string {
  const status: StatusReport = {
    topology: 'orders-eu',
    sampledAt: '2026-01-01T00:00:00.000Z',
    nodes: [{ name: 'west', reachable: true, serverVersion: 180001, version: '18.1', error: null }],
    // a state added to status after this renderer was written
    subscriptions: [subscriptionStatus({ state: state as SubscriptionStatus['state'] })],
    slots: [],
  };
  return renderPrometheus({ status, drift: null, readSeconds: 0.1 });
}

function states(text: string): Record<string, number> {
  return Object.fromEntries(
    [...text.matchAll(/^steep_subscription_state\{[^}]*state="([^"]+)"\} (\S+)$/gm)].map((m) => [
      m[1]!,
      Number(m[2]),
    ]),
  );
}

describe('steep_subscription_state', () => {
  it.each(['copying', 'synchronized', 'unknown', 'failing'])(
    'state %s: its series is 1, every other 0',
    (state) => {
      const s = states(sample(state));
      expect(s[state]).toBe(1);
      expect(Object.entries(s).filter(([, v]) => v === 1)).toEqual([[state, 1]]);
      expect(s.synchronized).toBe(state === 'synchronized' ? 1 : 0);
    },
  );
});
