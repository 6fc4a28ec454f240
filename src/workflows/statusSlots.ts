import type { ClusterState } from '../model/cluster.js';
import { compareText } from '../model/order.js';
import type { SlotStatus } from '../model/statusReport.js';
import type { Topology } from '../model/topology.js';
import { classifySlot } from '../planner/subscriptions/slotKinds.js';
import type { Live } from './statusLive.js';

/** Every slot `status` lists (temporary ones left out), with its kind, its subscription and its lag, sorted. */
export function slotStatuses(
  topology: Topology,
  observed: ClusterState,
  live: Map<string, Live>,
): SlotStatus[] {
  const out: SlotStatus[] = [];
  for (const n of Object.values(observed.nodes)) {
    if (!n.reachable) continue;
    for (const s of Object.values(n.slots)) {
      if (s.temporary) continue;
      const lag = live.get(n.name)?.slots.get(s.name) ?? null;
      const { kind, subscription, preparedLsn, otherDatabase } = classifySlot(topology, observed, n.name, s);
      out.push({
        node: n.name,
        name: s.name,
        database: s.database,
        ...(s.database !== null && s.database !== n.database ? { foreign: true as const } : {}),
        kind,
        subscription,
        ...(otherDatabase ? { otherDatabase } : {}),
        active: s.active,
        walStatus: s.walStatus,
        retainedWalBytes: lag?.retainedWalBytes ?? s.retainedWalBytes,
        lagBytes: lag?.lagBytes ?? null,
        preparedLsn,
      });
    }
  }
  return out.sort((a, b) => compareText(a.node, b.node) || compareText(a.name, b.name));
}
