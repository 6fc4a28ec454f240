/**
 * Every init ends with evidence (docs/status.md): before a subscription's init is called
 * `synchronized`, its rows are compared — a table below `verify.fullBelow` in full, a bigger one
 * by a sample of its rolling verify's segments spread over its key space, so a multi-terabyte
 * init is compared in minutes; a restored table that is plainly not the publisher's (empty, or an
 * order of magnitude apart in rows) is refused before its subscription is enabled. Pure: the
 * defaults, which segments a sample takes, and the plausibility rule.
 */
import { formatBytes } from './bytes.js';
import { roughDuration } from './durations.js';
import { SEGMENT_ROWS, type Segment } from './rollingVerify.js';

/** `verify.fullBelow` when steep.yaml leaves it out: a table this big or bigger is sampled. */
export const FULL_BELOW_DEFAULT = 1024 ** 3;

/** `verify.window` when steep.yaml leaves it out: 7 days. */
export const VERIFY_WINDOW_DEFAULT = 7 * 86_400_000;

/** Segments a sample compares at least (every segment of a table with fewer). */
export const SAMPLE_SEGMENTS = 64;

/**
 * The rate the plan's estimate of a comparison assumes: both sides hash their rows at once, and
 * bench/README.md's `verify-rolling` read 1.0 GB in 13.5 s (full) and 9.8 s (rolling), 74–102 MB/s, on
 * 2 cores under an unpaced writer; about half the slower rate, so the estimate errs long.
 */
export const COMPARE_BYTES_PER_SECOND = 40 * 1024 * 1024;

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

/** One table as the plan knows it: the publisher's size and row estimates (null: never analysed). */
export interface ComparedTable {
  bytes: number | null;
  rows?: number | null;
}

/** Bytes a comparison reads of a table: all of it, or the share of its rows its sample's segments hold. */
function comparedBytes(t: ComparedTable, fullBelow: number): number | null {
  if (t.bytes === null || comparisonOf(t.bytes, fullBelow) === 'full' || !t.rows || t.rows <= 0)
    return t.bytes;
  return Math.min(t.bytes, (t.bytes * SAMPLE_SEGMENTS * SEGMENT_ROWS) / t.rows);
}

/**
 * The plan's words for what an init's comparison will read and how long it should take:
 * `every row of 3 tables; at least 64 chunks … of 1 table of 1.0 GB or more (2.0 GB); in all about 25 s at 40.0 MB/s`.
 */
export function comparisonText(tables: readonly ComparedTable[], fullBelow: number): string {
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
  if (parts.length === 0) return 'no table';
  const read = tables.map((t) => comparedBytes(t, fullBelow));
  const known = read.filter((b): b is number => b !== null);
  const unknown = read.length - known.length;
  const rate = `${formatBytes(COMPARE_BYTES_PER_SECOND)}/s`;
  const seconds = known.reduce((n, b) => n + b, 0) / COMPARE_BYTES_PER_SECOND;
  const time =
    known.length === 0
      ? 'how long unknown (never analysed)'
      : `${seconds < 1 ? 'under a second' : `about ${roughDuration(seconds)}`} at ${rate}${unknown > 0 ? `, plus ${tableCount(unknown)} never analysed` : ''}`;
  return `${parts.join('; ')}; in all ${time}`;
}

function rows(n: number): string {
  const r = Math.round(n);
  return `${r.toLocaleString('en-US')} ${r === 1 ? 'row' : 'rows'}`;
}

function tableCount(n: number): string {
  return `${n} ${n === 1 ? 'table' : 'tables'}`;
}
