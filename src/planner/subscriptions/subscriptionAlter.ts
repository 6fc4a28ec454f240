/**
 * An existing subscription against the file, as diff → statements → reason: what differs
 * (`SubscriptionDiff`: attributes, options, the refresh its publications' table changes call
 * for); the in-place statements, in an order PostgreSQL accepts (failover/two_phase only while
 * disabled, refresh only while enabled); the reason. What cannot change in place (publisher,
 * slot, twoPhase before 18) becomes a replace (`subscriptionCreate.ts`). One renamed in place
 * (`renames.ts`) opens its step with the RENAME (`renameStep.ts`).
 */

import { type Address, subscriptionAddress } from '../../model/address.js';
import { divergedWayOut } from '../../model/advice.js';
import type { ObservedNode, ObservedSubscription } from '../../model/cluster.js';
import { isUnknown } from '../../model/cluster.js';
import { maskConninfo, sameConninfo } from '../../model/conninfo.js';
import { disabledOnError, disabledOnErrorText, divergedDisabledText } from '../../model/disableOnError.js';
import { copiesJoiningTables } from '../../model/initMethods.js';
import { compareText } from '../../model/order.js';
import { commentWithMarker } from '../../model/ownership.js';
import { connectionPassword, passwordAddress, verifiesPassword } from '../../model/passwordVerifier.js';
import type { Change } from '../../model/plan.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import {
  majorVersion,
  SLOT_OPTIONS,
  SUBSCRIPTION_OPTIONS,
  TWO_PHASE_ALTER_MIN_VERSION,
} from '../../model/versions.js';
import { adoptionWords, type StepWords } from '../adopt.js';
import { type DraftStep, listText, PHASE, type PlanContext, sameJson, stepKey } from '../context.js';
import { effectiveSubscriptionOptions } from '../defaults.js';
import { subscriptionDigest } from '../digest.js';
import { recordDrift } from '../drift.js';
import { copiedLeaves, copyEstimate } from '../init/copyEstimate.js';
import { manualPending, ownCopyPending, twoPhasePending } from '../init/init.js';
import { catchUpBefore, catchUpBeforeText } from '../publications/publicationCatchUp.js';
import { publicationRef } from '../publications/publications.js';
import { renamePart, renameWords } from '../renameStep.js';
import {
  alterSubscriptionSql,
  commentOnSql,
  nonTx,
  refreshSubscriptionSql,
  setSubscriptionOptionsSql,
  setSubscriptionPublicationSql,
  subscriptionConnectionSql,
  tx,
} from '../sqlBuild.js';
import { refuseBinary } from './binaryCopy.js';
import { warnOriginRefreshCopy } from './cycles.js';
import { disabledJoinGap, joiningTables, type NewTablesDecision, newTablesDecision } from './dataGaps.js';
import { publicationListGaps } from './listGaps.js';
import { originNoneGap } from './originNoneGap.js';
import {
  type Declared,
  type DesiredConnection,
  ownershipComment,
  planReplace,
  publisherSlot,
  type SubscriptionRun,
  subscriptionDeps,
} from './subscriptionCreate.js';
import {
  refreshCopy,
  refreshText,
  relationsDiffer,
  relationsDrifted,
  subscriptionRelations,
} from './subscriptionTables.js';
import { copiedInAnotherShape, treeShapeGap } from './treeShapeGap.js';
import { refuseTwoPhaseCopy } from './twoPhaseRefresh.js';

export const UNKNOWN_TEXT = '(unknown)';

/**
 * `note`: why the value could not be compared directly, for the reason text. Unread, the
 * password is compared by the verifier apply recorded (model/passwordVerifier.ts).
 */
function compareConnection(
  o: ObservedSubscription,
  conn: DesiredConnection,
  password: { verifier: string | undefined; given: string | undefined },
) {
  if (!isUnknown(o.conninfo)) {
    return { differs: !sameConninfo(conn.real, o.conninfo), before: maskConninfo(o.conninfo) };
  }
  const hash = o.managedBy?.connHash;
  const rotated =
    password.verifier !== undefined &&
    password.given !== undefined &&
    verifiesPassword(password.verifier, password.given) === false;
  if (hash === conn.hash && rotated)
    return {
      differs: true,
      before: UNKNOWN_TEXT,
      note: 'the password steep.yaml gives for its publisher is not the one steep gave the subscription (a rotated password): its connection is set again',
    };
  if (hash === conn.hash) return { differs: false, before: UNKNOWN_TEXT };
  const unread = 'its connection string cannot be read (the role may not read pg_subscription.subconninfo)';
  return {
    differs: true,
    before: UNKNOWN_TEXT,
    note: hash
      ? `${unread}, and the hash steep recorded in its comment differs from the connection steep.yaml gives`
      : `${unread} and steep recorded no hash of it, so it is never assumed equal: it is set again`,
  };
}

/**
 * How an existing subscription differs from the file: every attribute that differs (file against
 * node, in the plan's order); what only a replace changes (publisher, slot, twoPhase before 18), as
 * the reason names it; `enabled` as this plan leaves it; the options set while enabled and those
 * (`slotOptions`: failover, twoPhase) set only while disabled; the comment steep sets; its
 * relations (null when the publisher cannot be read); whether it refreshes for its publications'
 * table changes (the publication list being the same), and for which.
 */
type SubscriptionDiff = ReturnType<typeof diffSubscription>;

function diffSubscription(ctx: PlanContext, run: SubscriptionRun, x: Declared, o: ObservedSubscription) {
  const { d, node, conn } = x;
  const address = subscriptionAddress(d.name);
  const version = node.serverVersion;
  const changes: Change[] = [];
  const replaceBecause: string[] = [];
  // disabled (by hand, or by PostgreSQL) after a failover that left it diverged: enabled, it
  // would resume past the fork; the failover's way out (its reinit --full) enables it
  const diverged = d.enabled && !o.enabled && ctx.failoverDiverged.has(d.name);
  // a manual init waiting for its origin advance: its init step enables it, not an ALTER here
  const enabled =
    manualPending(node, d, o) ||
    ownCopyPending(ctx, node, d, o) ||
    twoPhasePending(node, d, o) ||
    (d.enabled && disabledOnError(o)) ||
    diverged
      ? o.enabled
      : d.enabled;
  // PostgreSQL disabled it at an error (disable_on_error): enabled again, it would only err again
  // (after a failover that left it diverged, it would resume past the fork: no ENABLE is named)
  if (d.enabled && disabledOnError(o)) {
    ctx.warn(
      'subscription.disabled-on-error',
      `subscription ${d.name} on ${node.name}: ${disabledOnErrorText(d.name, node.name, `apply and sync ${o.errorsCounted ?? 0}`, diverged ? d.from : undefined)}`,
      { address, node: node.name },
    );
  } else if (diverged) {
    ctx.warn(
      'subscription.failover-diverged',
      `subscription ${d.name} on ${node.name} is disabled: ${divergedDisabledText(d.name, d.from)}; ${divergedWayOut(ctx.desired.subscriptions, d, ctx.failoverDiverged.get(d.name) === true)}`,
      { address, node: node.name },
    );
  }

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
  // a disabled subscription without a slot (what a switchover's release leaves) declared
  // `enabled: false`: it carries nothing either way; enabling it needs a slot, so then it differs
  const releasedAsDeclared = o.slotNone && !o.enabled && !d.enabled;
  if (observedSlot !== d.slot && !releasedAsDeclared) {
    changes.push({ path: 'slot', before: observedSlot, after: d.slot });
    replaceBecause.push('slot');
  }
  const publications = [...d.publications].sort(compareText);
  const observedPubs = [...o.publications].sort(compareText);
  const publicationsChanged = !sameJson(publications, observedPubs);
  if (publicationsChanged) changes.push({ path: 'publications', before: observedPubs, after: publications });
  if (o.enabled !== enabled) changes.push({ path: 'enabled', before: o.enabled, after: enabled });
  const publisher = ctx.desired.nodes[d.from];
  const connection = compareConnection(o, conn, {
    verifier: node.objectDigests?.[passwordAddress(address)],
    given: publisher ? connectionPassword(publisher) : undefined,
  });
  if (connection.differs) changes.push({ path: 'connection', before: connection.before, after: conn.masked });

  // each option to be set while enabled, or (failover, twoPhase) while disabled; twoPhase before 18 can only be replaced
  const eff = effectiveSubscriptionOptions(d.options, version);
  const have = o.options;
  const differ = SUBSCRIPTION_OPTIONS.filter(
    (n) => eff[n] !== undefined && have[n] !== undefined && eff[n] !== have[n],
  );
  for (const n of differ) changes.push({ path: `options.${n}`, before: have[n], after: eff[n] });
  if (differ.includes('twoPhase') && version < TWO_PHASE_ALTER_MIN_VERSION)
    replaceBecause.push(
      `options.twoPhase (PostgreSQL ${majorVersion(version)} cannot alter two_phase; 18 can)`,
    );
  const optionsSet = (slot: boolean) =>
    Object.fromEntries(differ.filter((n) => SLOT_OPTIONS.includes(n) === slot).map((n) => [n, eff[n]]));
  // released as declared: the marker keeps the slot a rename kept, for the slot is gone, not changed
  const kept =
    releasedAsDeclared && o.managedBy?.slot ? { slot: o.managedBy.slot, slotKept: true as const } : {};
  const comment = commentWithMarker(o.comment, ownershipComment(ctx, conn, { ...d, ...kept }));
  const commentChanged = o.comment !== comment;
  if (commentChanged) changes.push({ path: 'comment', before: o.comment, after: comment });

  // what pg_subscription_rel holds against what the publications publish (now: drift; after
  // this plan: the refresh); unknown when the publisher cannot be read: then a publication
  // whose tables this plan changes decides
  const relations = subscriptionRelations(ctx, d, o);
  if (relations && relationsDrifted(relations)) {
    ctx.drift.push({ address, path: 'tables', expected: relations.after, actual: relations.observed });
  }
  const stale = observedPubs.filter((p) => publications.includes(p));
  const changedPubs = stale.filter((p) => run.membershipChanged.has(publicationRef(d.from, p)));
  return {
    changes,
    replaceBecause,
    publications,
    publicationsChanged,
    enabled,
    connection,
    options: optionsSet(false),
    slotOptions: optionsSet(true),
    comment,
    commentChanged,
    relations,
    refreshFor: relations ? (changedPubs.length > 0 ? changedPubs : stale) : changedPubs,
    needsRefresh: !publicationsChanged && (relations ? relationsDiffer(relations) : changedPubs.length > 0),
  };
}

/**
 * The step for an existing subscription: an in-place alter, a replace, or none (nothing
 * differs, or an error refused it).
 */
export function planChange(
  ctx: PlanContext,
  run: SubscriptionRun,
  x: Declared,
  o: ObservedSubscription,
): DraftStep | undefined {
  const { d, node } = x;
  const address: Address = { kind: 'subscription', name: d.name };
  const renamed = run.renames.get(d.name);
  const diff = diffSubscription(ctx, run, x, o);
  if (diff.changes.length === 0 && !diff.needsRefresh && !renamed) return undefined;
  // (tables added later are copied by PostgreSQL: steep's own copy seeds a new subscription)
  const copy = refreshCopy(ctx, d, diff.relations, copiesJoiningTables(d.init.method));
  if (copy === null) return undefined;

  const byHand = recordDrift(ctx, node, address, o, renamed, diff.changes, (was) =>
    subscriptionDigest(was, null),
  );

  if (diff.replaceBecause.length > 0) {
    if (renamed) {
      ctx.error(
        'rename.replace',
        `subscription ${d.name}: renamed from ${renamed.from}, but its ${listText(diff.replaceBecause)} also changes, which only a drop and a create do; rename it first with the old values, apply, then change them`,
        { address, node: node.name },
      );
      return undefined;
    }
    return planReplace(ctx, run, x, o, diff.changes, diff.replaceBecause);
  }

  const alter = alterStatements(ctx, x, o, diff, copy);
  if (!alter || (alter.statements.length === 0 && !renamed)) return undefined;
  const words = alterWords(node, o, d, diff, alter.copy, byHand);
  const rename = renamed ? renamePart(ctx, 'subscription', renamed, o.slot) : undefined;
  const wait = catchUpBefore(ctx, d, o, diff.publications, copiedInAnotherShape(diff, alter.copy));
  const told = rename ? renameWords(rename, diff.changes, words, diff.needsRefresh) : words;
  return {
    key: stepKey('subscription', node.name, d.name),
    phase: PHASE.subscription,
    address,
    node: node.name,
    kind: 'subscription-alter',
    ...told,
    reasonText: `${told.reasonText}${catchUpBeforeText(wait)}`,
    changes: [...(rename ? [rename.change] : []), ...diff.changes, ...alter.changes],
    statements: [...(rename?.statements ?? []), ...alter.statements],
    hazards: alter.hazards,
    deps: [...subscriptionDeps(run, d), ...(rename ? [stepKey('state', node.name)] : [])],
    catalogDigest: subscriptionDigest(o, publisherSlot(ctx, d.from, d.slot)),
    ...(alter.hazards.includes('copies-data')
      ? {
          copy: copyEstimate(
            ctx,
            d.from,
            copiedLeaves(ctx, d.from, diff.relations?.fresh ?? joiningTables(ctx, d, o)),
          ),
        }
      : {}),
    ...wait,
    // the file disables it (its statements leave it disabled): apply records the errors counted then
    ...(o.enabled && !diff.enabled ? { disables: d.name } : {}),
  };
}

/**
 * The in-place alter, in an order PostgreSQL accepts: failover/two_phase only while disabled,
 * refresh only while enabled; `changes`: what it records beyond the diff (the joining tables'
 * decision, the refresh). Undefined when the tables that join are refused (an error says why).
 */
function alterStatements(
  ctx: PlanContext,
  x: Declared,
  o: ObservedSubscription,
  diff: SubscriptionDiff,
  refreshCopies: boolean,
): NewTablesDecision | undefined {
  const { d, node, conn } = x;
  const address = subscriptionAddress(d.name);
  const { relations, refreshFor } = diff;
  // tables joining a subscription that copies nothing: copied, or vouched for (data-gap), or an error
  const joining: NewTablesDecision | undefined =
    (diff.publicationsChanged || diff.needsRefresh) && diff.enabled && !manualPending(node, d, o)
      ? newTablesDecision(ctx, d, node, o, relations?.fresh)
      : { copy: false, statements: [], hazards: [], changes: [] };
  if (!joining) return undefined;
  const { statements, hazards, changes } = joining;
  const copy = !joining.keep && (refreshCopies || joining.copy);
  const refreshes = (diff.publicationsChanged || diff.needsRefresh) && diff.enabled;
  const copied = relations?.fresh ?? joiningTables(ctx, d, o);
  // made binary, every table streams in binary from now on; else only those that join
  if (o.options.binary !== true && refuseBinary(ctx, d, { copies: false })) return undefined;
  if (refreshes && refuseBinary(ctx, d, { copies: copy, tables: copied })) return undefined;
  if (refreshes && copy && refuseTwoPhaseCopy(ctx, d, o)) return undefined;
  if (copy && refreshes) warnOriginRefreshCopy(ctx, d, copied);
  let enabled = o.enabled;
  if (diff.connection.differs) statements.push(tx(subscriptionConnectionSql(d.name, conn.masked)));
  if (Object.keys(diff.options).length > 0) {
    statements.push(tx(setSubscriptionOptionsSql(d.name, diff.options)));
    const filtered = originNoneGap(ctx, d, node, o);
    hazards.push(...filtered.hazards);
    changes.push(...filtered.changes);
  }
  if (Object.keys(diff.slotOptions).length > 0) {
    if (enabled) {
      statements.push(tx(alterSubscriptionSql(d.name, 'DISABLE')));
      enabled = false;
    }
    // alters the slot on the publisher, which cannot be rolled back
    statements.push(nonTx(setSubscriptionOptionsSql(d.name, diff.slotOptions)));
  }
  if (diff.enabled && !enabled) {
    statements.push(tx(alterSubscriptionSql(d.name, 'ENABLE')));
    enabled = true;
  }
  // the publication list set (with its refresh), or a refresh for the publications' changed
  // tables: run only while enabled, else deferred with a warning
  if (diff.publicationsChanged) {
    const listed = publicationListGaps(ctx, d, node, o);
    hazards.push(...disabledJoinGap(ctx, d, node, o), ...listed.hazards);
    changes.push(...listed.changes);
    if (enabled) {
      statements.push(nonTx(setSubscriptionPublicationSql(d.name, diff.publications, true, copy)));
      if (copy) hazards.push('copies-data');
    } else {
      statements.push(tx(setSubscriptionPublicationSql(d.name, diff.publications, false, false)));
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
  } else if (diff.needsRefresh) {
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
  // refreshed (enabled): a partition tree received in another shape without a copy
  if (enabled && (diff.publicationsChanged || diff.needsRefresh)) {
    const shape = treeShapeGap(ctx, d, node, relations);
    hazards.push(...shape.hazards);
    changes.push(...shape.changes);
  }
  if (!diff.enabled && enabled) statements.push(tx(alterSubscriptionSql(d.name, 'DISABLE')));
  if (diff.commentChanged) statements.push(tx(commentOnSql('SUBSCRIPTION', d.name, diff.comment)));
  return { statements, hazards, changes, copy };
}

/** The action and reason of an in-place alter: an adoption, drift, the file changed, a stale marker, or a refresh. */
function alterWords(
  node: ObservedNode,
  o: ObservedSubscription,
  d: SubscriptionSpec,
  diff: SubscriptionDiff,
  copy: boolean,
  byHand: boolean,
): StepWords {
  const adopted = o.managedBy === null;
  const { relations, refreshFor } = diff;
  const attributePaths = diff.changes
    .map((c) => c.path)
    .filter((p) => !p.startsWith('init.') && p !== 'comment');
  const ownChanges = attributePaths.length > 0 || adopted || diff.commentChanged;
  let reasonText: string;
  if (adopted) {
    reasonText = adoptionWords(node.name, o.comment, attributePaths).reasonText;
  } else if (attributePaths.length > 0) {
    reasonText = byHand
      ? `differs from steep.yaml on ${node.name}: ${listText(attributePaths)}`
      : `steep.yaml changes ${listText(attributePaths)} on ${node.name}`;
  } else if (diff.commentChanged) {
    reasonText = `steep's marker on ${node.name} is out of date: its comment is set again`;
  } else {
    reasonText = `publication ${listText(refreshFor)} on ${d.from} changes the tables it publishes: the subscription refreshes to follow them`;
    if (relations) reasonText += refreshText(relations, copy);
  }
  if (diff.connection.note) reasonText += `; ${diff.connection.note}`;
  if (ownChanges && diff.needsRefresh)
    reasonText += `; it also refreshes for the table changes of publication ${listText(refreshFor)}`;
  return {
    action: adopted ? 'adopt' : 'update',
    reason: adopted ? 'unmarked' : byHand && ownChanges ? 'drifted' : 'config-changed',
    reasonText,
  };
}
