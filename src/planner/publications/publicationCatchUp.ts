import { type Address, subscriptionAddress } from '../../model/address.js';
import type { ObservedSubscription } from '../../model/cluster.js';
import { compareText } from '../../model/order.js';
import type { Step } from '../../model/plan.js';
import { publicationHoleText, publicationHoleWayOut } from '../../model/syncVerdict.js';
import type { PublicationSpec, SubscriptionSpec } from '../../model/topology.js';
import type { PlanContext } from '../context.js';
import { withWayBack } from '../failover/failoverPromotion.js';

/**
 * A publication created for subscriptions that already stream from its node (a publication
 * renamed without `renamedFrom`, or one added beside another). pgoutput looks a publication up
 * in the catalog as of each change it decodes: a subscriber whose slot still stands before the
 * creation, once its publication list names the new one, has the changes before it skipped
 * with a WARNING (PostgreSQL 18: lost) or its walsender fails on them again and again (14–17).
 * So the create step carries `catchUpAfter`: apply waits, after the CREATE, client-side
 * (executors/slotCatchUp.ts), until every such slot has confirmed a position past it: first
 * until every transaction that was running has ended (one begun before the creation is decoded
 * as of before it), then until each slot confirms the WAL inserted by then. A subscriber that
 * does not catch up within the wait fails the step before its publication list changes. A
 * disabled subscription is not waited on: its slot cannot move, and its list gaining a
 * publication is gated `data-gap` (planner/subscriptions/dataGaps.ts, disabledJoinGap).
 */

/** The slots of streaming subscriptions that will read `spec` once this plan has run, by subscription name. */
export function slotsToCatchUp(ctx: PlanContext, spec: PublicationSpec) {
  return Object.values(ctx.desired.subscriptions)
    .flatMap((d) => {
      const reads = d.from === spec.node && d.publications.includes(spec.name);
      const o = reads ? ctx.node(d.node)?.subscriptions[d.name] : undefined;
      return !o || o.slotNone || !o.enabled || o.publications.includes(spec.name)
        ? []
        : [{ subscription: d.name, slot: o.slot }];
    })
    .sort((a, b) => compareText(a.subscription, b.subscription));
}

/**
 * The same wait before a streaming subscription's list gains publications that exist already on
 * its publisher and that this plan does not create (whose create step waits itself): an earlier
 * apply made them and stopped in its wait ("apply again once it has caught up"), or a DBA made
 * them. Their creation is before now, so a slot past now is past it. None for a disabled
 * subscription (gated `data-gap` instead) or one without a slot.
 */
export function catchUpBefore(
  ctx: PlanContext,
  d: SubscriptionSpec,
  o: ObservedSubscription,
  publications: readonly string[],
  reshaped: readonly string[] = [],
): Pick<Step, 'catchUpBefore'> {
  if (!o.enabled || o.slotNone) return {};
  const existing = ctx.node(d.from)?.publications ?? {};
  const gained = publications
    .filter((p) => !o.publications.includes(p) && existing[p] !== undefined)
    .sort(compareText);
  if (gained.length === 0 && reshaped.length === 0) return {};
  if (gained.length > 0)
    refuseStuckReaders(
      ctx,
      d.from,
      [{ subscription: d.name, slot: o.slot }],
      subscriptionAddress(d.name),
      gained,
    );
  return {
    catchUpBefore: {
      node: d.from,
      publications: gained,
      slots: [o.slot],
      ...(reshaped.length > 0 ? { reshaped: [...reshaped] } : {}),
    },
  };
}

/**
 * Readers these waits cannot be for, each refused with the cause and the way out instead of a
 * wait that can only end at its ceiling:
 * - a subscription the last failover of its publisher left diverged: steep tells it not to
 *   resume, so nothing says its worker streams again before the failover's way out (its full
 *   reinit), and that way out copies its tables past any such hole anyway. Where its connection
 *   still names the old primary, that way out follows the apply that re-points it, which this
 *   refusal stops too: the refusal names the apply without `publications` (what it would read)
 *   first;
 * - 14–17: a slot that cannot decode past a publication's creation (the observed slot's
 *   `stuckAt`, workflows/stuckSlots.ts) never confirms a position past now.
 */
export function refuseStuckReaders(
  ctx: PlanContext,
  from: string,
  readers: ReadonlyArray<{ subscription: string; slot: string }>,
  address: Address | string,
  publications: readonly string[],
): void {
  const publisher = ctx.node(from);
  for (const r of readers) {
    const spec = ctx.desired.subscriptions[r.subscription];
    if (spec && ctx.failoverDiverged.has(r.subscription)) {
      const elsewhere = withWayBack(ctx.desired, ctx.observed, spec).connectsTo;
      ctx.error(
        'failover-diverged',
        `subscription ${r.subscription} on ${spec.node} is diverged since the failover of ${from} (this plan's warning failover.diverged says why): ` +
          `this step would wait for its slot ${r.slot} to confirm a position past now, which steep cannot expect of a subscription it tells not to resume; ` +
          (elsewhere
            ? repointFirst(r.subscription, elsewhere, publications)
            : "follow that warning's way out first, then run steep apply again"),
        { address, node: from },
      );
      continue;
    }
    const stuck = publisher?.slots[r.slot]?.stuckAt;
    if (stuck === undefined) continue;
    ctx.error(
      'slot-stuck',
      `${publicationHoleText({ ...r, from }, stuck, publisher!.serverVersion)}: this step's wait for it to confirm a position past now would never end; ` +
        `${publicationHoleWayOut(r.subscription)}, then run steep apply again`,
      { address, node: from },
    );
  }
}

/**
 * The way out of a diverged reader whose connection still names another node (`elsewhere`): the
 * failover's own way out comes after the apply that re-points it, which a plan with this step
 * never runs; without `publications` in its list the plan has no such step.
 */
function repointFirst(subscription: string, elsewhere: string, publications: readonly string[]): string {
  const it = publications.length === 1 ? 'it' : 'them';
  return (
    `its connection still names ${elsewhere}, and that warning's way out follows the steep apply that re-points it, which this step stops: ` +
    `leave ${publications.join(', ')} out of ${subscription}'s publications in steep.yaml, run steep apply, follow that warning's way out, ` +
    `then put ${it} back and run steep apply again`
  );
}

/** What the step's reason adds for that wait ('' without one). */
export function catchUpBeforeText({ catchUpBefore: c }: Pick<Step, 'catchUpBefore'>): string {
  if (!c) return '';
  const one = c.publications.length === 1;
  const since = [
    ...(c.publications.length > 0
      ? [
          `${c.publications.join(', ')} exist${one ? 's' : ''} already (a change decoded from before ${one ? 'it' : 'them'} would be lost)`,
        ]
      : []),
    ...(c.reshaped ? [reshapedText(c.reshaped)] : []),
  ];
  return `; first waits until slot ${c.slots.join(', ')} on ${c.node} has confirmed a position past now, since ${since.join(', and ')}`;
}

/**
 * Why a refresh that copies a partition tree in another shape waits first (the subscriber
 * emptied, then a change sent under the old shape applied before the refresh, would be copied
 * again: the table sync fails on its duplicate key for ever).
 */
export function reshapedText(tables: readonly string[]): string {
  return (
    `${tables.join(', ')} ${tables.length === 1 ? 'is' : 'are'} copied in another shape of ${tables.length === 1 ? 'its' : 'their'} partition tree ` +
    '(a change sent under the old shape and applied after the emptying would be copied again)'
  );
}
