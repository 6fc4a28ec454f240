import { describe, expect, it } from 'vitest';
import { withErrorEpisode } from '../../../src/model/errorEpisode.js';
import type { SyncVerdict } from '../../../src/model/syncVerdict.js';
import type { TableEvidence } from '../../../src/model/verifyWindow.js';

const T0 = '2026-11-30T01:00:00Z';
const ROSE = '2026-11-30T02:00:00Z';
const T3 = '2026-11-30T03:00:00Z';
const synchronized: SyncVerdict = { verdict: 'synchronized', reasons: ['enabled'] };
const equalAt = (at: string): TableEvidence => ({ wholeEqualAt: at, wholeRows: 10, segments: [] });
const f = { subscription: 's', node: 'pb', tables: ['public.a', 'public.b'] };
const errors = { roseAt: ROSE, applyErrors: 3, syncErrors: 0 };

describe('after an error episode (model/errorEpisode.ts)', () => {
  it('no comparison before the errors last rose counts: unverified, naming them and the verify', () => {
    const v = withErrorEpisode(synchronized, errors, {
      ...f,
      evidence: new Map([
        ['public.a', equalAt(T0)],
        ['public.b', equalAt(T3)],
      ]),
    });
    expect(v.verdict).toBe('unverified');
    expect(v.reasons[0]).toContain(
      'the errors of s on pb (apply 3, sync 0) last rose at 2026-11-30T02:00:00Z',
    );
    expect(v.reasons[0]).toContain('ALTER SUBSCRIPTION … SKIP');
    expect(v.reasons).toContain('public.a was last found equal at 2026-11-30T01:00:00Z');
    expect(v.reasons.join('\n')).not.toContain('public.b');
    expect(v.reasons.at(-1)).toContain('`steep verify s --tables public.a`');
  });

  it('every table compared since, no rise recorded, or a worse verdict: it stands', () => {
    const since = new Map(f.tables.map((t) => [t, equalAt(T3)]));
    expect(withErrorEpisode(synchronized, errors, { ...f, evidence: since })).toBe(synchronized);
    expect(withErrorEpisode(synchronized, { ...errors, roseAt: null }, { ...f, evidence: new Map() })).toBe(
      synchronized,
    );
    expect(withErrorEpisode(synchronized, null, { ...f, evidence: new Map() })).toBe(synchronized);
    const failing: SyncVerdict = { verdict: 'failing', reasons: ['apply errors rose from 2 to 3'] };
    expect(withErrorEpisode(failing, errors, { ...f, evidence: new Map() })).toBe(failing);
    const promoted: SyncVerdict = { verdict: 'unverified', reasons: ['pb was promoted'] };
    expect(withErrorEpisode(promoted, errors, { ...f, evidence: new Map() })).toBe(promoted);
  });

  it('never compared: one verify of the whole subscription; tables past the window are named with them', () => {
    const never = withErrorEpisode(synchronized, errors, { ...f, evidence: new Map() });
    expect(never.reasons).toContain('public.b was never compared');
    expect(never.reasons.at(-1)).toContain('`steep verify s`');
    const three = { ...f, tables: ['public.a', 'public.b', 'public.c'] };
    const windowed = withErrorEpisode(synchronized, errors, {
      ...three,
      evidence: new Map([
        ['public.a', equalAt(T0)],
        ['public.b', equalAt(T3)],
        ['public.c', equalAt(T3)],
      ]),
      window: {
        waived: false,
        window: '1h',
        windowMs: 3_600_000,
        oldest: T0,
        share: 0.5,
        rowsWithin: 10,
        rows: 20,
        tables: 3,
        tablesWithin: 2,
        unverified: [{ table: 'public.b', oldest: T3 }],
        sampled: [],
        notComparable: [],
      },
    });
    expect(windowed.reasons.at(-1)).toContain('`steep verify s --tables public.a,public.b`');
  });
});
