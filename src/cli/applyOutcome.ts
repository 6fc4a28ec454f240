import { printAddress } from '../model/address.js';
import type { SteepError } from '../model/errors.js';
import type { Step } from '../model/plan.js';
import type { ApplyOutcome } from '../workflows/apply.js';
import type { StopSignal } from './interruption.js';

/** With the action: a subscription's create and init steps share its address. */
function stepList(list: Step[]): string {
  return list.map((s) => `${s.action} ${printAddress(s.address)}`).join(', ') || 'none';
}

/**
 * What an apply that failed or was interrupted says on stderr: each failure, what completed,
 * what still runs in PostgreSQL (and the command that follows it), what did not run, and how
 * to go on. Empty for an apply that completed.
 */
export function outcomeLines(
  outcome: ApplyOutcome,
  signal: StopSignal | null,
): Array<{ text: string; level: 'info' | 'warn' | 'error' }> {
  if (outcome.failed.length === 0 && !signal) return [];
  const lines: Array<{ text: string; level: 'info' | 'warn' | 'error' }> = [];
  for (const f of outcome.failed) {
    const e = f.error as SteepError;
    lines.push({ text: `failed: ${e.message}${e.hint ? ` (hint: ${e.hint})` : ''}`, level: 'error' });
  }
  if (signal) {
    lines.push({ text: `stopped by ${signal}: no step started after it.`, level: 'warn' });
  }
  lines.push({ text: `completed: ${stepList(outcome.completed)}`, level: 'info' });
  for (const i of outcome.interrupted) {
    lines.push({ text: `still running: ${stepList([i.step])}: ${i.message}`, level: 'warn' });
  }
  lines.push({ text: `not run: ${stepList(outcome.notRun)}`, level: 'info' });
  if (outcome.failed.length > 0) {
    lines.push({
      text: 'Run `steep apply` again once the cause is fixed: it resumes from what the nodes hold now.',
      level: 'info',
    });
  } else if (outcome.notRun.length > 0) {
    lines.push({
      text: 'Run `steep apply` again to do the rest: it resumes from what the nodes hold now.',
      level: 'info',
    });
  }
  return lines;
}
