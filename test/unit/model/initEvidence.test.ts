import { describe, expect, it } from 'vitest';
import {
  comparisonOf,
  comparisonText,
  FULL_BELOW_DEFAULT,
  implausibleRows,
  SAMPLE_SEGMENTS,
  sampledSegments,
} from '../../../src/model/initEvidence.js';
import type { SyncVerdict } from '../../../src/model/syncVerdict.js';
import { judgeWindow, withWindow } from '../../../src/model/verifyWindow.js';

const GB = 1024 ** 3;
const segs = (n: number) => Array.from({ length: n }, (_v, segment) => ({ segment }));

describe('an init comparison: full or sampled', () => {
  it('a table below verify.fullBelow is read row by row, one of it or more sampled; an unknown size in full', () => {
    expect(FULL_BELOW_DEFAULT).toBe(GB);
    expect(comparisonOf(GB - 1, GB)).toBe('full');
    expect(comparisonOf(GB, GB)).toBe('sample');
    expect(comparisonOf(null, GB)).toBe('full');
  });

  it('a sample takes 64 segments spread from the first to the last, or every segment of fewer', () => {
    expect(sampledSegments(segs(10)).map((s) => s.segment)).toEqual([...Array(10).keys()]);
    expect(sampledSegments(segs(64))).toHaveLength(64);
    const picked = sampledSegments(segs(2000)).map((s) => s.segment);
    expect(picked).toHaveLength(SAMPLE_SEGMENTS);
    // both open-ended segments, so keys beyond the map's bounds are read
    expect(picked[0]).toBe(0);
    expect(picked.at(-1)).toBe(1999);
    // spread: no gap between two picked segments is more than twice the even spacing
    const gaps = picked.slice(1).map((s, i) => s - picked[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(Math.ceil((2 * 1999) / 63));
    expect(new Set(picked).size).toBe(64);
  });

  it('the plan says what it reads and how long it should take', () => {
    expect(comparisonText([{ bytes: 10 }, { bytes: null }], GB)).toBe(
      'every row of 2 tables; in all under a second at 40.0 MB/s, plus 1 table never analysed',
    );
    expect(comparisonText([{ bytes: null }], GB)).toBe(
      'every row of 1 table; in all how long unknown (never analysed)',
    );
    // a 2 GB table of 200 M rows: 64 of its 200 segments of 1 M rows, 655 MB, read at 40 MB/s
    expect(comparisonText([{ bytes: 10 }, { bytes: 2 * GB, rows: 200_000_000 }], GB)).toBe(
      'every row of 1 table; at least 64 chunks spread over the keys of 1 table of 1.0 GB or more (2.0 GB); in all about 16 s at 40.0 MB/s',
    );
    // rows unknown: the whole table is counted, so the estimate errs long
    expect(comparisonText([{ bytes: 2 * GB, rows: null }], GB)).toMatch(
      /; in all about 51 s at 40\.0 MB\/s$/,
    );
    expect(comparisonText([{ bytes: 120 * GB }], GB)).toMatch(/; in all about 51 min 12 s at 40\.0 MB\/s$/);
  });
});

describe("a restored table's plausibility", () => {
  const facts = {
    table: 'public.t',
    publisherHasRows: true,
    subscriberHasRows: true,
    publisherEstimate: 280_000,
    subscriberEstimate: 279_000,
  };
  it('empty where the publisher holds rows: refused', () => {
    expect(implausibleRows({ ...facts, subscriberHasRows: false, subscriberEstimate: 0 })).toBe(
      'public.t is empty while the publisher holds about 280,000 rows',
    );
    expect(
      implausibleRows({
        ...facts,
        subscriberHasRows: false,
        publisherEstimate: null,
        subscriberEstimate: null,
      }),
    ).toBe('public.t is empty while the publisher holds rows');
  });
  it('an order of magnitude apart: refused; within it, or an estimate unknown, or both small: not', () => {
    expect(implausibleRows({ ...facts, subscriberEstimate: 28_000 })).toBe(
      'public.t holds about 28,000 rows where the publisher holds about 280,000 rows (an order of magnitude apart)',
    );
    expect(implausibleRows({ ...facts, subscriberEstimate: 2_800_000 })).toMatch(/order of magnitude/);
    expect(implausibleRows({ ...facts, subscriberEstimate: 28_001 })).toBeNull();
    expect(implausibleRows(facts)).toBeNull();
    expect(implausibleRows({ ...facts, subscriberEstimate: null })).toBeNull();
    expect(implausibleRows({ ...facts, publisherEstimate: 900, subscriberEstimate: 10 })).toBeNull();
    expect(
      implausibleRows({
        ...facts,
        publisherHasRows: false,
        subscriberHasRows: false,
        publisherEstimate: 0,
        subscriberEstimate: 0,
      }),
    ).toBeNull();
  });
});

describe('a sampled table in the verify window', () => {
  const NOW = '2026-03-10T12:00:00.000Z';
  const at = '2026-03-10T11:00:00.000Z';
  const v: SyncVerdict = {
    verdict: 'synchronized',
    reasons: ['enabled, tables 1/1 ready, apply worker running'],
  };
  const evidence = new Map([
    [
      'public.big',
      {
        wholeEqualAt: at,
        wholeRows: 500,
        sample: { compared: 64, of: 2000 },
        segments: [
          { rows: 250, equalAt: at },
          { rows: 250, equalAt: null },
        ],
      },
    ],
  ]);
  it('counts within the window as compared, and says it was a sample', () => {
    const w = judgeWindow({ window: 86_400_000, tables: ['public.big'], evidence, now: NOW });
    expect(w).toMatchObject({ unverified: [], sampled: [{ table: 'public.big', compared: 64, of: 2000 }] });
    expect(withWindow(v, w, 'sub').reasons.at(-1)).toBe(
      "public.big by its init's sample (64 of 2000 segments): `steep verify --rolling` compares the rest",
    );
  });
  it('a table no comparison can call equal as published is left out of the window, and said to be', () => {
    const log = new Map([
      ['public.log', { wholeEqualAt: null, wholeRows: 0, segments: [], notComparable: true as const }],
    ]);
    const w = judgeWindow({ window: 1000, tables: ['public.log'], evidence: log, now: NOW });
    expect(w).toMatchObject({ unverified: [], notComparable: ['public.log'] });
    const judged = withWindow(v, w, 'sub');
    expect(judged.verdict).toBe('synchronized');
    expect(judged.reasons.at(-1)).toBe(
      'public.log is left out: no comparison can call it equal as it is published (steep verify says why)',
    );
    // one never compared at all is not left out
    const never = judgeWindow({ window: 1000, tables: ['public.log'], evidence: new Map(), now: NOW });
    expect(withWindow(v, never, 'sub').verdict).toBe('unverified');
  });

  it('past the window it is unverified like any other', () => {
    const w = judgeWindow({ window: 1000, tables: ['public.big'], evidence, now: NOW });
    expect(withWindow(v, w, 'sub').verdict).toBe('unverified');
  });
});
