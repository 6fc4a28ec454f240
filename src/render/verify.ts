import { type AdviceSubject, adviceText, advise, printable, withheld } from '../model/advice.js';
import {
  type DifferenceKind,
  formatKey,
  lossText,
  repairLosses,
  type TableVerdict,
  type VerifyReport,
} from '../model/verify.js';
import { allowedText } from '../model/verifyDirection.js';
import { cell, seconds, thousands } from './values.js';

/** `steep verify` as text and Markdown (JSON is the report itself). */

const KINDS: DifferenceKind[] = ['missing', 'extra', 'different'];

/** `11 tables: 0 diverged, 11 equal` (`, 1 not verifiable`; `; 2 by a sample of their segments`). */
export function compareSummary(r: VerifyReport): string {
  const diverged = r.tables.filter((t) => t.status === 'diverged').length;
  const skipped = r.tables.filter((t) => t.status === 'not_verifiable').length;
  const sampled = r.tables.filter((t) => t.sample).length;
  return (
    `${r.tables.length} table${r.tables.length === 1 ? '' : 's'}: ${diverged} diverged, ` +
    `${r.tables.length - diverged - skipped} equal${skipped > 0 ? `, ${skipped} not verifiable` : ''}` +
    (sampled > 0 ? `; ${sampled} by a sample of their segments` : '')
  );
}

/**
 * What to do next (model/advice.ts): reinit the diverged tables — unless the subscriber's rows may be
 * the only copy, then what is true instead; verify the ones not compared again once they can be.
 */
export function repairHint(r: VerifyReport): string | null {
  const diverged = r.tables.filter((t) => t.status === 'diverged').map((t) => t.table);
  const skipped = r.tables
    .filter((t) => t.status === 'not_verifiable' && !t.notComparable)
    .map((t) => t.table);
  const lines = [
    ...(diverged.length > 0 ? [advise('reinitTables', subjectOf(r), diverged)] : []),
    ...(skipped.length > 0
      ? [
          `${adviceText('verify', r.subscription, skipped)} once ${skipped.length === 1 ? 'it' : 'they'} can be compared (not verified, so not known equal: see why above)`,
        ]
      : []),
  ];
  if (lines.length === 0) return null;
  // a repair makes the subscriber's rows the publisher's: what only the subscriber holds is gone
  const { extra, different } = repairLosses(r);
  const loses =
    extra + different > 0 && printable('reinitTables', subjectOf(r))
      ? `\nreinit (and verify --repair) replace ${r.node}'s rows with ${r.from}'s: ${lossText(r, thousands)}; copy what ${r.node} must keep to ${r.from} first`
      : '';
  return `repair with: ${lines.join('\n             ')}${loses}`;
}

function subjectOf(r: VerifyReport): AdviceSubject {
  return { subscription: r.subscription, node: r.node, from: r.from, onlyCopy: r.onlyCopy };
}

/** Per kind, the example keys (`      missing: id=1; id=2 … (40 in all)`); none for a kind without. */
export function exampleLines<K extends string>(
  t: Record<K, number> & { examples: Record<K, string[][]>; keyColumns: readonly string[] },
  kinds: readonly K[],
  label: (kind: K) => string = (kind) => kind,
): string[] {
  return kinds
    .filter((kind) => t.examples[kind].length > 0)
    .map((kind) => {
      const shown = t.examples[kind].map((k) => formatKey(k, t.keyColumns)).join('; ');
      const more = t[kind] > t.examples[kind].length ? ` … (${thousands(t[kind])} in all)` : '';
      return `      ${label(kind)}: ${shown}${more}`;
    });
}

function tableLine(t: TableVerdict): string {
  if (t.status === 'not_verifiable') return `  ${t.table}  not verifiable: ${t.reason}`;
  const note = t.reason ? `  (${t.reason})` : '';
  const diff =
    t.status === 'diverged'
      ? `  missing ${thousands(t.missing)}, extra ${thousands(t.extra)}, different ${thousands(t.different)}`
      : '';
  // the differences PostgreSQL rightly leaves (a publication without delete, say): counted apart
  const direction = allowedText(t.allowed, thousands);
  const status = direction ? `${t.status} ${direction}` : t.status;
  const flux = t.changing > 0 ? `, ${thousands(t.changing)} rows changing during the run (not counted)` : '';
  return `  ${t.table}  ${status}  ${thousands(t.rows)} rows, ${t.chunks} chunks (${t.chunksIdentical} identical)${diff}${flux}${note}  ${seconds(t.durationMs)}`;
}

export function renderVerifyText(r: VerifyReport): string {
  const lines = [
    `Verify of subscription ${r.subscription} (${r.from} → ${r.node}): ${compareSummary(r)} (${seconds(r.durationMs)})`,
  ];
  for (const t of r.tables) lines.push(tableLine(t), ...exampleLines(t, KINDS));
  if (r.state !== null) lines.push(`Subscription ${r.subscription} on ${r.node} is ${r.state}.`);
  const hint = repairHint(r);
  if (hint) lines.push(hint);
  return lines.join('\n');
}

export function renderVerifyMarkdown(r: VerifyReport): string {
  const lines = [
    `### steep verify: ${r.subscription} (${r.from} → ${r.node})`,
    '',
    `${r.diverged ? '**Diverged**' : r.notVerifiable > 0 ? '**Not all verified**' : 'Equal'}: ${compareSummary(r)} in ${seconds(r.durationMs)}.`,
    '',
    '| table | status | rows | chunks (identical) | missing | extra | different | time |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...r.tables.map(
      (t) =>
        `| ${cell(t.table)} | ${t.status === 'not_verifiable' ? `not verifiable: ${cell(t.reason ?? '')}` : cell([t.status, allowedText(t.allowed, thousands)].filter(Boolean).join(' '))} | ${thousands(t.rows)} | ${t.chunks} (${t.chunksIdentical}) | ${thousands(t.missing)} | ${thousands(t.extra)} | ${thousands(t.different)} | ${seconds(t.durationMs)} |`,
    ),
  ];
  const examples = r.tables.filter((t) => KINDS.some((k) => t.examples[k].length > 0));
  if (examples.length > 0) {
    lines.push('', '**Example keys**', '');
    for (const t of examples)
      for (const kind of KINDS)
        if (t.examples[kind].length > 0)
          lines.push(
            `- \`${cell(t.table)}\` ${kind}: ${t.examples[kind].map((k) => `\`${cell(formatKey(k, t.keyColumns))}\``).join(', ')}`,
          );
  }
  const diverged = r.tables.filter((t) => t.status === 'diverged').map((t) => t.table);
  const skipped = r.tables
    .filter((t) => t.status === 'not_verifiable' && !t.notComparable)
    .map((t) => t.table);
  if (diverged.length > 0)
    lines.push(
      '',
      printable('reinitTables', subjectOf(r))
        ? `\`${adviceText('reinitTables', r.subscription, diverged)}\` repairs them.`
        : `${withheld(subjectOf(r), diverged)}.`,
    );
  if (skipped.length > 0)
    lines.push(
      '',
      `Not verified, so not known equal: \`${adviceText('verify', r.subscription, skipped)}\` once they can be compared.`,
    );
  return lines.join('\n');
}
