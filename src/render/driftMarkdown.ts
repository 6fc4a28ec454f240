import type { DriftReport } from '../model/driftReport.js';
import { conflictsSinceText } from '../model/verifyRecord.js';
import { driftSummary, sequenceLagText } from './driftText.js';
import { schemaMarkdown } from './schemaMarkdown.js';
import { cell, formatBytes, formatValue } from './values.js';

/** `steep drift --format markdown`: for an issue or a chat message a pipeline posts. */

export function renderDriftMarkdown(r: DriftReport): string {
  const out = ['## steep drift', '', `**${driftSummary(r)}**`, ''];
  if (r.errors.length > 0) {
    out.push('### Errors', '');
    for (const e of r.errors) out.push(`- :x: ${e.message}`);
    out.push('');
  }
  if (r.objects.length > 0) {
    out.push(
      '### Changed outside steep',
      '',
      '| address | attribute | expected | found |',
      '|---|---|---|---|',
    );
    for (const d of r.objects)
      out.push(
        `| \`${d.address}\` | ${cell(d.path)} | ${cell(formatValue(d.expected))} | ${cell(formatValue(d.actual))} |`,
      );
    out.push('');
  }
  if (r.changes.length > 0) {
    out.push('### steep apply would', '', '| action | address | node | why |', '|---|---|---|---|');
    for (const c of r.changes)
      out.push(`| ${c.action} | \`${c.address}\` | ${c.node} | ${cell(c.reasonText)} |`);
    out.push('');
  }
  if (r.schema.length > 0) {
    out.push(...schemaMarkdown(r.schema));
    for (const p of r.schemaProblems) out.push(`- :x: ${p.message}`);
    if (r.schemaProblems.length > 0) out.push('');
  }
  if (r.fingerprints.length > 0) {
    out.push(
      '### Changed since the saved fingerprint',
      '',
      '| node | table | change | saved |',
      '|---|---|---|---|',
    );
    for (const f of r.fingerprints)
      out.push(
        `| ${f.node} | \`${f.table}\` | ${f.change === 'dropped' ? 'dropped' : `${f.savedColumns} → ${f.currentColumns} columns`} | ${f.capturedAt} |`,
      );
    out.push('');
  }
  if (r.orphanSlots.length > 0) {
    out.push('### Orphaned replication slots', '');
    for (const o of r.orphanSlots)
      out.push(
        `- \`${o.node}/${o.slot}\` retains ${formatBytes(o.retainedWalBytes)}; drop it on ${o.node}: \`${o.dropSql};\``,
      );
    out.push('');
  }
  if (r.dataGaps.length > 0) {
    out.push('### Data gaps (empty on the subscriber, not on its publisher)', '');
    for (const g of r.dataGaps)
      out.push(`- \`${g.node}/${g.table}\`: subscription \`${g.subscription}\` from ${g.from}`);
    out.push('');
  }
  if (r.conflicts.length > 0) {
    out.push('### Conflicts since the last verify (rows that may differ)', '');
    for (const c of r.conflicts) out.push(`- \`${c.subscription}\` on ${c.node}: ${conflictsSinceText(c)}`);
    out.push('');
  }
  if (r.sequences && r.sequences.length > 0) {
    out.push('### Sequences behind their publisher', '');
    for (const s of r.sequences) out.push(`- \`${s.node}/${s.sequence}\`: ${sequenceLagText(s)}`);
    out.push('');
  }
  if (r.warnings.length > 0) {
    out.push('### Warnings', '');
    for (const w of r.warnings) out.push(`- ${w.message}`);
    out.push('');
  }
  return out.join('\n');
}
