import { readPublicationHole, readSkippedPublications } from '../catalog/publicationHole.js';
import { nodeSession, withSession } from '../db/connect.js';
import type { ClusterState, ObservedNode } from '../model/cluster.js';
import type { Topology } from '../model/topology.js';
import { PG18 } from '../model/versions.js';
import { readEachNode } from './tableFacts.js';

/**
 * `plan` and `status`: on each publisher, whether the slot of each subscription that streams from
 * it (on any node read) can decode past its publications' creation (catalog/publicationHole.ts).
 * Before 18 one it cannot is marked `stuckAt` in `observed`, which status' verdict
 * (model/syncVerdict.ts) and so plan's `replication.failing` name with the way out; on 18 the
 * publications it will skip are marked `skips`, which continuity (model/continuity.ts) makes a
 * gap of the tables only they publish. Best effort: a node that cannot be read again marks nothing.
 */
export async function markStuckSlots(topology: Topology, observed: ClusterState): Promise<void> {
  const requests = Object.values(observed.nodes).flatMap((n) => {
    const slots = n.reachable ? slotsReadFrom(observed, n) : [];
    return slots.length > 0 ? [[n.name, { n, slots }] as const] : [];
  });
  await readEachNode(topology, requests, async (name, { n, slots }) => {
    if (!n.reachable) return;
    await withSession(nodeSession(topology, name, 'steep status'), async (c) => {
      for (const s of slots) {
        const slot = n.slots[s.slot];
        if (!slot) continue;
        const q = { ...s, version: n.serverVersion };
        if (n.serverVersion < PG18) {
          const publication = await readPublicationHole(c, q).catch(() => null);
          if (publication !== null) slot.stuckAt = publication;
        } else {
          const skipped = await readSkippedPublications(c, q).catch(() => []);
          if (skipped.length > 0) slot.skips = skipped;
        }
      }
    });
  });
}

/** The slots on `n` that subscriptions read, with the publications each lists (as its walsender reads them). */
function slotsReadFrom(
  observed: ClusterState,
  n: ObservedNode,
): Array<{ slot: string; publications: string[] }> {
  return Object.values(observed.nodes).flatMap((m) =>
    m.reachable
      ? Object.values(m.subscriptions).flatMap((o) =>
          o.from === n.name && !o.slotNone && o.slot && n.reachable && n.slots[o.slot]
            ? [{ slot: o.slot, publications: o.publications }]
            : [],
        )
      : [],
  );
}
