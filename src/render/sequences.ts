import type { SequenceOutcome, SequenceSyncReport } from '../model/sequences.js';

/** `steep sequences sync` as text (JSON is the report itself). */

function line(o: SequenceOutcome, width: number): string {
  const name = o.sequence.padEnd(width);
  const before = o.before ?? 'none';
  if (o.action === 'set') return `  ${name}  ${before} → ${o.after}`;
  if (o.action === 'unchanged') return `  ${name}  ${before} (already there)`;
  return `  ${name}  skipped: ${o.reason}`;
}

export function renderSequenceSyncText(r: SequenceSyncReport): string {
  const width = Math.max(0, ...r.sequences.map((s) => s.sequence.length));
  const margin = r.headroom === '0' ? '' : ` plus ${r.headroom}`;
  const head = `Sequences of ${r.subscription}: ${r.subscriber} set to ${r.publisher}'s values${margin}`;
  if (r.sequences.length === 0) return `${head}\n  no sequence goes with the subscribed tables`;
  const total =
    `${r.set} set, ${r.unchanged} already there, ${r.skipped} skipped` +
    (r.problems > 0 ? ` (${r.problems} to fix before moving writes to ${r.subscriber})` : '');
  return [head, ...r.sequences.map((s) => line(s, width)), total].join('\n');
}
