/**
 * A subscriber promoted (docs/failover.md, "A subscriber's failover"): a standby of the
 * subscriber, or a point-in-time restore of it, takes its place on a newer timeline of the same
 * system. Its replication origins stand where the copy's replay stopped, but the old server had
 * applied more and may have confirmed it to the publisher's slot, which resumes from what was
 * confirmed: changes in between never reach the new server, and no catalog says which. So every
 * comparison made before steep found the subscriber on its new timeline proves nothing; its
 * subscriptions are `unverified` until each table is compared again. Pure.
 *
 * What it rests on: steep records, per subscription, the subscriber's system identifier and
 * timeline when it first reads them (state table `subscriber_timelines`); a physical copy of the
 * subscriber carries those rows, so the promoted server reads its old timeline there.
 */
import type { SyncVerdict } from './syncVerdict.js';
import { type TableEvidence, unverifiedSince, type WindowStatus } from './verifyWindow.js';

/** What steep recorded of one subscription's subscriber server. */
export interface SubscriberTimeline {
  subscription: string;
  /** pg_subscription.oid: a subscription dropped and created again starts a new record */
  subid: number;
  systemIdentifier: string;
  timeline: number;
  /** when steep first read it on this timeline (ISO 8601) */
  readAt: string;
  /** the reading that found it on a newer timeline than recorded (ISO 8601); null: none */
  promotedAt: string | null;
  /** the timeline recorded before that reading */
  promotedFrom: number | null;
  /** when steep had first read it on that older timeline */
  promotedLastRead: string | null;
}

/** The subscriber's server as read now. */
export interface SubscriberServer {
  systemIdentifier: string;
  /** null: in recovery, or not read (nothing is judged or recorded) */
  timeline: number | null;
}

/** A promotion found, the latest: when steep found it, from which timeline to which. */
export interface Promotion {
  at: string;
  from: number;
  to: number;
  /** when steep first read the subscriber on the old timeline */
  since: string;
}

/**
 * The record after this reading of a subscription (`subid`) and whether it changed (to write).
 * A record of another instance or another system is replaced; a newer timeline is a promotion,
 * found now; an older one (a stale branch: planner/failover/staleNode.ts) changes nothing.
 */
export function nextTimeline(
  previous: SubscriberTimeline | undefined,
  subscription: string,
  subid: number,
  server: SubscriberServer,
  now: string,
): { record: SubscriberTimeline | null; changed: boolean } {
  if (server.timeline === null) return { record: previous ?? null, changed: false };
  const fresh: SubscriberTimeline = {
    subscription,
    subid,
    systemIdentifier: server.systemIdentifier,
    timeline: server.timeline,
    readAt: now,
    promotedAt: null,
    promotedFrom: null,
    promotedLastRead: null,
  };
  if (!previous || previous.subid !== subid || previous.systemIdentifier !== server.systemIdentifier)
    return { record: fresh, changed: true };
  if (server.timeline > previous.timeline)
    return {
      record: {
        ...fresh,
        promotedAt: now,
        promotedFrom: previous.timeline,
        promotedLastRead: previous.readAt,
      },
      changed: true,
    };
  return { record: previous, changed: false };
}

/** The promotion a record holds, if any. */
export function promotionOf(r: SubscriberTimeline | null | undefined): Promotion | null {
  if (!r?.promotedAt || r.promotedFrom === null || r.promotedLastRead === null) return null;
  return { at: r.promotedAt, from: r.promotedFrom, to: r.timeline, since: r.promotedLastRead };
}

/**
 * The verdict after a promotion of the subscriber: one that says the stream is whole
 * (`synchronized`, or `unverified` by the window alone) is `unverified` while a table was not
 * compared since, naming the promotion and one verify of every table either rule names. Any other
 * verdict says more and stands.
 */
export function withPromotion(
  v: SyncVerdict,
  p: Promotion | null,
  f: {
    subscription: string;
    node: string;
    from: string;
    tables: readonly string[];
    evidence: ReadonlyMap<string, TableEvidence>;
    window?: WindowStatus | undefined;
  },
): SyncVerdict {
  if (!p || (v.verdict !== 'synchronized' && v.verdict !== 'unverified')) return v;
  const cause = `${f.node} was promoted: steep read it on timeline ${p.from} from ${p.since} and found it on timeline ${p.to} at ${p.at} (a promoted standby, or a restore); what its old server applied from ${f.from} past what the copy replayed never reaches it (the slot resumes after what the old server confirmed), so no comparison before ${p.at} counts`;
  return unverifiedSince(p.at, cause, f) ?? v;
}
