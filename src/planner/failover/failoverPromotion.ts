/**
 * After a promotion of a publisher with standbys: did each subscription that streamed through it
 * skip nothing (`resumed`), skip or apply what the new primary never had (`diverged`), or can
 * steep not tell (`unknown`)? Judged from the promoted primary's timeline fork point and what
 * steep recorded of the subscriber while it streamed from the old primary, never from positions
 * the subscriber's reconnect has already moved. Pure.
 */

import {
  adviceText,
  afterRepoint,
  type FailoverSubject,
  fullCopyDoes,
  keepPhantomsFirst,
  keepPhantomsIfAny,
  noRepairWhileDisabled,
} from '../../model/advice.js';
import { formatBytes } from '../../model/bytes.js';
import {
  type ClusterState,
  type FailoverSlot,
  isUnknown,
  type ObservedNode,
  type ObservedSubscription,
  reachableNode,
  type StreamPosition,
  type TimelineHistory,
} from '../../model/cluster.js';
import { connectsElsewhere } from '../../model/conninfoTargets.js';
import { disabledOnError } from '../../model/disableOnError.js';
import { unrecordedState } from '../../model/initLifecycle.js';
import { compareLsn, lsnValue } from '../../model/lsn.js';
import type { FailoverVerdict } from '../../model/plan.js';
import type { SubscriptionSpec, Topology } from '../../model/topology.js';
import { majorVersion, SUBSCRIPTION_OPTION } from '../../model/versions.js';

/**
 * `wayOut`: where the subscriber may hold rows past the fork, the way out that keeps them first
 * (disabled with its tables coming back: that steep has none, and the copy by hand), for verify
 * and reinit refusing its slot (failover.ts `failoverWayOut`); never part of a plan.
 * `pastFork`: the subscriber may hold rows past the fork, the only copy of the old primary's
 * writes, which a reinit deletes only with --discard-past-fork (model/advice.ts).
 */
export type Verdict = Pick<FailoverVerdict, 'verdict' | 'reasons'> & { wayOut?: string; pastFork?: true };

export function judged(verdict: Verdict['verdict'], ...reasons: string[]): Verdict {
  return { verdict, reasons };
}

/** A diverged verdict whose way out (its first reason's end) keeps what the subscriber must keep first. */
function keeping(wayOut: string, ...reasons: string[]): Verdict {
  return { verdict: 'diverged', reasons, wayOut, pastFork: true };
}

/**
 * The subscription with its way back, where the file declares one from its subscriber to its
 * publisher (a link, a pair with origin = none): reinit reconciles those tables in place, and
 * only while this one streams (model/advice.ts). By subscription, not table: a pair publishing
 * other tables each way is taken for one that shares them. And the address its connection names
 * where that is not its publisher's (after a failover, until steep apply re-points it).
 */
export function withWayBack(desired: Topology, observed: ClusterState, d: SubscriptionSpec): FailoverSubject {
  const back = Object.values(desired.subscriptions).find((s) => s.node === d.from && s.from === d.node);
  const o = reachableNode(observed, d.node)?.subscriptions[d.name];
  const from = desired.nodes[d.from];
  // a connection read that still names another node (the old primary): its reinit follows the apply that re-points it
  const elsewhere =
    o && from && !isUnknown(o.conninfo)
      ? connectsElsewhere(o.conninfo, from, Object.values(desired.nodes))
      : undefined;
  return {
    ...d,
    ...(back ? { wayBack: { back: back.name, enabled: o?.enabled !== false } } : {}),
    ...(elsewhere ? { connectsTo: elsewhere.address } : {}),
  };
}

/**
 * After a failover: the subscription streamed, and its publisher (out of recovery) either lacks
 * its slot or holds it as a copy synced before the promotion. Undefined when neither (no failover seen).
 */
export function afterFailover(
  d: FailoverSubject,
  pub: ObservedNode,
  sub: ObservedNode,
  o: ObservedSubscription,
): Verdict | undefined {
  const state =
    sub.initState?.subscriptions[d.name]?.state ??
    unrecordedState({ enabled: o.enabled || disabledOnError(o), tables: o.tables.map((t) => t.state) });
  if (state !== 'synchronized' && state !== 'diverged') return undefined;
  const slot = pub.slots[o.slot];
  if (!slot) {
    const why =
      pub.serverVersion < SUBSCRIPTION_OPTION.failover.since
        ? `PostgreSQL ${majorVersion(pub.serverVersion)} keeps a logical slot only on the primary, so a failover of ${d.from} loses it`
        : `a failover to a standby that held no synced copy of it loses it (or it was dropped)`;
    // its origin past the fork is no proof of the old primary's writes: a slot dropped since may
    // have streamed it from this node (a promotion long before the subscription was made)
    return fullCopy(
      d,
      sub,
      o,
      { history: pub.failover?.self.history, elsewhere: null },
      `slot ${o.slot} is missing on ${d.from}: ${why}; a new slot would start after the changes made in between, so steep does not resume ${d.name}:`,
    );
  }
  const self = pub.failover?.self;
  const copy = self?.slots[o.slot];
  if (!self || self.inRecovery || !copy?.synced) return undefined;
  const history = self.history;
  const settled =
    history?.read === true
      ? (sub.streamPositions ?? []).find(
          (p) =>
            p.subscription === d.name &&
            p.systemIdentifier === history.systemIdentifier &&
            p.timeline === history.timeline &&
            p.settledAt !== null,
        )
      : undefined;
  // steep reinit --full copied its tables from this primary since, or a verify there found them
  // all equal: the failover is behind them
  if (settled && settled.settledBy !== 'failover') return undefined;
  const confirmed = copy.confirmedFlushLsn;
  const applied = o.originLsn;
  if (copy.invalidated !== null) {
    // what the idle copy never confirmed, the subscriber applied from the old primary
    const never =
      !copy.active && applied !== null && (confirmed === null || compareLsn(confirmed, applied) < 0);
    return fullCopy(
      d,
      sub,
      o,
      { history, elsewhere: never ? applied : null, settled },
      `slot ${o.slot} on ${d.from} was synced before the promotion but is invalidated (${copy.invalidated}): it cannot stream what ${d.name} missed;`,
    );
  }
  // facts read now first: a position beyond the promoted node's own WAL was applied elsewhere
  const beyond = beyondWal(d, o, self.walLsn, confirmed, applied);
  if (beyond)
    return keeping(
      keepPhantomsFirst(d),
      `${beyond}; ${keepPhantomsFirst(d)}`,
      ...writesLost(d, sub, history, applied),
    );
  // the slot confirms what the subscriber acknowledged, which may pass its last applied commit
  // (WAL with nothing for it): up to the fork that WAL is the new primary's too, and the
  // subscriber acknowledged it. An idle slot confirming past the fork and past what the
  // subscriber applied would skip the new primary's changes in between (or, the fork unread, may)
  const fork = history?.read ? history.forks[history.forks.length - 1] : undefined;
  if (
    !copy.active &&
    confirmed !== null &&
    applied !== null &&
    compareLsn(confirmed, applied) > 0 &&
    (!fork || compareLsn(confirmed, fork.switchLsn) > 0)
  )
    return fullCopy(
      d,
      sub,
      o,
      { history, elsewhere: null, settled },
      `slot ${o.slot} on ${d.from} (synced before the promotion) confirms ${confirmed}, past what ${d.node} applied (${applied}): resuming would skip the changes in between;`,
    );
  if (settled)
    return judged(
      'resumed',
      `on ${d.from} (promoted) from slot ${o.slot}, synced before the promotion: steep read at ${settled.settledAt} that ${d.node} had applied nothing past the fork of ${d.from}'s timeline ${settled.timeline}, before it streamed from ${d.from}`,
    );
  return sincePromotion(d, sub, o, copy, history);
}

/**
 * A diverged failover that only a full copy repairs (`what`: why, ending where the way out
 * follows), which replaces the subscriber's rows. The bare full copy only where steep shows the
 * subscriber applied nothing past the fork: a failover it read settled so, a promoted node whose
 * timeline never forked, or its origin (read now) at or before the fork, so every row it holds
 * is on the promoted node too and none is the only copy. Where steep shows it did (the writes
 * lost said), or cannot tell, what it must keep goes first (model/advice.ts): `steep verify`
 * cannot compare on a slot that streams nothing. `elsewhere`: a position the subscriber applied
 * that it cannot have received from the promoted node.
 */
function fullCopy(
  d: FailoverSubject,
  sub: ObservedNode,
  o: ObservedSubscription,
  f: { history: TimelineHistory | undefined; elsewhere: string | null; settled?: StreamPosition },
  what: string,
): Verdict {
  // disabled with its tables coming back: no steep repair, which verify and reinit refusing its slot say too
  const byHand = d.wayBack && !d.wayBack.enabled ? noRepairWhileDisabled(d, d.wayBack.back, false) : null;
  const bare: Verdict = byHand
    ? { ...judged('diverged', `${what} ${byHand}`), wayOut: byHand }
    : judged(
        'diverged',
        `${what} ${adviceText('reinitFull', d.name)} ${fullCopyDoes(d, 'copies its tables again')}${afterRepoint(d)}`,
      );
  const unsure = (why: string) => keeping(keepPhantomsIfAny(d, why), `${what} ${keepPhantomsIfAny(d, why)}`);
  if (f.settled) return bare;
  const history = f.history;
  if (!history?.read)
    return unsure(`it cannot read where ${d.from}'s timeline began: ${history ? history.error : 'not read'}`);
  const fork = history.forks[history.forks.length - 1];
  if (!fork) return bare;
  const lost = writesLost(d, sub, history, f.elsewhere);
  if (lost.length > 0) return keeping(keepPhantomsFirst(d), `${what} ${keepPhantomsFirst(d)}`, ...lost);
  const applied = o.originLsn;
  if (applied === null) return unsure(`it cannot read what ${d.node} has applied of ${d.name}`);
  if (compareLsn(applied, fork.switchLsn) <= 0) return bare;
  return unsure(
    `${d.node} has applied ${applied}, past the fork at ${fork.switchLsn}, which it may have received from ${d.from} before its slot stopped streaming`,
  );
}

/**
 * The promoted node's copy of the slot, or the subscriber's origin, at a position beyond the
 * node's own WAL: the subscriber applied changes there that the node never wrote (from the old
 * primary, past the fork) and confirmed them here when it reconnected; the node's own changes up
 * to that position are skipped. Named for what it is, never a (negative) lag.
 */
function beyondWal(
  d: FailoverSubject,
  o: ObservedSubscription,
  wal: string | null,
  confirmed: string | null,
  applied: string | null,
): string | undefined {
  if (wal === null) return undefined;
  const past = (lsn: string | null) => lsn !== null && compareLsn(lsn, wal) > 0;
  const what = past(confirmed)
    ? `slot ${o.slot} on ${d.from} confirms ${confirmed}`
    : past(applied)
      ? `${d.node} has applied ${applied} of ${d.name}`
      : undefined;
  if (!what) return undefined;
  const by = formatBytes(Number(lsnValue(past(confirmed) ? confirmed! : applied!) - lsnValue(wal)));
  return (
    `${what}, beyond ${d.from}'s own WAL (${wal}) by ${by}: ${d.node} applied changes ${d.from} never had (phantom rows, from the old primary past the fork) ` +
    `and confirmed them when it reconnected, so ${d.from}'s own changes up to there are skipped (a gap)`
  );
}

/**
 * Did the subscriber apply anything past the fork point of the promoted standby's timeline, as
 * the facts read now show? Its origin at or before the fork: every change it applied is on the
 * new primary (resumed). Past it: diverged when steep recorded it past the fork on the old
 * timeline, or when the promoted node's idle slot never confirmed that far (the subscriber got
 * it elsewhere); otherwise it already streamed from the new primary, which moved its origin, and
 * what it applied before cannot be read now: unknown. A readiness steep recorded before the
 * promotion is history, not proof (it can be lost with no steep run in between).
 */
function sincePromotion(
  d: FailoverSubject,
  sub: ObservedNode,
  o: ObservedSubscription,
  copy: FailoverSlot,
  history: TimelineHistory | undefined,
): Verdict {
  // verify reads only; a full copy after it would empty rows that may be the only copy
  const check = `${adviceText('verify', d.name)} compares its rows first (read-only; every table equal puts this failover behind it); if they differ, ${keepPhantomsFirst(d)}`;
  const unknown = (why: string): Verdict => ({ ...judged('unknown', `${why}: ${check}`), pastFork: true });
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
  if (seen && compareLsn(seen.originLsn, fork.switchLsn) > 0)
    return keeping(
      keepPhantomsFirst(d),
      `${at}; ${d.node} had applied ${seen.originLsn} when steep last saw it stream from timeline ${fork.timeline} (${seen.recordedAt}), past the fork: ` +
        `the changes it applied past ${fork.switchLsn} never reached ${d.from} (phantom rows on ${d.node}), ` +
        `and resuming from where ${d.node} stood skips what ${d.from} wrote on timeline ${history.timeline} up to there (a gap); ${keepPhantomsFirst(d)}`,
      ...writesLost(d, sub, history, seen.originLsn),
    );
  const applied = o.originLsn;
  if (applied === null)
    return unknown(
      `${at}, and steep cannot read what ${d.node} has applied of ${d.name} (its replication origin)`,
    );
  if (compareLsn(applied, fork.switchLsn) <= 0)
    return judged(
      'resumed',
      `on ${d.from} (promoted) from slot ${o.slot}, synced before the promotion: ${at}; ${d.node} has applied ${applied} (read now), at or before the fork, ` +
        `so every change it applied is on ${d.from}, and the synced slot streams what followed`,
      `what the old primary committed after ${fork.switchLsn}, if anything, never reached ${d.from} (asynchronous physical replication at a crash): ` +
        `steep cannot count it from here; the old primary's data directory still holds it`,
    );
  const confirmed = copy.confirmedFlushLsn;
  if (!copy.active && (confirmed === null || compareLsn(confirmed, applied) < 0))
    return keeping(
      keepPhantomsFirst(d),
      `${at}; ${d.node} has applied ${applied}, past the fork, and slot ${o.slot} on ${d.from} confirms only ${confirmed ?? 'nothing'}: ` +
        `it never received that from ${d.from}, so it applied changes past ${fork.switchLsn} from the old primary (phantom rows), ` +
        `and resuming there skips what ${d.from} wrote up to it (a gap); ${keepPhantomsFirst(d)}`,
      ...writesLost(d, sub, history, applied),
    );
  const ready = seen?.ready
    ? ` (steep found it ready for a failover at ${seen.recordedAt}: that is history, not proof, as readiness can be lost before a promotion with no steep run in between)`
    : '';
  return unknown(
    `${at}; ${d.node} has applied ${applied}, past the fork, and already streamed from ${d.from} (slot ${o.slot} confirms ${confirmed ?? 'nothing'}), ` +
      `which moved its origin: whether it applied changes past the fork from the old primary before cannot be read now${ready}`,
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
 * The application's writes a failover lost, where steep can show it: the subscriber applied past
 * the fork from the old timeline (`applied`), so the old primary had committed that far, and what
 * it committed past the fork never reached the promoted standby (asynchronous physical
 * replication loses it at a crash). Empty when steep cannot show it.
 */
function writesLost(
  d: FailoverSubject,
  sub: ObservedNode,
  history: TimelineHistory | undefined,
  applied: string | null = null,
): string[] {
  const fork = history?.read ? history.forks[history.forks.length - 1] : undefined;
  const seen = history?.read ? seenBefore(d, sub, history) : undefined;
  const past = [applied, seen?.originLsn ?? null]
    .filter((l): l is string => l !== null && fork !== undefined && compareLsn(l, fork.switchLsn) > 0)
    .sort(compareLsn)
    .pop();
  if (!fork || !past) return [];
  return [
    `writes lost with the old primary: it had committed at least up to ${past} on timeline ${fork.timeline} (${d.node} applied that far from it), ` +
      `past the fork at ${fork.switchLsn}; what it committed after ${fork.switchLsn} is not on ${d.from}, so writes the application saw acknowledged then are lost ` +
      `(asynchronous physical replication; the old primary's data directory still holds them)`,
  ];
}
