/**
 * The segments of `verify --rolling` (model/rollingVerify.ts) in SQL: their bounds from a sample
 * of the publisher's keys, and a table's comparison narrowed to one of them.
 */
import type pg from 'pg';
import type { Segment } from '../model/rollingVerify.js';
import { quoteLiteral } from '../model/sql.js';
import type { CompareSide, TableComparison } from '../model/verify.js';
import { chunkBounds, ordered } from './rowHashes.js';

/** The first key column segments are ranges of (`name type`), null for a keyless table. */
export function segmentKey(cmp: TableComparison): string | null {
  const k = cmp.publisher.keys[0];
  return k === undefined ? null : `${k.name} ${k.type}`;
}

/**
 * `count − 1` bounds of the first key column, ascending and distinct, from a sample of the
 * publisher's pages (the chunks' sampling, rowHashes.ts chunkBounds); none for a keyless table.
 */
export async function segmentBounds(pub: pg.Client, cmp: TableComparison, count: number): Promise<string[]> {
  if (segmentKey(cmp) === null) return [];
  return chunkBounds(pub, cmp.publisher, count, cmp.estimatedRows);
}

/**
 * The range of a segment on one side: `k >= lo AND k < hi`, the bound cast to that side's key
 * type and compared in the order chunkBounds sampled them (byte-wise for text, COLLATE "C"), so a
 * key equal to a bound is in the segment above it only; null for a table of one segment.
 */
function rangeOf(side: CompareSide, s: Pick<Segment, 'lo' | 'hi'>): string | null {
  const k = side.keys[0];
  if (k === undefined) return null;
  const ends = [
    s.lo === null ? null : `${ordered(k)} >= ${quoteLiteral(s.lo)}::${k.type}`,
    s.hi === null ? null : `${ordered(k)} < ${quoteLiteral(s.hi)}::${k.type}`,
  ].filter((x) => x !== null);
  return ends.length > 0 ? ends.join(' AND ') : null;
}

/** `side` reading only the segment's rows: its filter (the publisher's row filter) and the range. */
function narrowed(side: CompareSide, s: Pick<Segment, 'lo' | 'hi'>): CompareSide {
  const range = rangeOf(side, s);
  if (range === null) return side;
  return { ...side, filter: side.filter === null ? range : `(${side.filter}) AND ${range}` };
}

/** The comparison of one segment of `cmp`: both sides narrowed to its range, its rows estimated. */
export function segmentComparison(
  cmp: TableComparison,
  s: Pick<Segment, 'lo' | 'hi' | 'rows'>,
): TableComparison {
  return {
    ...cmp,
    publisher: narrowed(cmp.publisher, s),
    subscriber: narrowed(cmp.subscriber, s),
    estimatedRows: s.lo === null && s.hi === null ? cmp.estimatedRows : s.rows,
    tableRows: cmp.estimatedRows,
  };
}
