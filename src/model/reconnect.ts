/**
 * Is a rise of a subscription's error counters its publisher's restart? The one rule
 * `status`, `status --check`, the metrics and `drift` read (through model/syncVerdict.ts), and
 * the one that decides what the reading recorded for the next of them keeps (docs/status.md,
 * "A publisher's restart").
 *
 * PostgreSQL facts this rests on:
 * - when its publisher stops, the apply worker loses its connection inside its apply loop: that
 *   is an error, counted once in pg_stat_subscription_stats.apply_error_count (a table-sync worker
 *   copying then counts one in sync_error_count). Its tries to connect while the publisher is down
 *   fail before that loop and are not counted. The launcher starts it again every
 *   wal_retrieve_retry_interval until it connects.
 * - pg_postmaster_start_time() is when the publisher's server started: a rise seen by the first
 *   reading after a reading older than that start (or seen while the publisher could not be read,
 *   older than the start read now) happened across the restart.
 * - an apply worker that errors exits: one running now has had no error since it started.
 *
 * So a rise across a restart is the restart's, not a failure, once the apply worker runs again,
 * its slot is active at the publisher and has confirmed (almost) all of its WAL. A crash loop (a
 * conflict that repeats) errs again after the restart, within wal_retrieve_retry_interval: the
 * next reading sees that rise, with the restart older than the reading before it, and says
 * `failing`. Only the readings between the first after the restart and that next error can take
 * a loop's worker, caught between two errors with its pending change under 64 kB, for a
 * reconnect.
 */

/** Below this much unconfirmed WAL a streaming slot has nothing left to replay (model/lagVerdict.ts too). */
export const NOTHING_PENDING_BYTES = 64 * 1024;

export interface RestartFacts {
  applyErrors: number | null;
  syncErrors: number | null;
  previous: { applyErrors: number; syncErrors: number; at: string; roseAt: string | null } | null;
  /** the publisher's pg_postmaster_start_time() (ISO 8601); null: the publisher was not read */
  publisherStartedAt?: string | null;
}

/** Did the counters rise since the previous reading (never after a reset: that is not a restart)? */
function roseNow(f: RestartFacts): boolean {
  const p = f.previous;
  if (!p || f.applyErrors === null || f.syncErrors === null) return false;
  if (f.applyErrors < p.applyErrors || f.syncErrors < p.syncErrors) return false;
  return f.applyErrors > p.applyErrors || f.syncErrors > p.syncErrors;
}

/**
 * The rise this reading sees is its publisher's restart: the counters rose since the previous
 * reading, and the publisher started after it. Such a rise is recorded without moving `roseAt`
 * (nextReading), so it keeps no later reading `failing`.
 */
export function riseAcrossRestart(f: RestartFacts): boolean {
  if (!roseNow(f) || !f.publisherStartedAt) return false;
  return Date.parse(f.publisherStartedAt) > Date.parse(f.previous!.at);
}

/**
 * The restart that explains the errors this reading judges, or null: a rise now across a
 * restart (riseAcrossRestart), or, with no rise now, the last rise recorded (`roseAt`) seen before
 * the publisher started (a reading while it was down). Returns the publisher's start time.
 */
export function restartExplaining(f: RestartFacts): string | null {
  if (!f.publisherStartedAt || !f.previous) return null;
  if (riseAcrossRestart(f)) return f.publisherStartedAt;
  if (roseNow(f)) return null;
  const roseAt = f.previous.roseAt;
  if (roseAt !== null && Date.parse(roseAt) < Date.parse(f.publisherStartedAt)) return f.publisherStartedAt;
  return null;
}

export interface ReconnectFacts extends RestartFacts {
  from: string;
  applyRunning: boolean | null;
  slot: { name: string; active: boolean } | 'absent' | null;
  /** the slot's unconfirmed WAL on the publisher; null: not read */
  lagBytes?: number | null;
}

export type Reconnect =
  /** the restart explains the errors, and the worker streams again, caught up: not failing */
  | { verdict: 'reconnected'; note: string }
  /** the restart explains the errors, the worker streams again, but has WAL to confirm yet */
  | { verdict: 'catching_up'; note: string };

/**
 * The verdict on errors a restart of the publisher explains (restartExplaining), once the apply
 * worker runs and its slot is active again; null: not a reconnect (the other rules decide).
 */
export function reconnect(f: ReconnectFacts): Reconnect | null {
  const startedAt = restartExplaining(f);
  if (startedAt === null || f.applyRunning !== true) return null;
  if (f.slot === null || f.slot === 'absent' || !f.slot.active) return null;
  const p = f.previous!;
  const errors =
    f.applyErrors !== p.applyErrors || f.syncErrors !== p.syncErrors
      ? `errors (apply ${p.applyErrors} → ${f.applyErrors}, sync ${p.syncErrors} → ${f.syncErrors})`
      : `errors (apply ${f.applyErrors}, sync ${f.syncErrors}, last rose at ${p.roseAt})`;
  const what = `reconnected after ${f.from} restarted at ${startedAt}: the ${errors} are its connection loss`;
  if (f.lagBytes === null || f.lagBytes === undefined || f.lagBytes > NOTHING_PENDING_BYTES)
    return {
      verdict: 'catching_up',
      note: `${what}; its apply worker streams again, with ${f.lagBytes == null ? 'an unknown amount of' : `${f.lagBytes} bytes of`} WAL to confirm yet (read again)`,
    };
  return { verdict: 'reconnected', note: `${what}; its apply worker streams again, caught up` };
}
