import type { PlanFile, PlanFileStep } from './planFile.js';

/**
 * What separates a saved plan from the plan the same inputs give now, one sentence each. Empty:
 * the saved plan is exactly what would run — the same steep, steep.yaml and inputs, the same
 * steps in the same order, each with the same statements, hazards, dependencies, changes and
 * catalog digest. A step's `reasonText`, copy estimate and expected write block are words and
 * figures about it, not what runs: they may differ.
 */
export function planDifferences(saved: PlanFile, now: PlanFile): string[] {
  const made = madeDifference(saved, now);
  if (made !== null) return [made];
  const before = keyed(saved.steps);
  const after = keyed(now.steps);
  const reasons: string[] = [];
  for (const [key, s] of before) {
    const f = after.get(key);
    if (!f) {
      if (!onlyFollows(s.step)) reasons.push(`${key}: no longer needed`);
      continue;
    }
    const changed = stepDifferences(s, f);
    if (changed.length > 0) reasons.push(`${key}: ${changed.join(', ')}`);
  }
  for (const [key, f] of after) {
    if (!before.has(key)) reasons.push(`${key} on ${f.step.node}: needed now, not in the plan`);
  }
  if (reasons.length === 0) {
    const order = (m: Map<string, Keyed>) => [...m.keys()].filter((k) => before.has(k) && after.has(k));
    if (order(before).join('\n') !== order(after).join('\n'))
      reasons.push(`the steps would now run in another order: ${order(after).join(', ')}`);
  }
  return reasons;
}

/** Another steep, steep.yaml or inputs made the saved plan: the one sentence that says so, else null. */
export function madeDifference(saved: PlanFile, now: PlanFile): string | null {
  if (saved.steepVersion !== now.steepVersion)
    return `the plan was made by steep ${saved.steepVersion}, this is steep ${now.steepVersion}`;
  if (saved.config.digest !== now.config.digest)
    return `steep.yaml changed since the plan was made (${saved.config.digest.slice(0, 19)}… → ${now.config.digest.slice(0, 19)}…)`;
  if (JSON.stringify(saved.inputs) !== JSON.stringify(now.inputs))
    return `the plan was made with ${describeInputs(saved)}, not ${describeInputs(now)}`;
  return null;
}

/** `--target a, b and --lsn x=0/1 and --allow-hazard data-gap`, or `no --target, --lsn or --allow-hazard` */
export function describeInputs(plan: Pick<PlanFile, 'inputs'>): string {
  const parts: string[] = [];
  if (plan.inputs.targets.length > 0) parts.push(`--target ${plan.inputs.targets.join(', ')}`);
  const lsn = Object.entries(plan.inputs.lsn);
  if (lsn.length > 0) parts.push(`--lsn ${lsn.map(([s, l]) => `${s}=${l}`).join(', ')}`);
  if (plan.inputs.allowHazards.length > 0)
    parts.push(`--allow-hazard ${plan.inputs.allowHazards.join(', ')}`);
  return parts.length > 0 ? parts.join(' and ') : 'no --target, --lsn or --allow-hazard';
}

/** The `steep plan` that makes a plan of the same inputs (and `allow` besides) again, saved to `out`. */
export function planCommand(
  plan: Pick<PlanFile, 'inputs'>,
  out: string,
  allow: readonly string[] = [],
): string {
  const flags = [
    ...plan.inputs.targets.map((t) => `--target ${t}`),
    ...Object.entries(plan.inputs.lsn).map(([s, l]) => `--lsn ${s}=${l}`),
    ...[...new Set([...plan.inputs.allowHazards, ...allow])].map((h) => `--allow-hazard ${h}`),
  ];
  return ['steep plan', ...flags, `--out ${out}`].join(' ');
}

interface Keyed {
  step: PlanFileStep;
  /** the keys of the steps it depends on (ids are positions, they may shift) */
  dependsOn: string[];
}

/** Each step by `<action> <address>` (a second one of the same: `… #2`). */
function keyed(steps: PlanFileStep[]): Map<string, Keyed> {
  const keys = new Map<string, string>();
  const seen = new Map<string, number>();
  for (const s of steps) {
    const base = `${s.action} ${s.address}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    keys.set(s.id, n === 1 ? base : `${base} #${n}`);
  }
  return new Map(
    steps.map((s) => [keys.get(s.id)!, { step: s, dependsOn: s.dependsOn.map((d) => keys.get(d) ?? d) }]),
  );
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * Changes that are figures about a step, not what it does: they follow the publisher's size
 * estimates, which move with every write and ANALYZE (a merge init's expected write block).
 */
const ESTIMATES = new Set(['init.blocksWritesSeconds']);
const decided = (changes: PlanFileStep['changes']) => changes.filter((c) => !ESTIMATES.has(c.path));

function stepDifferences(saved: Keyed, now: Keyed): string[] {
  const s = saved.step;
  const f = now.step;
  const out: string[] = [];
  if (s.kind !== f.kind || s.node !== f.node || s.reason !== f.reason)
    out.push(
      `now a ${f.kind} step on ${f.node} (${f.reason}), was a ${s.kind} step on ${s.node} (${s.reason})`,
    );
  if (s.catalogDigest !== f.catalogDigest) out.push(`the catalog rows it depends on on ${f.node} changed`);
  if (!same([s.sql, s.transactional, s.statementNodes], [f.sql, f.transactional, f.statementNodes]))
    out.push('its SQL would now differ');
  if (!same(decided(s.changes), decided(f.changes))) out.push('its changes would now differ');
  if (!same(s.hazards, f.hazards))
    out.push(
      `its hazards would now be ${f.hazards.join(', ') || 'none'} (saved: ${s.hazards.join(', ') || 'none'})`,
    );
  if (!same(saved.dependsOn, now.dependsOn))
    out.push(
      `it would now wait for ${now.dependsOn.join(', ') || 'nothing'} (saved: ${saved.dependsOn.join(', ') || 'nothing'})`,
    );
  return out;
}

/**
 * An init step that runs no SQL and changes nothing but the recorded state only follows the
 * subscription and records it synchronized: when PostgreSQL finished the copy in the meantime
 * (the fresh plan no longer needs it), leaving it out changes nothing on the nodes.
 */
function onlyFollows(s: PlanFileStep): boolean {
  return s.action === 'init' && s.sql.length === 0 && s.changes.every((c) => c.path === 'init.state');
}
