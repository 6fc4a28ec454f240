import { join } from 'node:path';
import type pg from 'pg';
import { nodeSession } from '../db/connect.js';
import type { EventSink } from '../executors/events.js';
import { recordTransition } from '../executors/initFollow.js';
import { subscriptionAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import type { InitState } from '../model/initState.js';
import { declaredSubscription, type SubscriptionSpec, type Topology } from '../model/topology.js';
import { SubscriptionStateStore } from '../state/subscriptionState.js';
import { MANIFEST, type Manifest } from './manifest.js';

/**
 * `init: { method: two-phase }` (docs/steep-yaml.md): `snapshot generate` copies every published table at
 * the exported snapshot of the subscription's new slot into files; `snapshot apply` verifies
 * them all against the manifest and the topology before touching the subscriber, loads them in
 * parallel, sets the sequences, starts the subscription (created disabled by `steep apply`) at
 * the slot's consistent point and follows it to synchronized. One snapshot seeds exactly one
 * subscription: its slot.
 */

export const HOLD_FILE = '.steep-snapshot.hold';

export function where(d: SubscriptionSpec) {
  return { address: subscriptionAddress(d.name), node: d.node };
}

/**
 * Sessions on the subscription's publisher (`pipeline` there) and subscriber, opened together;
 * when one fails, the other is ended.
 */
export async function bothSessions(
  topology: Topology,
  d: SubscriptionSpec,
  app: string,
  opts: { pipeline?: boolean } = {},
): Promise<[pg.Client, pg.Client]> {
  const [pub, sub] = await Promise.allSettled([
    nodeSession(topology, d.from, app, opts),
    nodeSession(topology, d.node, app),
  ]);
  if (pub.status === 'fulfilled' && sub.status === 'fulfilled') return [pub.value, sub.value];
  for (const r of [pub, sub]) if (r.status === 'fulfilled') await r.value.end().catch(() => {});
  throw pub.status === 'rejected' ? pub.reason : (sub as PromiseRejectedResult).reason;
}

export const major = (v: number) => Math.floor(v / 10000);

export function twoPhaseSubscription(topology: Topology, name: string): SubscriptionSpec {
  const d = declaredSubscription(topology, name, 'snapshot.unknown_subscription');
  if (d.init.method !== 'two-phase') {
    throw new SteepError(
      'snapshot.method',
      `subscription ${d.name} uses init method ${d.init.method}; steep snapshot is for init method two-phase`,
      where(d),
    );
  }
  return d;
}

/** Move the recorded init state (best effort before the state schema exists). */
export async function record(
  client: pg.Client,
  topology: Topology,
  d: SubscriptionSpec,
  to: InitState,
  onEvent: EventSink,
  error: string | null = null,
): Promise<void> {
  const store = new SubscriptionStateStore(topology.settings.stateSchema, d.node);
  const recorded = (await store.get(client, d.name).catch(() => null))?.state ?? 'uninitialized';
  if (recorded === to) return;
  await recordTransition(store, client, d, to, onEvent, error);
}

export function checkSameSubscription(
  m: Manifest,
  topology: Topology,
  d: SubscriptionSpec,
  dir: string,
): void {
  const theirs = `topology ${m.topology}, subscription ${m.subscription} (${m.publisher} → ${m.subscriber}), slot ${m.slot}`;
  if (
    m.topology !== topology.topology ||
    m.subscription !== d.name ||
    m.slot !== d.slot ||
    m.publisher !== d.from ||
    m.subscriber !== d.node
  ) {
    throw new SteepError(
      'snapshot.foreign',
      `${join(dir, MANIFEST)} is a snapshot of ${theirs}, not of subscription ${d.name} of topology ${topology.topology} ` +
        `(${d.from} → ${d.node}, slot ${d.slot}); nothing was changed: give the directory of ${d.name}'s snapshot`,
      where(d),
    );
  }
}
