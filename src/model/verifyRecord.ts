import { adviceText } from './advice.js';
import { qualifiedName, type TableName } from './topology.js';
import type { TableStatus } from './verify.js';

/**
 * The record of a subscription's last `steep verify` (state schema `verifications`), and the
 * rule that reads PostgreSQL 18's conflict counters against it: a counter that rose since the
 * verify began counts conflicts the verify did not see, and the rows they touched may differ.
 */
export interface VerifyRecord {
  subscription: string;
  /** when the verify began (its conflict counters were read then) */
  startedAt: string;
  /** when it finished */
  verifiedAt: string;
  verdict: TableStatus;
  tablesCompared: number;
  tablesDiverged: number;
  tablesNotVerifiable: number;
  /** PostgreSQL 18+: pg_stat_subscription_stats.confl_* as the verify began (null before 18) */
  conflicts: Record<string, number> | null;
}

/** The conflicts of a subscription since its last verify (or ever, never verified). */
export interface ConflictsSinceVerify {
  subscription: string;
  node: string;
  /** the last verify's end, null: never verified */
  verifiedAt: string | null;
  /** counter → conflicts since, only those that rose, in the server's order */
  rose: Record<string, number>;
}

/**
 * Which conflict counters rose since the verify's reading. A counter below its reading was reset
 * (pg_stat_reset_subscription_stats): all it holds now came after. Never verified: every
 * conflict counted is unconfirmed. Null when the server keeps no counters (before 18).
 */
export function conflictsRose(
  now: Record<string, number> | null,
  atVerify: Record<string, number> | null,
): Record<string, number> | null {
  if (!now) return null;
  const rose: Record<string, number> = {};
  for (const [name, value] of Object.entries(now)) {
    const n = Number(value);
    const before = atVerify ? Number(atVerify[name] ?? 0) : 0;
    const since = n < before ? n : n - before;
    if (since > 0) rose[name] = since;
  }
  return rose;
}

/** `update_origin_differs 2, update_missing 1` */
export function conflictsText(rose: Record<string, number>): string {
  return Object.entries(rose)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
}

/** The sentence status --check and drift print for it, with the read-only verify that confirms it. */
export function conflictsSinceText(c: ConflictsSinceVerify): string {
  const total = Object.values(c.rose).reduce((a, b) => a + b, 0);
  const since = c.verifiedAt ? `since its last verify (${c.verifiedAt})` : 'and it was never verified';
  return (
    `${total} replication conflict${total === 1 ? '' : 's'} ${since} (${conflictsText(c.rose)}): ` +
    `the rows they touched may differ between ${c.node} and its publisher; compare them with \`${adviceText('verify', c.subscription)}\``
  );
}

/**
 * The tables a verify found diverged that the subscription still carries (a repair names only
 * those), and, when none is, why it is diverged all the same: the way out is a verify of what
 * it carries, which forgets the others (workflows/verify.ts).
 */
export function divergedStill(
  subscription: string,
  recorded: readonly string[],
  tables: readonly TableName[],
): { carried: string[]; left: string | null } {
  const carriedNow = new Set(tables.map(qualifiedName));
  const carried = recorded.filter((t) => carriedNow.has(t));
  const gone = recorded.filter((t) => !carriedNow.has(t));
  return {
    carried,
    left:
      carried.length === 0 && gone.length > 0
        ? `the tables a verify found diverged (${gone.join(', ')}) left the subscription: \`${adviceText('verify', subscription)}\` compares the tables it carries and settles it`
        : null,
  };
}
