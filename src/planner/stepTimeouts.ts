import type { StepKind, StepTimeouts } from '../model/plan.js';
import type { Settings } from '../model/topology.js';

/**
 * The steps that wait by design: CREATE SUBSCRIPTION, and a slot made on its own, wait until
 * every transaction open on the publisher ends (the slot's consistent point); an init step
 * follows or runs a copy for as long as it takes; a merge init reconciles rows, then creates its
 * subscriptions.
 */
const WAITS: ReadonlySet<StepKind> = new Set([
  'subscription-create',
  'slot-create',
  'subscription-init',
  'merge-init',
]);

/**
 * Each step's own lock_timeout and statement_timeout (ms, 0: none), as pg-schema-diff gives each
 * statement its own. Every step waits at most `settings.lockTimeout` for a lock it takes (queued
 * behind a long transaction, an ALTER TABLE or a TRUNCATE would hold every later reader of the
 * table behind it); a catalog change runs at most `settings.statementTimeout`, a step that waits by
 * design (WAITS) has no statement timeout: one would cut it half-way. A copy's own sessions (steep's
 * copy, PostgreSQL's table sync workers) are not the step's: neither timeout cuts a copy.
 */
/**
 * A subscription's drop asks its publisher to drop the slot with DROP_REPLICATION_SLOT … WAIT,
 * which waits for as long as any walsender holds the slot (its own for a moment; another
 * subscriber's, e.g. a clone's original, for ever): without a statement timeout of the file's,
 * it waits at most this long, then fails naming the slot, and nothing is dropped.
 */
export const SLOT_RELEASE_WAIT_MS = 60_000;

export function stepTimeouts(
  kind: StepKind,
  settings: Pick<Settings, 'lockTimeout' | 'statementTimeout'>,
): StepTimeouts {
  if (WAITS.has(kind)) return { lockMs: settings.lockTimeout, statementMs: 0 };
  const slotWait = kind === 'subscription-drop' && settings.statementTimeout === 0;
  return {
    lockMs: settings.lockTimeout,
    statementMs: slotWait ? SLOT_RELEASE_WAIT_MS : settings.statementTimeout,
  };
}
