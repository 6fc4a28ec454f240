import type { ClusterState, ObservedNode, ObservedSlot } from '../../model/cluster.js';
import { databaseTag } from '../../model/databaseTag.js';
import { matchesAny } from '../../model/glob.js';
import type { Topology } from '../../model/topology.js';

/**
 * Whether steep can show it made a logical slot nothing uses: only then does plan, drift or
 * status offer the statement that drops it (docs/plan-format.md, `orphanSlots`). Pure.
 *
 * Every slot steep makes decodes with pgoutput (CREATE SUBSCRIPTION; init prepare's
 * CREATE_REPLICATION_SLOT … LOGICAL pgoutput; a switchover's way back and a merge's
 * pg_create_logical_replication_slot(…, 'pgoutput')), and its name is one steep gave or kept:
 * - a name steep gives itself, which ends with the tag of its database (model/databaseTag.ts);
 * - a subscription from this publisher that steep's state on a read node records
 *   (`subscription_state`, kept when the subscription was dropped by hand): its slot bears its name;
 * - a slot steep's state records for an init (`init_slots`) of a subscription from this publisher;
 * - a name `settings.dropOrphanSlots` matches: the file says it is steep's to drop.
 * Any other — another plugin (test_decoding, wal2json), or a pgoutput slot of a name steep never
 * gave (a CDC connector's, a subscription of another tool) — steep cannot show is its own:
 * listed with the WAL it retains, never offered for dropping.
 */
export function madeBySteep(
  topology: Topology,
  observed: ClusterState,
  publisher: ObservedNode,
  slot: ObservedSlot,
): boolean {
  if (slot.slotType !== 'logical' || slot.plugin !== 'pgoutput') return false;
  const name = slot.name;
  if (name.endsWith(`_${databaseTag(slot.database ?? publisher.database)}`)) return true;
  if (matchesAny(topology.settings.dropOrphanSlots, name)) return true;
  const fromHere = (state: ObservedNode['initState'], subscription: string) =>
    (state?.subscriptions[subscription]?.sourceNode ?? topology.subscriptions[subscription]?.from) ===
    publisher.name;
  return Object.values(observed.nodes).some((n) => {
    if (!n.reachable || !n.initState) return false;
    const state = n.initState;
    if (state.subscriptions[name] && fromHere(state, name)) return true;
    return Object.values(state.slots).some((s) => s.slot === name && fromHere(state, s.subscription));
  });
}
