import type { InitState } from './initState.js';

/**
 * The words `steep status` says of a subscription, one row each, in the order of the Prometheus
 * state set: the init states steep records (model/initState.ts), then the words of the
 * synchronized rule (model/syncVerdict.ts) that replace `synchronized` where it is not proven.
 * `StatusState` is this table's keys: a word without a row does not compile, nor an init state
 * without one; the renderer colours a word and shows its evidence from its row, and the workflow
 * knows from it which words come from the rule. `test/unit/model/statusWords.test.ts` fails until
 * docs/status.md explains every word and names no other.
 *
 * `from`: `init`, the recorded init state (its moves: model/initLifecycle.ts); `verdict`, the
 * rule's word where the init is synchronized. `tone`: `good` proven synchronized, `bad` something
 * to repair or a reading that failed, `waiting` on its way or held by design. `shows`: what status
 * prints under it, `reasons` the rule's evidence, `why` why it could not be read, `nothing` else
 * (the init's own lines: its error, the diverged tables).
 */
export const STATUS_WORD = {
  uninitialized: { from: 'init', tone: 'waiting', shows: 'nothing' },
  preparing: { from: 'init', tone: 'waiting', shows: 'nothing' },
  copying: { from: 'init', tone: 'waiting', shows: 'nothing' },
  catching_up: { from: 'init', tone: 'waiting', shows: 'nothing' },
  synchronized: { from: 'init', tone: 'good', shows: 'nothing' },
  diverged: { from: 'init', tone: 'bad', shows: 'nothing' },
  failed: { from: 'init', tone: 'bad', shows: 'nothing' },
  reinitializing: { from: 'init', tone: 'waiting', shows: 'nothing' },
  /** enabled, but nothing applies (no worker) or the workers keep failing (errors rose) */
  failing: { from: 'verdict', tone: 'bad', shows: 'reasons' },
  /** disabled: no worker runs by design or by hand */
  stopped: { from: 'verdict', tone: 'waiting', shows: 'reasons' },
  /** a reading steep needed could not be taken, or does not decide */
  unknown: { from: 'verdict', tone: 'bad', shows: 'why' },
  /** a table's stream broke (model/continuity.ts): changes of the publisher's never reached it */
  gap: { from: 'verdict', tone: 'bad', shows: 'reasons' },
  /** otherwise synchronized, but a table was not found equal within its verify window (model/verifyWindow.ts) */
  unverified: { from: 'verdict', tone: 'waiting', shows: 'reasons' },
  // every init state is a word of status: an init state without a row does not compile
} as const satisfies Record<InitState, StatusWordTraits> & Record<string, StatusWordTraits>;

export interface StatusWordTraits {
  from: 'init' | 'verdict';
  tone: 'good' | 'bad' | 'waiting';
  shows: 'reasons' | 'why' | 'nothing';
}

type Rows = typeof STATUS_WORD;

/** A subscription's state as `status` shows it. */
export type StatusState = keyof Rows;

/** The words the synchronized rule says in place of `synchronized`. */
export type VerdictState = { [W in StatusState]: Rows[W]['from'] extends 'verdict' ? W : never }[StatusState];

/**
 * The synchronized rule's answer: `synchronized` proven, `not_ready` (a table is not ready, `r`,
 * yet: status shows the init's own word), or the word it shows instead.
 */
export type SyncVerdictWord = 'synchronized' | 'not_ready' | VerdictState;

/** Every state `status` may show, in order (the Prometheus state set). */
export const STATUS_STATES = Object.keys(STATUS_WORD) as StatusState[];

/** The words the rule shows where the init state is synchronized. */
export const VERDICT_STATES = STATUS_STATES.filter(
  (w) => STATUS_WORD[w].from === 'verdict',
) as VerdictState[];
