/**
 * Every init ends with evidence (docs/status.md): before a subscription's init is called
 * `synchronized`, its rows are compared — a table below `verify.fullBelow` in full, a bigger one
 * by a sample of its rolling verify's segments spread over its key space, so a multi-terabyte
 * init is compared in minutes; a restored table that is plainly not the publisher's (empty, or an
 * order of magnitude apart in rows) is refused before its subscription is enabled. Pure: the
 * defaults, which segments a sample takes, and the plausibility rule.
 */
import { formatBytes } from './bytes.js';
import type { Segment } from './rollingVerify.js';

/** `verify.fullBelow` when steep.yaml leaves it out: a table this big or bigger is sampled. */
export const FULL_BELOW_DEFAULT = 1024 ** 3;

/** `verify.window` when steep.yaml leaves it out: 7 days. */
export const VERIFY_WINDOW_DEFAULT = 7 * 86_400_000;

/** Segments a sample compares at least (every segment of a table with fewer). */
export const SAMPLE_SEGMENTS = 64;

/** How an init's comparison reads a table of `bytes` (null: unknown, compared in full). */
export function comparisonOf(bytes: number | null, fullBelow: number): 'full' | 'sample' {
  return bytes !== null && bytes >= fullBelow ? 'sample' : 'full';
}

/**
 * The segments a sample compares: `SAMPLE_SEGMENTS` spread evenly from the first to the last (both
 * open-ended ones included, so keys past the map's bounds are read), or every one of fewer.
 */
export function sampledSegments<S extends Pick<Segment, 'segment'>>(segments: readonly S[]): S[] {
  if (segments.length <= SAMPLE_SEGMENTS) return [...segments];
  const picked = new Set<number>();
  for (let i = 0; i < SAMPLE_SEGMENTS; i++)
    picked.add(Math.round((i * (segments.length - 1)) / (SAMPLE_SEGMENTS - 1)));
  return [...picked].sort((a, b) => a - b).map((i) => segments[i]!);
}

/** One table's rows as each side's catalog shows them. */
export interface RowsFacts {
  /** `schema.table` */
  table: string;
  /** whether a row exists (read, not estimated) */
  publisherHasRows: boolean;
  subscriberHasRows: boolean;
  /** `reltuples` where the table was analysed (null: never, PostgreSQL 14+'s −1) */
  publisherEstimate: number | null;
  subscriberEstimate: number | null;
}

/** An estimate this far apart is an order of magnitude: not the same rows. */
export const ESTIMATE_RATIO = 10;
/** Estimates below this many rows are too coarse to judge by ratio. */
const ESTIMATE_FLOOR = 1_000;

/**
 * Why the subscriber's rows of a table are plainly not the publisher's, or null: empty where the
 * publisher holds rows, or both estimates known and an order of magnitude apart.
 */
export function implausibleRows(f: RowsFacts): string | null {
  if (f.publisherHasRows && !f.subscriberHasRows)
    return `${f.table} is empty while the publisher holds ${f.publisherEstimate === null ? 'rows' : `about ${rows(f.publisherEstimate)}`}`;
  const [p, s] = [f.publisherEstimate, f.subscriberEstimate];
  if (p === null || s === null || Math.max(p, s) < ESTIMATE_FLOOR) return null;
  if (Math.max(p, s) >= ESTIMATE_RATIO * Math.max(1, Math.min(p, s)))
    return `${f.table} holds about ${rows(s)} where the publisher holds about ${rows(p)} (an order of magnitude apart)`;
  return null;
}

/** The plan's words for what an init's comparison will read: `every row of 3 tables; 64 sampled chunks of 1 table (2.0 GB)`. */
export function comparisonText(tables: readonly { bytes: number | null }[], fullBelow: number): string {
  const sampled = tables.filter((t) => comparisonOf(t.bytes, fullBelow) === 'sample');
  const full = tables.length - sampled.length;
  const parts = [
    ...(full > 0 ? [`every row of ${tableCount(full)}`] : []),
    ...(sampled.length > 0
      ? [
          `at least ${SAMPLE_SEGMENTS} chunks spread over the keys of ${tableCount(sampled.length)} of ${formatBytes(fullBelow)} or more (${formatBytes(sampled.reduce((n, t) => n + (t.bytes ?? 0), 0))})`,
        ]
      : []),
  ];
  return parts.length > 0 ? parts.join('; ') : 'no table';
}

function rows(n: number): string {
  const r = Math.round(n);
  return `${r.toLocaleString('en-US')} ${r === 1 ? 'row' : 'rows'}`;
}

function tableCount(n: number): string {
  return `${n} ${n === 1 ? 'table' : 'tables'}`;
}
