import { formatBytes } from '../model/bytes.js';
import type { ClusterState, ObservedNode, ObservedSubscription } from '../model/cluster.js';
import { SteepError } from '../model/errors.js';
import type { InitState } from '../model/initState.js';
import { compareLsn, isLsn, normaliseLsn } from '../model/lsn.js';
import type { Change, Hazard, Statement } from '../model/plan.js';
import { displayTable, quoteLiteral } from '../model/sql.js';
import type { SubscriptionSpec, TableName, Topology } from '../model/topology.js';
import { DEFAULT_SPLIT_ABOVE, qualifiedName } from '../model/topology.js';
import { compareText, listText, PHASE, type PlanContext, sortedKeys, stepKey } from './context.js';
import { digestOf } from './digest.js';
import { alterSubscriptionSql, truncateTablesSql, tx } from './sqlBuild.js';
import { receivedAfterPlan } from './subscriptionTables.js';

/**
 * Initialisation (SPEC §9) as the plan sees it:
 * - which tables a subscription copies, and whether those on the subscriber already hold rows
 *   (existing data: a plan error, or `TRUNCATE` first with `existingData: truncate`);
 * - `manual`: the prepared slot and the LSN recorded by `steep init prepare` (or `--lsn`),
 *   which the subscription's origin is advanced to before it is enabled;
 * - the `init` step that follows a new (or failed) init until it is synchronized.
 *
 * The recorded LSN comes from the observed state (the catalog reads `init_slots` from the
 * subscriber's state schema), so the plan shows the exact `pg_replication_origin_advance` it
 * will run, and a saved plan goes stale when the slot is prepared again.
 */

function compareNames(a: TableName, b: TableName): number {
  return compareText(a.schema, b.schema) || compareText(a.name, b.name);
}

/**
 * The tables `d` copies from its publisher: its publications' tables as steep.yaml declares
 * them (or, for one the file does not declare, as the publisher holds it), `schemas` and
 * `allTables` expanded with the publisher's tables. steep's state schema is left out: its rows
 * carry their node's name and never collide.
 */
export function copiedTables(desired: Topology, observed: ClusterState, d: SubscriptionSpec): TableName[] {
  const n = observed.nodes[d.from];
  const publisher = n?.reachable ? n : undefined;
  const state = desired.settings.stateSchema;
  const out = new Map<string, TableName>();
  const add = (t: TableName) => {
    if (t.schema !== state) out.set(qualifiedName(t), { schema: t.schema, name: t.name });
  };
  for (const name of d.publications) {
    const p = desired.publications[name] ?? publisher?.publications[name];
    if (!p) continue;
    if (p.allTables || p.schemas.length > 0) {
      for (const t of Object.values(publisher?.tables ?? {})) {
        if (p.allTables || p.schemas.includes(t.schema)) add(t);
      }
    }
    for (const t of p.tables) add(t);
  }
  return [...out.values()].sort(compareNames);
}

/** Which copy a snapshot init takes, and why (the plan says so). */
export interface CopyPath {
  /** steep's own copy engine (exported snapshot, N sessions, key ranges) instead of copy_data */
  own: boolean;
  /** the sentence the plan shows */
  why: string;
  /** tables above init.splitAbove, copied in key ranges */
  split: string[];
}

/**
 * `init: { method: snapshot }` copies with PostgreSQL's `copy_data = true` (one worker per
 * table) unless the subscription asks for `parallel` > 1 in its own `init`, or a table is above
 * `init.splitAbove` (the publisher's size estimate): then steep's own engine copies it, a big
 * table in key ranges on several sessions. `two-phase` always uses steep's engine.
 */
export function copyPath(desired: Topology, observed: ClusterState, d: SubscriptionSpec): CopyPath {
  const splitAbove = d.init.splitAbove ?? DEFAULT_SPLIT_ABOVE;
  const publisher = observed.nodes[d.from];
  const split = copiedTables(desired, observed, d)
    .filter((t) => {
      const size = publisher?.reachable ? publisher.tables[qualifiedName(t)]?.sizeBytes : null;
      return size !== null && size !== undefined && size > splitAbove;
    })
    .map(qualifiedName);
  const parallel = d.init.parallelDeclared === true && d.init.parallel > 1;
  const limit = `init.splitAbove (${formatBytes(splitAbove)})`;
  if (d.init.method === 'two-phase')
    return { own: true, why: `two-phase copies with steep's own engine`, split };
  if (d.init.method !== 'snapshot') return { own: false, why: '', split: [] };
  if (!parallel && split.length === 0) {
    return {
      own: false,
      why: `PostgreSQL's own copy (copy_data = true, one worker per table): init.parallel is ${d.init.parallelDeclared ? d.init.parallel : 'not set'} and no table is above ${limit}`,
      split,
    };
  }
  const reasons = [
    ...(parallel ? [`init.parallel is ${d.init.parallel}`] : []),
    ...(split.length > 0
      ? [`${listText(split)} ${split.length === 1 ? 'is' : 'are'} above ${limit}, split into key ranges`]
      : []),
  ];
  return {
    own: true,
    why: `steep's own copy with ${d.init.parallel} session${d.init.parallel === 1 ? '' : 's'}: ${reasons.join('; ')}`,
    split,
  };
}

/**
 * What PostgreSQL's table syncs copy for a new subscription: each relation it receives (the
 * leaf partitions of a partitioned table, or the root with viaPartitionRoot), steep's state
 * schema left out; the declared tables when the publisher cannot be read.
 */
function copiedRelations(ctx: PlanContext, d: SubscriptionSpec): TableName[] {
  const received = receivedAfterPlan(ctx, d);
  const publisher = ctx.node(d.from);
  if (!received || !publisher) return copiedTables(ctx.desired, ctx.observed, d);
  const state = ctx.desired.settings.stateSchema;
  return received
    .map((qn) => publisher.tables[qn]!)
    .filter((t) => t.schema !== state)
    .map((t) => ({ schema: t.schema, name: t.name }));
}

/**
 * A desired `snapshot` subscription its reachable subscriber does not have yet (it will copy),
 * or an existing one whose publisher or slot differs from the file (a replace, whatever its
 * method: SPEC §3 makes it an error while its tables hold rows).
 */
function willCopy(observed: ClusterState, d: SubscriptionSpec): boolean {
  const n = observed.nodes[d.node];
  if (n?.reachable !== true) return false;
  const o = n.subscriptions[d.name];
  if (!o) return d.init.method === 'snapshot';
  return replacesSlot(o, d);
}

/**
 * An existing subscription that copies nothing (`none`, `manual`) told to copy the tables that
 * join it (`init.newTables: copy`): the refresh copies into them, so their rows are probed too.
 */
function copiesJoiningTables(observed: ClusterState, d: SubscriptionSpec): boolean {
  const n = observed.nodes[d.node];
  return (
    n?.reachable === true &&
    n.subscriptions[d.name] !== undefined &&
    (d.init.method === 'none' || d.init.method === 'manual') &&
    d.init.newTables === 'copy'
  );
}

/** The subscription's slot or publisher differs from the file: only a replace can change it. */
export function replacesSlot(o: ObservedSubscription, d: SubscriptionSpec): boolean {
  return o.slotNone || o.slot !== d.slot || (o.from !== '' && o.from !== d.from);
}

/**
 * For each subscriber node, the tables whose row presence the plan needs: those a subscription
 * about to be created with copy_data would copy into, that exist there.
 */
export function rowPresenceRequests(desired: Topology, observed: ClusterState): Map<string, TableName[]> {
  const out = new Map<string, Map<string, TableName>>();
  for (const name of sortedKeys(desired.subscriptions)) {
    const d = desired.subscriptions[name]!;
    const joining = copiesJoiningTables(observed, d);
    if (!joining && !willCopy(observed, d)) continue;
    const node = observed.nodes[d.node] as ObservedNode;
    const tables = out.get(d.node) ?? new Map<string, TableName>();
    const received = new Set(joining ? node.subscriptions[d.name]!.tables.map(qualifiedName) : []);
    for (const t of copiedTables(desired, observed, d)) {
      if (received.has(qualifiedName(t))) continue;
      const qn = qualifiedName(t);
      if (node.tables[qn]) tables.set(qn, t);
    }
    out.set(d.node, tables);
  }
  return new Map(
    [...out.entries()].filter(([, t]) => t.size > 0).map(([n, t]) => [n, [...t.values()].sort(compareNames)]),
  );
}

export interface ExistingData {
  ok: boolean;
  statements: Statement[];
  hazards: Hazard[];
  changes: Change[];
  /** `existingData: keep`: the tables hold rows and stay as they are: nothing is copied */
  keep: boolean;
}

/** The tables `d` receives that hold rows on its subscriber (as far as steep probed them). */
export function heldTables(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode): TableName[] {
  return copiedTables(ctx.desired, ctx.observed, d).filter(
    (t) => node.tables[qualifiedName(t)]?.hasRows === true,
  );
}

/**
 * Target tables that already hold rows when a subscription is created (or replaced) with a copy:
 * a plan error (`existingData: fail`, the default), a `TRUNCATE` of exactly those tables before
 * it is created (`truncate`), or no copy at all (`keep`: the DBA vouches the rows are there).
 * `replacing`: the words of the replace that recreates it, for the error.
 */
export function existingData(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  replacing?: { because: string; cheaperFix?: string },
): ExistingData {
  const none: ExistingData = { ok: true, statements: [], hazards: [], changes: [], keep: false };
  if (d.init.method !== 'snapshot' && !replacing) return none;
  const held = heldTables(ctx, d, node);
  if (held.length === 0) return none;
  const names = held.map(qualifiedName);
  const address = `subscription.${d.name}`;
  if (d.init.existingData === 'fail') {
    const fix =
      'set init.existingData: truncate (apply empties them and copies again) or keep (they stay as they are, nothing is copied)';
    ctx.error(
      'existing-data',
      replacing
        ? `subscription ${d.name} on ${node.name} would be replaced (${replacing.because} cannot be altered in place), ` +
            `${d.init.method === 'snapshot' ? 'copying its tables again into' : 'recreated over'} tables that already hold rows there: ${listText(names)}; ` +
            `${replacing.cheaperFix ? `${replacing.cheaperFix}; otherwise ` : ''}${fix}`
        : `subscription ${d.name} would copy into tables that already hold rows on ${node.name}: ${listText(names)}; ` +
            `copying on top of them would fail or duplicate rows: empty them, or ${fix}`,
      { address, node: node.name },
    );
    return { ...none, ok: false };
  }
  if (d.init.existingData === 'keep') {
    return { ...none, keep: true, changes: [{ path: 'init.keep', before: null, after: names }] };
  }
  if (d.init.method !== 'snapshot') return none;
  return {
    ok: true,
    statements: [tx(truncateTablesSql(held))],
    hazards: ['truncates-data'],
    changes: [{ path: 'init.truncate', before: null, after: names }],
    keep: false,
  };
}

// ---------------------------------------------------------------------------------------------
// manual

export interface ManualReadiness {
  /** the subscription can be created on the prepared slot now */
  ok: boolean;
  /** where its origin is advanced to */
  lsn?: string;
}

function lsnFlag(ctx: PlanContext, name: string): string | undefined {
  const byName = ctx.initLsn[name];
  if (byName !== undefined) {
    ctx.initLsnUsed.add(name);
    return byName;
  }
  return undefined;
}

/**
 * Is the prepared slot of a `manual` subscription there, and at which LSN does the restored
 * data start? From `init_slots` (recorded by `steep init prepare`) or `--lsn` (a physical
 * backup restored at a later point), never earlier than the slot's own position.
 */
export function manualReadiness(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode): ManualReadiness {
  const address = `subscription.${d.name}`;
  const where = { address, node: d.node };
  const publisher = ctx.node(d.from);
  if (!publisher) return { ok: false };
  const slot = publisher.slots[d.slot];
  const recorded = node.initState?.slots[d.name];
  const record = recorded && recorded.slot === d.slot ? recorded : undefined;
  const flag = lsnFlag(ctx, d.name);
  if (!slot) {
    if (flag !== undefined) {
      ctx.error(
        'init-not-prepared',
        `subscription ${d.name}: --lsn was given, but slot ${d.slot} does not exist on ${d.from}; run steep init prepare ${d.name} first`,
        where,
      );
    } else {
      ctx.warn(
        'init-not-prepared',
        `subscription ${d.name} uses init method manual and is not created until it is prepared: run steep init prepare ${d.name} ` +
          `(it creates slot ${d.slot} on ${d.from} and prints the LSN), restore a backup consistent at that LSN on ${d.node}, then steep apply`,
        where,
      );
    }
    return { ok: false };
  }
  if (slot.active) {
    ctx.error(
      'slot-in-use',
      `subscription ${d.name}: the prepared slot ${d.slot} on ${d.from} is in use (pid ${slot.activePid ?? 'unknown'}); ` +
        'stop its consumer (a steep init prepare --hold still holding its snapshot?) and apply again',
      where,
    );
    return { ok: false };
  }
  if (!record && flag === undefined) {
    ctx.error(
      'init-lsn-unknown',
      `subscription ${d.name}: slot ${d.slot} exists on ${d.from}, but steep has no record of the LSN it was prepared at ` +
        `(it was not made by steep init prepare on this topology); give the LSN your restored backup is consistent at: steep apply --lsn ${d.name}=LSN`,
      where,
    );
    return { ok: false };
  }
  const base = record?.lsn ?? slot.confirmedFlushLsn ?? undefined;
  if (record && slot.confirmedFlushLsn && compareLsn(slot.confirmedFlushLsn, record.lsn) > 0) {
    ctx.error(
      'init-slot-consumed',
      `subscription ${d.name}: slot ${d.slot} on ${d.from} has been consumed past the LSN it was prepared at ` +
        `(${record.lsn} → ${slot.confirmedFlushLsn}), so the changes in between would never reach ${d.node}; ` +
        `run steep init cancel ${d.name}, then prepare and restore again`,
      where,
    );
    return { ok: false };
  }
  if (flag !== undefined) {
    if (!isLsn(flag)) {
      ctx.error('init-lsn-invalid', `--lsn ${flag}: not an LSN (expected e.g. 16/B374D848)`, where);
      return { ok: false };
    }
    if (base && compareLsn(flag, base) < 0) {
      ctx.error(
        'init-lsn-early',
        `subscription ${d.name}: --lsn ${flag} is earlier than slot ${d.slot}'s LSN ${base} on ${d.from}: the changes between ` +
          `them are neither in the restored backup nor in the slot; restore a backup consistent at ${base} or later`,
        where,
      );
      return { ok: false };
    }
    return { ok: true, lsn: normaliseLsn(flag) };
  }
  return { ok: true, lsn: record!.lsn };
}

/** `pg_replication_origin_advance` of the subscription's origin (`pg_<oid>`), by name. */
export function originAdvanceSql(subscription: string, lsn: string): string {
  return (
    `SELECT pg_catalog.pg_replication_origin_advance('pg_' || s.oid, ${quoteLiteral(lsn)}::pg_lsn) ` +
    `FROM pg_catalog.pg_subscription s WHERE s.subname = ${quoteLiteral(subscription)} ` +
    'AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())'
  );
}

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
  const state = recordedState(node, d.name);
  if (state !== 'uninitialized' && state !== 'copying' && state !== 'failed') return false;
  return copyPath(ctx.desired, ctx.observed, d).own || node.initState?.slots[d.name] !== undefined;
}

/**
 * An existing two-phase subscription waiting for `steep snapshot apply` (which loads the
 * snapshot, starts its origin at the slot's consistent point and enables it): disabled, not
 * yet past copying. Its `enabled` belongs to snapshot apply, not to an in-place alter.
 */
export function twoPhasePending(node: ObservedNode, d: SubscriptionSpec, o: ObservedSubscription): boolean {
  if (d.init.method !== 'two-phase' || o.enabled) return false;
  const state = recordedState(node, d.name);
  return state === 'uninitialized' || state === 'preparing' || state === 'copying' || state === 'failed';
}

/**
 * An existing manual subscription still waiting for its origin advance and ENABLE: disabled,
 * not yet synchronized, with a prepared slot. Its `enabled` belongs to the init step, not to an
 * in-place alter.
 */
export function manualPending(node: ObservedNode, d: SubscriptionSpec, o: ObservedSubscription): boolean {
  if (d.init.method !== 'manual' || o.enabled) return false;
  const state = recordedState(node, d.name);
  return state === 'uninitialized' || state === 'preparing' || state === 'failed';
}

/**
 * A snapshot subscription PostgreSQL copies for, enabled, whose init steep never recorded: an
 * apply stopped between its create and its init step, with its copy still under way (once every
 * table is ready, status reads it synchronized and nothing is left to follow). A hand-made
 * subscription being adopted is streaming: no step.
 */
function initNeverRecorded(node: ObservedNode, d: SubscriptionSpec, o: ObservedSubscription): boolean {
  if (d.init.method !== 'snapshot' || !o.enabled || recordedState(node, d.name) !== 'uninitialized')
    return false;
  return o.tables.some((t) => t.state !== 'r');
}

interface InitStepInput {
  /** the step that creates (or replaces) the subscription in this plan, if any */
  after?: string;
  /** `manual`: the origin advance and ENABLE */
  statements?: Statement[];
  reasonText: string;
  changes: Change[];
}

function addInitStep(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode, input: InitStepInput): void {
  ctx.addStep({
    key: stepKey('init', node.name, d.name),
    phase: PHASE.init,
    address: `subscription.${d.name}`,
    node: node.name,
    kind: 'subscription-init',
    action: 'init',
    reason: 'not-initialised',
    reasonText: input.reasonText,
    changes: input.changes,
    statements: input.statements ?? [],
    hazards: [],
    deps: input.after ? [input.after] : [stepKey('subscription', node.name, d.name)],
    catalogDigest: digestOf({
      init: node.initState?.subscriptions[d.name]?.state ?? null,
      slot: node.initState?.slots[d.name] ?? null,
    }),
  });
}

/**
 * "about 1.2 MB on east": the publisher's size estimates of the tables a snapshot init copies.
 * A table never vacuumed or analysed has no estimate; it is counted apart, never as 0 B.
 */
function copySize(tables: readonly TableName[], publisher: ObservedNode | undefined, from: string): string {
  const sizes = tables.map((t) => publisher?.tables[qualifiedName(t)]?.sizeBytes ?? null);
  const unknown = sizes.filter((b) => b === null).length;
  const bytes = sizes.reduce<number>((s, b) => s + (b ?? 0), 0);
  if (unknown === 0) return `about ${formatBytes(bytes)} on ${from}`;
  if (unknown === tables.length) return `size unknown: never analysed on ${from}`;
  return `about ${formatBytes(bytes)} on ${from}, plus ${unknown} never analysed there, of unknown size`;
}

/** The init step after a create (or replace) of `d` in this plan. */
export function planInitAfterCreate(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  manual: ManualReadiness | null,
): void {
  const after = stepKey('subscription', node.name, d.name);
  if (d.init.method === 'snapshot') {
    const path = copyPath(ctx.desired, ctx.observed, d);
    // steep's engine copies the declared tables; PostgreSQL's table syncs what the subscription receives
    const tables = path.own ? copiedTables(ctx.desired, ctx.observed, d) : copiedRelations(ctx, d);
    const publisher = ctx.node(d.from);
    const count = `${tables.length} table${tables.length === 1 ? '' : 's'} (${copySize(tables, publisher, d.from)})`;
    addInitStep(ctx, d, node, {
      after,
      reasonText: path.own
        ? `steep copies ${count} at an exported snapshot of a new slot ${d.slot} on ${d.from}, ${path.why}; ` +
          `the subscription then starts at the slot's consistent point, and apply follows it until it is synchronized`
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
  } else if (d.init.method === 'manual' && manual?.ok && manual.lsn) {
    addInitStep(ctx, d, node, {
      after,
      statements: manualStatements(d, manual.lsn),
      reasonText:
        `the restored data on ${d.node} is consistent at ${manual.lsn}: the subscription's origin starts there, ` +
        `${d.enabled ? 'it is enabled, and apply follows its catch-up until it is synchronized' : 'and it stays disabled as steep.yaml declares'}`,
      changes: [
        { path: 'init.method', before: null, after: 'manual' },
        { path: 'init.lsn', before: null, after: manual.lsn },
        {
          path: 'init.state',
          before: recordedState(node, d.name),
          after: d.enabled ? 'synchronized' : 'catching_up',
        },
      ],
    });
  }
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
    const ready = manualReadiness(ctx, d, node);
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
      reasonText:
        `steep's own copy of ${d.name} did not finish (init ${state}): it resumes after the chunks it finished while their snapshot ` +
        `is still held, or empties the tables and copies again on a new slot; then apply follows it until it is synchronized`,
      changes: [
        { path: 'init.copy', before: null, after: 'steep' },
        { path: 'init.state', before: state, after: 'synchronized' },
      ],
    });
    return;
  }
  if (initNeverRecorded(node, d, o)) {
    addInitStep(ctx, d, node, {
      after,
      reasonText:
        `subscription ${d.name} exists on ${d.node} but its init was never recorded (an apply stopped between its create and its init); ` +
        'apply follows it until it is synchronized and records it',
      changes: [{ path: 'init.state', before: 'uninitialized', after: 'synchronized' }],
    });
    return;
  }
  if (state !== 'failed' || (!o.enabled && !d.enabled)) return;
  addInitStep(ctx, d, node, {
    after,
    reasonText:
      `its init failed${error ? ` (${failureReason(error)})` : ''}; PostgreSQL resumes ` +
      `from the slot that was kept, and apply follows it again until it is synchronized`,
    changes: [{ path: 'init.state', before: 'failed', after: 'synchronized' }],
  });
}

/** The cause in a recorded init failure, without its preamble and its advice. */
function failureReason(error: string): string {
  return error
    .replace(/^init of subscription \S+ on \S+ failed: /, '')
    .replace(/; (the slot \S+ on \S+ is kept|PostgreSQL's message is in).*$/, '');
}

/** `--lsn` given for a subscription that has no manual init to complete. */
export function checkUnusedLsn(ctx: PlanContext): void {
  for (const name of sortedKeys(ctx.initLsn)) {
    if (ctx.initLsnUsed.has(name)) continue;
    const d = ctx.desired.subscriptions[name];
    ctx.error(
      'init-lsn-unused',
      d
        ? `--lsn ${name}=${ctx.initLsn[name]}: subscription ${name} has no manual init to complete (init method ${d.init.method}${d.init.method === 'manual' ? ', and it is not waiting on its prepared slot' : ''})`
        : `--lsn ${name}=${ctx.initLsn[name]}: steep.yaml declares no subscription ${name}`,
    );
  }
}

/** `--lsn LSN` without a name: the one manual subscription steep.yaml declares. */
export function resolveLsnFlags(desired: Topology, flags: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq > 0) {
      out[f.slice(0, eq)] = f.slice(eq + 1);
      continue;
    }
    const manual = sortedKeys(desired.subscriptions).filter(
      (n) => desired.subscriptions[n]!.init.method === 'manual',
    );
    if (manual.length !== 1) {
      throw new SteepError(
        'init-lsn-ambiguous',
        manual.length === 0
          ? `--lsn ${f}: steep.yaml declares no subscription with init method manual`
          : `--lsn ${f}: steep.yaml declares several manual subscriptions (${manual.join(', ')}); say which: --lsn NAME=${f}`,
      );
    }
    out[manual[0]!] = f;
  }
  return out;
}
