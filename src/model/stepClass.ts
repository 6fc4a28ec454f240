import type { Action, PlanSummary, Step } from './plan.js';

/**
 * One classification of a step for all who count, render, gate or run a plan, instead of each
 * combining `kind`, `action` and `changes` (the plan document keeps those: docs/plan-format.md).
 * By action, in the summary's order: Terraform's symbol, its colour in text, its summary count,
 * whether it drops what exists (the object, and a slot with it): only `--allow-destroy` allows that.
 */
export const ACTION_CLASS = {
  create: { symbol: '+', colour: 'green', counted: 'create', destroys: false },
  update: { symbol: '~', colour: 'yellow', counted: 'update', destroys: false },
  replace: { symbol: '-/+', colour: 'magenta', counted: 'replace', destroys: true },
  delete: { symbol: '-', colour: 'red', counted: 'delete', destroys: true },
  init: { symbol: '>', colour: 'cyan', counted: 'init', destroys: false },
  'sync-schema': { symbol: '~', colour: 'yellow', counted: 'syncSchema', destroys: false },
  adopt: { symbol: '@', colour: 'blue', counted: 'adopt', destroys: false },
} as const satisfies Record<Action, object>;

/**
 * By kind: how apply runs it (`init`: starts a subscription's init, followed after the other
 * steps; `merge-init`: reconciles, then creates under write locks; else its statements); steep's
 * state schema (`bookkeeping`: named in a review, not listed); steep's own copy (`ownCopy`).
 */
export function stepClass(step: Pick<Step, 'kind' | 'action' | 'changes'>) {
  return {
    ...ACTION_CLASS[step.action],
    run: step.kind === 'subscription-init' ? 'init' : step.kind === 'merge-init' ? step.kind : 'statements',
    bookkeeping: step.kind === 'state-schema',
    ownCopy: step.changes.some((c) => c.path === 'init.copy' && c.after === 'steep'),
  } as const;
}

/** The plan's counts by action. */
export function summarise(steps: readonly Pick<Step, 'action'>[]): PlanSummary {
  const summary = {} as PlanSummary;
  for (const c of Object.values(ACTION_CLASS)) summary[c.counted] = 0;
  for (const s of steps) summary[ACTION_CLASS[s.action].counted]++;
  return summary;
}
