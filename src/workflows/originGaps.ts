import type pg from 'pg';
import { readSubscriptionOid } from '../catalog/subscriptionOnNode.js';
import { subscriptionNameOf } from '../model/address.js';
import type { Step } from '../model/plan.js';
import type { Topology } from '../model/topology.js';
import { StreamContinuityStore } from '../state/streamContinuity.js';

/**
 * `origin: none` switched on where the publisher receives some of the subscription's tables from
 * a third node (planner/subscriptions/originNoneGap.ts): a step that ran carries those tables in
 * its `origin.gaps` change, allowed by `--allow-hazard data-gap`. Each is recorded as a gap in the
 * subscriber's continuity baseline (`stream_continuity`), which status, drift and the metrics name
 * until a copy of the table or a verify that finds it equal (model/continuity.ts); the baseline's
 * memberships and columns are kept. Best effort, as the other continuity records.
 */
export async function recordOriginGaps(
  topology: Topology,
  completed: readonly Step[],
  clients: ReadonlyMap<string, pg.Client>,
): Promise<void> {
  for (const step of completed) {
    const change = step.changes.find((c) => c.path === 'origin.gaps');
    const subscription = subscriptionNameOf(step.address);
    const client = clients.get(step.node);
    if (!change || !subscription || !client) continue;
    const gaps = change.after as Array<{ table: string; reason: string }>;
    try {
      // pg_subscription's oid: a subscription dropped and created again starts anew
      const oid = await readSubscriptionOid(client, subscription);
      if (oid === null) continue;
      const store = new StreamContinuityStore(topology.settings.stateSchema, step.node);
      // no stream_continuity yet (an apply migrates): nothing to record into
      const all = await store.all(client);
      if (all === null) continue;
      const recorded = all.get(subscription);
      const now = new Date().toISOString();
      await store.record(
        client,
        subscription,
        gaps.map(({ table, reason }) => {
          const b = recorded?.get(table);
          const own = b && b.subscriptionOid === oid ? b : null;
          return {
            table,
            subscriptionOid: oid,
            members: own?.members ?? [],
            columns: own?.columns ?? null,
            since: own?.since ?? now,
            gap: own?.gap ?? { since: now, reason },
          };
        }),
      );
    } catch {
      // a gap not recorded: the plan's hazard named it
    }
  }
}
