import { subscriptionAddress } from '../../model/address.js';
import type { ObservedNode, ObservedSubscription } from '../../model/cluster.js';
import { matchesAny } from '../../model/glob.js';
import { compareLsn, isLsn, normaliseLsn } from '../../model/lsn.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { cloneText, copiedRow, sharedSlotRelative } from '../clones.js';
import { PHASE, type PlanContext, stepKey } from '../context.js';
import { subscriptionDigest } from '../digest.js';
import { detachStatements } from '../sqlBuild.js';
import { sameServerNodes } from '../subscriptions/slotKinds.js';
import { type ManualReadiness, refusal } from './manualInit.js';

/**
 * The `physical` init method (docs/init.md) as the plan sees it: the subscriber is a physical
 * clone of the publisher (a base backup restored, or a standby promoted), and the publisher's
 * changes it holds are exactly those before the point where its timeline forked from the
 * publisher's — what its timeline history says, whatever anyone typed. PostgreSQL facts:
 * a clone keeps the publisher's system identifier; a promotion starts a new timeline whose
 * history file names the parent timeline and the LSN where it left it; recovery with
 * `recovery_target_inclusive = off` stops before the first record at or after the target, so a
 * clone recovered to the slot's LSN forks there. Decoding from the fork point skips every
 * transaction whose commit comes before it: those are in the clone, the rest come from the slot,
 * which must not start after the fork (the changes between would be in neither).
 */
export function physicalReadiness(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
): ManualReadiness {
  const fail = refusal(ctx, d);
  const where = { address: subscriptionAddress(d.name), node: d.node };
  const publisher = ctx.node(d.from);
  if (!publisher) return { ok: false };
  const flag = ctx.initLsn[d.name];
  if (flag !== undefined) ctx.initLsnUsed.add(d.name);
  const slot = publisher.slots[d.slot];
  if (!slot) {
    ctx.warn(
      'init-not-prepared',
      `subscription ${d.name} uses init method physical and is not created until it is prepared: run steep init prepare ${d.name} ` +
        `(it creates slot ${d.slot} on ${d.from} and prints the recovery settings), restore a physical copy of ${d.from} on ${d.node} ` +
        'that recovers to that LSN and is promoted, then steep apply',
      where,
    );
    return { ok: false };
  }
  if (slot.active)
    return fail(
      'slot-in-use',
      `subscription ${d.name}: the prepared slot ${d.slot} on ${d.from} is in use (pid ${slot.activePid ?? 'unknown'}); stop its consumer and apply again`,
    );
  if (!slot.confirmedFlushLsn)
    return fail(
      'init-slot-unread',
      `subscription ${d.name}: the position of slot ${d.slot} on ${d.from} could not be read`,
    );
  const slotLsn = slot.confirmedFlushLsn;
  const [pubId, subId] = [publisher.server?.systemIdentifier, node.server?.systemIdentifier];
  if (!pubId || !subId || pubId !== subId || sameServerNodes(node, publisher))
    return fail(
      'init-not-a-clone',
      `subscription ${d.name} uses init method physical, but ${d.node} is not a physical clone of ${d.from} (system identifier ` +
        `${subId ?? 'unread'}; ${d.from}'s is ${pubId ?? 'unread'}): ${anotherWayOut(d)}`,
    );
  const [own, theirs] = [node.walHistory, publisher.walHistory];
  for (const [name, h] of [
    [d.node, own],
    [d.from, theirs],
  ] as const) {
    if (!h) return fail('init-history-unread', `subscription ${d.name}: ${name}'s WAL history was not read`);
    if (!h.read)
      return fail(
        'init-history-unread',
        `subscription ${d.name}: steep reads where ${d.node} forked from ${d.from} from both nodes' timeline history over a replication connection, ` +
          `which ${name} refused (${h.error}); give steep's role the REPLICATION attribute there, or use init method manual with --lsn`,
      );
  }
  if (!own?.read || !theirs?.read) return { ok: false };
  if (own.timeline === theirs.timeline)
    return fail(
      'init-clone-not-promoted',
      `subscription ${d.name}: ${d.node} is still on ${d.from}'s timeline ${own.timeline}, so where its copy of ${d.from} ends cannot be read ` +
        `(a copy started without recovery, or ${d.from} itself?); if ${d.node} is a standby of ${d.from} still in recovery, promote it (pg_ctl promote) once it has replayed slot ${d.slot}'s LSN ${slotLsn}; else ${anotherWayOut(d)}`,
    );
  const fork = own.forks.find((f) => f.timeline === theirs.timeline);
  if (!fork)
    return fail(
      'init-clone-elsewhere',
      `subscription ${d.name}: ${d.node}'s timeline ${own.timeline} does not fork from ${d.from}'s timeline ${theirs.timeline} ` +
        `(its history: ${own.forks.map((f) => `${f.timeline} until ${f.switchLsn}`).join(', ') || 'none'}); ${anotherWayOut(d)}`,
    );
  const forkLsn = normaliseLsn(fork.switchLsn);
  // a copy holds no more of a primary's WAL than it has flushed: a fork past that is another
  // server's continuation of the same timeline number (another standby of one primary, promoted too)
  if (theirs.flushLsn !== undefined && compareLsn(forkLsn, normaliseLsn(theirs.flushLsn)) > 0)
    return fail(
      'init-clone-of-another',
      `subscription ${d.name}: ${d.node}'s timeline ${own.timeline} left timeline ${theirs.timeline} at ${forkLsn}, beyond all the WAL ${d.from} ` +
        `has written (${normaliseLsn(theirs.flushLsn)}): no copy of ${d.from} holds WAL ${d.from} never wrote, so ${d.node} is a copy of another server ` +
        `of the same system that went on with a timeline ${theirs.timeline} of its own (another standby of the primary ${d.from} was promoted from?), ` +
        `and holds rows ${d.from} never had; ${anotherWayOut(d)}`,
    );
  if (compareLsn(forkLsn, slotLsn) < 0)
    return fail(
      'init-restore-early',
      `subscription ${d.name}: ${d.node} holds ${d.from}'s changes up to ${forkLsn} (where its timeline forked from ${d.from}'s), ` +
        `before slot ${d.slot}'s LSN ${slotLsn}: the changes between are neither on ${d.node} nor in the slot; ${anotherWayOut(d)}`,
    );
  // the mark the publisher committed before the slot: in every copy of it forked at or after the slot
  const key = cloneMarkKey(d);
  const mark = publisher.cloneMarks?.[key];
  const copied = node.cloneMarks?.[key];
  if (mark && copied !== undefined && copied !== mark)
    return fail(
      'init-clone-of-another',
      `subscription ${d.name}: ${d.node} does not hold the mark ${d.from} committed just before it made slot ${d.slot} ` +
        `(${copied === null ? 'no mark there' : 'another mark'}), which every copy of ${d.from} forked at or after the slot holds: ${d.node} ` +
        `is a copy of another server of the same system (another standby of the primary ${d.from} was promoted from?), whatever its ` +
        `timeline history says, and holds rows ${d.from} never had; ${anotherWayOut(d)}`,
    );
  if (flag !== undefined && (!isLsn(flag) || compareLsn(normaliseLsn(flag), forkLsn) !== 0))
    return fail(
      'init-lsn-disagrees',
      `--lsn ${flag} for subscription ${d.name} disagrees with where ${d.node} forked from ${d.from}: ${forkLsn}, as its timeline history ` +
        `says; steep starts the subscription there: apply again without --lsn`,
    );
  detachCopies(ctx, d, node);
  if (node.settings.maxLogicalReplicationWorkers === 0) {
    ctx.warn(
      'init-clone-workers-off',
      `subscription ${d.name} is created once ${d.node} runs logical replication workers: it runs with max_logical_replication_workers = 0, ` +
        `as steep init prepare's clone line starts it, so that its copies of ${d.from}'s subscriptions cannot take ${d.from}'s upstream slots ` +
        `while this apply detaches steep's; then run ALTER SYSTEM RESET max_logical_replication_workers on ${d.node}, restart it, and apply again`,
      where,
    );
    return { ok: false };
  }
  return {
    ok: true,
    lsn: forkLsn,
    why: `${d.node} is a physical clone of ${d.from} (system identifier ${subId}) whose timeline ${own.timeline} forked from ${d.from}'s timeline ${theirs.timeline} at ${forkLsn}, at or after slot ${d.slot}'s LSN ${slotLsn}`,
  };
}

/**
 * The clone's copies of its original's subscriptions that this topology does not manage (made by
 * hand, or another topology's; steep's own are dropped, detached first: subscriptionCreate.ts):
 * each holds the original's slot, competes for it once the clone runs workers (what it takes never
 * reaches the original), and its DROP would drop that slot. One proven the original's row
 * (clones.ts copiedRow) that steep's role may alter is detached by a step of this apply: DISABLE,
 * then SET (slot_name = NONE), which drops nothing, neither the row nor the slot. Any other (not
 * proven a copy, another role's, or `ignore:`d) is warned, with the statements that detach it.
 */
function detachCopies(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode): void {
  const original = ctx.node(d.from);
  const copies = Object.values(node.subscriptions).filter(
    (o) =>
      o.managedBy?.topology !== ctx.desired.topology &&
      ctx.desired.subscriptions[o.name]?.node !== d.node &&
      sharedSlotRelative(ctx, d.node, o) !== null,
  );
  const mayAlter = (o: ObservedSubscription) => node.role.superuser || o.owner === node.role.name;
  const left: ObservedSubscription[] = [];
  for (const o of copies) {
    const key = stepKey('subscription', d.node, o.name);
    if (ctx.steps.some((s) => s.key === key)) continue;
    if (!copiedRow(original, o) || !mayAlter(o) || matchesAny(ctx.desired.ignore?.subscriptions, o.name)) {
      if (o.enabled) left.push(o);
      continue;
    }
    ctx.steps.push({
      key,
      phase: PHASE.subscription,
      address: { kind: 'subscription', name: o.name },
      node: d.node,
      kind: 'subscription-alter',
      action: 'update',
      reason: 'clone-copy',
      reasonText:
        `${cloneText(ctx, d.node, d.from, o)} (the same oid ${o.oid}); steep does not manage it here, and on ${d.node} it would compete for that slot ` +
        `once ${d.node} runs logical replication workers: detached (DISABLE, SET (slot_name = NONE)), nothing dropped, neither it nor the slot`,
      changes: [
        ...(o.enabled ? [{ path: 'enabled', before: true, after: false }] : []),
        { path: 'slot', before: o.slot, after: null },
      ],
      statements: detachStatements(o.name),
      hazards: [],
      deps: [],
      catalogDigest: subscriptionDigest(o, null),
    });
  }
  if (left.length === 0) return;
  const owners = [...new Set(left.map((o) => o.owner))].join(', ');
  ctx.warn(
    'init-clone-copied-subscriptions',
    `${d.node} holds ${left.length === 1 ? 'a copy' : 'copies'} of ${d.from}'s ${left.map((o) => o.name).join(', ')}, which steep does not manage here and ` +
      `leaves enabled: each competes for ${d.from}'s slot on its publisher once ${d.node} runs logical replication workers (what it takes ` +
      `never reaches ${d.from}); detach ${left.length === 1 ? 'it' : 'them'} on ${d.node} before ${left.length === 1 ? 'it runs' : 'they run'}, ` +
      `as ${owners} or a superuser: ${left
        .map((o) =>
          detachStatements(o.name)
            .map((st) => `${st.sql};`)
            .join(' '),
        )
        .join(' ')}`,
    { address: subscriptionAddress(d.name), node: d.node },
  );
}

/** A clone of another server: what to restore instead. */
function anotherWayOut(d: SubscriptionSpec): string {
  return (
    `restore a new base backup of ${d.from} on ${d.node} (the pg_basebackup line steep init prepare ${d.name} prints: ` +
    'it recovers to its end and is promoted), then apply again'
  );
}

/** The key of a physical init's mark in `ObservedNode.cloneMarks`: its publisher and slot. */
export function cloneMarkKey(d: { from: string; slot: string }): string {
  return `${d.from}/${d.slot}`;
}
