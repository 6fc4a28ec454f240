import { nodeSession, withSession } from '../db/connect.js';
import type { EventSink } from '../executors/events.js';
import { stateChangeEvent } from '../executors/initFollow.js';
import type { Plan } from '../model/plan.js';
import type { Topology } from '../model/topology.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';

/**
 * A failover that skipped changes or left phantom rows (the plan's `diverged` verdicts): each such subscription
 * is recorded `diverged` on its subscriber, with the reason, so nothing continues silently;
 * `steep reinit` is the way back. One recorded `synchronized` moves; any other state is left.
 */
export async function recordFailoverGaps(topology: Topology, plan: Plan, onEvent: EventSink): Promise<void> {
  const gaps = (plan.failover ?? []).filter((v) => v.verdict === 'diverged');
  const schema = topology.settings.stateSchema;
  for (const v of gaps) {
    const d = topology.subscriptions[v.subscription];
    if (!topology.nodes[v.node] || !d) continue;
    // one this plan renames is still under its old name on the node: recorded there, its rename
    // step then moves the record with it
    const name = nameOnNode(plan, v.node, v.subscription);
    await withSession(nodeSession(topology, v.node, 'steep apply'), async (client) => {
      if (!(await hasInitTables(client, schema))) return;
      const states = new SubscriptionStateStore(schema, v.node);
      const current = (await states.get(client, name))?.state ?? 'synchronized';
      if (current !== 'synchronized') return;
      const details = { method: d.init.method, source: d.from, error: v.reasons.join('; ') };
      for (const c of await states.transition(client, name, 'diverged', details))
        onEvent({ ...stateChangeEvent(c), level: 'warn' });
    });
  }
}

/** The subscription's name on `node` before this plan's steps: the old one where a step renames it. */
function nameOnNode(plan: Plan, node: string, subscription: string): string {
  const renamed = plan.steps
    .find((s) => s.node === node && s.address.kind === 'subscription' && s.address.name === subscription)
    ?.changes.find((c) => c.path === 'name')?.before;
  return typeof renamed === 'string' ? renamed : subscription;
}
