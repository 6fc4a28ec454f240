import type pg from 'pg';
import { probeSubscription, readPublicationAndSlot, readSubscriptionComment } from '../catalog/switchover.js';
import { secretFiller } from '../executors/secrets.js';
import { buildConninfo } from '../model/conninfo.js';
import { reverseComment } from '../model/switchover.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { PG16 } from '../model/versions.js';
import { reverseName, reverseSlotName } from '../planner/switchover/reverseChecks.js';

/** The connection string the old primary's reverse subscription uses to reach the new one (masked). */
export function reverseConninfo(topology: Topology, node: string): string {
  const spec = topology.nodes[node]!;
  return buildConninfo(spec.replicationConnection ?? spec.connection, {
    passfile: spec.replicationPassfile,
    maskPassword: true,
  });
}

/**
 * The reverse subscription (old primary ← new, 16+ on both): what exists of it (its slot by the
 * name it gets in the database the file names), whether the old primary's role may create it and
 * reach the new one (probed), and how long that connection took.
 */
export async function readReverseFacts(
  topology: Topology,
  d: SubscriptionSpec,
  old: pg.Client,
  neu: pg.Client,
  canSubscribe: boolean,
  version: number,
) {
  if (version < PG16) return { reverse: null, reverseConnectMs: null };
  const [rev, slotName] = [
    reverseName(d.name),
    reverseSlotName(d.name, topology.nodes[d.node]!.connection.database),
  ];
  const onNew = await readPublicationAndSlot(neu, rev, slotName);
  const onOld = await readSubscriptionComment(old, rev);
  const exists = onOld !== null;
  const marked = (comment: string | null | undefined) => comment === reverseComment(d.name);
  const probed = Date.now();
  const unreachable =
    canSubscribe && !exists
      ? ((await probeSubscription(old, rev, reverseConninfo(topology, d.node), secretFiller(topology)))
          ?.message ?? null)
      : null;
  return {
    reverse: {
      publicationExists: onNew.publication,
      publicationMarked: marked(onNew.publicationComment),
      subscriptionMarked: marked(onOld?.comment),
      slotExists: onNew.slot !== null,
      slot: onNew.slot,
      subscriptionExists: exists,
      oldCanSubscribe: canSubscribe,
      unreachable,
      reverseUser: (topology.nodes[d.node]!.replicationConnection ?? topology.nodes[d.node]!.connection).user,
    },
    reverseConnectMs: canSubscribe && !exists && unreachable === null ? Date.now() - probed : null,
  };
}
