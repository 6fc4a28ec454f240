import type { DriftReport } from '../model/driftReport.js';
import type { DriftItem, OrphanSlot, PlanMessage } from '../model/plan.js';
import { conflictsSinceText } from '../model/verifyRecord.js';
import { driftSummary, sequenceLagText } from './driftText.js';
import { schemaMarkdown } from './schemaMarkdown.js';
import { cell, formatBytes, formatValue, markdownSection } from './values.js';

/** `steep drift --format markdown`: for an issue or a chat message a pipeline posts. */

export function renderDriftMarkdown(r: DriftReport): string {
  const out = ['## steep drift', '', `**${driftSummary(r)}**`, ''];
  markdownSection(out, 'Errors', r.errors.map(errorItem));
  markdownSection(out, 'Changed outside steep', driftTable(r.objects));
  if (r.changes.length > 0) {
    out.push('### steep apply would', '', '| action | address | node | why |', '|---|---|---|---|');
    for (const c of r.changes)
      out.push(`| ${c.action} | \`${c.address}\` | ${c.node} | ${cell(c.reasonText)} |`);
    out.push('');
  }
  if (r.schema.length > 0) {
    out.push(...schemaMarkdown(r.schema));
    for (const p of r.schemaProblems) out.push(errorItem(p));
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
  orphanSlotMarkdown(out, r.orphanSlots);
  markdownSection(
    out,
    'Data gaps (empty on the subscriber, not on its publisher)',
    r.dataGaps.map((g) => `- \`${g.node}/${g.table}\`: subscription \`${g.subscription}\` from ${g.from}`),
  );
  for (const [title, subs] of [
    ['Replication failing', r.failing],
    ['Gap (changes never sent to a table)', r.gaps],
    ['Reinit not finished', r.reinits],
    ['Unverified (a table not found equal within the verify window)', r.unverified],
    ['Diverged (rows differ on the subscriber)', r.diverged],
  ] as const)
    markdownSection(
      out,
      title,
      (subs ?? []).map((f) => `- \`${f.subscription}\` on ${f.node} ← ${f.from}: ${f.reasons.join('; ')}`),
    );
  markdownSection(
    out,
    'Conflicts since the last verify (rows that may differ)',
    r.conflicts.map((c) => `- \`${c.subscription}\` on ${c.node}: ${conflictsSinceText(c)}`),
  );
  markdownSection(
    out,
    'Sequences behind their publisher',
    (r.sequences ?? []).map((s) => `- \`${s.node}/${s.sequence}\`: ${sequenceLagText(s)}`),
  );
  markdownSection(out, 'Warnings', r.warnings.map(warningItem));
  return out.join('\n');
}

/** Managed objects that differ from steep.yaml (plan and drift); no lines when none do. */
export function driftTable(drift: DriftItem[]): string[] {
  if (drift.length === 0) return [];
  return [
    '| address | attribute | expected | found |',
    '|---|---|---|---|',
    ...drift.map(
      (d) =>
        `| \`${d.address}\` | ${cell(d.path)} | ${cell(formatValue(d.expected))} | ${cell(formatValue(d.actual))} |`,
    ),
  ];
}

export const errorItem = (e: PlanMessage): string => `- :x: ${e.message}`;
export const warningItem = (w: PlanMessage): string => `- ${w.message}`;

/** Slots nothing uses: steep's own with the statement that drops each, then those steep cannot show it made. */
export function orphanSlotMarkdown(out: string[], slots: readonly OrphanSlot[]): void {
  markdownSection(
    out,
    'Orphaned replication slots',
    slots
      .filter((o) => o.madeBySteep)
      .map(
        (o) =>
          `- \`${o.node}/${o.slot}\` retains ${formatBytes(o.retainedWalBytes)}; drop it on ${o.node}: \`${o.dropSql};\``,
      ),
  );
  markdownSection(
    out,
    "Replication slots steep did not make (not steep's to drop)",
    slots
      .filter((o) => !o.madeBySteep)
      .map(
        (o) =>
          `- \`${o.node}/${o.slot}\` (${o.plugin ?? 'plugin unknown'}) retains ${formatBytes(o.retainedWalBytes)}`,
      ),
  );
}
