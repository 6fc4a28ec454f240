import type { ObservedNode } from '../model/cluster.js';
import type { Change } from '../model/plan.js';
import type { PlanContext } from './context.js';

/**
 * Drift: an existing object whose attributes differ from the file. Every attribute difference
 * is reported (expected = the file, actual = the node). steep's ownership comment counts only
 * when the object is being adopted (it has no marker at all); a stale hash in an existing
 * marker is reported through the attribute it stands for (the connection).
 */
export function recordDrift(
  ctx: PlanContext,
  address: string,
  changes: readonly Change[],
  adopted: boolean,
): void {
  for (const c of changes) {
    if (c.path === 'comment' && !adopted) continue;
    ctx.drift.push({ address, path: c.path, expected: c.after, actual: c.before });
  }
}

/**
 * Was the object changed on the node since steep last applied it? The last successful apply
 * recorded its catalog digest (state schema `object_digests`): an object that still matches
 * it differs from steep.yaml because the file changed; one that does not, or has no record,
 * was changed outside steep.
 */
export function changedOutsideSteep(node: ObservedNode, address: string, digest: string): boolean {
  const recorded = node.objectDigests?.[address];
  return recorded === undefined || recorded !== digest;
}
