import { printAddress } from '../model/address.js';
import type { Step } from '../model/plan.js';

/** What an apply reports as it goes (docs/commands.md, Log events); commands decide how it looks. */
export interface ApplyEvent {
  event:
    | 'apply.started'
    | 'apply.step_started'
    | 'apply.step_completed'
    | 'apply.step_waiting'
    | 'apply.step_failed'
    | 'apply.step_interrupted'
    | 'apply.interrupted'
    | 'apply.completed'
    | 'init.started'
    | 'init.waiting'
    | 'init.state_change'
    | 'init.table_complete'
    | 'init.copy_planned'
    | 'init.indexes_built'
    | 'init.completed'
    | 'init.failed'
    | 'init.cancelled'
    | 'init.comparing'
    | 'init.compared'
    | 'init.compare_failed'
    | 'verify.table_complete'
    | 'verify.segment_complete'
    | 'verify.completed'
    | 'verify.waiting'
    | 'merge.table_reconciled'
    | 'reinit.started'
    | 'reinit.slot_created'
    | 'reinit.fencing'
    | 'reinit.missed_deletes'
    | 'reinit.publications_left'
    | 'reinit.waiting'
    | 'reinit.completed'
    | 'switchover.step_started'
    | 'switchover.step_completed'
    | 'switchover.step_failed'
    | 'switchover.fence_undone'
    | 'switchover.lag_wait'
    | 'switchover.prepared_wait'
    | 'switchover.waiting'
    | 'switchover.missing_objects'
    | 'switchover.completed'
    | 'merge.locking'
    | 'merge.locked'
    | 'merge.unlocked'
    | 'merge.completed'
    | 'schema.mismatch_detected'
    | 'schema.sync_applied'
    | 'schema.fingerprints_saved'
    | 'state.object_digests_recorded';
  level: 'info' | 'warn' | 'error';
  node?: string;
  subscription?: string;
  table?: string;
  address?: string;
  step?: string;
  run_id?: string;
  message?: string;
  rows_copied?: number;
  duration_ms?: number;
  phase?: string;
  overall_progress?: number;
}

export type EventSink = (e: ApplyEvent) => void;

/** An event's fields about a step: its node, its address as printed, its id. */
export const stepFields = (s: Step) => ({ node: s.node, address: printAddress(s.address), step: s.id });

/**
 * A command's SIGINT/SIGTERM/SIGHUP as a workflow sees it (docs/commands.md, Interrupting): until `arm()` nothing has changed
 * and a signal exits at once; from then on the first signal aborts `signal`, and the workflow
 * starts nothing new and says where it stopped (the command's `Interruption` is one). After
 * `disarm()` a signal exits at once again: what runs then is as safe to leave as to stop.
 */
export interface Stop {
  readonly signal: AbortSignal;
  arm(): void;
  disarm(): void;
}
