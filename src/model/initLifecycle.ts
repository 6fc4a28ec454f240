/**
 * The init lifecycle of a subscription: its states and the legal moves between them, and the
 * states a merge init passes (no I/O). The state store (`state/subscriptionState.ts`) records
 * through `transitionPath`. How samples move an init forward and the figures it shows are in
 * `initProgress.ts`; the rules that call a followed init failed or stalled in `initFailure.ts`;
 * the types they work on in `initState.ts`.
 */
import { SteepError } from './errors.js';
import type { InitState } from './initState.js';

// ---- States and transitions ----

/**
 * The eight init states of a subscription (docs/steep-yaml.md, reference FR-010), persisted in the
 * subscriber's `subscription_state` (keyed by the node's own name, docs/steep-yaml.md, On every node), and the legal
 * transitions between them:
 *
 *   uninitialized → preparing → copying → catching_up → synchronized
 *   any init state → failed → (resume) preparing | copying | catching_up
 *   synchronized → diverged → reinitializing → copying …
 *   any state → uninitialized (cancel, or the subscription dropped)
 *
 * `none` and `manual` skip `copying`: uninitialized/preparing → catching_up.
 */
export const TRANSITIONS: Readonly<Record<InitState, readonly InitState[]>> = {
  uninitialized: ['preparing', 'copying', 'catching_up', 'synchronized', 'failed'],
  preparing: ['copying', 'catching_up', 'failed', 'uninitialized'],
  copying: ['catching_up', 'failed', 'uninitialized'],
  catching_up: ['synchronized', 'copying', 'failed', 'uninitialized'],
  synchronized: ['diverged', 'reinitializing', 'failed', 'uninitialized'],
  diverged: ['reinitializing', 'synchronized', 'failed', 'uninitialized'],
  failed: ['preparing', 'copying', 'catching_up', 'reinitializing', 'uninitialized'],
  reinitializing: ['copying', 'catching_up', 'synchronized', 'failed', 'uninitialized'],
};

/**
 * The legal states to pass through from `from` to `to`, shortest first (`to` last); [] when
 * already there. An apply that samples `copying` and then `synchronized` records the
 * `catching_up` in between, so the log shows the whole journey.
 */
export function transitionPath(from: InitState, to: InitState): InitState[] {
  if (from === to) return [];
  const seen = new Set([from]);
  // breadth first: each path from `from` in the order they are found, extended one state at a time
  const paths: InitState[][] = [[]];
  for (const path of paths) {
    for (const next of TRANSITIONS[path.at(-1) ?? from]) {
      if (seen.has(next)) continue;
      if (next === to) return [...path, to];
      seen.add(next);
      paths.push([...path, next]);
    }
  }
  throw new SteepError('init.illegal_transition', `no legal way from init state ${from} to ${to}`);
}

/**
 * The state of an existing subscription steep holds no record of: one adopted from a hand-made
 * topology (`steep import`, before its adoption was recorded), or one whose record was lost. If
 * it is enabled and every table it receives is ready (`r`), its data came from its own stream:
 * it is `synchronized` (and verify may find it `diverged`, reinit may repair it, and `init
 * cancel` of it is a destroy). Otherwise nothing is known of its init: `uninitialized`.
 */
export function unrecordedState(s: { enabled: boolean; tables: Iterable<string> }): InitState {
  return s.enabled && [...s.tables].every((state) => state === 'r') ? 'synchronized' : 'uninitialized';
}

/**
 * States in which a subscription's tables hold what it streamed, not an init's partial copy:
 * dropping it (`init cancel`) is a destroy, needing --allow-destroy and a confirmation.
 */
export const STREAMED: readonly InitState[] = ['synchronized', 'diverged', 'reinitializing'];

/** States in which an init is under way: started_at is kept, completed_at cleared. */
export const IN_PROGRESS: readonly InitState[] = ['preparing', 'copying', 'catching_up', 'reinitializing'];

// ---- Merge init: the states it passes and its final pass ----

/**
 * A merge init (both nodes hold rows) records, on each subscriber, for each subscription of its
 * unit: `preparing` (preflight and analysis) → `copying` (one-sided rows copied, conflicts
 * resolved) → `synchronized` once both subscriptions exist (created with copy_data = false at
 * one point where writes to the merged tables were blocked on both nodes). An existing
 * subscription whose merge is recorded `preparing`, `copying` or `failed` was left by an
 * interrupted merge: the next apply drops it and merges again (the rows already reconciled are
 * identical by then).
 */
export const MERGE_UNFINISHED: readonly InitState[] = ['preparing', 'copying', 'failed'];

/**
 * Rounds of a merge's final pass before it gives up, where the pass cannot write under its locks
 * (a one-way subscription with origin = any would send those writes back): each finds new
 * differences, reconciles them after releasing the locks, locks again.
 */
export const MERGE_FINAL_ROUNDS = 3;

/**
 * That read-only final pass, after the re-check under the write locks: nothing differs → create
 * the subscriptions now; rows written since the reconcile differ → release, reconcile them, lock
 * again; still differing after MERGE_FINAL_ROUNDS → give up. (With origin = none everywhere the
 * remainder is reconciled under the locks and there are no rounds: workflows/mergeInit.ts.)
 */
export function mergeFinalPass(differences: number, round: number): 'create' | 'reconcile-again' | 'give-up' {
  if (differences === 0) return 'create';
  return round < MERGE_FINAL_ROUNDS ? 'reconcile-again' : 'give-up';
}
