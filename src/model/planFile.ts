import { parseAddress, printAddress } from './address.js';
import type { Plan, Step } from './plan.js';

/**
 * The JSON plan document (docs/architecture.md, Inside the planner, `schemas/plan.schema.json`): what `plan --out` saves and
 * `apply PLAN` reads back, and what `plan --format json` prints. A file format, not a
 * rendering: `render/planJson.ts` only serialises it (masked), `workflows/savedPlan.ts` reads
 * and compares it.
 */

/** A step as the document carries it: its address printed, statements as `sql` strings. */
export interface PlanFileStep extends Omit<Step, 'statements' | 'address'> {
  address: string;
  sql: string[];
  transactional: boolean[];
  /** per statement, the node it runs on when not the step's own (null: the step's); absent when none differs */
  statementNodes?: Array<string | null>;
}

export interface PlanFile extends Omit<Plan, 'steps'> {
  steps: PlanFileStep[];
}

const withPrefix = (d: string): string => (d.startsWith('sha256:') ? d : `sha256:${d}`);

/** The plan as the document holds it (not yet masked: whoever writes or compares it masks). */
export function toPlanFile(plan: Plan): PlanFile {
  return {
    ...plan,
    observed: { ...plan.observed, digest: withPrefix(plan.observed.digest) },
    config: { ...plan.config, digest: withPrefix(plan.config.digest) },
    steps: plan.steps.map(({ statements, ...step }) => ({
      ...step,
      address: printAddress(step.address),
      catalogDigest: withPrefix(step.catalogDigest),
      sql: statements.map((s) => s.sql),
      transactional: statements.map((s) => s.transactional),
      ...(statements.some((s) => s.node !== undefined)
        ? { statementNodes: statements.map((s) => s.node ?? null) }
        : {}),
    })),
  };
}

/** The plan a document holds, addresses read (checked by readSavedPlan) and statements rebuilt. */
export function fromPlanFile(file: PlanFile): Plan {
  return {
    ...file,
    steps: file.steps.map(({ sql, transactional, statementNodes, ...step }) => ({
      ...step,
      address: parseAddress(step.address)!,
      statements: sql.map((text, i) => ({
        sql: text,
        transactional: transactional?.[i] ?? true,
        ...(statementNodes?.[i] ? { node: statementNodes[i] } : {}),
      })),
    })),
  };
}
