/**
 * After a failover, the old primary started again on its own timeline (split brain) is a primary
 * of the same system as the new one, and nothing about its address says which is which. Its
 * identity is read (IDENTIFY_SYSTEM: system identifier and timeline, and the new primary's
 * TIMELINE_HISTORY) and compared with what steep read or recorded of the node's system: a server
 * out of recovery on a timeline older than one steep read (or recorded the subscribers streaming
 * from) is `stale`, an older branch. Its writes past the fork are at risk, and steep points no
 * connection, copy or write at it. Pure.
 */
import type { ClusterState, FailoverServer, TimelineHistory } from '../../model/cluster.js';
import { compareLsn, lsnValue } from '../../model/lsn.js';
import type { Topology } from '../../model/topology.js';

/** A primary of a node's system, as read or recorded. */
interface Branch {
  /** `host:port`, null where steep only recorded it (a subscriber's stream position) */
  address: string | null;
  role: 'url' | 'standby' | 'recorded';
  systemIdentifier: string;
  timeline: number;
  forks: { timeline: number; switchLsn: string }[];
  /** how far its WAL reaches (a primary's pg_current_wal_lsn()) */
  walLsn: string | null;
  recordedAt?: string;
}

/** A server of a node (its url or a declared standby) out of recovery on an older branch of the node's system. */
export interface StaleServer {
  node: string;
  address: string;
  role: 'url' | 'standby';
  systemIdentifier: string;
  timeline: number;
  /** the newest branch steep knows of the same system */
  newer: { address: string | null; role: Branch['role']; timeline: number; recordedAt?: string };
  /** where the newer branch left the stale one's timeline (null: not read) */
  fork: string | null;
  walLsn: string | null;
  /** bytes of WAL the stale server wrote past the fork (null: unknown) */
  pastFork: number | null;
}

const address = (spec: { host: string; port: number }) => `${spec.host}:${spec.port}`;

/** A server read out of recovery with its place in its WAL history: a primary of its system. */
function primaryOf(
  server: FailoverServer | undefined,
  at: string,
  role: 'url' | 'standby',
): Branch | undefined {
  const h: TimelineHistory | undefined = server?.history;
  if (!server || server.inRecovery || !h?.read) return undefined;
  return {
    address: at,
    role,
    systemIdentifier: h.systemIdentifier,
    timeline: h.timeline,
    forks: h.forks,
    walLsn: server.walLsn ?? h.flushLsn ?? null,
  };
}

/** The primaries of `node` read now (its url, its standbys out of recovery) and those its subscribers recorded. */
function branchesOf(desired: Topology, observed: ClusterState, node: string): Branch[] {
  const spec = desired.nodes[node];
  const n = observed.nodes[node];
  if (!spec || !n) return [];
  const out: Branch[] = [];
  if (n.reachable) {
    const self = primaryOf(n.failover?.self, address(spec.connection), 'url');
    if (self) out.push(self);
  }
  const standbys = n.reachable ? (n.failover?.standbys ?? []) : (n.standbys ?? []);
  for (const sb of standbys)
    if (sb.reachable) {
      const b = primaryOf(sb, sb.address, 'standby');
      if (b) out.push(b);
    }
  for (const d of Object.values(desired.subscriptions)) {
    if (d.from !== node) continue;
    const sub = observed.nodes[d.node];
    if (!sub?.reachable) continue;
    for (const p of sub.streamPositions ?? [])
      if (p.subscription === d.name)
        out.push({
          address: null,
          role: 'recorded',
          systemIdentifier: p.systemIdentifier,
          timeline: p.timeline,
          forks: [],
          walLsn: null,
          recordedAt: p.recordedAt,
        });
  }
  return out;
}

/**
 * Every server of every node that is stale: out of recovery, the node's system, a timeline older
 * than the newest steep read now or recorded. The newest one read now is preferred as the
 * reference (its history names the fork); a recorded one only where none read now is as new.
 */
export function staleServers(desired: Topology, observed: ClusterState): StaleServer[] {
  const out: StaleServer[] = [];
  for (const node of Object.keys(desired.nodes).sort()) {
    const branches = branchesOf(desired, observed, node);
    for (const b of branches) {
      if (b.role === 'recorded' || b.address === null) continue;
      const newer = branches
        .filter((x) => x.systemIdentifier === b.systemIdentifier && x.timeline > b.timeline)
        .sort(
          (x, y) => y.timeline - x.timeline || Number(x.role === 'recorded') - Number(y.role === 'recorded'),
        )[0];
      if (!newer) continue;
      const fork = newer.forks.find((f) => f.timeline === b.timeline)?.switchLsn ?? null;
      const pastFork =
        fork !== null && b.walLsn !== null && compareLsn(b.walLsn, fork) > 0
          ? Number(lsnValue(b.walLsn) - lsnValue(fork))
          : fork !== null && b.walLsn !== null
            ? 0
            : null;
      out.push({
        node,
        address: b.address,
        role: b.role,
        systemIdentifier: b.systemIdentifier,
        timeline: b.timeline,
        newer: {
          address: newer.address,
          role: newer.role,
          timeline: newer.timeline,
          ...(newer.recordedAt ? { recordedAt: newer.recordedAt } : {}),
        },
        fork,
        walLsn: b.walLsn,
        pastFork,
      });
    }
  }
  return out;
}

/** The stale server at `address` of `node`, if it is one. */
export function staleAt(stale: readonly StaleServer[], node: string, at: string): StaleServer | undefined {
  return stale.find((s) => s.node === node && s.address === at);
}

/** The url of `node` where it is stale. */
export function staleUrl(stale: readonly StaleServer[], node: string): StaleServer | undefined {
  return stale.find((s) => s.node === node && s.role === 'url');
}

/** What the stale server is, against what, and its writes past the fork (at risk). */
function facts(s: StaleServer): string {
  const newer =
    s.newer.address === null
      ? `timeline ${s.newer.timeline}, which steep recorded ${s.node}'s subscribers streaming from (${s.newer.recordedAt ?? 'before'})`
      : `timeline ${s.newer.timeline} of ${s.newer.address} (${s.newer.role === 'url' ? `${s.node}'s url` : `a standby of ${s.node} in steep.yaml`}, out of recovery)`;
  const what = `a primary on timeline ${s.timeline} of ${s.node}'s system (${s.systemIdentifier}), an older branch than ${newer}`;
  const risk =
    s.fork === null
      ? `where timeline ${s.newer.timeline} left timeline ${s.timeline} is not read now, so steep cannot say how much it wrote past the fork: writes acknowledged there after the fork are not on the new primary and are at risk`
      : s.pastFork !== null && s.pastFork > 0
        ? `it wrote ${s.pastFork} bytes of WAL past the fork at ${s.fork} (up to ${s.walLsn}): writes acknowledged there after the fork are not on the new primary and are at risk`
        : `its WAL reaches ${s.walLsn ?? 'an unread position'}, not past the fork at ${s.fork}`;
  return `${what}; ${risk}`;
}

/** What to do with a stale server: writes off it, what must be kept copied to the new primary, then it follows. */
function wayOut(s: StaleServer): string {
  const to = s.role === 'url' && s.newer.address !== null ? s.newer.address : s.node;
  return (
    `take the application's writes off it, copy what the application must keep of them to ${to}, shut it down, ` +
    `and list it as a standby of ${s.node} again only once it follows ${to} (pg_rewind, or a new base backup); steep points no subscription at it and copies nothing from it`
  );
}

/** A declared standby that is stale: one sentence, instead of "if it was promoted, make it the url". */
export function staleStandbyText(s: StaleServer): string {
  return `standby ${s.address} of ${s.node} is stale: ${facts(s)}; it is no promoted standby, so never make it ${s.node}'s url: ${wayOut(s)}`;
}

/** The node's url is stale: one sentence naming it and what to do (the plan's error, status' verdict). */
export function staleUrlText(s: StaleServer): string {
  const back =
    s.newer.address !== null
      ? `make ${s.newer.address} ${s.node}'s url in steep.yaml again`
      : `make the new primary (timeline ${s.newer.timeline} or later) ${s.node}'s url in steep.yaml`;
  return `node ${s.node}: its url ${s.address} is stale: ${facts(s)}; ${back}, then ${wayOut(s)}`;
}

/**
 * The cluster as the plan reads it: each node whose url is stale is taken as not readable, with
 * the sentence that names it and what to do as its error, so the plan fails with it, makes no
 * step on that server and re-points no subscription to it.
 */
export function withStaleUrlsUnread(desired: Topology, observed: ClusterState): ClusterState {
  const urls = staleServers(desired, observed).filter((s) => s.role === 'url');
  if (urls.length === 0) return observed;
  const nodes = { ...observed.nodes };
  for (const s of urls)
    nodes[s.node] = { name: s.node, reachable: false, error: staleUrlText(s), stale: true };
  return { ...observed, nodes };
}
