import chalk from 'chalk';
import type { DriftReport } from '../model/driftReport.js';
import type { SequenceLag } from '../model/sequences.js';
import { conflictsSinceText } from '../model/verifyRecord.js';
import { schemaComparisonLines } from './schemaText.js';
import { formatBytes, formatValue } from './values.js';

/** `steep drift` as text (a terminal, a pipeline log) and JSON. */

export function driftSummary(r: DriftReport): string {
  if (r.errors.length > 0) return `Drift check failed: ${r.errors.length} error(s).`;
  if (!r.drifted) return 'No drift. The nodes match steep.yaml.';
  const parts = [
    r.objects.length > 0 && `${r.objects.length} managed objects differ from steep.yaml`,
    r.changes.length > 0 && `${r.changes.length} change(s) to apply`,
    r.schema.length > 0 && `${r.schema.length} table(s) differing between publisher and subscriber`,
    r.fingerprints.length > 0 &&
      `${r.fingerprints.length} table(s) changed since their fingerprint was saved`,
    r.orphanSlots.length > 0 && `${r.orphanSlots.length} orphaned slot(s)`,
    r.dataGaps.length > 0 && `${r.dataGaps.length} data gap(s)`,
    r.conflicts.length > 0 && `${r.conflicts.length} subscription(s) with conflicts since their last verify`,
    (r.sequences?.length ?? 0) > 0 && `${r.sequences!.length} sequence(s) behind their publisher`,
    failoverCount(r, 'gap') > 0 && `${failoverCount(r, 'gap')} subscription(s) with a possible failover gap`,
    failoverCount(r, 'not-ready') > 0 &&
      `${failoverCount(r, 'not-ready')} subscription(s) not ready for a failover`,
  ].filter(Boolean);
  return `Drift: ${parts.join(', ')}.`;
}

function failoverCount(r: DriftReport, verdict: string): number {
  return (r.failover ?? []).filter((v) => v.verdict === verdict).length;
}

export function renderDriftText(r: DriftReport): string {
  const out: string[] = [];
  if (r.errors.length > 0) {
    out.push(chalk.red.bold('Errors:'));
    for (const e of r.errors) out.push(chalk.red(`  ✗ ${e.message}`));
    out.push('');
  }
  if (r.objects.length > 0) {
    out.push(chalk.yellow.bold('Changed outside steep:'));
    for (const d of r.objects)
      out.push(
        `  ~ ${d.address} ${d.path}: expected ${formatValue(d.expected)}, found ${formatValue(d.actual)}`,
      );
    out.push('');
  }
  if (r.changes.length > 0) {
    out.push(chalk.bold('steep apply would:'));
    for (const c of r.changes) out.push(`  ${c.action} ${c.address} (${c.node}): ${c.reasonText}`);
    out.push('');
  }
  if (r.schema.length > 0) {
    out.push(chalk.bold('Schema differences between publisher and subscriber:'));
    for (const s of r.schema) out.push(...schemaComparisonLines(s));
    for (const p of r.schemaProblems) out.push(chalk.red(`  ✗ ${p.message}`));
    out.push('');
  }
  if (r.fingerprints.length > 0) {
    out.push(chalk.bold('Tables changed since their fingerprint was saved:'));
    for (const f of r.fingerprints) {
      const what =
        f.change === 'dropped'
          ? 'dropped'
          : `fingerprint ${f.saved.slice(0, 12)}… → ${f.current!.slice(0, 12)}…, ${f.savedColumns} → ${f.currentColumns} columns`;
      out.push(`  ${f.node}/${f.table}: ${what} (saved ${f.capturedAt})`);
    }
    out.push('');
  }
  if (r.orphanSlots.length > 0) {
    out.push(chalk.yellow.bold('Orphaned replication slots (no subscription uses them; they retain WAL):'));
    for (const o of r.orphanSlots)
      out.push(
        `  ${o.node}/${o.slot}: retains ${formatBytes(o.retainedWalBytes)}`,
        chalk.dim(`      drop it on ${o.node}: ${o.dropSql};`),
      );
    out.push('');
  }
  if (r.dataGaps.length > 0) {
    out.push(chalk.red.bold('Data gaps (empty on the subscriber, not on its publisher):'));
    for (const g of r.dataGaps)
      out.push(`  ${g.node}/${g.table}: subscription ${g.subscription} from ${g.from}`);
    out.push('');
  }
  if (r.conflicts.length > 0) {
    out.push(chalk.yellow.bold('Conflicts since the last verify (rows that may differ):'));
    for (const c of r.conflicts)
      out.push(`  subscription ${c.subscription} on ${c.node}: ${conflictsSinceText(c)}`);
    out.push('');
  }
  if (r.sequences && r.sequences.length > 0) {
    out.push(
      chalk.yellow.bold('Sequences behind their publisher (steep sequences sync SUB brings them up):'),
    );
    for (const s of r.sequences) out.push(`  ${s.node}/${s.sequence}: ${sequenceLagText(s)}`);
    out.push('');
  }
  if (r.failover && r.failover.length > 0) {
    out.push(chalk.bold('Failover (subscriptions from a node with standbys):'));
    for (const v of r.failover) {
      const colour =
        v.verdict === 'gap' ? chalk.red : v.verdict === 'not-ready' ? chalk.yellow : (t: string) => t;
      out.push(colour(`  ${v.node}/${v.subscription} ← ${v.from}: ${v.verdict}`));
      for (const reason of v.reasons) out.push(colour(`      ${reason}`));
    }
    out.push('');
  }
  if (r.warnings.length > 0) {
    out.push(chalk.yellow.bold('Warnings:'));
    for (const w of r.warnings) out.push(chalk.yellow(`  ! ${w.message}`));
    out.push('');
  }
  out.push(driftSummary(r));
  return out.join('\n');
}

/** `300 behind (east at 1300, west at 1000)`, or absent. */
export function sequenceLagText(s: SequenceLag): string {
  if (s.absent) return `absent on ${s.node} (${s.from} at ${s.publisher}), subscription ${s.subscription}`;
  return `${s.behind} behind (${s.from} at ${s.publisher}, ${s.node} at ${s.subscriber ?? 'none'}), subscription ${s.subscription}`;
}
