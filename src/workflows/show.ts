import { SteepError } from '../model/errors.js';
import type { Plan } from '../model/plan.js';
import type { PlanFile } from '../model/planFile.js';
import type { ShownPlan } from '../model/shownPlan.js';
import type { Topology } from '../model/topology.js';
import { captureChanges } from './observe.js';
import { makePlan } from './plan.js';
import { readSavedPlan, savedPlanInputs, staleness } from './savedPlan.js';

/**
 * `steep show PLAN`: read a plan saved by `plan --out`; with `check`, plan again from `config`
 * with the plan's own inputs, as `apply PLAN` would, and say what differs.
 */
export async function showPlan(
  file: string,
  opts: { config: string; check: boolean; now?: Date },
): Promise<ShownPlan> {
  const plan = await readSavedPlan(file);
  const now = opts.now ?? new Date();
  const ageSeconds = Math.max(0, Math.round((now.getTime() - Date.parse(plan.createdAt)) / 1000));
  if (!opts.check) return { file, ageSeconds, check: null, plan };
  const { topology, plan: fresh } = await makePlan(opts.config, savedPlanInputs(file, plan));
  if (fresh.errors.length > 0) {
    throw new SteepError(
      'show.plan_errors',
      `cannot tell whether ${file} is current: planning again from ${opts.config} gives ${fresh.errors.length} error(s): ${fresh.errors.map((e) => e.message).join('; ')}`,
    );
  }
  const differences = await savedPlanDifferences(plan, topology, fresh);
  return { file, ageSeconds, check: { current: differences.length === 0, differences }, plan };
}

/** What `apply PLAN` would refuse the saved plan for: its capture's nodes changed, or its steps. */
async function savedPlanDifferences(saved: PlanFile, topology: Topology, fresh: Plan): Promise<string[]> {
  const captured = saved.observed.capture ? await captureChanges(topology, saved.observed.capture) : [];
  return [
    ...captured.map(
      (c) => `since the capture the plan was made from (${saved.observed.capture!.takenAt}), ${c}`,
    ),
    ...staleness(saved, fresh),
  ];
}
