import type { ClusterState, ObservedNode, ObservedSubscription } from '../model/cluster.js';
import { unrecordedState } from '../model/initLifecycle.js';
import { compareLsn } from '../model/lsn.js';
import { compareText } from '../model/order.js';
import type { FailoverVerdict } from '../model/plan.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { majorVersion, SUBSCRIPTION_OPTION } from '../model/versions.js';

/**
 * A publisher's failover, per subscription from a node that declares `standbys:`. Before one:
 * is every piece of PostgreSQL 17's slot synchronisation in place (each missing piece named
 * with the setting that fixes it; steep changes no server setting), or, on 14–16, that a
 * failover loses the slot. After one (the publisher is out of recovery and holds the slot as
 * a `synced` copy, or no longer holds it): did the subscription resume with no gap (the synced
 * slot no further than what the subscriber applied), or may changes have been skipped (`gap`:
 * the subscription is diverged until `steep reinit` copies its tables again). Pure.
 */

/** The file with `failover = true` on each subscription whose publisher declares standbys, where both ends run 17+ and the file does not say. */
export function withFailoverSlots(desired: Topology, observed: ClusterState): Topology {
  let changed = false;
  const subscriptions: Record<string, SubscriptionSpec> = {};
  for (const [name, d] of Object.entries(desired.subscriptions)) {
    const pub = observed.nodes[d.from];
    const sub = observed.nodes[d.node];
    const wants =
      (desired.nodes[d.from]?.standbys?.length ?? 0) > 0 &&
      d.options.failover === undefined &&
      pub?.reachable === true &&
      sub?.reachable === true &&
      pub.serverVersion >= SUBSCRIPTION_OPTION.failover.since &&
      sub.serverVersion >= SUBSCRIPTION_OPTION.failover.since;
    if (wants) changed = true;
    subscriptions[name] = wants ? { ...d, options: { ...d.options, failover: true } } : d;
  }
  return changed ? { ...desired, subscriptions } : desired;
}

function recordedState(node: ObservedNode, d: SubscriptionSpec, o: ObservedSubscription): string {
  return (
    node.initState?.subscriptions[d.name]?.state ??
    unrecordedState({ enabled: o.enabled, tables: o.tables.map((t) => t.state) })
  );
}

/** The verdict of every subscription whose publisher declares standbys, by name. */
export function failoverVerdicts(desired: Topology, observed: ClusterState): FailoverVerdict[] {
  const out: FailoverVerdict[] = [];
  const names = Object.keys(desired.subscriptions).sort(compareText);
  for (const name of names) {
    const d = desired.subscriptions[name]!;
    if ((desired.nodes[d.from]?.standbys?.length ?? 0) === 0) continue;
    const pub = observed.nodes[d.from];
    const sub = observed.nodes[d.node];
    if (!pub?.reachable || !sub?.reachable) continue;
    const verdict = (v: FailoverVerdict['verdict'], reasons: string[]) =>
      out.push({ subscription: d.name, node: d.node, from: d.from, verdict: v, reasons });
    const o = sub.subscriptions[d.name];
    const slotName = o && !o.slotNone ? o.slot : d.slot;
    const after = o && !o.slotNone ? afterFailover(d, pub, sub, o) : undefined;
    if (after) {
      verdict(after.verdict, after.reasons);
      continue;
    }
    if (
      pub.serverVersion < SUBSCRIPTION_OPTION.failover.since ||
      sub.serverVersion < SUBSCRIPTION_OPTION.failover.since
    ) {
      const old = pub.serverVersion < SUBSCRIPTION_OPTION.failover.since ? pub : sub;
      verdict('no-failover-slots', [
        `PostgreSQL ${majorVersion(old.serverVersion)} on ${old.name} has no failover slots: a failover of ${d.from} loses slot ${slotName}, ` +
          `and resuming on a new slot would skip the changes in between; steep then marks ${d.name} diverged, and steep reinit ${d.name} --full copies its tables again`,
      ]);
      continue;
    }
    const missing = readinessGaps(d, pub, o, slotName);
    verdict(missing.length > 0 ? 'not-ready' : 'ready', missing);
  }
  return out;
}

/**
 * After a failover: the subscription streamed, and its publisher (out of recovery) either lacks
 * its slot or holds it as a copy synced before the promotion. Undefined when neither (no failover seen).
 */
function afterFailover(
  d: SubscriptionSpec,
  pub: ObservedNode,
  sub: ObservedNode,
  o: ObservedSubscription,
): Pick<FailoverVerdict, 'verdict' | 'reasons'> | undefined {
  const state = recordedState(sub, d, o);
  if (state !== 'synchronized' && state !== 'diverged') return undefined;
  const repair = `steep reinit ${d.name} --full copies its tables again`;
  const slot = pub.slots[o.slot];
  if (!slot) {
    const why =
      pub.serverVersion < SUBSCRIPTION_OPTION.failover.since
        ? `PostgreSQL ${majorVersion(pub.serverVersion)} keeps a logical slot only on the primary, so a failover of ${d.from} loses it`
        : `a failover to a standby that held no synced copy of it loses it (or it was dropped)`;
    return {
      verdict: 'gap',
      reasons: [
        `slot ${o.slot} is missing on ${d.from}: ${why}; a new slot would start after the changes made in between, so steep does not resume ${d.name}: ${repair}`,
      ],
    };
  }
  const self = pub.failover?.self;
  const copy = self?.slots[o.slot];
  if (!self || self.inRecovery || !copy?.synced) return undefined;
  if (copy.invalidated !== null) {
    return {
      verdict: 'gap',
      reasons: [
        `slot ${o.slot} on ${d.from} was synced before the promotion but is invalidated (${copy.invalidated}): it cannot stream what ${d.name} missed; ${repair}`,
      ],
    };
  }
  const confirmed = copy.confirmedFlushLsn;
  const applied = o.originLsn;
  if (!copy.active && confirmed !== null && applied !== null && compareLsn(confirmed, applied) > 0) {
    return {
      verdict: 'gap',
      reasons: [
        `slot ${o.slot} on ${d.from} (synced before the promotion) confirms ${confirmed}, past what ${d.node} applied (${applied}): resuming would skip the changes in between; ${repair}`,
      ],
    };
  }
  // while it streams, the slot confirms what the subscriber acknowledged, which may pass its
  // last applied commit (WAL with nothing for it): only an idle slot's position is compared
  const within = confirmed !== null && applied !== null && compareLsn(confirmed, applied) <= 0;
  return {
    verdict: 'resumed',
    reasons: [
      `on ${d.from} (promoted) from slot ${o.slot}, synced before the promotion` +
        (within
          ? `: it confirms ${confirmed}, at or before what ${d.node} applied (${applied}), so no change was skipped`
          : copy.active
            ? `: ${d.node} streams from it`
            : ''),
    ],
  };
}

/** 17+: every piece of slot synchronisation that is missing, with the setting that fixes it. */
function readinessGaps(
  d: SubscriptionSpec,
  pub: ObservedNode,
  o: ObservedSubscription | undefined,
  slotName: string,
): string[] {
  const missing: string[] = [];
  if (o && o.options.failover !== true)
    missing.push(
      `subscription ${d.name} has failover = false: steep apply sets it (ALTER SUBSCRIPTION ${d.name} SET (failover = true), with the subscription disabled for that moment)`,
    );
  const failover = pub.failover;
  if (!failover) {
    missing.push(`the failover settings of ${d.from} and its standbys could not be read`);
    return missing;
  }
  const guarded = failover.self.synchronizedStandbySlots ?? [];
  for (const sb of failover.standbys) {
    const at = `standby ${sb.address} of ${d.from}`;
    if (!sb.reachable) {
      missing.push(`${at} cannot be read: ${sb.error}`);
      continue;
    }
    if (!sb.inRecovery) {
      missing.push(
        `${at} is not in recovery: if it was promoted, make it ${d.from}'s connection in steep.yaml and list the old primary as a standby once it follows it`,
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
