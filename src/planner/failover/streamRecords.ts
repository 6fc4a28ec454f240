/**
 * What steep records on a subscriber of each subscription streaming from a publisher with
 * standbys (`stream_positions`), for the verdict after the next failover, and the failovers a
 * reading proved resumed, settled before the subscriber's position moves on. Pure.
 */
import { type ClusterState, reachableNode, type StreamPositionRecord } from '../../model/cluster.js';
import type { FailoverVerdict } from '../../model/plan.js';
import type { Topology } from '../../model/topology.js';

/**
 * What to record of each subscription that streams from a publisher with standbys (its slot
 * active there, the publisher a primary whose place in its WAL history was read): the
 * subscriber's origin position on that primary, and whether it is ready for a failover now.
 */
export function streamPositionsToRecord(
  desired: Topology,
  observed: ClusterState,
  verdicts: FailoverVerdict[],
): Map<string, StreamPositionRecord[]> {
  const out = new Map<string, StreamPositionRecord[]>();
  for (const d of Object.values(desired.subscriptions)) {
    if ((desired.nodes[d.from]?.standbys?.length ?? 0) === 0) continue;
    const pub = observed.nodes[d.from];
    const sub = observed.nodes[d.node];
    if (!pub?.reachable || !sub?.reachable) continue;
    const o = sub.subscriptions[d.name];
    const history = pub.failover?.self.history;
    if (!o || o.slotNone || o.originLsn === null || !history?.read || pub.failover?.self.inRecovery) continue;
    if (pub.slots[o.slot]?.active !== true) continue;
    const list = out.get(d.node) ?? [];
    list.push({
      subscription: d.name,
      systemIdentifier: history.systemIdentifier,
      timeline: history.timeline,
      originLsn: o.originLsn,
      ready: verdicts.some((v) => v.subscription === d.name && v.node === d.node && v.verdict === 'ready'),
    });
    out.set(d.node, list);
  }
  return out;
}

/**
 * The failovers a reading found resumed that no record settles yet (the subscriber had applied
 * nothing past the fork, read now): to settle with the promoted primary's system identifier and
 * timeline, and the subscriber's position, so later readings, once it streams from the new
 * primary and its position moved on, keep the verdict. By subscriber.
 */
export function resumedToSettle(
  desired: Topology,
  observed: ClusterState,
  verdicts: FailoverVerdict[],
): Map<string, { subscription: string; systemIdentifier: string; timeline: number; originLsn: string }[]> {
  const out = new Map<
    string,
    { subscription: string; systemIdentifier: string; timeline: number; originLsn: string }[]
  >();
  for (const v of verdicts.filter((x) => x.verdict === 'resumed')) {
    const d = desired.subscriptions[v.subscription];
    const sub = reachableNode(observed, v.node);
    const history = reachableNode(observed, v.from)?.failover?.self.history;
    const o = sub?.subscriptions[v.subscription];
    if (!d || !sub || !history?.read || !o?.originLsn) continue;
    const settled = (sub.streamPositions ?? []).some(
      (p) =>
        p.subscription === d.name &&
        p.systemIdentifier === history.systemIdentifier &&
        p.timeline === history.timeline &&
        p.settledAt !== null,
    );
    if (settled) continue;
    const list = out.get(v.node) ?? [];
    list.push({
      subscription: d.name,
      systemIdentifier: history.systemIdentifier,
      timeline: history.timeline,
      originLsn: o.originLsn,
    });
    out.set(v.node, list);
  }
  return out;
}
