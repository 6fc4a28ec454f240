import { maskDeep } from '../db/mask.js';
import type { Plan } from '../model/plan.js';
import { toPlanFile } from '../model/planFile.js';

/** `plan --format json` and `plan --out`: the plan document (model/planFile.ts), masked. */
export function renderPlanJson(plan: Plan): string {
  // statements already show passwords as ****; maskDeep is the last guard for anything else
  return JSON.stringify(maskDeep(toPlanFile(plan)), null, 2);
}
