import { type Address, printAddress } from '../model/address.js';
import type { ObservedNode, ObservedPublication, ObservedSubscription } from '../model/cluster.js';
import type { Change, Hazard, Statement } from '../model/plan.js';
import { reportUnmanaged } from './adopt.js';
import { cloneRelatives } from './clones.js';
import { type ManagedKind, PHASE, type PlanContext, sortedKeys, stepKey } from './context.js';

/**
 * The skeleton publications and subscriptions share (docs/steep-yaml.md): what becomes of each object a
 * node holds — declared (`desired`: the resource module plans it), this topology's but no longer
 * declared (`delete`), without steep's marker (`unmanaged`: reported, left alone), another
 * topology's (`foreign`: left alone, an error when this file claims it) — and how `protect`
 * stops a drop or a replace. A delete step carries the `drops-object` hazard (and what the
 * resource adds, such as `drops-slot`), which apply runs only with `--allow-destroy`. The
 * resource module gives the kind-specific part: its drop (the attributes that go, the
 * statements, what it waits for).
 */

/** The observed object of each managed kind. */
export interface Observed {
  publication: ObservedPublication;
  subscription: ObservedSubscription;
}

/** The drop of a managed object the file no longer declares, as its resource module plans it. */
export interface ManagedDrop {
  /** every attribute as a change to nothing */
  changes: Change[];
  statements: Statement[];
  /** hazards beyond `drops-object` */
  hazards: Hazard[];
  deps: string[];
  /** said after the reason: `; dropping it also drops slot …` */
  reasonSuffix?: string;
  catalogDigest: string;
}

/** The resource module's drop of `o` (its protection already checked). */
type Drop<K extends ManagedKind> = (ctx: PlanContext, node: ObservedNode, o: Observed[K]) => ManagedDrop;

const DROP_PHASE = { publication: PHASE.publicationDrop, subscription: PHASE.subscriptionDrop } as const;

/**
 * Every object of the kind on every reached node, by its fate: a foreign one the file
 * claims is an error (returned as blocked: no step is planned for it), unmanaged ones are
 * reported, and those to delete get their drop step unless protected. Declared ones are left to
 * the resource module, and those in `leftAlone` (`node/name`: an unfinished reinit's temporary
 * publications) to the warning that says what they are and how they go (reinit.unfinished).
 */
export function planObservedObjects<K extends ManagedKind>(
  ctx: PlanContext,
  kind: K,
  drop: Drop<K>,
  leftAlone: ReadonlySet<string> = new Set(),
): Set<string> {
  const blocked = new Set<string>();
  for (const node of ctx.reachableNodes()) {
    const objects = node[`${kind}s`] as Readonly<Record<string, Observed[K]>>;
    for (const name of sortedKeys(objects)) {
      if (leftAlone.has(`${node.name}/${name}`)) continue;
      const o = objects[name]!;
      const address = printAddress({ kind, name });
      const fate = ctx.fateOf(kind, node.name, name);
      if (fate === 'foreign') {
        // another topology's object: an error only when this file claims it (no takeover);
        // otherwise it is reported like any object this file does not manage, and left alone
        if (ctx.desired[`${kind}s`][name]?.node === node.name) {
          ctx.error(
            'foreign-owner',
            `${kind} ${name} on ${node.name} is managed by steep topology ${o.managedBy!.topology}, not ${ctx.desired.topology}: ` +
              `steep does not take over another topology's objects; manage it from that topology's file or remove it from this one`,
            { address, node: node.name },
          );
          blocked.add(address);
        } else reportUnmanaged(ctx, node.name, kind, name, o.managedBy);
      } else if (fate === 'unmanaged') {
        reportUnmanaged(ctx, node.name, kind, name, null);
      } else if (fate === 'delete') {
        planDelete(ctx, kind, drop, node, o);
      }
    }
  }
  return blocked;
}

function planDelete<K extends ManagedKind>(
  ctx: PlanContext,
  kind: K,
  drop: Drop<K>,
  node: ObservedNode,
  o: Observed[K],
): void {
  const address: Address = { kind, name: o.name };
  const moved = ctx.desired[`${kind}s`][o.name];
  if (moved?.protect) {
    // the file still declares it, protected, on another node: moving it drops this one
    ctx.error(
      'protected',
      `${kind} ${o.name} is protected, cannot replace: steep.yaml declares it on ${moved.node}, which would drop it on ` +
        `${node.name}; set protect: false to allow the move`,
      { address, node: node.name },
    );
    return;
  }
  if (o.managedBy?.protect) {
    ctx.error(
      'protected',
      `${kind} ${o.name} on ${node.name} is protected (steep's marker records protect: true), so steep will not drop it; ` +
        'to drop it, declare it again with protect: false, apply, then remove it',
      { address, node: node.name },
    );
    return;
  }
  const dropped = drop(ctx, node, o);
  ctx.steps.push({
    key: stepKey(`${kind}-drop`, node.name, o.name),
    phase: DROP_PHASE[kind],
    address,
    node: node.name,
    kind: `${kind}-drop`,
    action: 'delete',
    reason: 'removed-from-config',
    reasonText:
      (moved && cloneRelatives(ctx, node.name).includes(moved.node)
        ? `a copy of ${kind} ${o.name} of ${moved.node}, whose system identifier ${node.name} has on another server (a physical clone, or both made from one template): steep.yaml declares it on ${moved.node}, not here`
        : `managed by steep (topology ${ctx.desired.topology}) on ${node.name} and no longer in steep.yaml`) +
      (dropped.reasonSuffix ?? ''),
    changes: dropped.changes,
    statements: dropped.statements,
    hazards: ['drops-object', ...dropped.hazards],
    deps: dropped.deps,
    catalogDigest: dropped.catalogDigest,
  });
}

/**
 * A declared object that only a drop and a create can change (`why`: what cannot change in
 * place, as the sentence goes on with `and steep will not drop …`): refused, with a plan error,
 * when the file protects it. True when it may be replaced.
 */
export function mayReplace(
  ctx: PlanContext,
  kind: ManagedKind,
  spec: { name: string; protect: boolean },
  node: string,
  address: Address,
  why: string,
): boolean {
  if (!spec.protect) return true;
  ctx.error(
    'protected',
    `${kind} ${spec.name} on ${node} is protected, cannot replace: ${why} and steep will not drop a protected ` +
      `${kind}; set protect: false to allow it`,
    { address, node },
  );
  return false;
}
