import type pg from 'pg';
import { probeSubscription } from '../catalog/switchover.js';
import { secretFiller } from '../executors/secrets.js';
import { subscriptionNameOf } from '../model/address.js';
import { publisherConninfo } from '../model/conninfo.js';
import { SteepError } from '../model/errors.js';
import type { Plan } from '../model/plan.js';
import { replicationConnectFix } from '../model/replicationConnectError.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';

/**
 * The subscriptions this plan connects to their publisher: each CREATE SUBSCRIPTION (a
 * subscription's own step, or a merge's) and each new connection string.
 */
export function connectingSubscriptions(topology: Topology, plan: Plan): SubscriptionSpec[] {
  const names = new Set<string>();
  for (const step of plan.steps) {
    const name = subscriptionNameOf(step.address);
    if (step.kind === 'merge-init' && step.address.kind === 'link')
      for (const n of Object.values(topology.links?.[step.address.name]?.subscriptions ?? {})) names.add(n);
    else if (
      name !== undefined &&
      (step.kind === 'subscription-create' ||
        step.kind === 'merge-init' ||
        (step.kind === 'subscription-alter' && step.changes.some((c) => c.path === 'connection')))
    )
      names.add(name);
  }
  return [...names].flatMap((n) => topology.subscriptions[n] ?? []);
}

/** How long the probe waits for a lock before it gives way to the step. */
const PROBE_LOCK_TIMEOUT_MS = 1000;

/**
 * Before apply changes anything: each subscriber of the plan's new subscriptions (and new
 * connections) opens the replication connection to its publisher, once per pair of nodes
 * (catalog/switchover.ts probeSubscription). One that cannot connect stops the apply here, naming
 * both nodes, PostgreSQL's message and the fix, instead of half-way through, after the
 * publications were made. Only a connection failure (SQLSTATE class 08) stops it: another error
 * (a privilege the role lacks) is left to the step, whose message plan's preflight already gives.
 * The probe waits at most PROBE_LOCK_TIMEOUT_MS for a lock (another session holding
 * pg_subscription): then it is skipped, and the step waits as it always did.
 */
export async function probeSubscriberConnections(
  topology: Topology,
  plan: Plan,
  clients: ReadonlyMap<string, pg.Client>,
): Promise<void> {
  const fill = secretFiller(topology);
  const probed = new Set<string>();
  for (const d of connectingSubscriptions(topology, plan)) {
    const client = clients.get(d.node);
    const publisher = topology.nodes[d.from];
    const pair = `${d.node}\u0000${d.from}`;
    if (!client || !publisher || probed.has(pair)) continue;
    probed.add(pair);
    const conninfo = publisherConninfo(publisher, { maskPassword: true });
    const probe = `steep_probe_${d.name}`.slice(0, 63);
    const failed = await probeSubscription(
      client,
      probe,
      conninfo,
      fill,
      d.publications,
      PROBE_LOCK_TIMEOUT_MS,
    );
    if (failed === null || !failed.code.startsWith('08')) continue;
    // 16+ names the subscription: the probe's name would only puzzle
    const message = failed.message.replace(`subscription "${probe}" `, '');
    const user = (publisher.replicationConnection ?? publisher.connection).user;
    const via = publisher.replicationConnection ? 'its replicationUrl' : 'its url';
    throw new SteepError(
      'apply.publisher-unreachable',
      `${d.node} cannot connect to ${d.from} (${via}) as subscription ${d.name} would: ${message}; nothing was changed`,
      {
        node: d.node,
        address: { kind: 'subscription', name: d.name },
        hint: replicationConnectFix(message, d.node, d.from, user),
      },
    );
  }
}
