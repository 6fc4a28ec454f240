import type { Hazard, Step } from './plan.js';
import { ACTION_CLASS } from './stepClass.js';

/**
 * The hazards that are gates (docs/plan-format.md, Hazards are gates): a step with one of them
 * runs only when each is allowed by name, `--allow-hazard NAME` on `plan` (recorded in the saved
 * plan) or `apply`, or typed at apply's prompt; `--auto-approve` alone is not enough.
 * `drops-object` is `--allow-destroy`'s, and so is the slot a delete or a replace drops with its
 * object (`--allow-destroy` allows dropping "publications, subscriptions or slots").
 */
export const GATED_HAZARDS = [
  'truncates-data',
  'data-gap',
  'rewrites-table',
  'blocks-writes',
  'drops-slot',
] as const;

export type GatedHazard = (typeof GATED_HAZARDS)[number];

/** The hazards of a step that must be allowed by name. */
export function gatedHazards(step: Pick<Step, 'action' | 'hazards'>): GatedHazard[] {
  const destroys = ACTION_CLASS[step.action].destroys;
  return GATED_HAZARDS.filter((h) => step.hazards.includes(h) && !(destroys && h === 'drops-slot'));
}

/** A step that may not run yet, and the names it still needs. */
export interface HeldStep<S> {
  step: S;
  missing: GatedHazard[];
}

/** The steps whose gated hazards are not all in `allowed`, with what each still needs. */
export function heldSteps<S extends Pick<Step, 'action' | 'hazards'>>(
  steps: readonly S[],
  allowed: readonly Hazard[],
): HeldStep<S>[] {
  return steps
    .map((step) => ({ step, missing: gatedHazards(step).filter((h) => !allowed.includes(h)) }))
    .filter((h) => h.missing.length > 0);
}

/** Every name the held steps need, in GATED_HAZARDS' order. */
export function missingHazards(held: readonly HeldStep<unknown>[]): GatedHazard[] {
  const all = new Set(held.flatMap((h) => h.missing));
  return GATED_HAZARDS.filter((h) => all.has(h));
}

/** `--allow-hazard a --allow-hazard b` */
export const allowHazardFlags = (names: readonly string[]): string =>
  names.map((h) => `--allow-hazard ${h}`).join(' ');
