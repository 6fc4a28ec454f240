import { describe, expect, it } from 'vitest';
import {
  nextTimeline,
  promotionOf,
  type SubscriberTimeline,
  withPromotion,
} from '../../../src/model/subscriberPromotion.js';
import type { SyncVerdict } from '../../../src/model/syncVerdict.js';
import type { TableEvidence } from '../../../src/model/verifyWindow.js';

const SYS = '7400000000000000001';
const T0 = '2026-11-30T01:00:00Z';
const T1 = '2026-11-30T02:00:00Z';
const recorded: SubscriberTimeline = {
  subscription: 's',
  subid: 16400,
  systemIdentifier: SYS,
  timeline: 1,
  readAt: T0,
  promotedAt: null,
  promotedFrom: null,
  promotedLastRead: null,
};
const synchronized: SyncVerdict = { verdict: 'synchronized', reasons: ['enabled'] };
const equalAt = (at: string): TableEvidence => ({ wholeEqualAt: at, wholeRows: 10, segments: [] });

describe('subscriber promotion (model/subscriberPromotion.ts)', () => {
  it('records a first reading, keeps an equal one, finds a newer timeline a promotion and keeps it', () => {
    expect(nextTimeline(undefined, 's', 16400, { systemIdentifier: SYS, timeline: 1 }, T0)).toEqual({
      record: recorded,
      changed: true,
    });
    expect(nextTimeline(recorded, 's', 16400, { systemIdentifier: SYS, timeline: 1 }, T1)).toEqual({
      record: recorded,
      changed: false,
    });
    const promoted = nextTimeline(recorded, 's', 16400, { systemIdentifier: SYS, timeline: 2 }, T1);
    expect(promoted.changed).toBe(true);
    expect(promotionOf(promoted.record)).toEqual({ at: T1, from: 1, to: 2, since: T0 });
    // read again on the new timeline: the promotion stays until comparisons answer it
    const again = nextTimeline(promoted.record!, 's', 16400, { systemIdentifier: SYS, timeline: 2 }, T1);
    expect(again.changed).toBe(false);
    expect(promotionOf(again.record)).not.toBeNull();
  });

  it('claims nothing of another instance, another system, an older branch or a server in recovery', () => {
    for (const [subid, server] of [
      [16401, { systemIdentifier: SYS, timeline: 2 }],
      [16400, { systemIdentifier: '7400000000000000002', timeline: 2 }],
    ] as const) {
      const n = nextTimeline(recorded, 's', subid, server, T1);
      expect(n.changed).toBe(true);
      expect(promotionOf(n.record)).toBeNull();
    }
    const older = nextTimeline(
      { ...recorded, timeline: 3 },
      's',
      16400,
      { systemIdentifier: SYS, timeline: 2 },
      T1,
    );
    expect(older).toEqual({ record: { ...recorded, timeline: 3 }, changed: false });
    const standby = nextTimeline(recorded, 's', 16400, { systemIdentifier: SYS, timeline: null }, T1);
    expect(standby).toEqual({ record: recorded, changed: false });
  });

  it('a synchronized verdict is unverified until every table is compared after the promotion', () => {
    const p = { at: T1, from: 1, to: 2, since: T0 };
    const f = { subscription: 's', node: 'pa', from: 'pb', tables: ['public.a', 'public.b'] };
    const before = withPromotion(synchronized, p, {
      ...f,
      evidence: new Map([
        ['public.a', equalAt(T0)],
        ['public.b', equalAt('2026-11-30T03:00:00Z')],
      ]),
    });
    expect(before.verdict).toBe('unverified');
    expect(before.reasons[0]).toContain('pa was promoted: steep read it on timeline 1');
    expect(before.reasons).toContain('public.a was last found equal at 2026-11-30T01:00:00Z');
    expect(before.reasons.at(-1)).toContain('`steep verify s --tables public.a`');
    // never compared: the whole subscription, one verify
    const never = withPromotion(synchronized, p, { ...f, evidence: new Map() });
    expect(never.reasons.at(-1)).toContain('`steep verify s`');
    const after = withPromotion(synchronized, p, {
      ...f,
      evidence: new Map(f.tables.map((t) => [t, equalAt('2026-11-30T03:00:00Z')])),
    });
    expect(after).toEqual(synchronized);
    // a worse verdict says more and stands; no promotion changes nothing
    const gap: SyncVerdict = { verdict: 'gap', reasons: ['x'] };
    expect(withPromotion(gap, p, { ...f, evidence: new Map() })).toBe(gap);
    expect(withPromotion(synchronized, null, { ...f, evidence: new Map() })).toBe(synchronized);
  });
});
