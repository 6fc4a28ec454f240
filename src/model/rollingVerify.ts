/**
 * `steep verify --rolling` (docs/repair.md): each table of a subscription cut into segments,
 * half-open ranges of its first key column, compared a few at a time, least recently compared
 * first, and what each run found. Pure: the ranges, the order, the figures of a run.
 */
import { compareText } from './order.js';
import type { TableVerdict, VerifyReport } from './verify.js';

/** Rows a segment holds when its table's map is made (STEEP_VERIFY_SEGMENT_ROWS changes it). */
export const SEGMENT_ROWS = 1_000_000;

/**
 * One segment of a table as recorded: the keys from `lo` (included) up to `hi` (excluded) of
 * its first key column; null is an open end. Both ends open on the first and last segment, so
 * every key — one written after the map was made too — lies in exactly one segment, and a key
 * equal to a bound lies in the segment above it only.
 */
export interface Segment {
  subscription: string;
  table: string;
  segment: number;
  /** the first key column the ranges are of, `name type`; null for a keyless table (one segment) */
  keyColumn: string | null;
  lo: string | null;
  hi: string | null;
  /** rows at its last comparison (the estimate when the map was made, before any) */
  rows: number;
  /** when a rolling verify last compared it (its start), whatever it found; null: never */
  comparedAt: string | null;
  verdict: 'equal' | 'diverged' | 'not_verifiable' | null;
  /** when it was last found equal (by a rolling verify, or a verify of the whole table) */
  equalAt: string | null;
}

/** Segments of a table of about `estimatedRows` rows: at least one. */
export function segmentCount(estimatedRows: number, segmentRows = SEGMENT_ROWS): number {
  return Math.max(1, Math.ceil(Math.max(0, estimatedRows) / Math.max(1, segmentRows)));
}

/**
 * The segments of `bounds` (ascending, distinct): [−∞, b1), [b1, b2), …, [bn, +∞); one segment
 * of every row without bounds.
 */
export function segmentsOf(
  at: { subscription: string; table: string; keyColumn: string | null },
  bounds: readonly string[],
  estimatedRows: number,
): Segment[] {
  const ends = [null, ...bounds, null];
  const rows = Math.ceil(Math.max(0, estimatedRows) / (bounds.length + 1));
  return ends.slice(0, -1).map((lo, i) => ({
    ...at,
    segment: i,
    lo,
    hi: ends[i + 1] ?? null,
    rows,
    comparedAt: null,
    verdict: null,
    equalAt: null,
  }));
}

/** The order a rolling verify takes segments in: never compared first, then the longest ago. */
export function rollingOrder(segments: readonly Segment[]): Segment[] {
  return [...segments].sort(
    (a, b) =>
      (a.comparedAt === null ? 0 : 1) - (b.comparedAt === null ? 0 : 1) ||
      (a.comparedAt !== null && b.comparedAt !== null
        ? Date.parse(a.comparedAt) - Date.parse(b.comparedAt)
        : 0) ||
      compareText(a.subscription, b.subscription) ||
      compareText(a.table, b.table) ||
      a.segment - b.segment,
  );
}

/** `[−∞, 2001)`, `[2001, 4001)`, `[4001, +∞)`; `all rows` for a table of one segment. */
export function rangeText(s: Pick<Segment, 'lo' | 'hi'>): string {
  if (s.lo === null && s.hi === null) return 'all rows';
  return `[${s.lo ?? '−∞'}, ${s.hi ?? '+∞'})`;
}

/** One segment a run compared: where it is and what the comparison found (its table verdict). */
export interface SegmentVerdict {
  subscription: string;
  table: string;
  segment: number;
  lo: string | null;
  hi: string | null;
  verdict: TableVerdict;
}

/** A table's segments after the run: how many, how many were found equal, the oldest comparison. */
export interface SegmentCoverage {
  subscription: string;
  table: string;
  segments: number;
  /** compared in this run */
  comparedNow: number;
  /** found equal at their last comparison */
  equal: number;
  /** never found equal */
  neverEqual: number;
  /** the oldest of the segments' equal_at (null when one was never found equal) */
  oldestEqualAt: string | null;
}

export function coverageOf(
  segments: readonly Segment[],
  comparedNow: ReadonlySet<string>,
): SegmentCoverage[] {
  const byTable = new Map<string, Segment[]>();
  for (const s of segments) {
    const k = `${s.subscription}\u0000${s.table}`;
    byTable.set(k, [...(byTable.get(k) ?? []), s]);
  }
  return [...byTable.values()]
    .map((ss) => {
      const never = ss.filter((s) => s.equalAt === null).length;
      const oldest = oldestEqualAt(ss);
      return {
        subscription: ss[0]!.subscription,
        table: ss[0]!.table,
        segments: ss.length,
        comparedNow: ss.filter((s) => comparedNow.has(segmentId(s))).length,
        equal: ss.filter((s) => s.verdict === 'equal').length,
        neverEqual: never,
        oldestEqualAt: oldest,
      };
    })
    .sort((a, b) => compareText(a.subscription, b.subscription) || compareText(a.table, b.table));
}

/**
 * When every one of a table's segments was last found equal, the oldest of those times: since
 * then the table as a whole was compared; null when a segment never was (or there are none).
 */
export function oldestEqualAt(segments: readonly Pick<Segment, 'equalAt'>[]): string | null {
  let oldest: string | null = null;
  for (const { equalAt } of segments) {
    if (equalAt === null) return null;
    if (oldest === null || Date.parse(equalAt) < Date.parse(oldest)) oldest = equalAt;
  }
  return oldest;
}

export function segmentId(s: Pick<Segment, 'subscription' | 'table' | 'segment'>): string {
  return `${s.subscription}\u0000${s.table}\u0000${s.segment}`;
}

/** What one `verify --rolling` did. */
export interface RollingReport {
  budgetMs: number;
  /** segments compared at a time (`--parallel`) */
  parallel: number;
  /** the segments compared, in the order they finished */
  compared: SegmentVerdict[];
  /** segments of the chosen tables not reached within the budget */
  notReached: number;
  /** every chosen table's segments after the run */
  coverage: SegmentCoverage[];
  /**
   * per subscription, as `steep verify` reports it: its state after the run, and as its tables
   * the ones a segment of was found diverged (their verdicts summed) and those not comparable
   */
  subscriptions: VerifyReport[];
  diverged: boolean;
  rows: number;
  durationMs: number;
}
