import { formatBytes } from './bytes.js';
import type { SlotLag } from './initState.js';
import { NOTHING_PENDING_BYTES } from './reconnect.js';

/**
 * `status --check --max-lag`: is a subscription's lag within the limit, over it, or unknown
 * (with the reason)? Pure. PostgreSQL shows the walsender's replay_lag only to superusers and
 * members of pg_read_all_stats, and clears it once the subscriber applied all it was sent.
 */

/** `--max-lag`: a size or a duration. */
export type LagLimit = { bytes: number } | { seconds: number };

export interface LagFacts {
  lagBytes: number | null;
  lagSeconds: number | null;
  /** the publisher's walsender for the slot (as SlotLag's, `streaming`: its figures visible); null: not read */
  walsender: NonNullable<SlotLag['walsender']> | null;
  /** why the lag was not read at all (its publisher cannot be read), or null */
  unreadable: string | null;
}

export type LagVerdict =
  | { verdict: 'within' }
  | { verdict: 'over'; reason: string }
  | { verdict: 'unknown'; reason: string };

/** The lag against `--max-lag`. */
export function lagVerdict(limit: LagLimit, l: LagFacts): LagVerdict {
  if (l.unreadable) return { verdict: 'unknown', reason: l.unreadable };
  if (l.lagBytes !== null && l.lagBytes < 0)
    return {
      verdict: 'over',
      reason: `its slot confirms ${formatBytes(-l.lagBytes)} beyond its publisher's own WAL: not a lag, a position the publisher never wrote (steep status says why)`,
    };
  if ('bytes' in limit) {
    if (l.lagBytes === null) return { verdict: 'unknown', reason: 'lag unknown: its slot was not read' };
    return l.lagBytes > limit.bytes
      ? {
          verdict: 'over',
          reason: `lag ${formatBytes(l.lagBytes)}, over --max-lag ${formatBytes(limit.bytes)}`,
        }
      : { verdict: 'within' };
  }
  if (l.lagSeconds !== null)
    return l.lagSeconds > limit.seconds
      ? { verdict: 'over', reason: `lag ${l.lagSeconds.toFixed(1)} s, over --max-lag ${limit.seconds} s` }
      : { verdict: 'within' };
  if (l.walsender === 'hidden')
    return {
      verdict: 'unknown',
      reason:
        "lag in seconds unknown: steep's role may not read the walsender's replay_lag on the publisher (pg_stat_replication shows it to superusers and members of pg_read_all_stats); --max-lag with a size needs no such right",
    };
  if (l.walsender === 'streaming' && l.lagBytes !== null && l.lagBytes <= NOTHING_PENDING_BYTES)
    // PostgreSQL shows replay_lag as null once a walsender has caught up and no WAL comes
    return { verdict: 'within' };
  if (l.walsender === 'streaming')
    return {
      verdict: 'unknown',
      reason: `lag in seconds unknown: the walsender reports no replay lag yet, with ${l.lagBytes === null ? 'an unknown amount' : formatBytes(l.lagBytes)} unconfirmed`,
    };
  return {
    verdict: 'unknown',
    reason: 'lag in seconds unknown: no walsender streams its slot on the publisher',
  };
}
