/**
 * A publisher's failover to one of its declared standbys, as the planner reads it: which
 * subscription's slot is a failover slot, the verdicts about its last failover and its
 * readiness for the next (with the way out verify, reinit and the switchover name where it left
 * one diverged), the connection that follows promotions, and the stream positions steep records
 * to judge the next one.
 */
import { adviceText } from '../../model/advice.js';
import {
  type ClusterState,
  type ObservedNode,
  type ObservedSubscription,
  reachableNode,
  type UnreachableNode,
} from '../../model/cluster.js';
import { disabledOnError } from '../../model/disableOnError.js';
import { compareText } from '../../model/order.js';
import type { FailoverVerdict } from '../../model/plan.js';
import type { SubscriptionSpec, Topology } from '../../model/topology.js';
import { majorVersion, SUBSCRIPTION_OPTION } from '../../model/versions.js';
import { afterFailover, judged, type Verdict, withWayBack } from './failoverPromotion.js';
import {
  type StaleServer,
  staleAt,
  staleServers,
  staleStandbyText,
  staleUrl,
  staleUrlText,
} from './staleNode.js';

/**
 * A publisher's failover, per subscription from a node that declares `standbys:`. Before the next
 * one, every time: is every piece of PostgreSQL 17's slot synchronisation in place (each missing
 * piece named with the setting that fixes it; steep changes no server setting), or, on 14–16,
 * that a failover loses the slot; and may the subscription name the standbys in its connection
 * (only while it is ready). After the last one: the verdict of `failoverPromotion.ts`. And what
 * to record of each subscription that streams, for that verdict after the next one. Pure.
 */

/**
 * Is the subscription's slot a failover slot: declared so, or (undeclared) its publisher declares
 * standbys and both ends run 17+. steep's own copy and a two-phase generate make the slot
 * themselves (CREATE_REPLICATION_SLOT … FAILOVER): CREATE SUBSCRIPTION on an existing slot does
 * not change it.
 */
export function failoverSlot(
  t: Topology,
  d: SubscriptionSpec,
  pubVersion: number,
  subVersion: number,
): boolean {
  if (d.options.failover !== undefined)
    return d.options.failover && pubVersion >= SUBSCRIPTION_OPTION.failover.since;
  return (
    (t.nodes[d.from]?.standbys?.length ?? 0) > 0 &&
    pubVersion >= SUBSCRIPTION_OPTION.failover.since &&
    subVersion >= SUBSCRIPTION_OPTION.failover.since
  );
}

/** The file with `failover = true` on each subscription whose publisher declares standbys, where both ends run 17+ and the file does not say. */
export function withFailoverSlots(desired: Topology, observed: ClusterState): Topology {
  let changed = false;
  const subscriptions: Record<string, SubscriptionSpec> = {};
  for (const [name, d] of Object.entries(desired.subscriptions)) {
    const pub = observed.nodes[d.from];
    const sub = observed.nodes[d.node];
    const o = sub?.reachable ? sub.subscriptions[d.name] : undefined;
    // the subscription keeps the failover it has (no change is proposed that would fail) while
    // the publisher cannot be read, or while its slot is gone from it (after a failover without
    // the slot): ALTER … SET (failover) alters that slot; the reinit that makes it again comes first
    const slotGone = pub?.reachable === true && o !== undefined && !o.slotNone && !pub.slots[o.slot];
    const kept =
      d.options.failover === undefined &&
      (slotGone || ((desired.nodes[d.from]?.standbys?.length ?? 0) > 0 && !pub?.reachable))
        ? o?.options.failover
        : undefined;
    const wants =
      d.options.failover === undefined &&
      pub?.reachable === true &&
      sub?.reachable === true &&
      failoverSlot(desired, d, pub.serverVersion, sub.serverVersion);
    const failover = kept ?? (wants || undefined);
    if (failover !== undefined) changed = true;
    subscriptions[name] = failover === undefined ? d : { ...d, options: { ...d.options, failover } };
  }
  return changed ? { ...desired, subscriptions } : desired;
}

/**
 * The verdicts of every subscription whose publisher declares standbys, by name: about the last
 * failover when there was one (`resumed`, `diverged`, `unknown`), and about the next one
 * (`ready`, `not-ready`, `no-failover-slots`) unless the last one left it diverged. Without
 * standbys: `diverged` when an enabled subscription's slot is gone from its publisher.
 */
export function failoverVerdicts(desired: Topology, observed: ClusterState): FailoverVerdict[] {
  const names = Object.keys(desired.subscriptions).sort(compareText);
  return names.flatMap((name) => verdictsOf(desired, observed, desired.subscriptions[name]!));
}

/** One subscription's verdicts: about the last failover, if any, then about the next one. */
function verdictsOf(desired: Topology, observed: ClusterState, d: SubscriptionSpec): FailoverVerdict[] {
  const pub = observed.nodes[d.from];
  const sub = observed.nodes[d.node];
  const verdicts = (...vs: Array<Verdict | undefined>): FailoverVerdict[] =>
    vs
      .filter((v) => v !== undefined)
      .map((v) => ({
        subscription: d.name,
        node: d.node,
        from: d.from,
        verdict: v.verdict,
        reasons: v.reasons,
      }));
  const stale = staleServers(desired, observed);
  const after = lastFailover(desired, observed, d, stale);
  if (
    (desired.nodes[d.from]?.standbys?.length ?? 0) === 0 ||
    !pub?.reachable ||
    !sub?.reachable ||
    staleUrl(stale, d.from)
  )
    return verdicts(after);
  const o = sub.subscriptions[d.name];
  return verdicts(after, after?.verdict === 'diverged' ? undefined : readiness(d, pub, sub, o, stale));
}

/** The verdict about the last failover of the subscription's publisher, if steep sees one. */
function lastFailover(
  desired: Topology,
  observed: ClusterState,
  spec: SubscriptionSpec,
  stale = staleServers(desired, observed),
): Verdict | undefined {
  // its url an older branch than one steep read or recorded (the old primary started again):
  // nothing is judged against it, and nothing points at it
  const url = staleUrl(stale, spec.from);
  if (url) return judged('unknown', staleUrlText(url));
  const d = withWayBack(desired, observed, spec);
  const pub = observed.nodes[d.from];
  const sub = observed.nodes[d.node];
  if ((desired.nodes[d.from]?.standbys?.length ?? 0) === 0) {
    const o = mayBePromoted(desired, observed, d);
    return o && pub?.reachable && sub?.reachable ? afterFailover(d, pub, sub, o) : undefined;
  }
  if (pub && !pub.reachable && sub?.reachable) return publisherDown(d, pub, stale);
  if (!pub?.reachable || !sub?.reachable) return undefined;
  const o = sub.subscriptions[d.name];
  if (!o || o.slotNone) return undefined;
  return streamsElsewhere(d, pub, o, stale) ?? afterFailover(d, pub, sub, o);
}

/**
 * The way out the verdict about the last failover names where the subscriber may hold rows past
 * the fork (what it must keep goes first): what `verify` and `reinit` name when they refuse its
 * slot, gone or invalidated, instead of a bare `reinit --full`. Undefined where steep sees no
 * failover, or shows the subscriber applied nothing past the fork.
 */
export function failoverWayOut(
  desired: Topology,
  observed: ClusterState,
  d: SubscriptionSpec,
): string | undefined {
  return lastFailover(desired, observed, d)?.wayOut;
}

/**
 * The reasons of the verdict about the last failover where it left the subscription diverged
 * (its way out among them): what comes before any ENABLE of one PostgreSQL disabled at an error
 * (the switchover's preflight, reinit: model/disableOnError.ts). Undefined where it did not.
 */
export function failoverDivergedReasons(
  desired: Topology,
  observed: ClusterState,
  d: SubscriptionSpec,
): string[] | undefined {
  const v = lastFailover(desired, observed, d);
  return v?.verdict === 'diverged' ? v.reasons : undefined;
}

/**
 * The reasons of the verdict about the last failover where the subscriber may hold rows past the
 * fork (diverged keeping them first, or unknown): a reinit deletes them only with
 * --discard-past-fork, given once what it must keep is on the publisher (model/advice.ts).
 * Undefined where it holds none, as far as steep can show.
 */
export function failoverPastFork(
  desired: Topology,
  observed: ClusterState,
  d: SubscriptionSpec,
): string[] | undefined {
  const v = lastFailover(desired, observed, d);
  return v?.pastFork ? v.reasons : undefined;
}

/** The subscriptions failoverPastFork holds, by name: their reinit --full names --discard-past-fork. */
export function pastForkSubscriptions(desired: Topology, observed: ClusterState): Set<string> {
  return new Set(
    Object.values(desired.subscriptions)
      .filter((d) => lastFailover(desired, observed, d)?.pastFork)
      .map((d) => d.name),
  );
}

/**
 * A publisher that declares no standbys may still be a promoted one (the old primary not listed
 * until it follows): the slot of a subscription enabled (or disabled by PostgreSQL at an error)
 * is gone from it, is a failover slot, or the subscription is recorded diverged; one recorded
 * diverged keeps that verdict disabled however (by hand, or at an error whose counters a crash
 * restart of its node reset). Its failover verdict is judged then (its place in its WAL history
 * read): a gap is one all the same. Returns the subscription then, else undefined.
 */
export function mayBePromoted(
  desired: Topology,
  observed: ClusterState,
  d: SubscriptionSpec,
): ObservedSubscription | undefined {
  if ((desired.nodes[d.from]?.standbys?.length ?? 0) > 0) return undefined;
  const pub = reachableNode(observed, d.from);
  const sub = reachableNode(observed, d.node);
  const o = sub?.subscriptions[d.name];
  // recorded diverged: apply may have turned the slot's failover off since (the file lists no
  // standbys), and a subscription disabled then stays judged: its verdict forgotten, apply would
  // enable it past the fork, and verify would name a full reinit where none repairs it
  const diverged = sub?.initState?.subscriptions[d.name]?.state === 'diverged';
  // enabled, or disabled by PostgreSQL at an error (a conflict with the old primary's rows, say):
  // one disabled by hand with nothing recorded may be a slot dropped by hand, no failover
  if (!pub || !o || !(o.enabled || disabledOnError(o) || diverged) || o.slotNone) return undefined;
  const slot = pub.slots[o.slot];
  return !slot || slot.failover === true || diverged ? o : undefined;
}

/**
 * May the subscription name its publisher's standbys in its connection (libpq multi-host,
 * read-write only), so it follows a promotion by itself? Never: readiness for a failover
 * (synchronized_standby_slots, the standbys' synced slots) can be lost between two readings of
 * steep with nothing to stop a subscriber that follows by itself, and once it has streamed from
 * the new primary, what it applied before the promotion cannot be read any more. Naming the
 * publisher alone, a promotion stops it until steep, told of the new primary in steep.yaml, has
 * judged the failover from the subscriber's position then (docs/failover.md); `apply` removes
 * the standbys from a connection that names them. Undefined while a node cannot be read: the
 * subscription keeps the form it has.
 */
export function followsPromotions(
  desired: Topology,
  observed: ClusterState,
  d: SubscriptionSpec,
): false | undefined {
  // while a node cannot be read, the subscription keeps the form it has (nothing is proposed)
  if ((desired.nodes[d.from]?.standbys?.length ?? 0) === 0) return false;
  if (!observed.nodes[d.from]?.reachable || !observed.nodes[d.node]?.reachable) return undefined;
  return false;
}

/**
 * The subscriber streams from a declared standby of its publisher that is out of recovery (a
 * second primary: the old one restarted after a failover, its connection still naming it): the
 * slot is active there. Its changes are not the publisher's.
 */
function streamsElsewhere(
  d: SubscriptionSpec,
  pub: ObservedNode,
  o: ObservedSubscription,
  stale: readonly StaleServer[],
): Verdict | undefined {
  const there = (pub.failover?.standbys ?? []).find(
    (sb) => sb.reachable && !sb.inRecovery && sb.slots[o.slot]?.active === true,
  );
  if (!there) return undefined;
  const own = pub.slots[o.slot];
  // the phantom rows are the second primary's commits, which its data directory keeps: not the only copy
  const wayOut =
    `shut ${there.address} down or make it follow ${d.from} as a standby, run steep apply (its connection then names ${d.from} alone), ` +
    `then ${adviceText('reinitFull', d.name)} copies its tables again from ${d.from}; ${there.address}'s data directory keeps what it committed`;
  const older = staleAt(stale, d.from, there.address);
  return {
    ...judged(
      'diverged',
      `${d.node} streams from ${there.address} (slot ${o.slot} active there), not from ${d.from}` +
        `${own ? ` (its slot there is ${own.active ? 'active too' : 'inactive'})` : ''}: ${there.address}, declared a standby of ${d.from}, is out of recovery (a second primary, e.g. the old one restarted after a failover), ` +
        `so ${d.name} applies changes ${d.from} never had (phantom rows) and misses ${d.from}'s`,
      wayOut,
      ...(older ? [staleStandbyText(older)] : []),
    ),
    wayOut,
  };
}

/** The publisher cannot be read: what its declared standbys say (one out of recovery was promoted), and what to do. */
function publisherDown(d: SubscriptionSpec, pub: UnreachableNode, stale: readonly StaleServer[]): Verdict {
  const standbys = (pub.standbys ?? []).map((sb) => {
    const at = `its standby ${sb.address}`;
    if (!sb.reachable) return `${at} cannot be read either: ${sb.error}`;
    if (sb.inRecovery) return `${at} is still in recovery (not promoted)`;
    const older = staleAt(stale, d.from, sb.address);
    if (older) return staleStandbyText(older);
    return (
      `${at} is out of recovery: if it was promoted, make it ${d.from}'s connection in steep.yaml (and list the old primary as a standby once it follows it); ` +
      `steep status then says whether ${d.name} resumed without a gap`
    );
  });
  return judged(
    'unknown',
    `${d.from} cannot be read, so steep cannot judge a failover of it: ${pub.error}`,
    ...(standbys.length > 0 ? standbys : [`its standbys could not be read`]),
  );
}

/** Before the next failover: what a promotion of one of its standbys now would do to the subscription. */
function readiness(
  d: SubscriptionSpec,
  pub: ObservedNode,
  sub: ObservedNode,
  o: ObservedSubscription | undefined,
  stale: readonly StaleServer[],
): Verdict {
  const slotName = o && !o.slotNone ? o.slot : d.slot;
  const old = [pub, sub].find((n) => n.serverVersion < SUBSCRIPTION_OPTION.failover.since);
  if (old)
    return judged(
      'no-failover-slots',
      `PostgreSQL ${majorVersion(old.serverVersion)} on ${old.name} has no failover slots: a failover of ${d.from} loses slot ${slotName}, ` +
        `and resuming on a new slot would skip the changes in between; steep then marks ${d.name} diverged and names the way out: ` +
        `where ${d.node} applied writes of the old primary past the fork (which ${d.from} lacks), what it must keep goes to ${d.from} first, then ${adviceText('reinitFullPastFork', d.name)} deletes them and copies its tables again`,
      // a stale standby is named whatever the version: it is no promoted standby
      ...stale.filter((s) => s.node === d.from && s.role === 'standby').map(staleStandbyText),
    );
  const missing = readinessGaps(d, pub, o, slotName, stale);
  if (missing.length === 0) return judged('ready');
  const alone = `its connection names ${d.from} alone, so after a promotion it waits until steep has judged the failover`;
  return judged('not-ready', ...missing, alone);
}

/** 17+: every piece of slot synchronisation that is missing, with the setting that fixes it. */
function readinessGaps(
  d: SubscriptionSpec,
  pub: ObservedNode,
  o: ObservedSubscription | undefined,
  slotName: string,
  stale: readonly StaleServer[],
): string[] {
  const missing: string[] = [];
  // PostgreSQL's failover steps check the table-sync slots too: one not synced is lost by a promotion
  const copying = (o?.tables ?? []).filter((t) => t.state !== 'r').length;
  if (copying > 0)
    missing.push(
      `${copying} table(s) of ${d.name} are not ready yet: a failover needs their table-sync slots synced to each standby too, which steep does not check; it is ready once every table is (steep status shows them)`,
    );
  if (o && o.options.failover !== true)
    missing.push(
      `subscription ${d.name} has failover = false: steep apply sets it (ALTER SUBSCRIPTION ${d.name} SET (failover = true), with the subscription disabled for that moment)`,
    );
  const failover = pub.failover;
  if (!failover) return [...missing, `the failover settings of ${d.from} and its standbys could not be read`];
  const guarded = failover.self.synchronizedStandbySlots ?? [];
  for (const sb of failover.standbys) {
    const at = `standby ${sb.address} of ${d.from}`;
    if (!sb.reachable) {
      missing.push(`${at} cannot be read: ${sb.error}`);
      continue;
    }
    if (!sb.inRecovery) {
      const older = staleAt(stale, d.from, sb.address);
      missing.push(
        older
          ? staleStandbyText(older)
          : `${at} is not in recovery: if it was promoted, make it ${d.from}'s connection in steep.yaml and list the old primary as a standby once it follows it`,
      );
      continue;
    }
    if (sb.syncReplicationSlots !== true) missing.push(`${at}: set sync_replication_slots = on`);
    if (sb.hotStandbyFeedback !== true) missing.push(`${at}: set hot_standby_feedback = on`);
    if (sb.primarySlotName === null) {
      missing.push(`${at}: set primary_slot_name to a physical slot on ${d.from}`);
    } else {
      if (pub.slots[sb.primarySlotName]?.slotType !== 'physical')
        missing.push(
          `${at}: primary_slot_name ${sb.primarySlotName} names no physical slot on ${d.from}: create it there with SELECT pg_create_physical_replication_slot('${sb.primarySlotName}')`,
        );
      if (!guarded.includes(sb.primarySlotName))
        missing.push(
          `${d.from}: set synchronized_standby_slots to include ${sb.primarySlotName}, so no subscriber receives a change before ${sb.address} does`,
        );
    }
    if (sb.primaryConninfoHasDbname === false)
      missing.push(
        `${at}: add dbname=${pub.database} to primary_conninfo (slot synchronisation connects to a database)`,
      );
    else if (sb.primaryConninfoHasDbname === null)
      missing.push(`${at}: primary_conninfo cannot be read (the role needs pg_read_all_settings)`);
    const copy = sb.slots[slotName];
    if (!copy) missing.push(`${at} holds no synced copy of slot ${slotName} yet`);
    else if (copy.invalidated !== null)
      missing.push(`${at}: its copy of slot ${slotName} is invalidated (${copy.invalidated})`);
    else if (!copy.synced) missing.push(`${at}: its slot ${slotName} is not a synced copy`);
    else if (copy.temporary)
      missing.push(
        `${at}: its copy of slot ${slotName} is still temporary (the standby has not caught up with the slot yet; a promotion now would drop it)`,
      );
  }
  return missing;
}
