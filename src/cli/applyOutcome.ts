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
  const line = (text: string, level: 'info' | 'warn' | 'error' = 'info') => ({ text, level });
  const again =
    outcome.failed.length > 0
      ? 'once the cause is fixed'
      : outcome.notRun.length > 0
        ? 'to do the rest'
        : null;
  return [
    ...outcome.failed.map(({ error }) => {
      const e = error as SteepError;
      return line(`failed: ${e.message}${e.hint ? ` (hint: ${e.hint})` : ''}`, 'error');
    }),
    ...(signal ? [line(`stopped by ${signal}: no step started after it.`, 'warn')] : []),
    line(`completed: ${stepList(outcome.completed)}`),
    ...outcome.interrupted.map((i) => line(`still running: ${stepList([i.step])}: ${i.message}`, 'warn')),
    line(`not run: ${stepList(outcome.notRun)}`),
    ...(again ? [line(`Run \`steep apply\` again ${again}: it resumes from what the nodes hold now.`)] : []),
  ];
}
