import { printAddress } from '../model/address.js';
import type { Hazard, Plan, Step } from '../model/plan.js';
import { stepClass } from '../model/stepClass.js';
import { captureLine } from './capture.js';
import { driftTable, errorItem, orphanSlotMarkdown, warningItem } from './driftMarkdown.js';
import { copyText, failedLine, hazardsText, ignoredText, summaryLine, timeoutsText } from './planText.js';
import { schemaMarkdown } from './schemaMarkdown.js';
import { cell, formatValue, markdownSection } from './values.js';

/** For a pull-request comment: a summary table, then each step in a collapsible block with its SQL. */
export function renderPlanMarkdown(plan: Plan, opts: { graph?: string } = {}): string {
  const s = plan.summary;
  const out: string[] = ['## steep plan', ''];
  const captured = captureLine(plan);
  if (captured) out.push(`> :camera: ${captured}`, '');
  const failed = plan.errors.length > 0;
  out.push(failed ? `**${failedLine(plan.errors.length)}**` : `**${summaryLine(plan)}**`, '');
  if (!failed) {
    out.push(
      '| adopt | create | update | replace | delete | init | schema sync | drift |',
      '|---|---|---|---|---|---|---|---|',
      `| ${s.adopt} | ${s.create} | ${s.update} | ${s.replace} | ${s.delete} | ${s.init} | ${s.syncSchema} | ${plan.drift.length} |`,
      '',
    );
  }
  markdownSection(out, 'Errors', plan.errors.map(errorItem));
  markdownSection(out, 'Drift', driftTable(plan.drift));
  if (plan.steps.length > 0 && !failed) {
    out.push('### Steps', '');
    for (const step of plan.steps) out.push(...stepMarkdown(step, plan.inputs.allowHazards));
  }
  const mismatched = plan.schema.filter((x) => x.status !== 'MATCH');
  if (mismatched.length > 0) out.push(...schemaMarkdown(mismatched));
  if (plan.unmanaged.length > 0) {
    out.push('### Unmanaged objects (left alone)', '');
    for (const u of plan.unmanaged)
      out.push(
        `- ${u.kind} \`${u.name}\` on ${u.node}${u.topology ? ` (managed by steep topology \`${u.topology}\`)` : ''}`,
      );
    out.push('');
  }
  const ignoredLine = ignoredText(plan);
  if (ignoredLine) out.push(`_${ignoredLine}_`, '');
  orphanSlotMarkdown(out, plan.orphanSlots);
  markdownSection(out, 'Warnings', plan.warnings.map(warningItem));
  // `plan --graph`: the topology as it will be, drawn by the renderer of `steep graph`
  if (opts.graph) out.push('### Topology', '', opts.graph, '');
  return out.join('\n');
}

/** One step as a collapsible block: the summary line, what it moves, its changes, its SQL. */
function stepMarkdown(step: Step, allowed: readonly Hazard[]): string[] {
  // steep's own bookkeeping: one line in a review, the statements one click away
  const own = stepClass(step).bookkeeping;
  const hazards = step.hazards.length > 0 ? ` :warning: ${hazardsText(step, allowed)}` : '';
  const what = own
    ? `${step.statements.length} statements creating or migrating steep's state schema`
    : `${step.reasonText}${hazards}`;
  const out = [
    '<details>',
    `<summary><code>${step.action}</code> <code>${printAddress(step.address)}</code> on ${step.node}: ${what}</summary>`,
    '',
  ];
  if (step.copy) out.push(`**Moves:** ${copyText(step.copy)}`, '');
  if (step.timeouts && !own) out.push(`**Runs with:** ${timeoutsText(step.timeouts)}`, '');
  if (step.changes.length > 0 && !own) {
    out.push('| attribute | before | after |', '|---|---|---|');
    for (const c of step.changes)
      out.push(`| ${cell(c.path)} | ${cell(formatValue(c.before))} | ${cell(formatValue(c.after))} |`);
    out.push('');
  }
  out.push(
    '```sql',
    ...step.statements.map(
      (st) => `${st.node && st.node !== step.node ? `-- on ${st.node}\n` : ''}${st.sql};`,
    ),
    '```',
    '',
    '</details>',
    '',
  );
  return out;
}
