import { advise, onlyCopyReason } from '../model/advice.js';
import type { SubscriptionStatus } from '../model/statusReport.js';

/**
 * `repair: steep reinit SUB --tables a,b` beside a subscription's diverged tables in `status` and
 * `init status` — or, when the subscriber's rows may be the only copy (model/advice.ts), what is true.
 */
export function divergedAdvice(
  subscription: string,
  node: string,
  from: string,
  enabled: boolean | null,
  tables: readonly string[],
): string {
  const onlyCopy = onlyCopyReason({ subscription, node, enabled: true, observedEnabled: enabled });
  return onlyCopy === null
    ? `repair: ${advise('reinitTables', { subscription, node, from, onlyCopy }, tables)}`
    : advise('reinitTables', { subscription, node, from, onlyCopy }, tables);
}

/** `diverged tables: a, b (repair: …)`: a subscription's diverged tables and their way out, in status and drift. */
export function divergedLine(
  s: Pick<SubscriptionStatus, 'name' | 'node' | 'from' | 'enabled' | 'divergedTables'>,
): string {
  const t = s.divergedTables;
  return `diverged tables: ${t.join(', ')} (${divergedAdvice(s.name, s.node, s.from, s.enabled, t)})`;
}
