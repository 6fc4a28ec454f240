import type { PlanFile } from './planFile.js';

/**
 * A saved plan as `steep show PLAN` reports it: the plan document as saved, how old it is, and,
 * with `--check`, whether planning again from the same file and inputs gives exactly it.
 */
export interface ShownPlan {
  /** the plan file's path, as given */
  file: string;
  /** seconds since the plan was made (`createdAt`) */
  ageSeconds: number;
  /** null: not compared with the nodes (no `--check`) */
  check: PlanCheck | null;
  plan: PlanFile;
}

export interface PlanCheck {
  /** planning again now gives exactly the saved plan: `apply PLAN` would run it */
  current: boolean;
  /** what differs, one sentence each (`apply PLAN` refuses naming these); empty when current */
  differences: string[];
}
