/**
 * The subscription's slot that only `steep reinit --full` repairs (gone, invalidated, or beyond
 * the publisher's WAL): read and refused before a reinit writes anything, repaired (made again,
 * the subscription enabled where the file says so) only once the reinit is confirmed.
 */
import type pg from 'pg';
import { serverVersionOf } from '../catalog/session.js';
import { readSlotTrouble } from '../catalog/slotHolder.js';
import type { EventSink } from '../executors/events.js';
import { recreateSlotBeyondWal } from '../executors/slotRecreate.js';
import { subscriptionAddress } from '../model/address.js';
import { adviceText, keepPhantomsFirst } from '../model/advice.js';
import { SteepError } from '../model/errors.js';
import { type SlotTrouble, slotTroubleText } from '../model/syncVerdict.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { createSlotSql, dropSlotSql } from '../planner/sqlBuild.js';

/**
 * The subscription's slot lost on the publisher (a failover to a standby without a synced copy),
 * invalidated there (its WAL removed), or confirming a position beyond the publisher's own WAL (a
 * diverged failover): what the subscriber missed is unknown, so only a full copy repairs it, on a
 * slot created again. Read only: refused without `--full`; null when sound.
 */
export async function slotToRepair(
  d: SubscriptionSpec,
  pub: pg.Client,
  slot: string,
  full: boolean,
): Promise<SlotTrouble | null> {
  const trouble = await readSlotTrouble(pub, slot);
  if (!trouble || full) return trouble;
  const what = slotTroubleText(trouble, { slot, subscription: d.name, from: d.from, node: d.node });
  throw new SteepError(
    'reinit.refused',
    trouble.kind === 'beyond'
      ? `${what}; ${keepPhantomsFirst(d)}`
      : `${what}: what ${d.name} missed since is unknown; only ${adviceText('reinitFull', d.name)} repairs it (it creates the slot again and copies every table)`,
    { node: d.from, address: subscriptionAddress(d.name) },
  );
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
    // an invalidated slot decodes nothing again: dropped (nothing streams from it), then created
    if (s.repair.kind === 'lost') await c.pub.query(dropSlotSql(s.slot));
    // created again, empty, at the publisher's WAL position now: every table is copied again to fill what it skips
    await c.pub.query(createSlotSql(s.slot, publisherVersion, failover));
    message =
      s.repair.kind === 'lost'
        ? `slot ${s.slot} was invalidated on ${d.from}: dropped and created again`
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
