/**
 * The verify window (docs/status.md): `synchronized` says the stream has no known hole *and*,
 * where the subscription sets `verify.window`, that every table was found equal within it. Pure:
 * each table's oldest comparison from what steep's state schema records, the tables past the
 * window, the share of rows compared within it, and the verdict it turns a `synchronized` into.
 *
 * A table's oldest comparison is when it was last found equal as a whole: the later of the last
 * `steep verify` that found it equal (verified_tables) and the oldest `equal_at` of its segments
 * (verified_segments, `verify --rolling`), the latter only when every segment has one — a table
 * half compared by rolling runs was not compared as a whole. Every other verdict (diverged, gap,
 * failing, stopped, unknown, a table not ready) says more, or worse, and stands: only a
 * subscription otherwise `synchronized` becomes `unverified`.
 */
import { adviceText } from './advice.js';
import { formatDuration } from './durations.js';
import { oldestEqualAt } from './rollingVerify.js';
import type { SyncVerdict } from './syncVerdict.js';
import type { VerifyWindow } from './topology.js';

/** What steep's state schema records of one table's comparisons. */
export interface TableEvidence {
  /** when the last `steep verify` of it ended, where it found it equal; null: none, or not equal */
  wholeEqualAt: string | null;
  /** that verify's rows; null: none */
  wholeRows: number | null;
  /**
   * its segments (verify --rolling): rows at the last comparison, when last found equal, and
   * PostgreSQL 18's conflict counters read before that comparison (null: none read)
   */
  segments: { rows: number; equalAt: string | null; conflicts?: Record<string, number> | null }[];
  /**
   * that verify was an init's sample of a big table (model/initEvidence.ts): the segments it
   * compared of all; absent or null: it read every row
   */
  sample?: { compared: number; of: number } | null;
  /** that verify found it not comparable as published (no comparison can call it equal): outside the window */
  notComparable?: true;
}

/** When the table was last found equal as a whole (ISO 8601); null: never. */
export function oldestComparison(e: TableEvidence | undefined): string | null {
  if (!e) return null;
  const segments = oldestEqualAt(e.segments);
  if (e.wholeEqualAt === null) return segments;
  if (segments === null) return e.wholeEqualAt;
  return Date.parse(e.wholeEqualAt) >= Date.parse(segments) ? e.wholeEqualAt : segments;
}

/**
 * Was the table found equal as a whole at or after `since` (epoch ms)? Null: it is left out, no
 * comparison able to call it equal as it is published and none having. The one rule the window
 * and a subscriber's promotion (model/subscriberPromotion.ts) judge each table by.
 */
export function equalSince(e: TableEvidence | undefined, since: number): boolean | null {
  const at = oldestComparison(e);
  if (e?.notComparable && at === null) return null;
  return at !== null && Date.parse(at) >= since;
}

/**
 * The tables not found equal at or after `at` (ISO 8601: never compared, or last before it); a
 * table no comparison can call equal as published is left out, as the verify window leaves it.
 */
function notComparedSince(
  at: string,
  tables: readonly string[],
  evidence: ReadonlyMap<string, TableEvidence>,
): string[] {
  const since = Date.parse(at);
  return tables.filter((t) => equalSince(evidence.get(t), since) === false);
}

/**
 * `unverified` because no comparison before `at` counts (`cause`, the first reason, says why: a
 * promotion of the subscriber, an error episode); null where every table was compared since.
 * Names each such table and one verify of them and of those past the window.
 */
export function unverifiedSince(
  at: string,
  cause: string,
  f: {
    subscription: string;
    tables: readonly string[];
    evidence: ReadonlyMap<string, TableEvidence>;
    window?: WindowStatus | undefined;
  },
): SyncVerdict | null {
  const stale = notComparedSince(at, f.tables, f.evidence);
  if (stale.length === 0) return null;
  const pastWindow = f.window && !f.window.waived ? f.window.unverified.map((t) => t.table) : [];
  const named = f.tables.filter((t) => stale.includes(t) || pastWindow.includes(t));
  const verify = adviceText('verify', f.subscription, named.length === f.tables.length ? [] : named);
  return {
    verdict: 'unverified',
    reasons: [
      cause,
      ...stale.map((t) => {
        const last = oldestComparison(f.evidence.get(t));
        return last === null ? `${t} was never compared` : `${t} was last found equal at ${last}`;
      }),
      `compare them: \`${verify}\` (read-only; equal clears this, a difference names its repair)`,
    ],
  };
}

/** `verify.window` as `status` reports it. */
export type WindowStatus =
  | { window: 'off'; waived: true }
  | {
      waived: false;
      /** as steep.yaml would write it: `7d`, `2s` */
      window: string;
      windowMs: number;
      /** the oldest comparison of any table (ISO 8601); null: a table was never compared */
      oldest: string | null;
      /** rows compared equal within the window / all rows steep knows of (0..1); null: none known */
      share: number | null;
      rowsWithin: number;
      rows: number;
      tables: number;
      tablesWithin: number;
      /** the tables past the window, each with its oldest comparison (null: never) */
      unverified: { table: string; oldest: string | null }[];
      /** tables within it by an init's sample only (their other segments not yet compared) */
      sampled: { table: string; compared: number; of: number }[];
      /** tables no comparison can call equal as published, left out of the window (said, not hidden) */
      notComparable: string[];
    };

/** The facts of one subscription: its window, its tables, their evidence, and now. */
export interface WindowFacts {
  window: VerifyWindow;
  /** the subscription's tables (`schema.table`), in the order to report them */
  tables: readonly string[];
  evidence: ReadonlyMap<string, TableEvidence>;
  /** ISO 8601 */
  now: string;
}

/**
 * The subscription's tables against its window. A table's rows are those its segments recorded,
 * else its last verify's; a table never compared counts none (steep knows its rows from a
 * comparison only), which the table count beside the share shows.
 */
export function judgeWindow(f: WindowFacts): WindowStatus {
  if (f.window === 'off') return { window: 'off', waived: true };
  const since = Date.parse(f.now) - f.window;
  const within = (at: string | null) => at !== null && Date.parse(at) >= since;
  let rows = 0;
  let rowsWithin = 0;
  let tablesWithin = 0;
  let oldest: string | null = null;
  let never = false;
  const unverified: { table: string; oldest: string | null }[] = [];
  const sampled: { table: string; compared: number; of: number }[] = [];
  const notComparable: string[] = [];
  for (const table of f.tables) {
    const e = f.evidence.get(table);
    const equal = equalSince(e, since);
    if (equal === null) {
      notComparable.push(table);
      continue;
    }
    const at = oldestComparison(e);
    if (e?.sample && equal && at === e.wholeEqualAt) sampled.push({ table, ...e.sample });
    const total = e ? (e.segments.length > 0 ? sum(e.segments.map((s) => s.rows)) : (e.wholeRows ?? 0)) : 0;
    rows += total;
    rowsWithin += within(e?.wholeEqualAt ?? null)
      ? total
      : sum((e?.segments ?? []).filter((s) => within(s.equalAt)).map((s) => s.rows));
    if (equal) tablesWithin++;
    else unverified.push({ table, oldest: at });
    if (at === null) never = true;
    else if (oldest === null || Date.parse(at) < Date.parse(oldest)) oldest = at;
  }
  return {
    waived: false,
    window: formatDuration(f.window),
    windowMs: f.window,
    oldest: never ? null : oldest,
    share: rows > 0 ? rowsWithin / rows : f.tables.length > 0 ? tablesWithin / f.tables.length : null,
    rowsWithin,
    rows,
    tables: f.tables.length,
    tablesWithin,
    unverified,
    sampled,
    notComparable,
  };
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/**
 * The sync verdict with the window: a `synchronized` one with a table past the window is
 * `unverified`, each such table a reason, then the way out; one within it (or waived) stays
 * `synchronized`, saying so among its evidence. Any other verdict stands as it is.
 */
export function withWindow(v: SyncVerdict, w: WindowStatus | undefined, subscription: string): SyncVerdict {
  if (!w || v.verdict !== 'synchronized') return v;
  if (w.waived)
    return { verdict: v.verdict, reasons: [...v.reasons, 'verify window off in steep.yaml (waived)'] };
  if (w.unverified.length === 0)
    return {
      verdict: v.verdict,
      reasons: [
        ...v.reasons,
        `every table found equal within its verify window ${w.window} (oldest comparison ${w.oldest})`,
        ...w.sampled.map(
          (t) =>
            `${t.table} by its init's sample (${t.compared} of ${t.of} segments): \`steep verify --rolling\` compares the rest`,
        ),
        ...w.notComparable.map(
          (t) =>
            `${t} is left out: no comparison can call it equal as it is published (steep verify says why)`,
        ),
      ],
    };
  return {
    verdict: 'unverified',
    reasons: [
      ...w.unverified.map((t) =>
        t.oldest === null
          ? `${t.table} was never compared (verify window ${w.window})`
          : `${t.table} was last found equal at ${t.oldest}, longer ago than its verify window ${w.window}`,
      ),
      `compare them: \`${adviceText(
        'verify',
        subscription,
        w.unverified.map((t) => t.table),
      )}\` (read-only), or a schedule of \`steep verify --rolling --budget 5min\` (docs/repair.md)`,
    ],
  };
}

/** `compared within 2s: 62% of rows (1 of 2 tables); oldest comparison …` for status. */
export function windowText(w: WindowStatus): string {
  if (w.waived) return 'verify window: off (waived)';
  const share = w.share === null ? 'no rows known' : `${Math.floor(w.share * 1000) / 10}% of rows`;
  const oldest = w.oldest ?? `never (${w.unverified.filter((t) => t.oldest === null).length} table(s))`;
  return `verify window ${w.window}: ${share} compared within it (${w.tablesWithin} of ${w.tables} tables); oldest comparison ${oldest}`;
}

/**
 * What `status` reports of a subscription's comparisons: each table's oldest comparison (the
 * metrics' age), and, where a window is set, the window's figures.
 */
export function verifiedFields(
  window: VerifyWindow | undefined,
  tables: readonly string[],
  evidence: ReadonlyMap<string, TableEvidence>,
  now: string,
): { verifyWindow?: WindowStatus; verifiedTables: { table: string; at: string | null }[] } {
  const verifiedTables = tables.map((table) => ({ table, at: oldestComparison(evidence.get(table)) }));
  if (window === undefined) return { verifiedTables };
  return { verifyWindow: judgeWindow({ window, tables, evidence, now }), verifiedTables };
}
