/** How a before/after value reads in text and Markdown. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '(none)';
  if (typeof v === 'object' && (v as { unknown?: boolean }).unknown === true) return '(unknown)';
  if (Array.isArray(v)) return v.length === 0 ? '[]' : `[${v.map((x) => formatValue(x)).join(', ')}]`;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Lists are shown one item per line so `diff` can show what was added and removed. */
export function listLines(v: unknown): string[] | null {
  if (!Array.isArray(v)) return null;
  return v.map((x) =>
    typeof x === 'object' && x !== null ? listItemText(x as Record<string, unknown>) : String(x),
  );
}

function listItemText(o: Record<string, unknown>): string {
  if (typeof o.schema === 'string' && typeof o.name === 'string') {
    const cols = Array.isArray(o.columns) ? ` (${(o.columns as string[]).join(', ')})` : '';
    const where = typeof o.where === 'string' ? ` WHERE ${o.where}` : '';
    return `${o.schema}.${o.name}${cols}${where}`;
  }
  // a gap a step opens (model/continuity.ts, StepGap)
  if (typeof o.table === 'string' && typeof o.reason === 'string') return `${o.table}: ${o.reason}`;
  return JSON.stringify(o);
}

/** A part of a text report: its heading, its lines and a blank line; nothing when it has no lines. */
export function section(out: string[], heading: string, lines: string[]): void {
  if (lines.length === 0) return;
  out.push(heading);
  for (const l of lines) out.push(l); // not push(...lines): a long plan would pass too many arguments
  out.push('');
}

/** A `### ` part of a Markdown report: heading, blank line, its lines, blank line; nothing without lines. */
export function markdownSection(out: string[], heading: string, lines: string[]): void {
  section(out, `### ${heading}\n`, lines); // the report is joined with newlines: the heading's own makes the blank line
}

/** A Markdown table cell: `|` escaped, newlines as spaces. */
export const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** `1.2 s` */
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** `1,234,567` */
export const thousands = (n: number): string => n.toLocaleString('en-US');

export { formatBytes } from '../model/bytes.js';
