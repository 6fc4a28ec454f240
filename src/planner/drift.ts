import { type Address, printAddress } from '../model/address.js';
import type { ObservedNode } from '../model/cluster.js';
import type { Change } from '../model/plan.js';
import type { PlanContext } from './context.js';

/**
 * Drift: a managed object changed on the node since steep last applied it. The last successful
 * apply recorded its catalog digest (state schema `object_digests`) under `recorded` (a renamed
 * object's old address): an object that still matches it differs from steep.yaml because the
 * file changed; one that does not, or has no record, was changed outside steep. Then every
 * attribute difference is recorded (expected = the file, actual = the node), but not steep's
 * comment: a stale hash in its marker is reported through the attribute it stands for (the
 * connection). True when the object drifted.
 */
export function recordDrift(
  ctx: PlanContext,
  node: ObservedNode,
  address: Address,
  changes: readonly Change[],
  recorded: { address: string; digest: string },
): boolean {
  if (node.objectDigests?.[recorded.address] === recorded.digest) return false;
  for (const c of changes) {
    if (c.path !== 'comment')
      ctx.drift.push({ address: printAddress(address), path: c.path, expected: c.after, actual: c.before });
  }
  return true;
}
