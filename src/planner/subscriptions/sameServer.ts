import type { SubscriptionSpec } from '../../model/topology.js';
import { PHASE, type PlanContext, stepKey } from '../context.js';
import { slotDigest } from '../digest.js';
import { createSlotSql, nonTx } from '../sqlBuild.js';
import { wayBackCheck } from './linkWayBack.js';
import { sameServerNodes } from './slotKinds.js';

/**
 * A subscriber database on its publisher's own PostgreSQL server. CREATE SUBSCRIPTION that
 * makes its slot there waits, while the slot gets its consistent point, for every transaction
 * open on the server — its own included — so it never returns, and every later slot creation
 * on that server waits behind it (PostgreSQL's CREATE SUBSCRIPTION notes). PostgreSQL's way:
 * make the slot first with pg_create_logical_replication_slot on the publisher, outside the
 * subscriber's transaction, then CREATE SUBSCRIPTION … WITH (create_slot = false). The
 * subscription's table syncs make their own slots from background workers, which works there.
 * A merge init makes its slots that way on every pair, before its write locks (planner/init/mergeInit.ts).
 * Two subscriptions created in one plan in opposite directions (a link's two edges, or two
 * one-way subscriptions) deadlock the same way across servers: each CREATE SUBSCRIPTION holds its
 * transaction open on its subscriber while the other's slot, made there, waits for it. Their
 * slots are made by steps of their own too.
 */

/** Nodes `a` and `b` are databases of one running server (both read, and their identities equal). */
export function sameServer(ctx: PlanContext, a: string, b: string): boolean {
  const x = ctx.node(a);
  const y = ctx.node(b);
  return x !== undefined && y !== undefined && sameServerNodes(x, y);
}

/** `shop and main are databases of one PostgreSQL server (system identifier …)` */
export function sameServerText(ctx: PlanContext, subscriber: string, publisher: string): string {
  const id = ctx.node(publisher)?.server?.systemIdentifier ?? 'unknown';
  return `${subscriber} and ${publisher} are databases of one PostgreSQL server (system identifier ${id}, one postmaster)`;
}

/** A subscription this plan creates in the other direction (`d.from` from `d.node`), if any. */
function reverseCreated(ctx: PlanContext, d: SubscriptionSpec): string | undefined {
  const publisher = ctx.node(d.from);
  return Object.values(ctx.desired.subscriptions).find(
    (r) =>
      r.node === d.from && r.from === d.node && publisher !== undefined && !publisher.subscriptions[r.name],
  )?.name;
}

/** Why the create making slot `d.slot` itself would wait for ever; null when it would not. */
function waitsForEver(ctx: PlanContext, d: SubscriptionSpec): string | null {
  if (sameServer(ctx, d.node, d.from)) return sameServerText(ctx, d.node, d.from);
  const reverse = reverseCreated(ctx, d);
  if (reverse === undefined) return null;
  return `subscription ${reverse} is created on ${d.from} from ${d.node} in this plan too, and two CREATE SUBSCRIPTIONs making their slots on each other's node wait for each other's transaction`;
}

/** The create's side of it, for its reason text. */
export function separateSlotText(ctx: PlanContext, d: SubscriptionSpec): string {
  return `${waitsForEver(ctx, d)}, so slot ${d.slot} is made by its own step on ${d.from} first and CREATE SUBSCRIPTION runs with create_slot = false`;
}

/**
 * For a subscription whose publisher is its own server, or whose reverse this plan creates too:
 * the step that makes its slot on the publisher before the subscription is created (after
 * `deps`: a leftover slot's drop). The key the create must wait for; null when the create makes it.
 */
export function planSeparateSlot(ctx: PlanContext, d: SubscriptionSpec, deps: string[]): string | null {
  const why = waitsForEver(ctx, d);
  if (why === null) return null;
  const key = stepKey('slot-create', d.from, d.slot);
  if (ctx.hasStep(key)) return key;
  const version = ctx.serverVersion(d.from) ?? 0;
  const check = wayBackCheck(ctx, d);
  ctx.steps.push({
    key,
    phase: PHASE.slot,
    address: { kind: 'slot', node: d.from, slot: d.slot },
    node: d.from,
    kind: 'slot-create',
    action: 'create',
    reason: 'absent',
    reasonText:
      `${why}: CREATE SUBSCRIPTION ${d.name} making its slot there would wait for ever, ` +
      `so slot ${d.slot} is made first, on ${d.from} alone, and the subscription is created on it ` +
      'with create_slot = false (PostgreSQL’s way, CREATE SUBSCRIPTION notes)' +
      (check
        ? `; then ${d.from}'s tables of link ${d.link} are read: a row there, committed before the slot, stops the apply (data-gap)`
        : ''),
    changes: [{ path: 'slot', before: null, after: d.slot }],
    statements: [
      nonTx(createSlotSql(d.slot, version, d.options.failover === true)),
      ...(check ? [check] : []),
    ],
    hazards: [],
    deps,
    catalogDigest: slotDigest(null),
  });
  return key;
}
