import { printAddress } from '../model/address.js';
import type { ObservedNode } from '../model/cluster.js';
import type { Change } from '../model/plan.js';
import type { PlanContext } from './context.js';
import type { Rename } from './renames.js';

/**
 * Drift: a managed object changed on the node since steep last applied it. The last successful
 * apply recorded its catalog digest (`digest`, state schema `object_digests`) under its address
 * (a renamed object's old one): an object that still matches it differs from steep.yaml because
 * the file changed; one that does not, or has no record, was changed outside steep; one being
 * adopted (no marker) has not drifted. Then every attribute difference is recorded (expected =
 * the file, actual = the node), but not steep's comment: a stale hash in its marker is reported
 * through the attribute it stands for (the connection). True when the object drifted.
 */
export function recordDrift<O extends { name: string; managedBy: object | null }>(
  ctx: PlanContext,
  node: ObservedNode,
  address: { kind: 'publication' | 'subscription'; name: string },
  o: O,
  renamed: Rename | undefined,
  changes: readonly Change[],
  digest: (was: O) => string,
): boolean {
  if (o.managedBy === null) return false;
  const was = renamed ? { ...o, name: renamed.from } : o;
  if (node.objectDigests?.[printAddress({ ...address, name: was.name })] === digest(was)) return false;
  for (const c of changes) {
    if (c.path !== 'comment')
      ctx.drift.push({ address: printAddress(address), path: c.path, expected: c.after, actual: c.before });
  }
  return true;
}
