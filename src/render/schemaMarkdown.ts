import type { SchemaComparison } from '../model/plan.js';
import { cell } from './values.js';

/** Schema differences of subscribed tables, for a pull-request comment (plan and drift). */

function difference(c: SchemaComparison['columns'][number], pub: string, sub: string): string {
  const v = (x: unknown) => (x === null || x === undefined ? '(none)' : `\`${String(x)}\``);
  switch (c.kind) {
    case 'missing':
      return `\`${c.column}\` missing on ${sub} (${v(c.publisher)} on ${pub})`;
    case 'extra':
      return `\`${c.column}\` only on ${sub} (${v(c.subscriber)})`;
    default:
      return `\`${c.column}\` ${c.kind}: ${v(c.publisher)} on ${pub}, ${v(c.subscriber)} on ${sub}`;
  }
}

export function schemaMarkdown(comparisons: readonly SchemaComparison[]): string[] {
  const out = [
    '### Schema differences',
    '',
    '| table | subscription | status | columns |',
    '|---|---|---|---|',
  ];
  for (const s of comparisons) {
    const pub = s.publisher ?? 'publisher';
    const sub = s.subscriber ?? 'subscriber';
    const columns =
      s.status === 'LOCAL_ONLY'
        ? `missing on ${sub}`
        : s.identityChanged
          ? s.identityChanged
          : s.status === 'ORDER_DIFFERS'
            ? 'same columns, another order (harmless)'
            : s.columns.map((c) => difference(c, pub, sub)).join('<br>');
    out.push(`| \`${s.table}\` | ${s.subscription} (${pub} → ${sub}) | ${s.status} | ${cell(columns)} |`);
  }
  out.push('');
  return out;
}
