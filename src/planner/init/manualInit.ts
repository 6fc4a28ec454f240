import { subscriptionAddress } from '../../model/address.js';
import { adviceText } from '../../model/advice.js';
import type { ObservedNode } from '../../model/cluster.js';
import { SteepError } from '../../model/errors.js';
import { restoredByUser } from '../../model/initMethods.js';
import { compareLsn, isLsn, normaliseLsn } from '../../model/lsn.js';
import { quoteLiteral, THIS_DATABASE_OID } from '../../model/sql.js';
import type { SubscriptionSpec, Topology } from '../../model/topology.js';
import type { PlanContext } from '../context.js';
import { sortedKeys } from '../context.js';
import { sameServerNodes } from '../subscriptions/slotKinds.js';
import { physicalReadiness } from './physicalInit.js';

/**
 * The `manual` init method (docs/steep-yaml.md) as the plan sees it: is the prepared slot there, and at
 * which LSN does the restored data start — the LSN `steep init prepare` recorded (the catalog
 * reads `init_slots` from the subscriber's state schema) or `apply --lsn`. The plan shows the
 * exact `pg_replication_origin_advance` it will run, and a saved plan goes stale when the slot
 * is prepared again.
 */

export interface ManualReadiness {
  /** the subscription can be created on the prepared slot now */
  ok: boolean;
  /** where its origin is advanced to */
  lsn?: string;
  /** why the restored data starts there, when it is proven (physical: the clone's fork point) */
  why?: string;
}

/** A readiness refusal of `d`: the plan error, and not ready. */
export function refusal(ctx: PlanContext, d: SubscriptionSpec) {
  const where = { address: subscriptionAddress(d.name), node: d.node };
  return (code: string, text: string): ManualReadiness => {
    ctx.error(code, text, where);
    return { ok: false };
  };
}

/**
 * The readiness of a subscription whose data the DBA restores: `physical` proves it from the
 * clone; so does `manual` when the restored subscriber is a physical clone of its publisher (one
 * system identifier) and the slot is prepared: the clone's history says where it stands, and a
 * record or a `--lsn` that disagrees would open a gap. Otherwise `manual` trusts the record or `--lsn`.
 */
export function restoreReadiness(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode): ManualReadiness {
  const publisher = ctx.node(d.from);
  // one system identifier on two running servers (two databases of one server are no clone), and
  // a timeline of its own (nodes made from one initdb template share an identifier, never forked)
  const [own, theirs] = [node.walHistory, publisher?.walHistory];
  const clone =
    publisher?.server !== undefined &&
    node.server?.systemIdentifier === publisher.server.systemIdentifier &&
    !sameServerNodes(node, publisher) &&
    own?.read === true &&
    theirs?.read === true &&
    own.timeline !== theirs.timeline;
  return d.init.method === 'physical' || (clone && publisher?.slots[d.slot] !== undefined)
    ? physicalReadiness(ctx, d, node)
    : manualReadiness(ctx, d, node);
}

/**
 * Is the prepared slot of a `manual` subscription there, and at which LSN does the restored
 * data start? From `init_slots` (recorded by `steep init prepare`) or `--lsn` (a physical
 * backup restored at a later point), never earlier than the slot's own position.
 */
export function manualReadiness(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode): ManualReadiness {
  const fail = refusal(ctx, d);
  const where = { address: subscriptionAddress(d.name), node: d.node };
  const publisher = ctx.node(d.from);
  if (!publisher) return { ok: false };
  const slot = publisher.slots[d.slot];
  const recorded = node.initState?.slots[d.name];
  const record = recorded && recorded.slot === d.slot ? recorded : undefined;
  const flag = ctx.initLsn[d.name];
  if (flag !== undefined) ctx.initLsnUsed.add(d.name);
  if (!slot && flag !== undefined)
    return fail(
      'init-not-prepared',
      `subscription ${d.name}: --lsn was given, but slot ${d.slot} does not exist on ${d.from}; run steep init prepare ${d.name} first`,
    );
  if (!slot) {
    ctx.warn(
      'init-not-prepared',
      `subscription ${d.name} uses init method manual and is not created until it is prepared: run steep init prepare ${d.name} ` +
        `(it creates slot ${d.slot} on ${d.from} and prints the LSN), restore a backup consistent at that LSN on ${d.node}, then steep apply`,
      where,
    );
    return { ok: false };
  }
  if (slot.active) {
    return fail(
      'slot-in-use',
      `subscription ${d.name}: the prepared slot ${d.slot} on ${d.from} is in use (pid ${slot.activePid ?? 'unknown'}); ` +
        'stop its consumer (a steep init prepare --hold still holding its snapshot?) and apply again',
    );
  }
  if (!record && flag === undefined) {
    return fail(
      'init-lsn-unknown',
      `subscription ${d.name}: slot ${d.slot} exists on ${d.from}, but steep has no record of the LSN it was prepared at ` +
        `(it was not made by steep init prepare on this topology); give the LSN your restored backup is consistent at: steep apply --lsn ${d.name}=LSN`,
    );
  }
  const base = record?.lsn ?? slot.confirmedFlushLsn ?? undefined;
  if (record && slot.confirmedFlushLsn && compareLsn(slot.confirmedFlushLsn, record.lsn) > 0) {
    return fail(
      'init-slot-consumed',
      `subscription ${d.name}: slot ${d.slot} on ${d.from} has been consumed past the LSN it was prepared at ` +
        `(${record.lsn} → ${slot.confirmedFlushLsn}), so the changes in between would never reach ${d.node}; ` +
        `run ${adviceText('initCancel', d.name)}, then prepare and restore again`,
    );
  }
  if (flag !== undefined) {
    if (!isLsn(flag)) {
      return fail('init-lsn-invalid', `--lsn ${flag}: not an LSN (expected e.g. 16/B374D848)`);
    }
    if (base && compareLsn(flag, base) < 0) {
      return fail(
        'init-lsn-early',
        `subscription ${d.name}: --lsn ${flag} is earlier than slot ${d.slot}'s LSN ${base} on ${d.from}: the changes between ` +
          `them are neither in the restored backup nor in the slot; restore a backup consistent at ${base} or later`,
      );
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
    `AND s.subdbid = ${THIS_DATABASE_OID}`
  );
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
    const manual = sortedKeys(desired.subscriptions).filter((n) =>
      restoredByUser(desired.subscriptions[n]!.init.method),
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
