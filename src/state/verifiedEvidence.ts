import type pg from 'pg';
import { isoTime, quoteIdent } from '../model/sql.js';
import type { TableEvidence } from '../model/verifyWindow.js';
import { existing } from './columns.js';

/**
 * What steep's state schema on a subscriber records of each table's comparisons, for the verify
 * window (model/verifyWindow.ts): the last `steep verify` of it where it found it equal
 * (`verified_tables`, migration 10; an init's sample of a big table, migration 20) and its
 * segments' `equal_at` (`verified_segments`, migration 19) with the conflict counters read before
 * it (migration 23), by subscription and table. A table a migration has not made yet reads as none.
 */
export async function readVerifiedEvidence(
  client: pg.Client,
  schema: string,
  node: string,
): Promise<Map<string, Map<string, TableEvidence>>> {
  const tables = `${quoteIdent(schema)}.verified_tables`;
  const segments = `${quoteIdent(schema)}.verified_segments`;
  const [hasTables, hasSegments, hasSample, hasConflicts] = await existing(client, [
    [tables, null],
    [segments, null],
    [tables, 'sampled_segments'],
    [segments, 'equal_conflicts'],
  ]);
  const out = new Map<string, Map<string, TableEvidence>>();
  const of = (subscription: string, table: string): TableEvidence => {
    if (!out.has(subscription)) out.set(subscription, new Map());
    const bySub = out.get(subscription)!;
    if (!bySub.has(table))
      bySub.set(table, { wholeEqualAt: null, wholeRows: null, sample: null, segments: [] });
    return bySub.get(table)!;
  };
  type Row = { subscription: string; table: string; rows: string; at: string | null };
  type Part = Row & { conflicts: Record<string, number> | null };
  type Whole = Row & { sampled: number | null; segments: number | null; notComparable: boolean | null };
  // both at once: a client queues the second where its session is not pipelined (apply's)
  const [whole, parts] = await Promise.all([
    hasTables
      ? client.query<Whole>(
          `SELECT subscription, table_name AS "table", rows::text AS rows,
                  CASE WHEN verdict = 'equal' THEN ${isoTime('verified_at')} END AS at,
                  ${hasSample ? 'sampled_segments AS sampled, segments, not_comparable AS "notComparable"' : 'NULL::int AS sampled, NULL::int AS segments, false AS "notComparable"'}
             FROM ${tables} WHERE node_name = $1`,
          [node],
        )
      : null,
    hasSegments
      ? client.query<Part>(
          `SELECT subscription, table_name AS "table", rows::text AS rows, ${isoTime('equal_at')} AS at,
                ${hasConflicts ? 'equal_conflicts' : 'NULL::jsonb'} AS conflicts
             FROM ${segments} WHERE node_name = $1 ORDER BY subscription, table_name, segment`,
          [node],
        )
      : null,
  ]);
  for (const r of whole?.rows ?? []) {
    const e = of(r.subscription, r.table);
    e.wholeEqualAt = r.at;
    e.wholeRows = Number(r.rows);
    e.sample = r.sampled === null || r.segments === null ? null : { compared: r.sampled, of: r.segments };
    if (r.notComparable) e.notComparable = true;
  }
  for (const r of parts?.rows ?? [])
    of(r.subscription, r.table).segments.push({
      rows: Number(r.rows),
      equalAt: r.at,
      conflicts: r.conflicts,
    });
  return out;
}
