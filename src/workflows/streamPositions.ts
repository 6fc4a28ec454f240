import type pg from 'pg';
import { readFailover, readHistory } from '../catalog/failover.js';
import { nodeSession } from '../db/connect.js';
import { type ClusterState, reachableNode } from '../model/cluster.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { failoverVerdicts, mayBePromoted } from '../planner/failover/failover.js';
import { resumedToSettle, streamPositionsToRecord } from '../planner/failover/streamRecords.js';
import { StreamPositionStore } from '../state/streamPositions.js';

/**
 * On each subscriber: read what steep recorded of it streaming (into `observed`, for the failover
 * verdicts and to tell a stale url: planner/failover/staleNode.ts); a publisher without standbys
 * that may be a promoted standby (`mayBePromoted`) or that its subscribers recorded streaming from
 * has its own failover part read here. Then record what it has applied now from the primary it
 * streams from. A subscriber whose state schema lacks the table (before migration 11) or that
 * cannot be written is left as it is: its verdict after a promotion is then `unknown`, never resumed.
 * `record: false`: read only (verify and reinit, naming a failover's way out).
 */
export async function observeStreamPositions(
  topology: Topology,
  observed: ClusterState,
  opts: { record?: boolean } = {},
): Promise<void> {
  const promoted = Object.values(topology.subscriptions).filter((d) => mayBePromoted(topology, observed, d));
  // every subscriber: what it recorded is also what tells a publisher's url stale, standbys listed or not
  const subscribers = new Set(Object.values(topology.subscriptions).map((d) => d.node));
  const schema = topology.settings.stateSchema;
  const clients = new Map<string, Awaited<ReturnType<typeof nodeSession>>>();
  try {
    await Promise.all(
      [...subscribers].map(async (name) => {
        const node = observed.nodes[name];
        if (!node?.reachable) return;
        const client = await nodeSession(topology, name, 'steep').catch(() => undefined);
        if (!client) return;
        clients.set(name, client);
        const store = new StreamPositionStore(schema, name);
        const read = await store
          .exists(client)
          .then((has) => (has ? store.list(client) : undefined))
          .catch(() => undefined);
        if (read) node.streamPositions = read;
      }),
    );
    // a publisher without standbys that may be a promoted one, or whose subscribers recorded
    // streaming from its system (its url may be an older branch): its place in its WAL history
    const recorded = Object.values(topology.subscriptions).filter(
      (d) =>
        (topology.nodes[d.from]?.standbys?.length ?? 0) === 0 &&
        reachableNode(observed, d.node)?.streamPositions?.some((p) => p.subscription === d.name),
    );
    await Promise.all(
      [...new Set([...promoted, ...recorded].map((d) => d.from))].map(async (name) => {
        const node = observed.nodes[name];
        const failover = await readFailover(name, topology.nodes[name]!.connection, [], {
          connectTimeoutMs: topology.settings.connectTimeout,
        }).catch(() => undefined);
        if (node?.reachable && failover) node.failover = failover;
      }),
    );
    if (opts.record === false) return;
    const verdicts = failoverVerdicts(topology, observed);
    const record = streamPositionsToRecord(topology, observed, verdicts);
    const settle = resumedToSettle(topology, observed, verdicts);
    await Promise.all(
      [...new Set([...record.keys(), ...settle.keys()])].map(async (name) => {
        const client = clients.get(name);
        const node = observed.nodes[name];
        if (!client || !node?.reachable || !node.streamPositions) return;
        const store = new StreamPositionStore(schema, name);
        // a failover proven resumed now: settled before the subscriber streams from the new primary
        for (const s of settle.get(name) ?? [])
          await store.markSettled(client, s.subscription, s, 'failover', s.originLsn).catch(() => {});
        await store.record(client, record.get(name) ?? []).catch(() => {});
      }),
    );
  } finally {
    await Promise.all([...clients.values()].map((c) => c.end().catch(() => {})));
  }
}

/**
 * steep reinit --full copied the subscription's tables from its publisher, or a verify found them
 * all equal (`by`): recorded with the publisher's system identifier and timeline, so a failover
 * before it is no longer judged. Only for a publisher with standbys whose history can be read
 * (otherwise nothing is recorded).
 */
export async function recordSettled(
  topology: Topology,
  d: SubscriptionSpec,
  sub: pg.Client,
  by: 'reinit' | 'verify',
): Promise<void> {
  const spec = topology.nodes[d.from];
  if (!spec?.standbys || spec.standbys.length === 0) return;
  const history = await readHistory(spec.connection, {
    node: d.from,
    connectTimeoutMs: topology.settings.connectTimeout,
  });
  if (!history.read) return;
  const store = new StreamPositionStore(topology.settings.stateSchema, d.node);
  if (await store.exists(sub)) await store.markSettled(sub, d.name, history, by);
}
