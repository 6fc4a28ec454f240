import { formatBytes } from '../../model/bytes.js';
import type { ObservedNode, ObservedSubscription } from '../../model/cluster.js';
import { comparisonText, FULL_BELOW_DEFAULT } from '../../model/initEvidence.js';
import { type InitMethod, restoredByUser } from '../../model/initMethods.js';
import type { InitState } from '../../model/initState.js';
import type { Statement } from '../../model/plan.js';
import { displayTable } from '../../model/sql.js';
import {
  DEFER_INDEXES_FROM,
  qualifiedName,
  type SubscriptionSpec,
  type TableName,
} from '../../model/topology.js';
import { type DraftStep, PHASE, type PlanContext, stepKey } from '../context.js';
import { digestOf } from '../digest.js';
import { alterSubscriptionSql, tx } from '../sqlBuild.js';
import { copyEstimate } from './copyEstimate.js';
import { copiedRelations, copiedTables, copyPath } from './initCopy.js';
import { type ManualReadiness, originAdvanceSql, restoreReadiness } from './manualInit.js';
import { loadNote } from './ownCopyLoad.js';
import { ownCopyStatements } from './ownCopyStatements.js';

/**
 * The `init` step (docs/steep-yaml.md): after a subscription is created (or replaced) in this plan, the
 * step that follows its init until it is synchronized — PostgreSQL's copy or steep's own, or a
 * manual init's origin advance and ENABLE; for an existing subscription whose init has not
 * finished (a manual one waiting, steep's own copy interrupted, an init never recorded, one
 * that failed), the step that completes it. Also which of those states leaves a subscription's
 * `enabled` to its init rather than to an in-place alter (`…Pending`). What an init copies is
 * `initCopy.ts`; the manual method's slot and LSN, `manualInit.ts`.
 */

/** The recorded state of `d`'s init on its subscriber. */
export function recordedState(node: ObservedNode, name: string): InitState {
  return node.initState?.subscriptions[name]?.state ?? 'uninitialized';
}

/**
 * An existing snapshot subscription whose own copy has not finished (interrupted): disabled,
 * on a copy that steep's engine resumes; its `enabled` belongs to the init step.
 */
export function ownCopyPending(
  ctx: Pick<PlanContext, 'desired' | 'observed'>,
  node: ObservedNode,
  d: SubscriptionSpec,
  o: ObservedSubscription,
): boolean {
  if (d.init.method !== 'snapshot' || o.enabled) return false;
  if (!['uninitialized', 'copying', 'failed'].includes(recordedState(node, d.name))) return false;
  return copyPath(ctx.desired, ctx.observed, d).own || node.initState?.slots[d.name] !== undefined;
}

/**
 * An existing two-phase subscription waiting for `steep snapshot apply` (which loads the
 * snapshot, starts its origin at the slot's consistent point and enables it): disabled, not
 * yet past copying. Its `enabled` belongs to snapshot apply, not to an in-place alter.
 */
export function twoPhasePending(node: ObservedNode, d: SubscriptionSpec, o: ObservedSubscription): boolean {
  if (d.init.method !== 'two-phase' || o.enabled) return false;
  return ['uninitialized', 'preparing', 'copying', 'failed'].includes(recordedState(node, d.name));
}

/**
 * An existing manual subscription still waiting for its origin advance and ENABLE: disabled,
 * not yet synchronized, with a prepared slot. Its `enabled` belongs to the init step, not to an
 * in-place alter.
 */
export function manualPending(node: ObservedNode, d: SubscriptionSpec, o: ObservedSubscription): boolean {
  if (!restoredByUser(d.init.method) || o.enabled) return false;
  return ['uninitialized', 'preparing', 'failed'].includes(recordedState(node, d.name));
}

/**
 * A snapshot subscription PostgreSQL copies for, enabled (or enabled by this plan), whose init
 * steep never recorded: an apply stopped between its create and its init step, with its copy
 * still under way, or one created disabled as steep.yaml declared, whose copy waits for it to be
 * enabled (once every table is ready, status reads it synchronized and nothing is left to
 * follow). A hand-made subscription being adopted is streaming: no step.
 */
function initNeverRecorded(node: ObservedNode, d: SubscriptionSpec, o: ObservedSubscription): boolean {
  if (d.init.method !== 'snapshot' || !d.enabled || recordedState(node, d.name) !== 'uninitialized')
    return false;
  return o.tables.some((t) => t.state !== 'r');
}

interface InitStepInput
  extends Pick<DraftStep, 'reasonText' | 'changes'>,
    Partial<Pick<DraftStep, 'statements' | 'hazards'>> {
  /** the step that creates (or replaces) the subscription in this plan, if any */
  after?: string;
}

function addInitStep(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode, input: InitStepInput): void {
  ctx.steps.push({
    key: stepKey('init', node.name, d.name),
    phase: PHASE.init,
    address: { kind: 'subscription', name: d.name },
    node: node.name,
    kind: 'subscription-init',
    action: 'init',
    reason: 'not-initialised',
    reasonText: `${input.reasonText}; ${evidenceText(ctx, d)}`,
    changes: input.changes,
    statements: input.statements ?? [],
    hazards: input.hazards ?? [],
    deps: input.after ? [input.after] : [stepKey('subscription', node.name, d.name)],
    catalogDigest: digestOf({
      init: node.initState?.subscriptions[d.name]?.state ?? null,
      slot: node.initState?.slots[d.name] ?? null,
      // what a copy that starts over empties
      ...(node.initState?.copied?.[d.name] ? { copied: node.initState.copied[d.name] } : {}),
    }),
  });
}

/**
 * What the init's comparison reads once it is synchronized (model/initEvidence.ts), from the
 * publisher's size estimates of the tables the subscription receives.
 */
export function evidenceText(ctx: PlanContext, d: SubscriptionSpec): string {
  const from = ctx.node(d.from);
  const sizes = copiedRelations(ctx, d).map((t) => {
    const table = from?.tables[qualifiedName(t)];
    return { bytes: table?.sizeBytes ?? null, rows: table?.estimatedRows ?? null };
  });
  return `then apply compares its rows before it calls it synchronized: ${comparisonText(sizes, d.verifyFullBelow ?? FULL_BELOW_DEFAULT)}`;
}

/**
 * "about 1.2 MB on east": the publisher's size estimates of the tables a snapshot init copies.
 * A table never vacuumed or analysed has no estimate; it is counted apart, never as 0 B.
 */
function copySize(ctx: PlanContext, tables: readonly TableName[], from: string): string {
  const { bytes, unknownTables: unknown } = copyEstimate(ctx, from, tables);
  if (bytes === null) return `size unknown: never analysed on ${from}`;
  if (unknown === 0) return `about ${formatBytes(bytes)} on ${from}`;
  return `about ${formatBytes(bytes)} on ${from}, plus ${unknown} never analysed there, of unknown size`;
}

/** What plans the init step after a create of `d`, given the create's step key. */
type AfterCreate = (
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  after: string,
  manual: ManualReadiness | null,
) => void;

/**
 * The init step after a create, per method (model/initMethods.ts): a new method's row does not
 * compile until it says what follows its create here.
 */
const AFTER_CREATE: Record<InitMethod, AfterCreate> = {
  snapshot: snapshotInitStep,
  manual: restoredInitStep,
  physical: restoredInitStep,
  // `steep snapshot apply` loads its files, starts its origin and enables it (copy/twoPhase.ts)
  'two-phase': () => {},
  // a merge unit's locked pass starts it (planner/init/mergeInit.ts)
  merge: () => {},
  // nobody copies: it streams from its create
  none: () => {},
};

/** The init step after a create (or replace) of `d` in this plan. */
export function planInitAfterCreate(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  manual: ManualReadiness | null,
): void {
  AFTER_CREATE[d.init.method](ctx, d, node, stepKey('subscription', node.name, d.name), manual);
}

/** PostgreSQL's copy or steep's own, followed until it is synchronized. */
function snapshotInitStep(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode, after: string): void {
  const path = copyPath(ctx.desired, ctx.observed, d);
  // created disabled (copy_data = true): PostgreSQL copies nothing until it is enabled, and
  // the plan that enables it follows the copy (initNeverRecorded)
  if (!path.own && !d.enabled) return;
  // steep's engine copies the declared tables; PostgreSQL's table syncs what the subscription receives
  const tables = path.own ? copiedTables(ctx.desired, ctx.observed, d) : copiedRelations(ctx, d);
  const count = `${tables.length} table${tables.length === 1 ? '' : 's'} (${copySize(ctx, tables, d.from)})`;
  addInitStep(ctx, d, node, {
    after,
    ...(path.own ? ownCopyStatements(ctx, d, node, { creating: true }) : {}),
    reasonText: path.own
      ? `steep copies ${count} at an exported snapshot of a new slot ${d.slot} on ${d.from}, ${path.why}; ` +
        `the subscription then starts at the slot's consistent point, and apply follows it until it is synchronized; ` +
        `a table split into key ranges or of at least ${formatBytes(DEFER_INDEXES_FROM)}, empty on ${d.node}, has its indexes built after its copy` +
        loadNote(node, 'it')
      : `PostgreSQL copies ${count} into the new subscription; apply follows the copy and the catch-up until it is synchronized (${path.why})`,
    changes: [
      { path: 'init.method', before: null, after: 'snapshot' },
      { path: 'init.copy', before: null, after: path.own ? 'steep' : 'postgresql' },
      ...(path.own ? [{ path: 'init.parallel', before: null, after: d.init.parallel }] : []),
      ...(path.split.length > 0 ? [{ path: 'init.split', before: null, after: path.split }] : []),
      { path: 'init.copies', before: null, after: tables.map(displayTable) },
      // a create starts over, whatever an earlier subscription of that name left recorded
      { path: 'init.state', before: 'uninitialized', after: 'synchronized' },
    ],
  });
}

/** A restored subscriber's origin started at the restore's LSN, once that is known. */
function restoredInitStep(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  after: string,
  manual: ManualReadiness | null,
): void {
  if (!manual?.ok || !manual.lsn) return;
  addInitStep(ctx, d, node, {
    after,
    statements: manualStatements(d, manual.lsn),
    reasonText:
      `the restored data on ${d.node} is consistent at ${manual.lsn}${manual.why ? ` (${manual.why})` : ''}: the subscription's origin starts there, ` +
      `${d.enabled ? 'it is enabled, and apply follows its catch-up until it is synchronized' : 'and it stays disabled as steep.yaml declares'}`,
    changes: [
      { path: 'init.method', before: null, after: d.init.method },
      { path: 'init.lsn', before: null, after: manual.lsn },
      {
        path: 'init.state',
        before: recordedState(node, d.name),
        after: d.enabled ? 'synchronized' : 'catching_up',
      },
    ],
  });
}

function manualStatements(d: SubscriptionSpec, lsn: string): Statement[] {
  return [
    tx(originAdvanceSql(d.name, lsn)),
    ...(d.enabled ? [tx(alterSubscriptionSql(d.name, 'ENABLE'))] : []),
  ];
}

/**
 * An existing subscription whose init has not finished: a manual one waiting for its origin
 * advance and ENABLE, or any init recorded as `failed` (apply follows it again: PostgreSQL
 * resumes from the slot that was kept).
 */
export function planInitOfExisting(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  o: ObservedSubscription,
  after?: string,
): void {
  const state = recordedState(node, d.name);
  const error = node.initState?.subscriptions[d.name]?.error;
  if (manualPending(node, d, o)) {
    const ready = restoreReadiness(ctx, d, node);
    if (!ready.ok || !ready.lsn) return;
    addInitStep(ctx, d, node, {
      after,
      statements: manualStatements(d, ready.lsn),
      reasonText:
        `subscription ${d.name} exists on ${d.node}, disabled, waiting for its manual init to complete: its origin starts at ` +
        `${ready.lsn}${d.enabled ? ', it is enabled, and apply follows its catch-up until it is synchronized' : ''}`,
      changes: [
        { path: 'init.lsn', before: o.originLsn, after: ready.lsn },
        { path: 'init.state', before: state, after: d.enabled ? 'synchronized' : 'catching_up' },
      ],
    });
    return;
  }
  if (twoPhasePending(node, d, o)) return;
  if (ownCopyPending(ctx, node, d, o)) {
    addInitStep(ctx, d, node, {
      after,
      ...ownCopyStatements(ctx, d, node, { creating: false }),
      reasonText:
        `steep's own copy of ${d.name} did not finish (init ${state}): it resumes after the chunks it finished while their snapshot ` +
        `is still held, or empties the tables and copies again on a new slot; then apply follows it until it is synchronized${loadNote(node, 'it')}`,
      changes: [
        { path: 'init.copy', before: null, after: 'steep' },
        { path: 'init.state', before: state, after: 'synchronized' },
      ],
    });
    return;
  }
  if (initNeverRecorded(node, d, o)) {
    const waiting = o.tables.filter((t) => t.state !== 'r').length;
    addInitStep(ctx, d, node, {
      after,
      reasonText: o.enabled
        ? `subscription ${d.name} exists on ${d.node} but its init was never recorded (an apply stopped between its create and its init); ` +
          'apply follows it until it is synchronized and records it'
        : `subscription ${d.name} was created disabled, as steep.yaml declared, and PostgreSQL copies nothing until it is enabled: ` +
          `enabled now, PostgreSQL copies ${waiting} table${waiting === 1 ? '' : 's'}, and apply follows the copy and the catch-up until it is synchronized`,
      changes: [{ path: 'init.state', before: 'uninitialized', after: 'synchronized' }],
    });
    return;
  }
  if (state !== 'failed' || (!o.enabled && !d.enabled)) return;
  const reinit = error && /copy (?:it|them) again with (steep reinit \S+ --tables \S+)/.exec(error)?.[1];
  addInitStep(ctx, d, node, {
    after,
    reasonText: reinit
      ? `its init failed (${failureReason(error!)}); PostgreSQL cannot finish it: ${reinit} copies those tables again ` +
        'and follows the init to synchronized (apply only follows it, and fails the same way)'
      : `its init failed${error ? ` (${failureReason(error)})` : ''}; PostgreSQL resumes ` +
        `from the slot that was kept, and apply follows it again until it is synchronized`,
    changes: [{ path: 'init.state', before: 'failed', after: 'synchronized' }],
  });
}

/** The cause in a recorded init failure, without its preamble and its advice. */
function failureReason(error: string): string {
  return error
    .replace(/^init of subscription \S+ on \S+ failed: /, '')
    .replace(
      /; (the slot \S+ on \S+ is kept|PostgreSQL's message is in|copy (it|them) again with steep reinit).*$/,
      '',
    );
}
