import type pg from 'pg';
import { readSubscriptionOid } from '../catalog/subscriptionOnNode.js';
import { gapsBySubscription, type StepGap } from '../model/continuity.js';
import type { Step } from '../model/plan.js';
import type { Topology } from '../model/topology.js';
import { StreamContinuityStore } from '../state/streamContinuity.js';

/**
 * A hazard allowed by name is remembered (docs/status.md, `gap`): a step gated `data-gap` carries
 * the tables it opens a gap in and why (`gaps`: `origin: none` downstream of a cascade, tables
 * joining without a copy under `init.newTables: skip` or `init.existingData: keep`, a partition
 * tree received in another shape, planner/subscriptions/; a column schema sync adds or retypes,
 * planner/schema/oldRowValues.ts; what a publication's step or a subscription's list changes of
 * what a subscription receives of a table it holds, planner/heldTables.ts). Once such a step
 * ran (allowed by `--allow-hazard data-gap`), each is recorded as a gap in its subscriber's
 * continuity baseline (`stream_continuity`), which status, drift and the metrics name until a
 * copy of the table or a verify that finds it equal (model/continuity.ts); a gap recorded
 * already is kept, and the baseline's memberships and columns with it. Best effort, as the
 * other continuity records.
 */
export async function recordAllowedGaps(
  topology: Topology,
  completed: readonly Step[],
  clients: ReadonlyMap<string, pg.Client>,
): Promise<void> {
  for (const step of completed)
    for (const [subscription, gaps] of gapsBySubscription(step)) {
      // on its subscriber (a publication's step names the subscriptions that hold its tables)
      const node = topology.subscriptions[subscription]?.node ?? step.node;
      const client = clients.get(node);
      if (client) await recordGaps(topology, node, client, subscription, gaps);
    }
}

/** Record `gaps` in the continuity baseline of `subscription` on `node`; a gap recorded already is kept. */
async function recordGaps(
  topology: Topology,
  node: string,
  client: pg.Client,
  subscription: string,
  gaps: readonly StepGap[],
): Promise<void> {
  try {
    // pg_subscription's oid: a subscription dropped and created again starts anew
    const oid = await readSubscriptionOid(client, subscription);
    if (oid === null) return;
    const store = new StreamContinuityStore(topology.settings.stateSchema, node);
    // no stream_continuity yet (an apply migrates): nothing to record into
    const all = await store.all(client);
    if (all === null) return;
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
