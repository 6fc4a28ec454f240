import { subscriptionAddress } from '../../model/address.js';
import { formatBytes } from '../../model/bytes.js';
import type { ObservedSlot } from '../../model/cluster.js';
import { matchesAny } from '../../model/glob.js';
import { restoredByUser } from '../../model/initMethods.js';
import { compareText } from '../../model/order.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { startsUnderLocks } from '../../model/topology.js';
import { ignored } from '../adopt.js';
import { type DraftStep, PHASE, type PlanContext, sortedKeys, stepKey } from '../context.js';
import { slotDigest } from '../digest.js';
import { dropSlotSql, tx } from '../sqlBuild.js';
import { wayBackTakesOver } from './linkWayBack.js';
import { otherDatabaseUser, TABLESYNC_SLOT } from './slotKinds.js';
import { madeBySteep } from './slotOrigin.js';

/**
 * Replication slots on publishers: the slot a subscription create needs (a leftover one is
 * dropped first, a prepared one is reused), and orphans — slots nothing uses — reported with
 * the WAL they retain.
 */

/**
 * Observed subscriptions (on any reached node) that stream from `publisher` through `slot` —
 * or may: one whose publisher the catalog could not tell (`from` = '') counts when the slot
 * name matches, so steep never drops a slot on a guess.
 */
export function slotUsers(ctx: PlanContext, publisher: string, slot: string) {
  return ctx.reachableNodes().flatMap((n) =>
    sortedKeys(n.subscriptions)
      .map((name) => ({ node: n.name, name, sub: n.subscriptions[name]! }))
      .filter(({ sub }) => !sub.slotNone && (sub.from === publisher || sub.from === '') && sub.slot === slot),
  );
}

/**
 * Before a subscription is created (or created again by a replace) on publisher `d.from` with
 * slot `d.slot`: make sure the slot name is free (createSlot) or present (a prepared slot).
 * `ownDropFreesSlot`: the replace's own DROP SUBSCRIPTION drops this very slot. A merge init
 * takes over a leftover slot of the name instead (an interrupted merge's: planner/init/mergeInit.ts),
 * and so does a snapshot link's way back once its first edge exists (`takeOver`: linkWayBack.ts).
 * `deps`: the step keys the subscription create must wait for.
 */
export function prepareSlot(
  ctx: PlanContext,
  d: SubscriptionSpec,
  opts: { createSlot: boolean; ownDropFreesSlot: boolean },
): { ok: boolean; deps: string[]; takeOver?: true } {
  const publisher = ctx.node(d.from);
  const address = subscriptionAddress(d.name);
  if (!publisher || opts.ownDropFreesSlot) return { ok: true, deps: [] };
  const slot = publisher.slots[d.slot];
  if (!slot) {
    // two-phase: created on no slot yet, `snapshot generate` makes it (subscriptionCreate.ts says so)
    if (!opts.createSlot && restoredByUser(d.init.method)) {
      ctx.warn(
        'init-slot-missing',
        `subscription ${d.name} uses init method manual, which creates it on a prepared slot, but slot ${d.slot} ` +
          `does not exist on ${d.from} yet; run steep init prepare ${d.name} first`,
        { address, node: d.node },
      );
    }
    return { ok: true, deps: [] };
  }
  // other subscriptions of the slot: one that is deleted frees it (its DROP SUBSCRIPTION drops
  // the slot first, so its drop goes first); any other is an error
  const others = slotUsers(ctx, d.from, d.slot).filter((u) => !(u.node === d.node && u.name === d.name));
  const freeing = others.filter((u) => ctx.fateOf('subscription', u.node, u.name) === 'delete');
  const deps = freeing.map((u) => stepKey('subscription-drop', u.node, u.name));
  for (const u of others.filter((u) => !freeing.includes(u)))
    ctx.error(
      'slot-in-use',
      `subscription ${d.name} needs slot ${d.slot} on ${d.from}, but subscription ${u.name} on ${u.node} ` +
        `${u.sub.from === '' ? 'may use it (the catalog could not tell its publisher)' : 'uses it'}; give one of them another slot name`,
      { address, node: d.from },
    );
  const ok = freeing.length === others.length;
  if (!ok || others.length > 0 || !opts.createSlot) return { ok, deps };
  const elsewhere = otherDatabaseUser(ctx.observed, d.slot);
  if (elsewhere) {
    ctx.error(
      'slot-in-use',
      `subscription ${d.name} needs slot ${d.slot} on ${d.from}, but subscription ${elsewhere.name} of database ` +
        `${elsewhere.database} on ${elsewhere.node}'s server uses a slot of that name; give subscription ${d.name} another slot name (slot: in steep.yaml)`,
      { address, node: d.from },
    );
    return { ok: false, deps };
  }
  if (slot.active) {
    ctx.error(
      'slot-in-use',
      `subscription ${d.name} needs slot ${d.slot} on ${d.from}, which is active (pid ${slot.activePid ?? 'unknown'}) ` +
        'though no subscription of the topology uses it; stop its consumer or give the subscription another slot name',
      { address, node: d.from },
    );
    return { ok: false, deps };
  }
  if (startsUnderLocks(d.init)) return { ok: true, deps };
  if (wayBackTakesOver(ctx, d)) return { ok: true, deps, takeOver: true };
  // a leftover slot of the name, unused and inactive, is dropped before the create
  deps.push(
    slotDrop(ctx, d.from, slot, {
      phase: PHASE.slot,
      reason: 'drifted',
      reasonText:
        `slot ${d.slot} exists on ${d.from} but no subscription uses it (left by an earlier, unfinished apply?); ` +
        `subscription ${d.name} creates its slot together with its initial copy, and a leftover slot's position has no ` +
        'consistent snapshot to copy from, so it is dropped first',
    }),
  );
  return { ok: true, deps };
}

/** The step dropping `slot` on `node` (one however many need it), counted in the plan's slot changes; its key. */
function slotDrop(
  ctx: PlanContext,
  node: string,
  slot: ObservedSlot,
  step: Pick<DraftStep, 'phase' | 'reason' | 'reasonText'>,
): string {
  const key = stepKey('slot-drop', node, slot.name);
  if (ctx.hasStep(key)) return key;
  ctx.slotChanges.push({ node, slot: slot.name, change: 'drop', streams: false });
  ctx.steps.push({
    ...step,
    key,
    address: { kind: 'slot', node, slot: slot.name },
    node,
    kind: 'slot-drop',
    action: 'delete',
    changes: [{ path: 'slot', before: slot.name, after: null }],
    statements: [tx(dropSlotSql(slot.name))],
    hazards: ['drops-slot'],
    deps: [],
    catalogDigest: slotDigest(slot),
  });
  return key;
}

/**
 * Logical slots of the node's database that no subscription uses and none of the file's
 * subscriptions will use; those steep can show it made (slotOrigin.ts) with the statement that
 * drops each, the others as not steep's, with none. `ignore.slots` silences other tools' slots; steep's orphans matching
 * `settings.dropOrphanSlots` get a drop step (run only with `apply --allow-destroy`).
 */
export function reportOrphanSlots(ctx: PlanContext): void {
  const expected = new Set(Object.values(ctx.desired.subscriptions).map((s) => `${s.from}/${s.slot}`));
  for (const node of ctx.reachableNodes()) {
    for (const name of sortedKeys(node.slots)) {
      const slot = node.slots[name]!;
      if (slot.slotType !== 'logical' || slot.temporary || slot.active || TABLESYNC_SLOT.test(name)) continue;
      if (expected.has(`${node.name}/${name}`)) continue;
      // slots are server-wide: one in another database of the node's server is that database's
      // (another topology's, say), never this file's to call orphaned or to drop
      if (slot.database !== null && slot.database !== node.database) continue;
      if (slotUsers(ctx, node.name, name).length > 0) continue;
      // a subscription of another database of a read node's server uses it: not an orphan
      if (otherDatabaseUser(ctx.observed, name)) continue;
      if (ignored(ctx, 'slots', name)) continue;
      const steep = madeBySteep(ctx.desired, ctx.observed, node, slot);
      ctx.orphanSlots.push({
        node: node.name,
        slot: name,
        plugin: slot.plugin,
        retainedWalBytes: slot.retainedWalBytes,
        walStatus: slot.walStatus,
        madeBySteep: steep,
        ...(steep ? { dropSql: dropSlotSql(name) } : {}),
      });
      // never a slot steep cannot show it made, whatever the globs say (another plugin's)
      if (!steep || !matchesAny(ctx.desired.settings.dropOrphanSlots, name)) continue;
      slotDrop(ctx, node.name, slot, {
        phase: PHASE.slotDrop,
        reason: 'removed-from-config',
        reasonText:
          `orphaned: no subscription uses slot ${name} on ${node.name}, and settings.dropOrphanSlots names it; ` +
          `dropping it frees ${slot.retainedWalBytes === null ? 'the WAL it retains' : `the ${formatBytes(slot.retainedWalBytes)} of WAL it retains`}`,
      });
    }
  }
  ctx.orphanSlots.sort((a, b) => compareText(a.node, b.node) || compareText(a.slot, b.slot));
}
