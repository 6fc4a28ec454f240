import type { DriftItem, Plan, Step } from '../model/plan.js';
import { captureLine } from './capture.js';
import { copyText, failedLine, ignoredText, summaryLine } from './planText.js';
import { schemaMarkdown } from './schemaMarkdown.js';
import { cell, formatBytes, formatValue } from './values.js';

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
  if (failed) {
    out.push('### Errors', '');
    for (const e of plan.errors) out.push(`- :x: ${e.message}`);
    out.push('');
  }
  if (plan.drift.length > 0) out.push(...driftMarkdown(plan.drift));
  if (plan.steps.length > 0 && !failed) {
    out.push('### Steps', '');
    for (const step of plan.steps) out.push(...stepMarkdown(step));
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
  if (plan.orphanSlots.length > 0) {
    out.push('### Orphaned replication slots', '');
    for (const o of plan.orphanSlots)
      out.push(
        `- \`${o.node}/${o.slot}\` retains ${formatBytes(o.retainedWalBytes)}; drop it on ${o.node}: \`${o.dropSql};\``,
      );
    out.push('');
  }
  if (plan.warnings.length > 0) {
    out.push('### Warnings', '');
    for (const w of plan.warnings) out.push(`- ${w.message}`);
    out.push('');
  }
  // `plan --graph`: the topology as it will be, drawn by the renderer of `steep graph`
  if (opts.graph) out.push('### Topology', '', opts.graph, '');
  return out.join('\n');
}

function driftMarkdown(drift: DriftItem[]): string[] {
  const out = ['### Drift', '', '| address | attribute | expected | found |', '|---|---|---|---|'];
  for (const d of drift) {
    out.push(
      `| \`${d.address}\` | ${cell(d.path)} | ${cell(formatValue(d.expected))} | ${cell(formatValue(d.actual))} |`,
    );
  }
  out.push('');
  return out;
}

/** One step as a collapsible block: the summary line, what it moves, its changes, its SQL. */
function stepMarkdown(step: Step): string[] {
  if (step.kind === 'state-schema') {
    // steep's own bookkeeping: one line in a review, the statements one click away
    return [
      '<details>',
      `<summary><code>${step.action}</code> <code>${step.address}</code> on ${step.node}: ${step.statements.length} statements creating or migrating steep's state schema</summary>`,
      '',
      '```sql',
      ...step.statements.map((st) => `${st.sql};`),
      '```',
      '',
      '</details>',
      '',
    ];
  }
  const hazards = step.hazards.length > 0 ? ` :warning: ${step.hazards.join(', ')}` : '';
  const out = [
    '<details>',
    `<summary><code>${step.action}</code> <code>${step.address}</code> on ${step.node}: ${step.reasonText}${hazards}</summary>`,
    '',
  ];
  if (step.copy) out.push(`**Moves:** ${copyText(step.copy)}`, '');
  if (step.changes.length > 0) {
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
