import { describeInputs, planCommand } from '../model/planDifference.js';
import { fromPlanFile } from '../model/planFile.js';
import type { ShownPlan } from '../model/shownPlan.js';
import { formatAge } from './capture.js';
import { renderPlanMarkdown } from './planMarkdown.js';
import { renderPlanText } from './planText.js';

/** What `show` says above the plan: where it comes from, how old it is, whether it is current. */
export function shownPlanLines(shown: ShownPlan): string[] {
  const { plan, file, check } = shown;
  const made =
    `Saved plan ${file}: made ${plan.createdAt} (${formatAge(shown.ageSeconds * 1000)} ago) by steep ${plan.steepVersion} ` +
    `from ${plan.config.path} (${plan.config.digest.slice(0, 19)}…), with ${describeInputs(plan)}.`;
  if (!check)
    return [
      made,
      `Not compared with the nodes: \`steep show ${file} --check\` plans again and says whether it is still current.`,
    ];
  if (check.current)
    return [
      made,
      `Current: planning again now gives exactly these steps; \`steep apply ${file}\` runs them.`,
    ];
  return [
    made,
    `Stale: ${check.differences.join('; ')}.`,
    `\`steep apply ${file}\` refuses it; make a new plan with \`${planCommand(plan, file)}\`.`,
  ];
}

export function renderShownPlanText(shown: ShownPlan): string {
  return `${shownPlanLines(shown).join('\n')}\n\n${renderPlanText(fromPlanFile(shown.plan))}`;
}

export function renderShownPlanMarkdown(shown: ShownPlan): string {
  const quoted = shownPlanLines(shown).map((l) => `> ${l}`);
  return `${quoted.join('\n>\n')}\n\n${renderPlanMarkdown(fromPlanFile(shown.plan))}`;
}
