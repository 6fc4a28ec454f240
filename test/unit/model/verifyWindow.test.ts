import { describe, expect, it } from 'vitest';
import type { SyncVerdict } from '../../../src/model/syncVerdict.js';
import {
  judgeWindow,
  oldestComparison,
  type TableEvidence,
  type WindowFacts,
  windowText,
  withWindow,
} from '../../../src/model/verifyWindow.js';

const NOW = '2026-03-10T12:00:00.000Z';
const DAY = 86_400_000;
const ago = (ms: number) => new Date(Date.parse(NOW) - ms).toISOString();
const SYNCHRONIZED: SyncVerdict = {
  verdict: 'synchronized',
  reasons: ['enabled, tables 2/2 ready, apply worker running'],
};

function whole(at: string | null, rows = 100): TableEvidence {
  return { wholeEqualAt: at, wholeRows: rows, segments: [] };
}
function segments(...parts: Array<[number, string | null]>): TableEvidence {
  return {
    wholeEqualAt: null,
    wholeRows: null,
    segments: parts.map(([rows, equalAt]) => ({ rows, equalAt })),
  };
}

function verdict(evidence: Record<string, TableEvidence>, window: WindowFacts['window'] = 7 * DAY) {
  const w = judgeWindow({
    window,
    tables: ['public.a', 'public.b'],
    evidence: new Map(Object.entries(evidence)),
    now: NOW,
  });
  return { w, v: withWindow(SYNCHRONIZED, w, 'sub') };
}

describe('verify window: the rule', () => {
  it('both tables found equal by a verify within the window: synchronized, 100% of rows, the oldest comparison named', () => {
    const { w, v } = verdict({ 'public.a': whole(ago(DAY)), 'public.b': whole(ago(2 * DAY), 300) });
    expect(v.verdict).toBe('synchronized');
    expect(v.reasons.at(-1)).toBe(
      `every table found equal within its verify window 7d (oldest comparison ${ago(2 * DAY)})`,
    );
    expect(w).toMatchObject({ share: 1, rows: 400, rowsWithin: 400, tablesWithin: 2, oldest: ago(2 * DAY) });
  });

  it('a table found equal long ago: unverified, naming it and when, with the way out', () => {
    const { w, v } = verdict({ 'public.a': whole(ago(DAY), 100), 'public.b': whole(ago(8 * DAY), 300) });
    expect(v.verdict).toBe('unverified');
    expect(v.reasons).toEqual([
      `public.b was last found equal at ${ago(8 * DAY)}, longer ago than its verify window 7d`,
      'compare them: `steep verify sub --tables public.b` (read-only), or a schedule of `steep verify --rolling --budget 5min` (docs/repair.md)',
    ]);
    expect(w).toMatchObject({ share: 0.25, tablesWithin: 1, oldest: ago(8 * DAY) });
  });

  it('a table never compared: unverified, its oldest comparison never', () => {
    const { w, v } = verdict({ 'public.a': whole(ago(DAY)) });
    expect(v.verdict).toBe('unverified');
    expect(v.reasons[0]).toBe('public.b was never compared (verify window 7d)');
    expect(w).toMatchObject({ oldest: null, unverified: [{ table: 'public.b', oldest: null }] });
    expect(windowText(w)).toBe(
      'verify window 7d: 100% of rows compared within it (1 of 2 tables); oldest comparison never (1 table(s))',
    );
  });

  it('nothing ever compared: unverified, no rows known', () => {
    const { w, v } = verdict({});
    expect(v.verdict).toBe('unverified');
    expect(w).toMatchObject({ share: 0, rows: 0, tablesWithin: 0, oldest: null });
  });

  it('rolling segments all found equal within the window: synchronized, the table as old as its oldest segment', () => {
    const { w, v } = verdict({
      'public.a': segments([500, ago(DAY)], [500, ago(3 * DAY)]),
      'public.b': segments([100, ago(1000)]),
    });
    expect(v.verdict).toBe('synchronized');
    expect(w).toMatchObject({ share: 1, rows: 1100, oldest: ago(3 * DAY) });
  });

  it('one segment last found equal before the window: unverified, its rows out of the share', () => {
    const { w, v } = verdict({
      'public.a': segments([500, ago(DAY)], [300, ago(9 * DAY)]),
      'public.b': segments([200, ago(DAY)]),
    });
    expect(v.verdict).toBe('unverified');
    expect(v.reasons[0]).toBe(
      `public.a was last found equal at ${ago(9 * DAY)}, longer ago than its verify window 7d`,
    );
    expect(w).toMatchObject({ share: 0.7, rowsWithin: 700, rows: 1000 });
  });

  it('a segment never found equal leaves the table to its whole verify; a whole verify newer than its segments counts', () => {
    const half = { ...segments([500, ago(DAY)], [500, null]), wholeEqualAt: ago(10 * DAY), wholeRows: 1000 };
    expect(oldestComparison(half)).toBe(ago(10 * DAY));
    expect(oldestComparison(segments([500, ago(DAY)], [500, null]))).toBeNull();
    const fresh = { ...segments([500, ago(20 * DAY)]), wholeEqualAt: ago(DAY), wholeRows: 500 };
    expect(oldestComparison(fresh)).toBe(ago(DAY));
    const { v } = verdict({ 'public.a': fresh, 'public.b': half });
    expect(v.verdict).toBe('unverified');
    expect(v.reasons[0]).toContain('public.b was last found equal at');
  });

  it('window off: synchronized whatever was compared, the waiver among its evidence and in the text', () => {
    const { w, v } = verdict({}, 'off');
    expect(v.verdict).toBe('synchronized');
    expect(v.reasons.at(-1)).toBe('verify window off in steep.yaml (waived)');
    expect(windowText(w)).toBe('verify window: off (waived)');
  });

  it('no window (the default this round): the verdict as it was', () => {
    expect(withWindow(SYNCHRONIZED, undefined, 'sub')).toBe(SYNCHRONIZED);
  });

  it('every other verdict stands: it says more, or worse, than a comparison’s age', () => {
    const { w } = verdict({});
    for (const word of ['gap', 'failing', 'stopped', 'unknown', 'not_ready'] as const) {
      const other: SyncVerdict = { verdict: word, reasons: ['x'] };
      expect(withWindow(other, w, 'sub')).toBe(other);
    }
  });
});
