import { quoteIdent } from './sql.js';

/**
 * PostgreSQL's disable_on_error (15+), as steep reads it: which disabled subscription PostgreSQL
 * disabled at an error, and what to tell the user. One rule for status (model/syncVerdict.ts),
 * plan (planner/subscriptions/subscriptionAlter.ts), reinit and the switchover's preflight
 * (planner/switchover/switchoverChecks.ts).
 */

/**
 * Disabled with disable_on_error set and errors counted since apply last disabled it itself
 * (`steepDisabledAt`, the errors counted at that DISABLE; absent: none recorded, so every error
 * counted): PostgreSQL disabled it at an error, as far as its catalog and statistics tell (its
 * message is only in the server log). Enabling it again before its cause is fixed only repeats
 * the error, so steep does not (planner), and says what to do. An incident resolved long ago
 * leaves its errors counted: a later DISABLE of the file's is steep's to undo.
 */
export function disabledOnError(o: {
  enabled: boolean;
  options: { disableOnError?: boolean };
  errorsCounted?: number | null;
  steepDisabledAt?: number | null;
}): boolean {
  return !o.enabled && o.options.disableOnError === true && (o.errorsCounted ?? 0) > (o.steepDisabledAt ?? 0);
}

/**
 * `counted`: the errors counted, e.g. `apply 1, sync 0`. `divergedFrom`: the publisher whose
 * failover left it diverged: that verdict's way out comes first (what the subscriber must keep,
 * then a full copy), and ENABLE before it would resume past the fork, so none is named.
 */
export function disabledOnErrorText(
  subscription: string,
  node: string,
  counted: string,
  divergedFrom?: string,
): string {
  const out =
    divergedFrom === undefined
      ? `fix its cause, then run ALTER SUBSCRIPTION ${quoteIdent(subscription)} ENABLE on ${node} (steep apply does not enable it while this stands: it would be disabled again)`
      : `a failover of ${divergedFrom} left ${subscription} diverged, so the failover's way out comes first: enabling it before that resumes past the fork`;
  return (
    `disabled by PostgreSQL after an error (disable_on_error; errors ${counted} counted since the statistics were reset): ` +
    `its message is in the server log of ${node} ("logical replication subscription "${subscription}" has been disabled due to an error" and the error before it); ${out}`
  );
}

/**
 * A refusal of a subscription PostgreSQL disabled at an error (the switchover's preflight,
 * reinit), told as status tells it (disabledOnErrorText); where a failover of its publisher left
 * it diverged (`diverged`: that verdict's reasons, its way out among them), those reasons and no
 * ENABLE; then `then`, what to run again.
 */
export function disabledOnErrorRefusal(
  s: { subscription: string; node: string; from: string; errorsCounted: number | null },
  diverged: readonly string[] | undefined,
  then: string,
): string {
  const counted = `apply and sync ${s.errorsCounted ?? 0}`;
  return (
    `subscription ${s.subscription} on ${s.node} is ${disabledOnErrorText(s.subscription, s.node, counted, diverged ? s.from : undefined)}; ` +
    `${diverged ? `${diverged.join('; ')}; ` : ''}${then}`
  );
}

/**
 * Disabled by hand (or otherwise with no error counted: not disabledOnError) while the
 * file enables it, after a failover of `from` left it diverged: steep apply does not enable it
 * (planner/subscriptions/subscriptionAlter.ts), which would resume past the fork.
 */
export function divergedDisabledText(subscription: string, from: string): string {
  return `a failover of ${from} left ${subscription} diverged, so steep apply does not enable it: enabling it before the failover's way out resumes past the fork`;
}

/**
 * A refusal of such a subscription (the switchover's preflight, reinit without --full): the
 * failover verdict's reasons (its way out among them), then `then`.
 */
export function divergedDisabledRefusal(
  s: { subscription: string; node: string; from: string },
  diverged: readonly string[],
  then: string,
): string {
  return `subscription ${s.subscription} on ${s.node} is disabled: ${divergedDisabledText(s.subscription, s.from)}; ${diverged.join('; ')}; ${then}`;
}
