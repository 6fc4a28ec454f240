/**
 * After a promotion of a publisher with standbys: did each subscription that streamed through it
 * skip nothing (`resumed`), skip or apply what the new primary never had (`diverged`), or can
 * steep not tell (`unknown`)? Judged from the promoted primary's timeline fork point and what
 * steep recorded of the subscriber while it streamed from the old primary, never from positions
 * the subscriber's reconnect has already moved. Pure.
 */
import { adviceText } from '../../model/advice.js';
import type { ObservedNode, ObservedSubscription, TimelineHistory } from '../../model/cluster.js';
import { unrecordedState } from '../../model/initLifecycle.js';
import { compareLsn } from '../../model/lsn.js';
import type { FailoverVerdict } from '../../model/plan.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { majorVersion, SUBSCRIPTION_OPTION } from '../../model/versions.js';

export type Verdict = Pick<FailoverVerdict, 'verdict' | 'reasons'>;

export function judged(verdict: Verdict['verdict'], ...reasons: string[]): Verdict {
  return { verdict, reasons };
}

/**
 * After a failover: the subscription streamed, and its publisher (out of recovery) either lacks
 * its slot or holds it as a copy synced before the promotion. Undefined when neither (no failover seen).
 */
export function afterFailover(
  d: SubscriptionSpec,
  pub: ObservedNode,
  sub: ObservedNode,
  o: ObservedSubscription,
): Verdict | undefined {
  const state =
    sub.initState?.subscriptions[d.name]?.state ??
    unrecordedState({ enabled: o.enabled, tables: o.tables.map((t) => t.state) });
  if (state !== 'synchronized' && state !== 'diverged') return undefined;
  const repair = `${adviceText('reinitFull', d.name)} copies its tables again`;
  const slot = pub.slots[o.slot];
  if (!slot) {
    const why =
      pub.serverVersion < SUBSCRIPTION_OPTION.failover.since
        ? `PostgreSQL ${majorVersion(pub.serverVersion)} keeps a logical slot only on the primary, so a failover of ${d.from} loses it`
        : `a failover to a standby that held no synced copy of it loses it (or it was dropped)`;
    const lost = lostWrites(d, sub, pub.failover?.self.history);
    return judged(
      'diverged',
      `slot ${o.slot} is missing on ${d.from}: ${why}; a new slot would start after the changes made in between, so steep does not resume ${d.name}: ${repair}`,
      ...(lost ? [lost] : []),
    );
  }
  const self = pub.failover?.self;
  const copy = self?.slots[o.slot];
  if (!self || self.inRecovery || !copy?.synced) return undefined;
  const history = self.history;
  // steep reinit --full copied its tables from this primary since, or a verify there found them
  // all equal: the failover is behind them
  const settled =
    history?.read === true &&
    (sub.streamPositions ?? []).some(
      (p) =>
        p.subscription === d.name &&
        p.systemIdentifier === history.systemIdentifier &&
        p.timeline === history.timeline &&
        p.settledAt !== null,
    );
  if (settled) return undefined;
  if (copy.invalidated !== null)
    return judged(
      'diverged',
      `slot ${o.slot} on ${d.from} was synced before the promotion but is invalidated (${copy.invalidated}): it cannot stream what ${d.name} missed; ${repair}`,
    );
  const confirmed = copy.confirmedFlushLsn;
  const applied = o.originLsn;
  // while it streams, the slot confirms what the subscriber acknowledged, which may pass its
  // last applied commit (WAL with nothing for it): only an idle slot's position is compared
  if (!copy.active && confirmed !== null && applied !== null && compareLsn(confirmed, applied) > 0)
    return judged(
      'diverged',
      `slot ${o.slot} on ${d.from} (synced before the promotion) confirms ${confirmed}, past what ${d.node} applied (${applied}): resuming would skip the changes in between; ${repair}`,
    );
  return sincePromotion(d, sub, o, self.history);
}

/**
 * Did the subscriber apply anything past the fork point of the promoted standby's timeline? Its
 * origin's position now cannot say (the reconnect to the new primary moves it, and the synced
 * slot with it): what steep recorded while it streamed from the old primary can. Past the fork
 * point: diverged. At or before it, with synchronized_standby_slots holding every change back
 * until the standbys had it (steep found it ready then): resumed. Otherwise unknown.
 */
function sincePromotion(
  d: SubscriptionSpec,
  sub: ObservedNode,
  o: ObservedSubscription,
  history: TimelineHistory | undefined,
): Verdict {
  const check = `${adviceText('verify', d.name)} compares its rows (every table equal puts this failover behind it), and ${adviceText('reinitFull', d.name)} copies its tables again`;
  const unknown = (why: string) => judged('unknown', `${why}: ${check}`);
  if (!history?.read)
    return unknown(
      `${d.from} holds slot ${o.slot} synced before a promotion, but steep cannot read where its timeline began ` +
        `(${history ? history.error : 'not read'}; IDENTIFY_SYSTEM and TIMELINE_HISTORY need a role with REPLICATION), ` +
        `so it cannot show that ${d.node} applied nothing past it`,
    );
  const fork = history.forks[history.forks.length - 1];
  if (!fork)
    return unknown(
      `${d.from} holds slot ${o.slot} as a synced copy, yet its timeline ${history.timeline} has no fork to compare with`,
    );
  const at = `timeline ${history.timeline} of ${d.from} forked from timeline ${fork.timeline} at ${fork.switchLsn}`;
  const seen = seenBefore(d, sub, history);
  if (!seen)
    return unknown(
      `${at}, and steep has no record of what ${d.node} applied while it streamed from timeline ${fork.timeline} ` +
        `(steep records it at each run of plan, apply, status or drift): it cannot show that no change was skipped or applied twice`,
    );
  const applied = `${d.node} had applied ${seen.originLsn} when steep last saw it stream from timeline ${fork.timeline} (${seen.recordedAt})`;
  if (compareLsn(seen.originLsn, fork.switchLsn) > 0)
    return judged(
      'diverged',
      `${at}; ${applied}, past the fork: the changes it applied past ${fork.switchLsn} never reached ${d.from} (phantom rows on ${d.node}), ` +
        `and resuming from where ${d.node} stood skips what ${d.from} wrote on timeline ${history.timeline} up to there (a gap); ${adviceText('reinitFull', d.name)} copies its tables again`,
      lostWrites(d, sub, history)!,
    );
  if (!seen.ready)
    return unknown(
      `${at}; ${applied}, at or before the fork, but it was not ready for a failover then (synchronized_standby_slots did not hold its changes back until the standbys had them), ` +
        `so it may have applied more before the promotion`,
    );
  return judged(
    'resumed',
    `on ${d.from} (promoted) from slot ${o.slot}, synced before the promotion: ${at}; ${applied} and was ready for a failover, ` +
      `so synchronized_standby_slots sent it nothing the standby did not have: it applied nothing past the fork, and the synced slot streams what followed`,
    `what the old primary committed after ${fork.switchLsn}, if anything, never reached ${d.from} (asynchronous physical replication at a crash): ` +
      `steep cannot count it from here; the old primary's data directory still holds it`,
  );
}

/** What steep recorded of the subscriber streaming from the timeline the promoted one forked from. */
function seenBefore(d: SubscriptionSpec, sub: ObservedNode, history: TimelineHistory & { read: true }) {
  const fork = history.forks[history.forks.length - 1];
  return (sub.streamPositions ?? []).find(
    (p) =>
      p.subscription === d.name &&
      p.systemIdentifier === history.systemIdentifier &&
      p.timeline === fork?.timeline,
  );
}

/**
 * The application's writes a failover lost, where steep can show it: the subscriber had applied
 * past the fork from the old timeline, so the old primary had committed that far, and what it
 * committed past the fork never reached the promoted standby (asynchronous physical replication
 * loses it at a crash). Undefined when steep cannot show it (no record, or none past the fork).
 */
function lostWrites(d: SubscriptionSpec, sub: ObservedNode, history: TimelineHistory | undefined) {
  const fork = history?.read ? history.forks[history.forks.length - 1] : undefined;
  const seen = history?.read ? seenBefore(d, sub, history) : undefined;
  if (!fork || !seen || compareLsn(seen.originLsn, fork.switchLsn) <= 0) return undefined;
  return (
    `writes lost with the old primary: it had committed at least up to ${seen.originLsn} on timeline ${fork.timeline} (${d.node} applied that far from it), ` +
    `past the fork at ${fork.switchLsn}; what it committed after ${fork.switchLsn} is not on ${d.from}, so writes the application saw acknowledged then are lost ` +
    `(asynchronous physical replication; the old primary's data directory still holds them)`
  );
}
