import { maskDeep } from '../db/mask.js';
import type { Plan, Step } from '../model/plan.js';

/** A step as the JSON plan carries it (SPEC §5): statements as `sql` strings. */
export interface JsonStep extends Omit<Step, 'statements'> {
  sql: string[];
  transactional: boolean[];
}

export interface JsonPlan extends Omit<Plan, 'steps'> {
  steps: JsonStep[];
}

const withPrefix = (d: string): string => (d.startsWith('sha256:') ? d : `sha256:${d}`);

export function toJsonPlan(plan: Plan): JsonPlan {
  const json: JsonPlan = {
    ...plan,
    observed: { ...plan.observed, digest: withPrefix(plan.observed.digest) },
    config: { ...plan.config, digest: withPrefix(plan.config.digest) },
    steps: plan.steps.map(({ statements, ...step }) => ({
      ...step,
      catalogDigest: withPrefix(step.catalogDigest),
      sql: statements.map((s) => s.sql),
      transactional: statements.map((s) => s.transactional),
    })),
  };
  // statements already show passwords as ****; maskDeep is the last guard for anything else
  return maskDeep(json);
}

export function renderPlanJson(plan: Plan): string {
  return JSON.stringify(toJsonPlan(plan), null, 2);
}
