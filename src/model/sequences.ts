/**
 * Sequence values across a subscription (logical replication does not carry them): what one
 * node's sequence has handed out, and what `steep sequences sync` did to each subscriber
 * sequence. Values are bigint as decimal strings (JSON has no 64-bit integer).
 */
import type { SubscriptionRef, TableName } from './topology.js';

/** One sequence on one node. */
export interface SequenceState extends TableName {
  /** the last value nextval handed out (is_called), null when none yet */
  last: string | null;
  increment: string;
  min: string;
  max: string;
}

/** What the role steep connects as may do with each sequence on one node. */
export interface SequenceAccess {
  node: string;
  role: string;
  /** `schema.name` → SELECT (read its value) and UPDATE (setval; the owner has both); absent: the sequence does not exist there */
  sequences: ReadonlyMap<string, { select: boolean; update: boolean }>;
}

export interface SequenceOutcome extends TableName {
  /** `schema.name` as SQL prints it */
  sequence: string;
  /** the publisher's last value (null: none handed out) */
  source: string | null;
  /** the value the subscriber's sequence was to reach: source plus headroom in its direction */
  target: string | null;
  /** the subscriber's last value before (null: none handed out, or absent there) */
  before: string | null;
  /** … and after */
  after: string | null;
  action: 'set' | 'unchanged' | 'skipped';
  /** why it was not set: `ahead` and `no-source` are harmless; the others are problems */
  skip: 'ahead' | 'no-source' | 'absent' | 'out-of-range' | null;
  /** one sentence when skipped */
  reason: string | null;
}

/** With how many sequences were set, unchanged and skipped. */
export interface SequenceSyncReport extends Record<SequenceOutcome['action'], number> {
  subscription: string;
  publisher: string;
  subscriber: string;
  headroom: string;
  allowBackwards: boolean;
  sequences: SequenceOutcome[];
  /** sequences left where a switchover would collide: absent on the subscriber, or out of range */
  problems: number;
}

/** A skip a DBA must act on before moving writes to the subscriber. */
export function isSequenceProblem(o: SequenceOutcome): boolean {
  return o.skip === 'absent' || o.skip === 'out-of-range';
}

export function sequenceSyncReport(
  base: Pick<SequenceSyncReport, 'subscription' | 'publisher' | 'subscriber' | 'headroom' | 'allowBackwards'>,
  sequences: SequenceOutcome[],
): SequenceSyncReport {
  return {
    ...base,
    sequences,
    set: sequences.filter((s) => s.action === 'set').length,
    unchanged: sequences.filter((s) => s.action === 'unchanged').length,
    skipped: sequences.filter((s) => s.action === 'skipped').length,
    problems: sequences.filter(isSequenceProblem).length,
  };
}

/** `drift --sequences`: a subscriber sequence further behind its publisher's than settings.sequenceLag. */
export interface SequenceLag extends SubscriptionRef {
  sequence: string;
  publisher: string;
  /** null: none handed out on the subscriber, or absent there */
  subscriber: string | null;
  /** values behind, in the sequence's direction; null when absent on the subscriber */
  behind: string | null;
  absent: boolean;
}
