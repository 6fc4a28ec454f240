/**
 * A worker that failed and then went on (docs/status.md, "After errors"). PostgreSQL 15+ counts a
 * subscription's apply and table-sync errors, and steep records the last reading that saw them
 * rise (status_readings: model/syncVerdict.ts `nextReading`; a rise the publisher's restart
 * explains does not move it). How such an episode ended no catalog says: the cause fixed and the
 * same transaction applied, or the transaction skipped by hand (`ALTER SUBSCRIPTION … SKIP`, the
 * subscriber's origin advanced), whose changes never arrive. So no comparison before that
 * reading proves a table equal: a subscription otherwise `synchronized` is `unverified` until
 * each table is compared again, as after a promotion of its subscriber. Pure.
 */
import type { SyncVerdict } from './syncVerdict.js';
import { type TableEvidence, unverifiedSince, type WindowStatus } from './verifyWindow.js';

/**
 * The verdict after an error episode: `synchronized` is `unverified` while a table was not
 * compared since the errors last rose, naming them and one verify of every table they or the
 * window name. Any other verdict says more and stands: failing while they still rise, unverified
 * after a promotion of the subscriber (model/subscriberPromotion.ts, whose verify is the same).
 */
export function withErrorEpisode(
  v: SyncVerdict,
  errors: { roseAt: string | null; applyErrors: number; syncErrors: number } | null,
  f: {
    subscription: string;
    node: string;
    tables: readonly string[];
    evidence: ReadonlyMap<string, TableEvidence>;
    window?: WindowStatus | undefined;
  },
): SyncVerdict {
  if (!errors?.roseAt || v.verdict !== 'synchronized') return v;
  const cause =
    `the errors of ${f.subscription} on ${f.node} (apply ${errors.applyErrors}, sync ${errors.syncErrors}) last rose at ${errors.roseAt}, ` +
    'and how its workers went on past them no catalog shows: the same transaction applied once the cause was fixed, ' +
    'or skipped by hand (ALTER SUBSCRIPTION … SKIP, its origin advanced), whose changes never arrive; ' +
    `so no comparison before ${errors.roseAt} counts`;
  return unverifiedSince(errors.roseAt, cause, f) ?? v;
}
