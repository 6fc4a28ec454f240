import type { Address } from '../model/address.js';
import type { ObservedNode, Ownership } from '../model/cluster.js';
import type { Change, Hazard, Statement } from '../model/plan.js';
import { reportUnmanaged } from './adopt.js';
import { type ManagedKind, PHASE, type PlanContext, sortedKeys, stepKey } from './context.js';

/**
 * The skeleton publications and subscriptions share (docs/steep-yaml.md): what becomes of each object a
 * node holds — declared (`desired`: the resource module plans it), this topology's but no longer
 * declared (`delete`), without steep's marker (`unmanaged`: reported, left alone), another
 * topology's (`foreign`: left alone, an error when this file claims it) — and how `protect`
 * stops a drop or a replace. A delete step carries the `drops-object` hazard (and what the
 * resource adds, such as `drops-slot`), which apply runs only with `--allow-destroy`. The
 * resource module gives the kind-specific parts: its objects on a node, and its drop (the
 * attributes that go, the statements, what it waits for).
 */

export interface ManagedObject {
  name: string;
  managedBy: Ownership | null;
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

export interface ManagedResource<O extends ManagedObject> {
  kind: ManagedKind;
  address(name: string): string;
  /** the objects of this kind on a node */
  observedOn(node: ObservedNode): Readonly<Record<string, O>>;
  /** the drop of `o` (its protection already checked) */
  drop(ctx: PlanContext, node: ObservedNode, o: O): ManagedDrop;
}

const DROP_PHASE = { publication: PHASE.publicationDrop, subscription: PHASE.subscriptionDrop } as const;

/**
 * Every object of the resource's kind on every reached node, by its fate: a foreign one the file
 * claims is an error (returned as blocked: no step is planned for it), unmanaged ones are
 * reported, and those to delete get their drop step unless protected. Declared ones are left to
 * the resource module.
 */
export function planObservedObjects<O extends ManagedObject>(
  ctx: PlanContext,
  r: ManagedResource<O>,
): Set<string> {
  const blocked = new Set<string>();
  const topology = ctx.desired.topology;
  for (const node of ctx.reachableNodes()) {
    const objects = r.observedOn(node);
    for (const name of sortedKeys(objects)) {
      const o = objects[name]!;
      const address = r.address(name);
      const fate = ctx.fateOf(r.kind, node.name, name);
      if (fate === 'foreign') {
        // another topology's object: an error only when this file claims it (no takeover);
        // otherwise it is reported like any object this file does not manage, and left alone
        if (declaredOn(ctx, r.kind, name) === node.name) {
          ctx.error(
            'foreign-owner',
            `${r.kind} ${name} on ${node.name} is managed by steep topology ${o.managedBy!.topology}, not ${topology}: ` +
              `steep does not take over another topology's objects; manage it from that topology's file or remove it from this one`,
            { address, node: node.name },
          );
          blocked.add(address);
        } else reportUnmanaged(ctx, node.name, r.kind, name, o.managedBy);
      } else if (fate === 'unmanaged') {
        reportUnmanaged(ctx, node.name, r.kind, name, null);
      } else if (fate === 'delete') {
        planDelete(ctx, r, node, o);
      }
    }
  }
  return blocked;
}

function declaredOn(ctx: PlanContext, kind: ManagedKind, name: string): string | undefined {
  return (kind === 'publication' ? ctx.desired.publications[name] : ctx.desired.subscriptions[name])?.node;
}

function planDelete<O extends ManagedObject>(
  ctx: PlanContext,
  r: ManagedResource<O>,
  node: ObservedNode,
  o: O,
): void {
  const address: Address = { kind: r.kind, name: o.name };
  const moved =
    r.kind === 'publication' ? ctx.desired.publications[o.name] : ctx.desired.subscriptions[o.name];
  if (moved?.protect) {
    // the file still declares it, protected, on another node: moving it drops this one
    ctx.error(
      'protected',
      `${r.kind} ${o.name} is protected, cannot replace: steep.yaml declares it on ${moved.node}, which would drop it on ` +
        `${node.name}; set protect: false to allow the move`,
      { address, node: node.name },
    );
    return;
  }
  if (o.managedBy?.protect) {
    ctx.error(
      'protected',
      `${r.kind} ${o.name} on ${node.name} is protected (steep's marker records protect: true), so steep will not drop it; ` +
        'to drop it, declare it again with protect: false, apply, then remove it',
      { address, node: node.name },
    );
    return;
  }
  const drop = r.drop(ctx, node, o);
  ctx.steps.push({
    key: stepKey(`${r.kind}-drop`, node.name, o.name),
    phase: DROP_PHASE[r.kind],
    address,
    node: node.name,
    kind: `${r.kind}-drop`,
    action: 'delete',
    reason: 'removed-from-config',
    reasonText:
      `managed by steep (topology ${ctx.desired.topology}) on ${node.name} and no longer in steep.yaml` +
      (drop.reasonSuffix ?? ''),
    changes: drop.changes,
    statements: drop.statements,
    hazards: ['drops-object', ...drop.hazards],
    deps: drop.deps,
    catalogDigest: drop.catalogDigest,
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
