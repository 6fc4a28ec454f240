import { subscriptionAddress } from '../../model/address.js';
import { adviceText } from '../../model/advice.js';
import { SteepError } from '../../model/errors.js';
import { STREAMED } from '../../model/initLifecycle.js';
import { copiesAtCreate, restoredByUser } from '../../model/initMethods.js';
import type { InitState } from '../../model/initState.js';
import type { Step } from '../../model/plan.js';
import { quoteIdent, quoteTable } from '../../model/sql.js';
import type { SubscriptionSpec, TableName } from '../../model/topology.js';
import { qualifiedName } from '../../model/topology.js';
import { listText } from '../context.js';
import {
  dropPublicationSql,
  dropSlotSql,
  dropSubscriptionStatements,
  truncateTablesSql,
  tx,
} from '../sqlBuild.js';
import { temporaryPublications } from './reinit.js';

/**
 * `steep init cancel SUBSCRIPTION` (docs/steep-yaml.md, SC-006) as steps: stop the init and leave nothing
 * behind. Pure: the workflow reads what holds under apply's lock, runs these steps through the
 * executors and records the state.
 *
 *   1. the subscriber drops the subscription, disabled first so its workers stop (with its slot;
 *      detached from it when the publisher cannot be reached: the slot is left, and said so)
 *   2. the subscriber truncates the tables a snapshot copy filled (PostgreSQL's or steep's own,
 *      whose finished chunks copy_chunks records: also a two-phase apply's)
 *   3. the publisher drops a slot `init prepare` made that no subscription took over (manual),
 *      or one left by a subscription dropped by hand
 *   4. the publisher drops the temporary publications of an interrupted `steep reinit`
 *
 * A subscription whose tables hold what it streamed (synchronized, diverged, being reinitialised,
 * or adopted and streaming: model/initLifecycle.ts STREAMED, unrecordedState) has no init to
 * cancel: dropping it is a destroy. Without `allowDestroy` it is refused, naming the repair
 * (`steep verify --repair`, `steep reinit`); with it, the subscription and its slot are dropped
 * and its rows are kept (never truncated: they are the only copy of what it streamed), so the
 * next apply may not re-create it without a copy (planner/subscriptions/dataGaps.ts `recreateGap`).
 */

export interface CancelObserved {
  /** the recorded init state */
  previous: InitState;
  /**
   * the subscription on the subscriber (its slot; null: slot_name = NONE), null when absent; its
   * owner and whether the role steep connects as may drop it (absent: not read, taken as yes)
   */
  existing: { slot: string | null; owner?: string; mayDrop?: boolean } | null;
  /** the role steep connects to the subscriber as, and the tables it may not TRUNCATE (absent: not read) */
  access?: { role: string; truncateDenied: TableName[] };
  /** the tables of its pg_subscription_rel */
  tables: TableName[];
  /** the tables steep's own copy (streamed or two-phase) finished chunks of */
  copiedTables: TableName[];
  /** the slot `init prepare` recorded for it */
  preparedSlot: string | null;
  publisherReachable: boolean;
  /** the subscription's slot is on the publisher (absent: not read, taken as yes) */
  slotOnPublisher?: boolean;
  /** `--allow-destroy`: a subscription that streams may be dropped */
  allowDestroy: boolean;
}

export interface CancelPlan {
  /** the subscription streams: the cancel is a destroy (its rows are kept), to be confirmed */
  destroys: boolean;
  /** drop the subscription on the subscriber */
  drop: Step | null;
  /** then empty what its copy filled */
  truncate: Step | null;
  /** the tables `truncate` empties, as `schema.table` */
  truncated: string[];
  /** drop a prepared slot on the publisher (its holder, a `steep init prepare --hold`, ended first) */
  slotDrop: Step | null;
  /** the slot `slotDrop` drops */
  preparedSlot: string | null;
  /** drop an interrupted reinit's temporary publications on the publisher (when it answers) */
  reinitCleanup: Step | null;
  /** the slot the subscription's drop drops with it */
  droppedWithSubscription: string | null;
  /** a slot left on an unreachable publisher, to drop by hand */
  slotLeft: string | null;
  /** the subscription's slot, not on its publisher: detached, nothing dropped */
  slotMissing: string | null;
}

/** A step of an init undone (cancel, or prepare's slot it could not record): no deps, no digest. */
export function step(
  fields: Pick<Step, 'address' | 'node' | 'kind' | 'reasonText' | 'statements' | 'hazards'>,
): Step {
  return {
    id: fields.kind,
    action: 'delete',
    reason: 'init-undone',
    changes: [],
    dependsOn: [],
    catalogDigest: '',
    ...fields,
  };
}

export function planInitCancel(d: SubscriptionSpec, o: CancelObserved): CancelPlan {
  const destroys = o.existing !== null && STREAMED.includes(o.previous);
  if (destroys && !o.allowDestroy) {
    throw new SteepError(
      'init.streaming',
      `subscription ${d.name} on ${d.node} is ${o.previous}: there is no init to cancel; it streams from ${d.from}, and ` +
        `dropping it would lose every change made on ${d.from} until a new subscription copies again; to repair diverged ` +
        `tables run ${adviceText('verifyRepair', d.name)} (or ${adviceText('reinitTables', d.name, ['…'])}), which keeps it streaming; ` +
        'init cancel drops a streaming subscription only with --allow-destroy',
      { node: d.node, address: subscriptionAddress(d.name) },
    );
  }
  // the subscription's drop: its slot dropped with it, or detached and left when the publisher is
  // unreachable; detached too when the publisher has no such slot (dropped by hand, or a failover
  // to a standby it never reached), for DROP SUBSCRIPTION would fail to drop it there
  const slot = o.existing?.slot ?? null;
  const gone = slot !== null && o.publisherReachable && o.slotOnPublisher === false;
  const detach = slot !== null && (!o.publisherReachable || gone);
  const left = gone
    ? `, its slot ${slot} is not on ${d.from} (detached, nothing to drop)`
    : `, its slot ${slot} left on ${d.from} (unreachable)`;
  const drop = o.existing
    ? step({
        address: { kind: 'subscription', name: d.name },
        node: d.node,
        kind: 'subscription-drop',
        reasonText:
          `init cancel: subscription ${d.name} is dropped${detach ? left : ''}` +
          (destroys ? ', its rows kept' : ''),
        statements: dropSubscriptionStatements(
          d.name,
          slot === null ? 'none' : detach ? 'detach' : 'drop',
          true,
        ),
        hazards: slot !== null && !detach ? ['drops-object', 'drops-slot'] : ['drops-object'],
      })
    : null;
  const tables = truncatedTables(d, o, destroys);
  const truncated = tables.map(qualifiedName);
  // a prepared slot no subscription took over yet (manual), or one left by a subscription dropped by hand
  const prepared = o.preparedSlot ?? (o.existing ? null : restoredByUser(d.init.method) ? d.slot : null);
  const slotDrop = prepared !== null && slot === null && o.publisherReachable ? prepared : null;
  const plan: CancelPlan = {
    destroys,
    drop,
    truncate:
      tables.length > 0
        ? step({
            address: { kind: 'subscription', name: d.name },
            node: d.node,
            kind: 'table-truncate',
            reasonText: `init cancel: what the copy filled is emptied: ${listText(truncated)}`,
            statements: [tx(truncateTablesSql(tables))],
            hazards: ['truncates-data'],
          })
        : null,
    truncated,
    slotDrop:
      slotDrop === null
        ? null
        : step({
            address: { kind: 'slot', node: d.from, slot: slotDrop },
            node: d.from,
            kind: 'slot-drop',
            reasonText: `init cancel: slot ${slotDrop} made for ${d.name} is dropped`,
            statements: [tx(dropSlotSql(slotDrop))],
            hazards: ['drops-slot'],
          }),
    preparedSlot: slotDrop,
    reinitCleanup: o.publisherReachable ? reinitCleanupStep(d) : null,
    droppedWithSubscription: detach ? null : slot,
    slotLeft: prepared !== null && !o.publisherReachable ? prepared : detach && !gone ? slot : null,
    slotMissing: gone ? slot : null,
  };
  refuseWithoutPrivileges(d, o, plan);
  return plan;
}

/** What the init copied and the cancel empties: none of a streamed subscription's rows, the only copy of what it received. */
function truncatedTables(d: SubscriptionSpec, o: CancelObserved, destroys: boolean): TableName[] {
  if (destroys) return [];
  const copied = new Set(o.copiedTables.map(qualifiedName));
  const syncing =
    o.existing && copiesAtCreate(d.init.method) ? o.tables.filter((t) => !copied.has(qualifiedName(t))) : [];
  return [...syncing, ...o.copiedTables];
}

function reinitCleanupStep(d: SubscriptionSpec): Step {
  return step({
    address: { kind: 'subscription', name: d.name },
    node: d.from,
    kind: 'publication-drop',
    reasonText: `init cancel: an interrupted reinit's temporary publications for ${d.name} go, if any`,
    statements: temporaryPublications(d.name, d.publications.length).map((t) =>
      tx(dropPublicationSql(t, true)),
    ),
    hazards: [],
  });
}

/**
 * The drop and the truncate are two steps that cannot be one transaction (DROP SUBSCRIPTION
 * with a slot is not allowed in one), and a cancel that dropped the subscription but could not
 * empty its tables leaves a half state: so what the role may not do is refused before either,
 * naming the owner to connect as or the GRANT.
 */
function refuseWithoutPrivileges(d: SubscriptionSpec, o: CancelObserved, plan: CancelPlan): void {
  const role = o.access?.role;
  if (!role) return;
  const truncated = new Set(plan.truncated);
  const denied = (o.access?.truncateDenied ?? []).filter((t) => truncated.has(qualifiedName(t)));
  const problems = [
    plan.drop !== null &&
      o.existing?.mayDrop === false &&
      `${d.node}: role ${role} may not drop subscription ${d.name}, whose owner is ${o.existing.owner ?? 'another role'} ` +
        `(only its owner or a superuser may); run ${adviceText('initCancel', d.name)} as ${o.existing.owner ?? 'its owner'} or a superuser`,
    denied.length > 0 &&
      `${d.node}: role ${role} may not truncate ${listText(denied.map(qualifiedName))}, which init cancel empties (what the copy filled); ` +
        `run GRANT TRUNCATE ON ${denied.map(quoteTable).join(', ')} TO ${quoteIdent(role)}; on ${d.node} (as the owner or a superuser)`,
  ].filter((x) => x !== false);
  if (problems.length === 0) return;
  throw new SteepError('init.cancel_refused', `${problems.join('; ')}; nothing was changed`, {
    node: d.node,
    address: { kind: 'subscription', name: d.name },
  });
}
