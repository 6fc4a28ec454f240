/**
 * A switchover's fence left without the switchover (docs/switchover.md): SIGKILL, a crash or a
 * lost host stops `steep switchover` where no undo can run, and its fence stays on the old
 * primary — the application's roles without login, the tables fenced against every writer —
 * while the subscription still replicates from it, so nothing else looks wrong. Found by the
 * fence's trigger on the publisher of a subscription that is still enabled: a released
 * switchover disables it first, and an undone one drops the trigger. Pure: from the reading of
 * the nodes; `status`, `drift` and `plan` name it with the statements that lift it.
 */
import type { ClusterState } from '../../model/cluster.js';
import { compareText } from '../../model/order.js';
import { quoteIdent } from '../../model/sql.js';
import type { NodeSql } from '../../model/switchover.js';
import type { SubscriptionRef, Topology } from '../../model/topology.js';
import { fenceFunction, fenceTriggerName, removeFence } from './dataFence.js';
import { loginSql, writableSql } from './roleFence.js';

export interface LeftFence extends SubscriptionRef {
  /** what lifts it, in order, on the publisher (`from`) */
  lift: NodeSql[];
  /** one sentence: what was found, and the way out */
  reason: string;
}

export function leftFences(topology: Topology, observed: ClusterState): LeftFence[] {
  const out: LeftFence[] = [];
  for (const d of Object.values(topology.subscriptions)) {
    const publisher = observed.nodes[d.from];
    const subscriber = observed.nodes[d.node];
    if (!publisher?.reachable || !subscriber?.reachable) continue;
    const fence = publisher.switchoverFences?.find((f) => f.subscription === d.name);
    if (!fence || subscriber.subscriptions[d.name]?.enabled !== true) continue;
    const roles = fence.roles.flatMap((r) => [
      { node: d.from, sql: loginSql(r) },
      { node: d.from, sql: writableSql(r, publisher.database) },
    ]);
    const tables = fence.tables.map((t) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`);
    const trigger = quoteIdent(fenceTriggerName(d.name));
    const fn = fenceFunction(topology.settings.stateSchema, d.name);
    const lift = [...roles, ...removeFence(d.from, fn, trigger, tables)];
    const names = fence.tables.map((t) => `${t.schema}.${t.name}`).join(', ');
    const who =
      fence.roles.length > 0
        ? `${fence.roles.join(', ')} cannot log in there and ${names} ${fence.tables.length === 1 ? 'is' : 'are'}`
        : `${names} ${fence.tables.length === 1 ? 'is' : 'are'}`;
    out.push({
      subscription: d.name,
      node: d.node,
      from: d.from,
      lift,
      reason: `a switchover of ${d.name} stopped without its undo (killed, or its host lost) left its fence on ${d.from}: ${who} fenced against every writer, while ${d.name} still replicates from it; if no switchover of ${d.name} runs now, lift it: run ${lift.map((x) => x.sql).join('; ')} on ${d.from}`,
    });
  }
  return out.sort((a, b) => compareText(a.subscription, b.subscription));
}
