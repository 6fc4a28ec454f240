import { type Address, printAddress, publicationAddress } from '../model/address.js';
import { compareText } from '../model/order.js';
import type { Step } from '../model/plan.js';
import type { Settings } from '../model/topology.js';
import { type DraftStep, type PlanContext, stepKey } from './context.js';
import { stepTimeouts } from './stepTimeouts.js';

/**
 * Ordering (docs/architecture.md, Inside the planner): a topological order of the steps' dependencies that, among the steps
 * ready to run, takes the earliest phase (state schema → publications → slots → subscriptions
 * → deletions in reverse), then the address. Ids are `s1`, `s2`, … in that order.
 */

function compareDrafts(a: DraftStep, b: DraftStep): number {
  return (
    a.phase - b.phase ||
    compareText(printAddress(a.address), printAddress(b.address)) ||
    compareText(a.node, b.node) ||
    compareText(a.key, b.key)
  );
}

/**
 * The drafts with more dependencies: `waits` maps a step's key to keys it must wait for (what
 * one module learns about another's step, returned instead of written into it). A key with no
 * step is ignored.
 */
export function withDependencies(
  drafts: readonly DraftStep[],
  waits: ReadonlyMap<string, readonly string[]>,
): DraftStep[] {
  return drafts.map((d) => {
    const more = waits.get(d.key);
    return more && more.length > 0 ? { ...d, deps: [...d.deps, ...more] } : d;
  });
}

export function orderSteps(drafts: readonly DraftStep[], settings: Settings): Step[] {
  const byKey = new Map(drafts.map((d) => [d.key, d]));
  const depsOf = new Map<string, string[]>();
  for (const d of drafts) {
    const all = d.kind === 'state-schema' ? d.deps : [...d.deps, stepKey('state', d.node)];
    depsOf.set(
      d.key,
      [...new Set(all)].filter((k) => k !== d.key && byKey.has(k)),
    );
  }
  const remaining = [...drafts].sort(compareDrafts);
  const done = new Set<string>();
  const ordered: DraftStep[] = [];
  while (remaining.length > 0) {
    let i = remaining.findIndex((d) => depsOf.get(d.key)!.every((k) => done.has(k)));
    // a dependency cycle is a planner bug; keep going in phase order rather than lose steps
    if (i < 0) i = 0;
    const next = remaining.splice(i, 1)[0]!;
    done.add(next.key);
    ordered.push(next);
  }
  const ids = new Map(ordered.map((d, i) => [d.key, `s${i + 1}`]));
  return ordered.map((d) => ({
    id: ids.get(d.key)!,
    address: d.address,
    node: d.node,
    kind: d.kind,
    action: d.action,
    reason: d.reason,
    reasonText: d.reasonText,
    changes: d.changes,
    statements: d.statements,
    dependsOn: depsOf
      .get(d.key)!
      .map((k) => ids.get(k)!)
      .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))),
    hazards: [...new Set(d.hazards)],
    catalogDigest: d.catalogDigest,
    ...(d.copy ? { copy: d.copy } : {}),
    ...(d.renamedAfter ? { renamedAfter: d.renamedAfter } : {}),
    ...(d.catchUpAfter ? { catchUpAfter: d.catchUpAfter } : {}),
    ...(d.catchUpBefore ? { catchUpBefore: d.catchUpBefore } : {}),
    ...(d.defaultsAfter ? { defaultsAfter: d.defaultsAfter } : {}),
    ...(d.disables ? { disables: d.disables } : {}),
    timeouts: stepTimeouts(d.kind, settings),
  }));
}

/**
 * `--target ADDRESS`: only the steps at those addresses and, transitively, the steps they
 * depend on; renumbered.
 */
export function selectTargets(steps: readonly Step[], targets: readonly Address[]): Step[] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const keep = new Set<string>();
  const wanted = new Set(targets.map(printAddress));
  const queue = steps.filter((s) => wanted.has(printAddress(s.address))).map((s) => s.id);
  while (queue.length > 0) {
    const id = queue.pop()!;
    if (keep.has(id)) continue;
    keep.add(id);
    queue.push(...byId.get(id)!.dependsOn);
  }
  const kept = steps.filter((s) => keep.has(s.id));
  const ids = new Map(kept.map((s, i) => [s.id, `s${i + 1}`]));
  return kept.map((s) => ({ ...s, id: ids.get(s.id)!, dependsOn: s.dependsOn.map((d) => ids.get(d)!) }));
}

/**
 * `--target` scopes the plan's errors too: an error about an object outside the targets and
 * what they depend on (or about a node none of them touches) becomes a warning, so one broken
 * subscription does not block applying another. Errors naming neither stay errors.
 */
export function scopeMessages(ctx: PlanContext, kept: readonly Step[], targets: readonly Address[]): void {
  // messages carry addresses printed (the plan document's)
  const addresses = new Set([...targets, ...kept.map((s) => s.address)].map(printAddress));
  const nodes = new Set(kept.map((s) => s.node));
  for (const t of targets) {
    const sub = t.kind === 'subscription' ? ctx.desired.subscriptions[t.name] : undefined;
    if (!sub) continue;
    nodes.add(sub.node).add(sub.from);
    for (const p of sub.publications) addresses.add(publicationAddress(p));
    addresses.add(printAddress({ kind: 'slot', node: sub.from, slot: sub.slot }));
  }
  const inScope = (m: { address?: string; node?: string }) =>
    m.address !== undefined ? addresses.has(m.address) : m.node === undefined || nodes.has(m.node);
  const outside = ctx.errors.filter((e) => !inScope(e));
  if (outside.length === 0) return;
  ctx.errors.splice(0, ctx.errors.length, ...ctx.errors.filter(inScope));
  for (const e of outside) {
    ctx.warnings.push({ ...e, message: `outside --target, not applied now: ${e.message}` });
  }
}
