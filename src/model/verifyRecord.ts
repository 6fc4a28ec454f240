import { adviceText } from './advice.js';
import { qualifiedName, type TableName } from './topology.js';
import type { TableStatus } from './verify.js';
import type { TableEvidence } from './verifyWindow.js';

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

/** A reading of the conflict counters taken before every comparison since. */
export interface ConflictBaseline {
  /** the last verify's end; rolling: the oldest of the comparisons that last found each table equal */
  at: string;
  rolling: boolean;
  conflicts: Record<string, number> | null;
}

/**
 * The reading the conflicts since are counted from: the last verify's, or the rolling verify's
 * where it is later. The rolling verify's is the reading taken before the oldest of the
 * comparisons that last found each table equal, when every segment of every table has one: a
 * conflict counted before it touched rows every one of those comparisons read after. A segment
 * with no reading (a server before 18, a state schema before migration 23) leaves the last
 * verify's. Undefined: neither.
 */
export function conflictBaseline(
  verified: Pick<VerifyRecord, 'startedAt' | 'verifiedAt' | 'conflicts'> | undefined,
  tables: readonly string[],
  evidence: ReadonlyMap<string, TableEvidence>,
): ConflictBaseline | undefined {
  const whole = verified && { at: verified.verifiedAt, rolling: false, conflicts: verified.conflicts };
  let oldest: TableEvidence['segments'][number] | undefined;
  for (const t of tables) {
    const segments = evidence.get(t)?.segments ?? [];
    if (segments.length === 0) return whole;
    for (const seg of segments) {
      if (seg.equalAt === null || !seg.conflicts) return whole;
      if (!oldest || Date.parse(seg.equalAt) < Date.parse(oldest.equalAt!)) oldest = seg;
    }
  }
  if (!oldest) return whole;
  const rolling = { at: oldest.equalAt!, rolling: true, conflicts: oldest.conflicts! };
  // the later reading: the verify's was taken as it began
  return verified && Date.parse(verified.startedAt) >= Date.parse(rolling.at) ? whole : rolling;
}

/** The conflicts of a subscription since its last verify (or ever, never verified). */
export interface ConflictsSinceVerify {
  subscription: string;
  node: string;
  /** the last verify's end, or the rolling verify's (`rolling`); null: never verified */
  verifiedAt: string | null;
  rolling?: true;
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

/** A subscription's conflicts since its last verify as status reads them; null: none, or no counters. */
export function conflictsSince(s: {
  name: string;
  node: string;
  conflictsSinceVerify: Record<string, number> | null;
  conflictsCountedFrom: Pick<ConflictBaseline, 'at' | 'rolling'> | null;
}): ConflictsSinceVerify | null {
  const rose = s.conflictsSinceVerify;
  if (!rose || Object.keys(rose).length === 0) return null;
  const from = s.conflictsCountedFrom;
  return {
    subscription: s.name,
    node: s.node,
    verifiedAt: from?.at ?? null,
    ...(from?.rolling ? { rolling: true as const } : {}),
    rose,
  };
}

/** The sentence status --check and drift print for it, with the read-only verify that confirms it. */
export function conflictsSinceText(c: ConflictsSinceVerify): string {
  const total = Object.values(c.rose).reduce((a, b) => a + b, 0);
  const since = !c.verifiedAt
    ? 'and it was never verified'
    : c.rolling
      ? `since the rolling verify compared every table (from ${c.verifiedAt})`
      : `since its last verify (${c.verifiedAt})`;
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
