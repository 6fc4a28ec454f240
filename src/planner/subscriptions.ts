import type { ObservedNode, ObservedSubscription } from '../model/cluster.js';
import { isUnknown } from '../model/cluster.js';
import { buildConninfo, maskConninfo, sameConninfo } from '../model/conninfo.js';
import { formatOwnership } from '../model/ownership.js';
import type { Change, Hazard, Statement } from '../model/plan.js';
import type { SubscriptionOptionName, SubscriptionOptions, SubscriptionSpec } from '../model/topology.js';
import { adoptionWords, desiredComment, reportUnmanaged } from './adopt.js';
import {
  compareText,
  declaredText,
  listText,
  PHASE,
  type PlanContext,
  sameJson,
  sortedKeys,
  stepKey,
} from './context.js';
import { copyEstimate } from './copyEstimate.js';
import { warnOriginCopy } from './cycles.js';
import { joiningTables, newTablesDecision } from './dataGaps.js';
import {
  effectiveSubscriptionOptions,
  majorVersion,
  OPTION_MIN_VERSION,
  SLOT_OPTIONS,
  STREAMING_PARALLEL_MIN_VERSION,
  SUBSCRIPTION_OPTIONS,
  supportsOption,
  TWO_PHASE_ALTER_MIN_VERSION,
} from './defaults.js';
import { sha256Hex, subscriptionDigest } from './digest.js';
import type { DoubleApply } from './doubleApply.js';
import { changedOutsideSteep, recordDrift } from './drift.js';
import {
  manualPending,
  ownCopyPending,
  planInitAfterCreate,
  planInitOfExisting,
  twoPhasePending,
} from './init.js';
import { copiedTables, copyPath, existingData } from './initCopy.js';
import { type ManualReadiness, manualReadiness } from './manualInit.js';
import { checkLinkVersions, planMergeInits } from './mergeInit.js';
import { type PublicationsOutcome, publicationRef } from './publications.js';
import {
  planSeparateSlot,
  refuseSameServerMerge,
  sameServer,
  sameServerText,
  separateSlotText,
} from './sameServer.js';
import { prepareSlot } from './slots.js';
import {
  alterSubscriptionSql,
  commentOnSql,
  createSubscriptionSql,
  dropSubscriptionStatements,
  nonTx,
  refreshSubscriptionSql,
  setSubscriptionOptionsSql,
  setSubscriptionPublicationSql,
  subscriptionConnectionSql,
  tx,
} from './sqlBuild.js';
import {
  refreshCopy,
  refreshText,
  relationsDiffer,
  relationsDrifted,
  subscriptionRelations,
} from './subscriptionTables.js';

/**
 * Subscriptions: create (with the init method's copy_data/create_slot), alter in place
 * (connection, publications, enabled, options; failover/twoPhase as disable → alter → enable),
 * replace only for the publisher, the slot, or twoPhase before 18; delete what this topology
 * manages and the file no longer declares.
 */

export const UNKNOWN_TEXT = '(unknown)';

export function subscriptionAddress(name: string): string {
  return `subscription.${name}`;
}

/** What the subscriptions' planning needs from the modules planned before it. */
export interface SubscriptionInputs {
  publications: PublicationsOutcome;
  doubleApply: DoubleApply;
}

interface Run extends SubscriptionInputs {
  /** addresses with an object-level error: no step is planned for them */
  blocked: Set<string>;
}

export function planSubscriptions(ctx: PlanContext, inputs: SubscriptionInputs): void {
  const run: Run = { ...inputs, blocked: new Set(inputs.doubleApply.blocked) };
  const topology = ctx.desired.topology;
  for (const node of ctx.reachableNodes()) {
    for (const name of sortedKeys(node.subscriptions)) {
      const o = node.subscriptions[name]!;
      const address = subscriptionAddress(name);
      const fate = ctx.fateOfSubscription(node.name, name);
      if (fate === 'foreign') {
        // another topology's object: an error only when this file claims it (no takeover)
        if (ctx.desired.subscriptions[name]?.node === node.name) {
          ctx.error(
            'foreign-owner',
            `subscription ${name} on ${node.name} is managed by steep topology ${o.managedBy!.topology}, not ${topology}: ` +
              `steep does not take over another topology's objects; manage it from that topology's file or remove it from this one`,
            { address, node: node.name },
          );
          run.blocked.add(address);
        } else reportUnmanaged(ctx, node.name, 'subscription', name, o.managedBy);
      } else if (fate === 'unmanaged') {
        reportUnmanaged(ctx, node.name, 'subscription', name, null);
      } else if (fate === 'delete') {
        planSubscriptionDelete(ctx, node, o);
      }
    }
  }
  for (const name of sortedKeys(ctx.desired.subscriptions)) {
    planDesiredSubscription(ctx, run, ctx.desired.subscriptions[name]!);
  }
  planMergeInits(ctx, (d) => {
    const conn = desiredConnection(ctx, d);
    return conn ? createStatements(ctx, d, conn, initPlan(ctx, d)) : [];
  });
}

// ---------------------------------------------------------------------------------------------

interface DesiredConnection {
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
  const spec = publisher.replicationConnection ?? publisher.connection;
  const passfile = publisher.replicationPassfile;
  const masked = buildConninfo(spec, { passfile, maskPassword: true });
  return { real: buildConninfo(spec, { passfile }), masked, hash: sha256Hex(masked) };
}

function versionText(node: ObservedNode): string {
  return `${node.name} runs PostgreSQL ${node.serverVersionText || majorVersion(node.serverVersion)}`;
}

/** Options the subscriber's version lacks: plan errors naming option, node and version. */
function checkOptions(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode): boolean {
  let ok = true;
  const where = { address: subscriptionAddress(d.name), node: node.name };
  for (const name of SUBSCRIPTION_OPTIONS) {
    if (d.options[name] === undefined || supportsOption(name, node.serverVersion)) continue;
    ok = false;
    ctx.error(
      'unsupported-option',
      `subscription ${d.name}: option ${name} needs PostgreSQL ${majorVersion(OPTION_MIN_VERSION[name])} or later; ${versionText(node)}`,
      where,
    );
  }
  if (d.options.streaming === 'parallel' && node.serverVersion < STREAMING_PARALLEL_MIN_VERSION) {
    ok = false;
    ctx.error(
      'unsupported-option',
      `subscription ${d.name}: option streaming: parallel needs PostgreSQL ${majorVersion(STREAMING_PARALLEL_MIN_VERSION)} or later; ${versionText(node)}`,
      where,
    );
  }
  return ok;
}

interface InitPlan {
  copyData: boolean;
  createSlot: boolean;
  enabled: boolean;
}

/**
 * What the init method means for CREATE SUBSCRIPTION. steep's own copy creates the slot itself
 * (with its exported snapshot), so the subscription starts disabled without a slot or a copy.
 */
function initPlan(ctx: PlanContext, d: SubscriptionSpec, forCreate = true): InitPlan {
  const prepared =
    d.init.method === 'manual' ||
    d.init.method === 'two-phase' ||
    (forCreate && copyPath(ctx.desired, ctx.observed, d).own);
  return {
    copyData: d.init.method === 'snapshot' && !prepared,
    createSlot: !prepared,
    enabled: prepared ? false : d.enabled,
  };
}

/** `existingData: keep`: the rows are there, so it streams from its own new slot and copies nothing. */
const keepInit = (d: SubscriptionSpec): InitPlan => ({
  copyData: false,
  createSlot: true,
  enabled: d.enabled,
});

/** The options the file sets (those the version has: the rest are errors already). */
function fileOptions(d: SubscriptionSpec): Partial<SubscriptionOptions> {
  const out: Partial<SubscriptionOptions> = {};
  for (const name of SUBSCRIPTION_OPTIONS) {
    const v = d.options[name];
    if (v !== undefined) (out as Record<string, unknown>)[name] = v;
  }
  return out;
}

function createStatements(
  ctx: PlanContext,
  d: SubscriptionSpec,
  conn: DesiredConnection,
  init: InitPlan,
): Statement[] {
  const sql = createSubscriptionSql({
    name: d.name,
    conninfo: conn.masked,
    publications: [...d.publications].sort(compareText),
    slot: d.slot,
    enabled: init.enabled,
    copyData: init.copyData,
    createSlot: init.createSlot,
    options: fileOptions(d),
  });
  return [
    init.createSlot ? nonTx(sql) : tx(sql),
    tx(commentOnSql('SUBSCRIPTION', d.name, ownershipComment(ctx, conn, d.protect))),
  ];
}

function ownershipComment(ctx: PlanContext, conn: DesiredConnection, protect: boolean): string {
  return formatOwnership({ topology: ctx.desired.topology, connHash: conn.hash, protect });
}

interface DropPlan {
  statements: Statement[];
  dropsSlot: boolean;
}

/**
 * DROP SUBSCRIPTION drops its slot on the publisher (outside a transaction). When the
 * publisher is known to be down that would fail, so the slot is detached first and left there.
 */
function dropStatements(ctx: PlanContext, o: ObservedSubscription, subscriber: string): DropPlan {
  if (o.slotNone) return { statements: dropSubscriptionStatements(o.name, 'none'), dropsSlot: false };
  if (ctx.unreachable(o.from)) {
    ctx.warn(
      'slot-left',
      `subscription ${o.name} on ${subscriber}: its publisher ${o.from} is unreachable, so slot ${o.slot} is left on ${o.from}, ` +
        `where it retains WAL until dropped; once ${o.from} is back, run SELECT pg_drop_replication_slot('${o.slot}') there`,
      { address: subscriptionAddress(o.name), node: subscriber },
    );
    return { statements: dropSubscriptionStatements(o.name, 'detach'), dropsSlot: false };
  }
  return { statements: dropSubscriptionStatements(o.name, 'drop'), dropsSlot: true };
}

function publisherSlot(ctx: PlanContext, publisher: string, slot: string) {
  return ctx.node(publisher)?.slots[slot] ?? null;
}

function subscriptionDeps(run: Run, d: SubscriptionSpec): string[] {
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
  init: InitPlan,
  version: number,
): Change[] {
  const changes: Change[] = [
    { path: 'from', before: null, after: d.from },
    { path: 'publications', before: null, after: [...d.publications].sort(compareText) },
    { path: 'slot', before: null, after: d.slot },
    { path: 'enabled', before: null, after: init.enabled },
    { path: 'connection', before: null, after: conn.masked },
  ];
  const eff = effectiveSubscriptionOptions(d.options, version);
  for (const name of SUBSCRIPTION_OPTIONS) {
    if (eff[name] !== undefined) changes.push({ path: `options.${name}`, before: null, after: eff[name] });
  }
  return changes;
}

function initWarnings(ctx: PlanContext, d: SubscriptionSpec): void {
  // manual: init.ts says what is missing (prepare, the LSN) instead
  if (d.init.method !== 'two-phase') return;
  const completes = `steep snapshot generate ${d.name} and steep snapshot apply ${d.name}`;
  ctx.warn(
    'init-method',
    `subscription ${d.name} uses init method ${d.init.method}: it is created disabled, with create_slot = false and ` +
      `copy_data = false on the prepared slot ${d.slot}; the method's own steps complete it: ${completes} ` +
      `(a snapshot seeds exactly one subscription, on its slot: every two-phase subscription needs its own)`,
    { address: subscriptionAddress(d.name), node: d.node },
  );
}

function planDesiredSubscription(ctx: PlanContext, run: Run, d: SubscriptionSpec): void {
  const node = ctx.node(d.node);
  const address = subscriptionAddress(d.name);
  if (!node || run.blocked.has(address)) return;
  const conn = desiredConnection(ctx, d);
  if (!conn) {
    ctx.error('unknown-node', `subscription ${d.name}: its publisher ${d.from} is not a node of steep.yaml`, {
      address,
      node: d.node,
    });
    return;
  }
  if (!checkLinkVersions(ctx, d) || !checkOptions(ctx, d, node)) {
    run.blocked.add(address);
    return;
  }
  const o = node.subscriptions[d.name];
  if (!o) planCreate(ctx, run, d, node, conn);
  else {
    planChange(ctx, run, d, node, o, conn);
    const step = ctx.steps.find((s) => s.key === stepKey('subscription', node.name, d.name));
    const keeps = step?.changes.some((c) => c.path === 'init.keep') === true;
    if (step?.kind === 'subscription-create') {
      if (!keeps) planInitAfterCreate(ctx, d, node, null);
    } else planInitOfExisting(ctx, d, node, o);
  }
}

function planCreate(
  ctx: PlanContext,
  run: Run,
  d: SubscriptionSpec,
  node: ObservedNode,
  conn: DesiredConnection,
): void {
  if (refuseSameServerMerge(ctx, run.blocked, d)) return;
  let init = initPlan(ctx, d);
  const address = subscriptionAddress(d.name);
  initWarnings(ctx, d);
  let manual: ManualReadiness | null = null;
  if (d.init.method === 'manual') {
    // created only on its prepared slot, once steep knows where the restored data starts
    manual = manualReadiness(ctx, d, node);
    if (!manual.ok) return;
  }
  const data = existingData(ctx, d, node);
  if (!data.ok) return;
  if (data.keep) init = keepInit(d);
  const own = !data.keep && d.init.method === 'snapshot' && copyPath(ctx.desired, ctx.observed, d).own;
  const slot = prepareSlot(ctx, d, { createSlot: init.createSlot || own, ownDropFreesSlot: false });
  if (!slot.ok) return;
  warnOriginCopy(ctx, d, init.copyData || own);
  if (init.createSlot || own)
    ctx.slotChanges.push({ node: d.from, slot: d.slot, change: 'create', streams: d.enabled });
  const slotStep = init.createSlot
    ? planSeparateSlot(ctx, d, [...subscriptionDeps(run, d), ...slot.deps])
    : null;
  if (slotStep) init = { ...init, createSlot: false };
  ctx.addStep({
    key: stepKey('subscription', node.name, d.name),
    phase: PHASE.subscription,
    address,
    node: node.name,
    kind: 'subscription-create',
    action: 'create',
    reason: 'absent',
    reasonText: `${declaredText(d)}, absent on ${node.name}${slotStep ? `; ${separateSlotText(ctx, d)}` : ''}`,
    changes: [...createChanges(d, conn, init, node.serverVersion), ...data.changes],
    statements: [...data.statements, ...createStatements(ctx, d, conn, init)],
    hazards: [...(init.copyData || own ? (['copies-data'] as const) : []), ...data.hazards],
    deps: [...subscriptionDeps(run, d), ...slot.deps, ...(slotStep ? [slotStep] : [])],
    catalogDigest: subscriptionDigest(null, publisherSlot(ctx, d.from, d.slot)),
    ...(init.copyData || own
      ? { copy: copyEstimate(ctx, d.from, copiedTables(ctx.desired, ctx.observed, d)) }
      : {}),
  });
  if (!data.keep) planInitAfterCreate(ctx, d, node, manual);
}

interface ConnectionComparison {
  differs: boolean;
  before: string;
  /** why the value could not be compared directly, for the reason text */
  note?: string;
}

function compareConnection(o: ObservedSubscription, conn: DesiredConnection): ConnectionComparison {
  if (!isUnknown(o.conninfo)) {
    return { differs: !sameConninfo(conn.real, o.conninfo), before: maskConninfo(o.conninfo) };
  }
  if (o.managedBy?.connHash) {
    if (o.managedBy.connHash === conn.hash) return { differs: false, before: UNKNOWN_TEXT };
    return {
      differs: true,
      before: UNKNOWN_TEXT,
      note:
        'its connection string cannot be read (the role may not read pg_subscription.subconninfo), and the hash steep ' +
        'recorded in its comment differs from the connection steep.yaml gives',
    };
  }
  return {
    differs: true,
    before: UNKNOWN_TEXT,
    note:
      'its connection string cannot be read (the role may not read pg_subscription.subconninfo) and steep recorded no ' +
      'hash of it, so it is never assumed equal: it is set again',
  };
}

function planChange(
  ctx: PlanContext,
  run: Run,
  d: SubscriptionSpec,
  node: ObservedNode,
  o: ObservedSubscription,
  conn: DesiredConnection,
): void {
  const address = subscriptionAddress(d.name);
  const version = node.serverVersion;
  const changes: Change[] = [];
  const replaceBecause: string[] = [];
  // a manual init waiting for its origin advance: its init step enables it, not an ALTER here
  const desiredEnabled =
    manualPending(node, d, o) || ownCopyPending(ctx, node, d, o) || twoPhasePending(node, d, o)
      ? o.enabled
      : d.enabled;

  if (o.from === '') {
    ctx.warn(
      'publisher-unknown',
      `subscription ${d.name} on ${node.name}: the catalog could not tell which node it subscribes from; it is compared by its connection only`,
      { address, node: node.name },
    );
  } else if (o.from !== d.from) {
    changes.push({ path: 'from', before: o.from, after: d.from });
    replaceBecause.push('from (its publisher)');
  }
  const observedSlot = o.slotNone ? null : o.slot;
  if (observedSlot !== d.slot) {
    changes.push({ path: 'slot', before: observedSlot, after: d.slot });
    replaceBecause.push('slot');
  }
  const desiredPubs = [...d.publications].sort(compareText);
  const observedPubs = [...o.publications].sort(compareText);
  const pubsChanged = !sameJson(desiredPubs, observedPubs);
  if (pubsChanged) changes.push({ path: 'publications', before: observedPubs, after: desiredPubs });
  if (o.enabled !== desiredEnabled)
    changes.push({ path: 'enabled', before: o.enabled, after: desiredEnabled });
  const connection = compareConnection(o, conn);
  if (connection.differs) changes.push({ path: 'connection', before: connection.before, after: conn.masked });

  const eff = effectiveSubscriptionOptions(d.options, version);
  const regular: Partial<SubscriptionOptions> = {};
  const slotOptions: Partial<SubscriptionOptions> = {};
  for (const name of SUBSCRIPTION_OPTIONS) {
    const want = eff[name];
    const have = o.options[name];
    if (want === undefined || have === undefined || want === have) continue;
    changes.push({ path: `options.${name}`, before: have, after: want });
    if (name === 'twoPhase' && version < TWO_PHASE_ALTER_MIN_VERSION) {
      replaceBecause.push(
        `options.twoPhase (PostgreSQL ${majorVersion(version)} cannot alter two_phase; 18 can)`,
      );
    }
    const target = SLOT_OPTIONS.includes(name) ? slotOptions : regular;
    (target as Record<SubscriptionOptionName, unknown>)[name] = want;
  }
  const comment = desiredComment(o.comment, ownershipComment(ctx, conn, d.protect));
  const adopted = o.managedBy === null;
  const commentChanged = o.comment !== comment;
  if (commentChanged) changes.push({ path: 'comment', before: o.comment, after: comment });

  // what pg_subscription_rel holds against what the publications publish (now: drift; after
  // this plan: the refresh); unknown when the publisher cannot be read: then a publication
  // whose tables this plan changes decides
  const relations = subscriptionRelations(ctx, d, o);
  if (relations && relationsDrifted(relations)) {
    ctx.drift.push({ address, path: 'tables', expected: relations.after, actual: relations.observed });
  }
  const stale = observedPubs.filter((p) => desiredPubs.includes(p));
  const changedPubs = stale.filter((p) => run.publications.membershipChanged.has(publicationRef(d.from, p)));
  const refreshFor = relations ? (changedPubs.length > 0 ? changedPubs : stale) : changedPubs;
  const needsRefresh = !pubsChanged && (relations ? relationsDiffer(relations) : changedPubs.length > 0);
  if (changes.length === 0 && !needsRefresh) return;
  // (tables added later are copied by PostgreSQL: steep's own copy seeds a new subscription)
  let copy = refreshCopy(ctx, d, relations, initPlan(ctx, d, false).copyData);
  if (copy === null) return;

  // being adopted is not drift; a managed object changed outside steep is
  const byHand = !adopted && changedOutsideSteep(node, address, subscriptionDigest(o, null));
  if (byHand) recordDrift(ctx, address, changes, false);

  if (replaceBecause.length > 0) {
    planReplace(ctx, run, d, node, o, conn, changes, replaceBecause);
    return;
  }

  // in place, in an order PostgreSQL accepts: failover/two_phase only while disabled, refresh only while enabled
  const statements: Statement[] = [];
  const hazards: Hazard[] = [];
  // tables joining a subscription that copies nothing: copied, or vouched for (data-gap), or an error
  if ((pubsChanged || needsRefresh) && desiredEnabled && !manualPending(node, d, o)) {
    const joining = newTablesDecision(
      ctx,
      d,
      node,
      o,
      relations ? relations.added.filter((t) => !relations.held.includes(t)) : undefined,
    );
    if (!joining.ok) return;
    if (joining.copy) copy = true;
    statements.push(...joining.statements);
    hazards.push(...joining.hazards);
    changes.push(...joining.changes);
  }
  let enabled = o.enabled;
  if (connection.differs) statements.push(tx(subscriptionConnectionSql(d.name, conn.masked)));
  if (Object.keys(regular).length > 0) statements.push(tx(setSubscriptionOptionsSql(d.name, regular)));
  if (Object.keys(slotOptions).length > 0) {
    if (enabled) {
      statements.push(tx(alterSubscriptionSql(d.name, 'DISABLE')));
      enabled = false;
    }
    // alters the slot on the publisher, which cannot be rolled back
    statements.push(nonTx(setSubscriptionOptionsSql(d.name, slotOptions)));
  }
  if (desiredEnabled && !enabled) {
    statements.push(tx(alterSubscriptionSql(d.name, 'ENABLE')));
    enabled = true;
  }
  if (pubsChanged) {
    if (enabled) {
      statements.push(nonTx(setSubscriptionPublicationSql(d.name, desiredPubs, true, copy)));
      if (copy) hazards.push('copies-data');
    } else {
      statements.push(tx(setSubscriptionPublicationSql(d.name, desiredPubs, false, false)));
      ctx.warn(
        'refresh-deferred',
        `subscription ${d.name} stays disabled, and PostgreSQL refreshes only an enabled subscription: its publication ` +
          `list is set without refresh; run ALTER SUBSCRIPTION ${d.name} REFRESH PUBLICATION once it is enabled`,
        { address, node: node.name },
      );
    }
    changes.push(
      { path: 'publications.refresh', before: null, after: enabled },
      { path: 'publications.copyData', before: null, after: enabled && copy },
    );
  } else if (needsRefresh) {
    if (enabled) {
      statements.push(nonTx(refreshSubscriptionSql(d.name, copy)));
      if (copy) hazards.push('copies-data');
    } else {
      ctx.warn(
        'refresh-deferred',
        `publication ${listText(refreshFor)} on ${d.from} changes its tables, but subscription ${d.name} is disabled ` +
          `and PostgreSQL refreshes only an enabled subscription; run ALTER SUBSCRIPTION ${d.name} REFRESH PUBLICATION once it is enabled`,
        { address, node: node.name },
      );
    }
    changes.push({
      path: 'refresh',
      before: null,
      after: {
        publications: refreshFor,
        copyData: enabled && copy,
        ...(relations
          ? { adds: relations.added, removes: relations.removed, alreadyHeld: relations.held }
          : {}),
      },
    });
  }
  if (!desiredEnabled && enabled) statements.push(tx(alterSubscriptionSql(d.name, 'DISABLE')));
  if (commentChanged) statements.push(tx(commentOnSql('SUBSCRIPTION', d.name, comment)));
  if (statements.length === 0) return;

  const attributePaths = changes
    .map((c) => c.path)
    .filter(
      (p) => p !== 'refresh' && !p.startsWith('publications.') && !p.startsWith('init.') && p !== 'comment',
    );
  const ownChanges = attributePaths.length > 0 || adopted || commentChanged;
  let reasonText: string;
  if (adopted) {
    reasonText = adoptionWords(node.name, o.comment, attributePaths).reasonText;
  } else if (attributePaths.length > 0) {
    reasonText = byHand
      ? `differs from steep.yaml on ${node.name}: ${listText(attributePaths)}`
      : `steep.yaml changes ${listText(attributePaths)} on ${node.name}`;
  } else if (commentChanged) {
    reasonText = `steep's marker on ${node.name} is out of date: its comment is set again`;
  } else {
    reasonText = `publication ${listText(refreshFor)} on ${d.from} changes the tables it publishes: the subscription refreshes to follow them`;
    if (relations) reasonText += refreshText(relations, copy);
  }
  if (connection.note) reasonText += `; ${connection.note}`;
  if (ownChanges && needsRefresh)
    reasonText += `; it also refreshes for the table changes of publication ${listText(refreshFor)}`;

  ctx.addStep({
    key: stepKey('subscription', node.name, d.name),
    phase: PHASE.subscription,
    address,
    node: node.name,
    kind: 'subscription-alter',
    action: adopted ? 'adopt' : 'update',
    reason: adopted ? 'unmarked' : byHand && ownChanges ? 'drifted' : 'config-changed',
    reasonText,
    changes,
    statements,
    hazards,
    deps: subscriptionDeps(run, d),
    catalogDigest: subscriptionDigest(o, publisherSlot(ctx, d.from, d.slot)),
    ...(hazards.includes('copies-data') ? { copy: copyEstimate(ctx, d.from, joiningTables(ctx, d, o)) } : {}),
  });
}

function planReplace(
  ctx: PlanContext,
  run: Run,
  d: SubscriptionSpec,
  node: ObservedNode,
  o: ObservedSubscription,
  conn: DesiredConnection,
  changes: Change[],
  because: string[],
): void {
  const address = subscriptionAddress(d.name);
  if (d.protect) {
    ctx.error(
      'protected',
      `subscription ${d.name} on ${node.name} is protected, cannot replace: ${listText(because)} cannot change in place, ` +
        'and steep will not drop a protected subscription; set protect: false to allow it',
      { address, node: node.name },
    );
    return;
  }
  let init = initPlan(ctx, d);
  // only the slot name differs: declaring the observed one keeps the subscription as it is
  const cheaperFix =
    because.length === 1 && because[0] === 'slot' && !o.slotNone
      ? `the cheaper fix: declare slot: ${o.slot} for subscription ${d.name} in steep.yaml, which keeps it streaming as it is`
      : undefined;
  const data = existingData(ctx, d, node, { because: listText(because), cheaperFix });
  if (!data.ok) return;
  if (data.keep) init = keepInit(d);
  if (cheaperFix)
    ctx.warn(
      'replace-cheaper',
      `subscription ${d.name} on ${node.name} is replaced only for its slot name; ${cheaperFix}`,
      { address, node: node.name },
    );
  const ownDropFreesSlot = !o.slotNone && o.from === d.from && o.slot === d.slot;
  initWarnings(ctx, d);
  const slot = prepareSlot(ctx, d, { createSlot: init.createSlot, ownDropFreesSlot });
  if (!slot.ok) return;
  if (init.createSlot && ownDropFreesSlot && sameServer(ctx, d.node, d.from)) {
    ctx.error(
      'same-server-replace',
      `subscription ${d.name} on ${node.name} would be replaced (${listText(because)}), but ${sameServerText(ctx, d.node, d.from)}: ` +
        `its slot ${d.slot} must be made again before the subscription, and the old one is dropped only with it; remove ` +
        `subscription ${d.name} from steep.yaml and run steep apply --allow-destroy, then declare it again and apply`,
      { address, node: node.name },
    );
    return;
  }
  const slotStep = init.createSlot
    ? planSeparateSlot(ctx, d, [...subscriptionDeps(run, d), ...slot.deps])
    : null;
  if (slotStep) init = { ...init, createSlot: false };
  const drop = dropStatements(ctx, o, node.name);
  warnOriginCopy(ctx, d, init.copyData);
  if (drop.dropsSlot) ctx.slotChanges.push({ node: o.from, slot: o.slot, change: 'drop', streams: false });
  if (init.createSlot)
    ctx.slotChanges.push({ node: d.from, slot: d.slot, change: 'create', streams: init.enabled });
  const hazards: Hazard[] = ['drops-object', ...data.hazards];
  if (drop.dropsSlot) hazards.push('drops-slot');
  if (init.copyData || (!data.keep && copyPath(ctx.desired, ctx.observed, d).own))
    hazards.push('copies-data');
  if (data.keep) {
    // the new slot starts where the create runs: what the publisher commits meanwhile never arrives
    hazards.push('data-gap');
    ctx.warn(
      'data-gap',
      `subscription ${d.name} on ${node.name} is replaced keeping its rows: rows committed on ${d.from} between the drop and the ` +
        'create are not replicated; pause writes to its tables while apply runs',
      { address, node: node.name },
    );
  }
  ctx.addStep({
    key: stepKey('subscription', node.name, d.name),
    phase: PHASE.subscription,
    address,
    node: node.name,
    kind: 'subscription-create',
    action: 'replace',
    reason: 'cannot-alter',
    reasonText:
      `${listText(because)} cannot be altered in place: the subscription is dropped${drop.dropsSlot ? ' with its slot' : ''} ` +
      `and created again on ${node.name}${init.copyData ? ', copying its tables again' : data.keep ? ', keeping the rows its tables hold (nothing is copied)' : ''}` +
      (slotStep ? `; ${separateSlotText(ctx, d)}` : ''),
    changes: [...changes, ...data.changes],
    // dropped first: the old subscription no longer writes into what is truncated and copied again
    statements: [...drop.statements, ...data.statements, ...createStatements(ctx, d, conn, init)],
    hazards,
    deps: [...subscriptionDeps(run, d), ...slot.deps, ...(slotStep ? [slotStep] : [])],
    catalogDigest: subscriptionDigest(o, publisherSlot(ctx, d.from, d.slot)),
    ...(hazards.includes('copies-data')
      ? { copy: copyEstimate(ctx, d.from, copiedTables(ctx.desired, ctx.observed, d)) }
      : {}),
  });
}

function planSubscriptionDelete(ctx: PlanContext, node: ObservedNode, o: ObservedSubscription): void {
  const moved = ctx.desired.subscriptions[o.name];
  if (moved?.protect) {
    // the file still declares it, protected, on another node: moving it drops this one
    ctx.error(
      'protected',
      `subscription ${o.name} is protected, cannot replace: steep.yaml declares it on ${moved.node}, which would drop it on ` +
        `${node.name}; set protect: false to allow the move`,
      { address: subscriptionAddress(o.name), node: node.name },
    );
    return;
  }
  if (o.managedBy?.protect) {
    ctx.error(
      'protected',
      `subscription ${o.name} on ${node.name} is protected (steep's marker records protect: true), so steep will not drop it; ` +
        'to drop it, declare it again with protect: false, apply, then remove it',
      { address: subscriptionAddress(o.name), node: node.name },
    );
    return;
  }
  const drop = dropStatements(ctx, o, node.name);
  if (drop.dropsSlot) ctx.slotChanges.push({ node: o.from, slot: o.slot, change: 'drop', streams: false });
  const hazards: Hazard[] = ['drops-object'];
  if (drop.dropsSlot) hazards.push('drops-slot');
  const changes: Change[] = [
    { path: 'from', before: o.from, after: null },
    { path: 'publications', before: [...o.publications].sort(compareText), after: null },
    { path: 'slot', before: o.slotNone ? null : o.slot, after: null },
    { path: 'enabled', before: o.enabled, after: null },
  ];
  ctx.addStep({
    key: stepKey('subscription-drop', node.name, o.name),
    phase: PHASE.subscriptionDrop,
    address: subscriptionAddress(o.name),
    node: node.name,
    kind: 'subscription-drop',
    action: 'delete',
    reason: 'removed-from-config',
    reasonText:
      `managed by steep (topology ${ctx.desired.topology}) on ${node.name} and no longer in steep.yaml` +
      (drop.dropsSlot ? `; dropping it also drops slot ${o.slot} on ${o.from}` : ''),
    changes,
    statements: drop.statements,
    hazards,
    deps: [],
    catalogDigest: subscriptionDigest(o, o.slotNone ? null : publisherSlot(ctx, o.from, o.slot)),
  });
}
