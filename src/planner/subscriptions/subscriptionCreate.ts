/**
 * A declared subscription made: the connection it is created with, CREATE SUBSCRIPTION with what
 * its init method means for copy_data, create_slot and enabled; the replace (its drop, then its
 * create) of one whose publisher, slot or — before 18 — twoPhase cannot change in place; the drop
 * of one this topology manages and the file no longer declares (its slot detached when the
 * publisher is down). Each as its changes, statements and reason.
 */
import { type Address, subscriptionAddress } from '../../model/address.js';
import { isUnknown, type ObservedNode, type ObservedSubscription } from '../../model/cluster.js';
import { publisherConninfo, sameConninfo } from '../../model/conninfo.js';
import { copiesAtCreate, INIT_METHOD, restoredByUser } from '../../model/initMethods.js';
import { compareText } from '../../model/order.js';
import { formatOwnership } from '../../model/ownership.js';
import type { Change, Statement } from '../../model/plan.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { startsUnderLocks } from '../../model/topology.js';
import { cloneText, sharedSlotRelative } from '../clones.js';
import { type DraftStep, declaredText, listText, PHASE, type PlanContext, stepKey } from '../context.js';
import { effectiveSubscriptionOptions } from '../defaults.js';
import { sha256Hex, subscriptionDigest } from '../digest.js';
import { followsPromotions } from '../failover/failover.js';
import { copyEstimate } from '../init/copyEstimate.js';
import { evidenceText } from '../init/init.js';
import { copiedTables, copyPath, existingData } from '../init/initCopy.js';
import { type ManualReadiness, restoreReadiness } from '../init/manualInit.js';
import { loadNote } from '../init/ownCopyLoad.js';
import type { ManagedDrop } from '../managedObjects.js';
import { mayReplace } from '../managedObjects.js';
import type { Rename } from '../renames.js';
import {
  buildDeferredIndexesStatements,
  commentOnSql,
  createSubscriptionSql,
  dropSubscriptionStatements,
  nonTx,
  tx,
} from '../sqlBuild.js';
import { refuseBinary } from './binaryCopy.js';
import { warnOriginCopy } from './cycles.js';
import { dropGap, recreateGap } from './dataGaps.js';
import type { DoubleApply } from './doubleApply.js';
import { wayBackSlotKey } from './linkWayBack.js';
import { planSeparateSlot, sameServer, sameServerText, separateSlotText } from './sameServer.js';
import { prepareSlot } from './slots.js';

/** What the subscriptions' planning needs from the modules planned before it. */
export interface SubscriptionInputs {
  /** `node/publication` (publicationRef) whose set of published tables changes in this plan: subscribers refresh */
  membershipChanged: ReadonlySet<string>;
  doubleApply: DoubleApply;
  /** renamed in place, by new name (`renames.ts`) */
  renames: ReadonlyMap<string, Rename>;
}

export interface SubscriptionRun extends SubscriptionInputs {
  /** addresses with an object-level error: no step is planned for them */
  blocked: Set<string>;
}

export interface DesiredConnection {
  /** with the password: compared with the catalog, never shown */
  real: string;
  /** what plans show and statements carry */
  masked: string;
  /** sha256 hex of `masked`, recorded in the ownership comment */
  hash: string;
}

export function desiredConnection(ctx: PlanContext, d: SubscriptionSpec): DesiredConnection | undefined {
  const publisher = ctx.desired.nodes[d.from];
  if (!publisher) return undefined;
  const connection = (withStandbys: boolean): DesiredConnection => {
    const masked = publisherConninfo(publisher, { maskPassword: true, withStandbys });
    return { real: publisherConninfo(publisher, { withStandbys }), masked, hash: sha256Hex(masked) };
  };
  // the standbys are never named: a subscriber that followed a promotion by itself could not be
  // judged (failover.ts); a connection naming them gets the publisher alone. While that cannot be
  // judged (a node unread), the subscription keeps the form it has
  const follows = followsPromotions(ctx.desired, ctx.observed, d);
  if (follows !== undefined) return connection(follows);
  const every = connection(true);
  const sub = ctx.observed.nodes[d.node];
  const o = sub?.reachable ? sub.subscriptions[d.name] : undefined;
  const hasEvery =
    o !== undefined &&
    (isUnknown(o.conninfo) ? o.managedBy?.connHash === every.hash : sameConninfo(every.real, o.conninfo));
  return hasEvery ? every : connection(false);
}

/** A declared subscription being planned: the file's, its reached subscriber, the connection it gets. */
export interface Declared {
  d: SubscriptionSpec;
  node: ObservedNode;
  conn: DesiredConnection;
}

/**
 * What the init method means for CREATE SUBSCRIPTION. steep's own copy creates the slot itself
 * (with its exported snapshot), so the subscription starts disabled without a slot or a copy.
 */
export function initPlan(ctx: PlanContext, d: SubscriptionSpec, forCreate = true) {
  const create = INIT_METHOD[d.init.method].create;
  const prepared = create.slotMadeBefore || (forCreate && copyPath(ctx.desired, ctx.observed, d).own);
  return {
    copyData: create.copyData && !prepared,
    createSlot: !prepared,
    enabled: prepared ? false : d.enabled,
  };
}

export function createStatements(
  ctx: PlanContext,
  d: SubscriptionSpec,
  conn: DesiredConnection,
  init: ReturnType<typeof initPlan>,
): Statement[] {
  // the options the file sets (those the version has: the rest are errors already)
  const sql = createSubscriptionSql(
    { ...d, publications: [...d.publications].sort(compareText) },
    conn.masked,
    init,
  );
  return [
    init.createSlot ? nonTx(sql) : tx(sql),
    tx(commentOnSql('SUBSCRIPTION', d.name, ownershipComment(ctx, conn, d))),
  ];
}

/** steep's marker; with the slot a rename kept when the file does not say `slot:` (its default then). */
export function ownershipComment(ctx: PlanContext, conn: DesiredConnection, d: SubscriptionSpec): string {
  const slot = d.slotKept ? d.slot : undefined;
  return formatOwnership({
    topology: ctx.desired.topology,
    connHash: conn.hash,
    protect: d.protect,
    ...(slot ? { slot } : {}),
  });
}

/**
 * DROP SUBSCRIPTION drops its slot on the publisher (outside a transaction). When the
 * publisher is known to be down that would fail, and when the slot is a clone relative's
 * (clones.ts) it would drop another node's live slot: so the slot is detached first and left there.
 * A dropped slot is counted in the plan's slot changes.
 */
function dropStatements(
  ctx: PlanContext,
  o: ObservedSubscription,
  subscriber: string,
): { statements: Statement[]; dropsSlot: boolean; slotLeftTo: string | null } {
  const relative = sharedSlotRelative(ctx, subscriber, o);
  const slot = o.slotNone ? 'none' : ctx.unreachable(o.from) || relative ? 'detach' : 'drop';
  if (relative)
    ctx.warn(
      'clone-leftover',
      `${cloneText(ctx, subscriber, relative, o)}; so ${subscriber}'s copy is detached from the slot (DISABLE, SET (slot_name = NONE)) before it is dropped, and the slot is left to ${relative}`,
      {
        address: subscriptionAddress(o.name),
        node: subscriber,
      },
    );
  else if (slot === 'detach')
    ctx.warn(
      'slot-left',
      `subscription ${o.name} on ${subscriber}: its publisher ${o.from} is unreachable, so slot ${o.slot} is left on ${o.from}, ` +
        `where it retains WAL until dropped; once ${o.from} is back, run SELECT pg_drop_replication_slot('${o.slot}') there`,
      { address: subscriptionAddress(o.name), node: subscriber },
    );
  if (slot === 'drop') ctx.slotChanges.push({ node: o.from, slot: o.slot, change: 'drop', streams: false });
  // mid-init, steep's own copy may have deferred indexes of the tables it was loading
  const init = ctx.node(subscriber)?.initState?.subscriptions[o.name]?.state;
  const deferred =
    init === 'preparing' || init === 'copying' || init === 'failed'
      ? buildDeferredIndexesStatements(ctx.desired.settings.stateSchema, subscriber, o.name)
      : [];
  return {
    statements: [...deferred, ...dropSubscriptionStatements(o.name, slot)],
    dropsSlot: slot === 'drop',
    slotLeftTo: relative,
  };
}

export function publisherSlot(ctx: PlanContext, publisher: string, slot: string) {
  return ctx.node(publisher)?.slots[slot] ?? null;
}

/**
 * Where a create's slot comes from and what the create waits for: a slot taken over (a snapshot
 * link's way back, linkWayBack.ts) or made by a step of its own (planSeparateSlot) means
 * create_slot = false; a snapshot link's first edge waits for its way back's slot, made and
 * checked first. A merge makes its slots itself, before its write locks (planner/init/mergeInit.ts).
 */
function slotSource<T extends { createSlot: boolean }>(
  ctx: PlanContext,
  run: SubscriptionRun,
  d: SubscriptionSpec,
  slot: { deps: string[]; takeOver?: true },
  init: T,
): { init: T; deps: string[]; slotStep: string | null } {
  const wayBack = wayBackSlotKey(ctx, d);
  const deps = [...subscriptionDeps(run, d), ...slot.deps, ...(wayBack ? [wayBack] : [])];
  const slotStep =
    init.createSlot && !slot.takeOver && !startsUnderLocks(d.init) ? planSeparateSlot(ctx, d, deps) : null;
  return {
    init: slot.takeOver || slotStep ? { ...init, createSlot: false } : init,
    deps: [...deps, ...(slotStep ? [slotStep] : [])],
    slotStep,
  };
}

/** What a subscription's create or alter waits for: its publisher's state schema and publications, a drop it replaces. */
export function subscriptionDeps(run: SubscriptionRun, d: SubscriptionSpec): string[] {
  return [
    stepKey('state', d.from),
    ...[...d.publications].sort(compareText).map((p) => stepKey('publication', d.from, p)),
    ...(run.doubleApply.waitFor.get(d.name) ?? []),
  ];
}

/** Every attribute as a change from nothing, for a create. */
function createChanges(
  d: SubscriptionSpec,
  conn: DesiredConnection,
  init: ReturnType<typeof initPlan>,
  version: number,
): Change[] {
  const eff = effectiveSubscriptionOptions(d.options, version);
  return [
    { path: 'from', before: null, after: d.from },
    { path: 'publications', before: null, after: [...d.publications].sort(compareText) },
    { path: 'slot', before: null, after: d.slot },
    { path: 'enabled', before: null, after: init.enabled },
    { path: 'connection', before: null, after: conn.masked },
    ...Object.entries(eff).map(([name, v]) => ({ path: `options.${name}`, before: null, after: v })),
  ];
}

function initWarnings(ctx: PlanContext, d: SubscriptionSpec): void {
  // manual: manualInit.ts says what is missing (prepare, the LSN) instead
  if (d.init.method !== 'two-phase') return;
  const prepared = ctx.node(d.from)?.slots[d.slot] !== undefined;
  ctx.warn(
    'init-method',
    `subscription ${d.name} uses init method two-phase: it is created disabled, with create_slot = false and ` +
      `copy_data = false, ${prepared ? `on the prepared slot ${d.slot};` : `on no slot yet; steep snapshot generate ${d.name} creates slot ${d.slot} and`} ` +
      `steep snapshot apply ${d.name} completes it (a snapshot seeds exactly one subscription, on its slot: every two-phase subscription needs its own)`,
    { address: subscriptionAddress(d.name), node: d.node },
  );
}

/** A planned create: its step, whether it keeps the rows there (no init step), a manual init's readiness. */
export function planCreate(ctx: PlanContext, run: SubscriptionRun, x: Declared) {
  const { d, node, conn } = x;
  let init = initPlan(ctx, d);
  initWarnings(ctx, d);
  let manual: ManualReadiness | null = null;
  if (restoredByUser(d.init.method)) {
    // created only on its prepared slot, once steep knows where the restored data starts
    manual = restoreReadiness(ctx, d, node);
    if (!manual.ok) return undefined;
  }
  const data = existingData(ctx, d, node);
  if (!data.ok) return undefined;
  if (!startsUnderLocks(d.init) && !recreateGap(ctx, d, node, data.keep)) return undefined;
  // `existingData: keep`: the rows are there, so it streams from its own new slot and copies nothing
  if (data.keep) init = { copyData: false, createSlot: true, enabled: d.enabled };
  const own = !data.keep && copiesAtCreate(d.init.method) && copyPath(ctx.desired, ctx.observed, d).own;
  const copies = init.copyData || own;
  if (refuseBinary(ctx, d, { copies: init.copyData })) return undefined;
  if (!dropGap(ctx, d, node, copies || startsUnderLocks(d.init) || d.init.method === 'two-phase'))
    return undefined;
  const createSlot = init.createSlot || own;
  const slot = prepareSlot(ctx, d, { createSlot, ownDropFreesSlot: false });
  if (!slot.ok) return undefined;
  warnOriginCopy(ctx, d, copies);
  if (createSlot) ctx.slotChanges.push({ node: d.from, slot: d.slot, change: 'create', streams: d.enabled });
  const slotted = slotSource(ctx, run, d, slot, init);
  init = slotted.init;
  const { slotStep } = slotted;
  const step: DraftStep = {
    key: stepKey('subscription', node.name, d.name),
    phase: PHASE.subscription,
    address: { kind: 'subscription', name: d.name },
    node: node.name,
    kind: 'subscription-create',
    action: 'create',
    reason: 'absent',
    reasonText: `${declaredText(d)}, absent on ${node.name}${slotStep ? `; ${separateSlotText(ctx, d)}` : ''}${d.init.method === 'two-phase' ? loadNote(node, 'steep snapshot apply') : ''}${
      // rows nobody copies (the DBA vouches for them) are compared like an init's (docs/status.md)
      INIT_METHOD[d.init.method].rows === 'vouched' && d.enabled ? `; ${evidenceText(ctx, d)}` : ''
    }`,
    changes: [...createChanges(d, conn, init, node.serverVersion), ...data.changes],
    statements: [...data.statements, ...createStatements(ctx, d, conn, init)],
    hazards: [...(copies ? (['copies-data'] as const) : []), ...data.hazards],
    deps: slotted.deps,
    catalogDigest: subscriptionDigest(null, publisherSlot(ctx, d.from, d.slot)),
    ...(copies ? { copy: copyEstimate(ctx, d.from, copiedTables(ctx.desired, ctx.observed, d)) } : {}),
  };
  return { step, keep: data.keep, manual };
}

/** The replace of a subscription whose `because` cannot change in place: its drop, then its create. */
export function planReplace(
  ctx: PlanContext,
  run: SubscriptionRun,
  x: Declared,
  o: ObservedSubscription,
  changes: Change[],
  because: string[],
): DraftStep | undefined {
  const { d, node, conn } = x;
  const address: Address = { kind: 'subscription', name: d.name };
  if (!mayReplace(ctx, 'subscription', d, node.name, address, `${listText(because)} cannot change in place,`))
    return undefined;
  const relative = sharedSlotRelative(ctx, node.name, o);
  if (relative) {
    ctx.error(
      'clone-replace',
      `subscription ${d.name} on ${node.name} would be replaced (${listText(because)}), but ${cloneText(ctx, node.name, relative, o)}: ` +
        `a replace would drop or reuse ${relative}'s slot; give ${node.name}'s subscription another name (and slot) in steep.yaml, so the copy is dropped and a new one created`,
      { address, node: node.name },
    );
    return undefined;
  }
  let init = initPlan(ctx, d);
  // only the slot name differs: declaring the observed one keeps the subscription as it is (a
  // link's subscriptions take no `slot:`)
  const cheaperFix =
    because.length === 1 && because[0] === 'slot' && !o.slotNone && d.link === undefined
      ? `the cheaper fix: declare slot: ${o.slot} for subscription ${d.name} in steep.yaml, which keeps it streaming as it is`
      : undefined;
  const data = existingData(ctx, d, node, { because: listText(because), cheaperFix });
  if (!data.ok) return undefined;
  if (refuseBinary(ctx, d, { copies: init.copyData })) return undefined;
  if (cheaperFix)
    ctx.warn(
      'replace-cheaper',
      `subscription ${d.name} on ${node.name} is replaced only for its slot name; ${cheaperFix}`,
      { address, node: node.name },
    );
  const ownDropFreesSlot = !o.slotNone && o.from === d.from && o.slot === d.slot;
  initWarnings(ctx, d);
  const slot = prepareSlot(ctx, d, { createSlot: init.createSlot, ownDropFreesSlot });
  if (!slot.ok) return undefined;
  // its new slot must be made before the subscription, on the same server as the old one it drops
  if (init.createSlot && ownDropFreesSlot && !startsUnderLocks(d.init) && sameServer(ctx, d.node, d.from)) {
    ctx.error(
      'same-server-replace',
      `subscription ${d.name} on ${node.name} would be replaced (${listText(because)}), but ${sameServerText(ctx, d.node, d.from)}: ` +
        `its slot ${d.slot} must be made again before the subscription, and the old one is dropped only with it; remove ` +
        `subscription ${d.name} from steep.yaml and run steep apply --allow-destroy, then declare it again and apply`,
      { address, node: node.name },
    );
    return undefined;
  }
  const slotted = slotSource(ctx, run, d, slot, init);
  init = slotted.init;
  const { slotStep } = slotted;
  const drop = dropStatements(ctx, o, node.name);
  warnOriginCopy(ctx, d, init.copyData);
  if (init.createSlot)
    ctx.slotChanges.push({ node: d.from, slot: d.slot, change: 'create', streams: init.enabled });
  // keeping the rows across a replace is a plan error (initCopy.ts existingData): it always copies
  const copies = init.copyData || copyPath(ctx.desired, ctx.observed, d).own;
  return {
    key: stepKey('subscription', node.name, d.name),
    phase: PHASE.subscription,
    address,
    node: node.name,
    kind: 'subscription-create',
    action: 'replace',
    reason: 'cannot-alter',
    reasonText:
      `${listText(because)} cannot be altered in place: the subscription is dropped${drop.dropsSlot ? ' with its slot' : ''} ` +
      `and created again on ${node.name}${init.copyData ? ', copying its tables again' : ''}` +
      (slotStep ? `; ${separateSlotText(ctx, d)}` : ''),
    changes: [...changes, ...data.changes],
    // dropped first: the old subscription no longer writes into what is truncated and copied again
    statements: [...drop.statements, ...data.statements, ...createStatements(ctx, d, conn, init)],
    hazards: [
      'drops-object',
      ...data.hazards,
      ...(drop.dropsSlot ? (['drops-slot'] as const) : []),
      ...(copies ? (['copies-data'] as const) : []),
    ],
    deps: slotted.deps,
    catalogDigest: subscriptionDigest(o, publisherSlot(ctx, d.from, d.slot)),
    ...(copies ? { copy: copyEstimate(ctx, d.from, copiedTables(ctx.desired, ctx.observed, d)) } : {}),
  };
}

/** The drop of a subscription this topology manages and the file no longer declares (with its slot, unless the publisher is down). */
export function subscriptionDrop(ctx: PlanContext, node: ObservedNode, o: ObservedSubscription): ManagedDrop {
  const drop = dropStatements(ctx, o, node.name);
  return {
    changes: [
      { path: 'from', before: o.from, after: null },
      { path: 'publications', before: [...o.publications].sort(compareText), after: null },
      { path: 'slot', before: o.slotNone ? null : o.slot, after: null },
      { path: 'enabled', before: o.enabled, after: null },
    ],
    statements: drop.statements,
    hazards: drop.dropsSlot ? ['drops-slot'] : [],
    deps: [],
    reasonSuffix: drop.dropsSlot
      ? `; dropping it also drops slot ${o.slot} on ${o.from}, once no walsender holds it (the step's statement timeout bounds that wait)`
      : drop.slotLeftTo
        ? `; its slot ${o.slot} on ${o.from} is ${drop.slotLeftTo}'s (a physical clone's copy) and is left`
        : '',
    catalogDigest: subscriptionDigest(o, o.slotNone ? null : publisherSlot(ctx, o.from, o.slot)),
  };
}
