import type { Ownership } from '../model/cluster.js';
import { matchesAny } from '../model/glob.js';
import { ownText } from '../model/ownership.js';
import type { Step } from '../model/plan.js';
import { listText, type PlanContext } from './context.js';

/**
 * Adoption (docs/steep-yaml.md): an existing object without steep's marker whose name the file declares is
 * taken under management by its own `adopt` step — its comment gains steep's marker (whatever
 * the DBA wrote there is kept, above it), and any attribute that differs from the file is set in
 * place and listed. Being adopted is not drift. Objects the file does not declare are reported
 * as unmanaged (with the topology whose marker they carry), unless `ignore:` names them.
 */

/** A step's action and the reason it gives. */
export type StepWords = Pick<Step, 'action' | 'reason' | 'reasonText'>;

/** The action and sentence of an adopt step (`attributes`: the paths set as the file declares). */
export function adoptionWords(
  node: string,
  comment: string | null,
  attributes: readonly string[],
): StepWords {
  const kept = ownText(comment);
  return {
    action: 'adopt',
    reason: 'unmarked',
    reasonText:
      `exists on ${node} without steep's marker: adopted (its comment gains the marker` +
      `${kept ? `, keeping ${JSON.stringify(kept)}` : ''})` +
      (attributes.length > 0
        ? `, and ${listText(attributes)} set as steep.yaml declares`
        : ', nothing else changes'),
  };
}

export type IgnorableKind = 'slots' | 'publications' | 'subscriptions';

/** Does an `ignore:` pattern name this object? Counted in the plan's `ignored`. */
export function ignored(ctx: PlanContext, kind: IgnorableKind, name: string): boolean {
  if (!matchesAny(ctx.desired.ignore?.[kind], name)) return false;
  ctx.ignored[kind]++;
  return true;
}

/**
 * An object on a node that this file does not manage: reported as unmanaged, with the topology
 * whose marker it carries, unless `ignore:` names it.
 */
export function reportUnmanaged(
  ctx: PlanContext,
  node: string,
  kind: 'publication' | 'subscription',
  name: string,
  managedBy: Ownership | null,
): void {
  if (ignored(ctx, kind === 'publication' ? 'publications' : 'subscriptions', name)) return;
  ctx.unmanaged.push({ node, kind, name, ...(managedBy ? { topology: managedBy.topology } : {}) });
}
