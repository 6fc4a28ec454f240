import type { MergeAnalysis, MergeExamples, MergeTableAnalysis } from '../model/merge.js';
import { thousands as n, seconds } from './values.js';
import { exampleLines } from './verify.js';

/** `steep merge analyze` as text (JSON is the analysis itself). */

const KINDS: Array<keyof MergeExamples> = ['conflicting', 'onlyA', 'onlyB'];

function kindLabel(kind: keyof MergeExamples, r: MergeAnalysis): string {
  return kind === 'conflicting' ? 'conflicting' : kind === 'onlyA' ? `only on ${r.a}` : `only on ${r.b}`;
}

function tableLine(t: MergeTableAnalysis, r: MergeAnalysis): string {
  if (t.status === 'not_comparable') return `  ${t.table}  not comparable: ${t.reason}`;
  return (
    `  ${t.table}  ${t.status.replace('_', '-')}  ${n(t.identical)} identical, ${n(t.conflicting)} conflicting, ` +
    `${n(t.onlyA)} only on ${r.a}, ${n(t.onlyB)} only on ${r.b}  ` +
    `(${n(t.rowsA)} / ${n(t.rowsB)} rows, ${t.chunks} chunks, ${t.chunksIdentical} identical)  ${seconds(t.durationMs)}`
  );
}

export function renderMergeAnalysisText(r: MergeAnalysis): string {
  const t = r.totals;
  const lines = [
    `Merge analysis of ${r.kind} ${r.name} (${r.a} ⇄ ${r.b}): ${n(t.identical)} identical, ${n(t.conflicting)} conflicting, ` +
      `${n(t.onlyA)} only on ${r.a}, ${n(t.onlyB)} only on ${r.b} in ${r.tables.length} table${r.tables.length === 1 ? '' : 's'} (${seconds(r.durationMs)})`,
  ];
  for (const x of r.tables) lines.push(tableLine(x, r), ...exampleLines(x, KINDS, (k) => kindLabel(k, r)));
  if (r.kind === 'link' || r.tables.length > 0)
    lines.push(
      `A merge init's final pass re-runs this analysis with writes to these tables blocked on ${r.a} and ${r.b}: ` +
        `expect them blocked about ${seconds(r.durationMs)} (more if rows change meanwhile and a round repeats).`,
    );
  if (r.notComparable > 0)
    lines.push(
      `${r.notComparable} table${r.notComparable === 1 ? '' : 's'} cannot be compared: a merge cannot reconcile them as they are.`,
    );
  return lines.join('\n');
}
