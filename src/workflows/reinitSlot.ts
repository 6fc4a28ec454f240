/**
 * The subscription's slot that only `steep reinit --full` repairs (gone, invalidated, or beyond
 * the publisher's WAL): read and refused before a reinit writes anything, repaired (made again,
 * the subscription enabled where the file says so) only once the reinit is confirmed.
 */
import type pg from 'pg';
import { clusterReadOptions, readCluster } from '../catalog/readCluster.js';
import { serverVersionOf } from '../catalog/session.js';
import { readSlotTrouble } from '../catalog/slotHolder.js';
import type { EventSink } from '../executors/events.js';
import { recreateInvalidatedSlot, recreateSlotBeyondWal } from '../executors/slotRecreate.js';
import { subscriptionAddress } from '../model/address.js';
import { adviceText, keepPhantomsFirst } from '../model/advice.js';
import { isUnknown, reachableNode } from '../model/cluster.js';
import { connectsElsewhere } from '../model/conninfoTargets.js';
import { SteepError } from '../model/errors.js';
import { publicationHoleWayOut, type SlotTrouble, slotTroubleText } from '../model/syncVerdict.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { failoverDivergedReasons, failoverPastFork, failoverWayOut } from '../planner/failover/failover.js';
import { withWayBack } from '../planner/failover/failoverPromotion.js';
import { staleServers, staleUrl, staleUrlText } from '../planner/failover/staleNode.js';
import { createSlotSql } from '../planner/sqlBuild.js';
import { observeStreamPositions } from './streamPositions.js';

/**
 * The subscription's slot lost on the publisher (a failover to a standby without a synced copy),
 * invalidated there (its WAL removed), or confirming a position beyond the publisher's own WAL (a
 * diverged failover): what the subscriber missed is unknown, so only a full copy repairs it, on a
 * slot created again. Read only: refused without `--full`; null when sound.
 */
export async function slotToRepair(
  topology: Topology,
  d: SubscriptionSpec,
  pub: pg.Client,
  slot: string,
  full: boolean,
  publications: readonly string[],
): Promise<SlotTrouble | null> {
  const trouble = await readSlotTrouble(pub, slot, { publications, version: await serverVersionOf(pub) });
  if (!trouble || full) return trouble;
  const what = slotTroubleText(trouble, { slot, subscription: d.name, from: d.from, node: d.node });
  if (trouble.kind === 'publication')
    throw new SteepError('reinit.refused', `${what}; ${publicationHoleWayOut(d.name)}`, {
      node: d.from,
      address: subscriptionAddress(d.name),
    });
  const wayOut = trouble.kind === 'beyond' ? keepPhantomsFirst(d) : await failoverWayOutNow(topology, d);
  throw new SteepError(
    'reinit.refused',
    trouble.kind === 'beyond'
      ? `${what}; ${wayOut}`
      : `${what}: what ${d.name} missed since is unknown; ${wayOut ?? `only ${adviceText('reinitFull', d.name)} repairs it (it creates the slot again and copies every table)`}`,
    { node: d.from, address: subscriptionAddress(d.name) },
  );
}

/**
 * A slot gone or invalidated after a failover of the publisher that may have left the subscriber
 * rows past the fork: the failover verdict's way out, which keeps them first (read as `status`
 * reads it: both nodes, the publisher's place in its WAL history, what steep recorded of the
 * subscriber streaming; nothing recorded). Undefined where steep sees no failover, or shows the
 * subscriber applied nothing past the fork: the bare full copy then empties no only copy.
 */
export async function failoverWayOutNow(
  topology: Topology,
  d: SubscriptionSpec,
): Promise<string | undefined> {
  return failoverWayOut(topology, await observedPair(topology, d), d);
}

/**
 * After a failover that may have left the subscriber rows past the fork (its verdict `unknown`,
 * or diverged keeping them first): the way out that keeps them first, then the full copy, read
 * as failoverWayOutNow reads it. What `verify` names where it cannot compare because the
 * subscription's workers fail (a row only the subscriber holds, past the fork, meeting a key
 * the new primary wrote since: nothing streams until that way out). Undefined otherwise.
 */
async function pastForkWayOutNow(topology: Topology, d: SubscriptionSpec): Promise<string | undefined> {
  const observed = await observedPair(topology, d);
  return failoverPastFork(topology, observed, d)
    ? keepPhantomsFirst(withWayBack(topology, observed, d))
    : undefined;
}

/**
 * One PostgreSQL disabled at an error: the reasons of the failover verdict that left it diverged,
 * read as failoverWayOutNow reads it, whose way out comes before any ENABLE (reinit, the
 * switchover's preflight); undefined where none did.
 */
export async function failoverDivergedNow(
  topology: Topology,
  d: SubscriptionSpec,
): Promise<string[] | undefined> {
  return failoverDivergedReasons(topology, await observedPair(topology, d), d);
}

/**
 * Both of the above from one reading, for reinit: `diverged`, the reasons of a verdict that left
 * it diverged; `pastFork`, those of one under which its subscriber may hold rows past the fork
 * (the only copy of the old primary's writes), which a reinit deletes only with --discard-past-fork.
 */
export async function failoverNow(
  topology: Topology,
  d: SubscriptionSpec,
): Promise<{ diverged?: string[]; pastFork?: string[]; connectsTo?: string; stale?: string }> {
  const observed = await observedPair(topology, d);
  const stale = staleUrl(staleServers(topology, observed), d.from);
  const o = reachableNode(observed, d.node)?.subscriptions[d.name];
  const nodes = Object.values(topology.nodes);
  // unread (a role without SELECT on subconninfo): not told, so not refused
  const elsewhere =
    o === undefined || isUnknown(o.conninfo)
      ? undefined
      : connectsElsewhere(o.conninfo, topology.nodes[d.from]!, nodes);
  return {
    diverged: failoverDivergedReasons(topology, observed, d),
    pastFork: failoverPastFork(topology, observed, d),
    connectsTo: elsewhere && `${elsewhere.address}${elsewhere.whose ? ` (${elsewhere.whose})` : ''}`,
    ...(stale ? { stale: staleUrlText(stale) } : {}),
  };
}

/**
 * The sentence naming the publisher's url a stale server (planner/failover/staleNode.ts), read
 * as `status` reads it, where the publisher declares standbys (only then is its identity read);
 * undefined otherwise. verify compares nothing with such a server.
 */
export async function staleUrlNow(topology: Topology, d: SubscriptionSpec): Promise<string | undefined> {
  if ((topology.nodes[d.from]?.standbys?.length ?? 0) === 0) return undefined;
  const stale = staleUrl(staleServers(topology, await observedPair(topology, d)), d.from);
  return stale && staleUrlText(stale);
}

/** Both nodes of the subscription as a failover verdict reads them, with the stream positions steep recorded (nothing recorded). */
async function observedPair(topology: Topology, d: SubscriptionSpec) {
  const observed = await readCluster(
    [...new Set([d.from, d.node])].map((n) => topology.nodes[n]!),
    clusterReadOptions(topology.settings),
  );
  await observeStreamPositions(topology, observed, { record: false });
  return observed;
}

/**
 * The slot created again (a lost or invalidated one dropped first, one beyond the WAL set back),
 * once the reinit is confirmed.
 */
export async function repairSlot(
  topology: Topology,
  d: SubscriptionSpec,
  c: { pub: pg.Client; sub: pg.Client },
  s: { slot: string; enabled: boolean; repair: SlotTrouble },
  onEvent: EventSink,
): Promise<void> {
  const failover = d.options.failover ?? (topology.nodes[d.from]?.standbys?.length ?? 0) > 0;
  const publisherVersion = await serverVersionOf(c.pub);
  let message: string;
  if (s.repair.kind === 'beyond') {
    const at = await recreateSlotBeyondWal(c.pub, c.sub, {
      subscription: d.name,
      slot: s.slot,
      enabled: s.enabled,
      failover,
      publisherVersion,
    });
    message =
      `slot ${s.slot} of ${d.name} on ${d.from} confirms ${s.repair.confirmed}, beyond ${d.from}'s own WAL (${s.repair.wal}): ` +
      `created again at ${at}, and ${d.node}'s origin for it set back there`;
  } else {
    // an invalidated slot decodes nothing again, nor one stuck before a publication's creation:
    // dropped once released, then created again, empty, at the publisher's WAL position now:
    // every table is copied again to fill what it skips
    if (s.repair.kind === 'lost' || s.repair.kind === 'publication')
      await recreateInvalidatedSlot(c.pub, c.sub, {
        subscription: d.name,
        slot: s.slot,
        enabled: s.enabled,
        failover,
        publisherVersion,
      });
    else await c.pub.query(createSlotSql(s.slot, publisherVersion, failover));
    message =
      s.repair.kind === 'lost'
        ? `slot ${s.slot} was invalidated on ${d.from}: dropped and created again`
        : s.repair.kind === 'publication'
          ? `slot ${s.slot} on ${d.from} could not get past the creation of publication ${s.repair.publication}: dropped and created again`
          : `slot ${s.slot} was missing on ${d.from}: created again`;
  }
  onEvent({
    event: 'reinit.slot_created',
    level: 'warn',
    node: d.from,
    address: subscriptionAddress(d.name),
    message: `${message}; every table of ${d.name} is copied again`,
  });
}

/**
 * Workers failing (`verify.failing`) after a failover that may have left the subscriber rows past
 * the fork: its "run verify again once it is synchronized" may never come, since a row past the
 * fork meeting a key the new primary wrote stops the worker for good; the way out that keeps
 * those rows first is named beside it. Any other error thrown as it is.
 */
export async function throwWithPastForkWayOut(
  topology: Topology,
  d: SubscriptionSpec,
  err: unknown,
): Promise<never> {
  if (!(err instanceof SteepError) || err.code !== 'verify.failing') throw err;
  const wayOut = await pastForkWayOutNow(topology, d).catch(() => undefined);
  if (!wayOut) throw err;
  throw new SteepError(
    err.code,
    `${err.message}; after the failover of ${d.from}, steep cannot show that ${d.node} holds nothing past its fork, and where its workers do not stream again, ${wayOut}`,
    { node: d.node, address: subscriptionAddress(d.name) },
  );
}
