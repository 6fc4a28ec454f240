import { sortedText } from '../model/order.js';
import type { SchemaComparison, SchemaStatus } from '../model/plan.js';
import {
  type ColumnDifference,
  columnDefinitionText,
  type TableColumn,
  type TableComparison,
  type TableFingerprint,
} from '../model/tableSchema.js';
import { bold, cyan, dim, green, red, yellow } from './colour.js';

/** `steep schema fingerprint | compare | diff` as text and JSON, and the schema lines of plans and drift. */

const STATUS_COLOUR: Record<SchemaStatus, (s: string) => string> = {
  MATCH: green,
  ORDER_DIFFERS: cyan,
  MISMATCH: red,
  LOCAL_ONLY: yellow,
  REMOTE_ONLY: yellow,
};

function status(s: SchemaStatus): string {
  return STATUS_COLOUR[s](s.padEnd(13));
}

// ---- fingerprint ------------------------------------------------------------------------------

export interface FingerprintView {
  node: string;
  capturedAt: string;
  tables: TableFingerprint[];
  saved: boolean;
}

export function renderFingerprintsText(r: FingerprintView, stateSchema: string): string {
  const lines = [bold(`${r.node}: ${r.tables.length} tables, fingerprints at ${r.capturedAt}`)];
  for (const t of r.tables) {
    lines.push(`  ${t.fingerprint}  ${String(t.columnCount).padStart(3)} col  ${t.schema}.${t.name}`);
  }
  if (r.saved) lines.push(`Saved in ${stateSchema}.schema_fingerprints on ${r.node}.`);
  return lines.join('\n');
}

/** `schema fingerprint --json` */
export function fingerprintsDocument(r: FingerprintView) {
  return {
    node: r.node,
    capturedAt: r.capturedAt,
    saved: r.saved,
    tables: r.tables.map((t) => ({
      table: `${t.schema}.${t.name}`,
      fingerprint: t.fingerprint,
      columns: t.columnCount,
    })),
  };
}

// ---- compare / diff ---------------------------------------------------------------------------

/** A column difference as one line, naming the nodes. */
export function differenceLine(d: ColumnDifference, a: string, b: string): string {
  switch (d.kind) {
    case 'missing':
      return `${d.column}: missing on ${b} (${a}: ${d.left})`;
    case 'extra':
      return `${d.column}: only on ${b} (${d.right})`;
    case 'type':
      return `${d.column}: type ${d.left} on ${a}, ${d.right} on ${b}`;
    case 'default':
      return `${d.column}: default ${d.left ?? '(none)'} on ${a}, ${d.right ?? '(none)'} on ${b}`;
    case 'nullability':
      return `${d.column}: ${d.left} on ${a}, ${d.right} on ${b}`;
  }
}

export interface ComparisonView {
  nodeA: string;
  nodeB: string;
  tables: TableComparison[];
}

export function renderComparisonText(r: ComparisonView): string {
  const { nodeA: a, nodeB: b } = r;
  const lines = [bold(`${a} ↔ ${b}: ${r.tables.length} tables`)];
  for (const t of r.tables) {
    const note =
      t.status === 'LOCAL_ONLY' || t.status === 'REMOTE_ONLY'
        ? dim(` (only on ${t.status === 'LOCAL_ONLY' ? a : b})`)
        : t.status === 'ORDER_DIFFERS'
          ? dim(' (same columns in another order: logical replication maps columns by name)')
          : '';
    lines.push(`  ${status(t.status)} ${t.table}${note}`);
    for (const d of t.columns) lines.push(`      ${differenceLine(d, a, b)}`);
  }
  const counts = sortedText(new Set(r.tables.map((t) => t.status))).map(
    (s) => `${r.tables.filter((t) => t.status === s).length} ${s}`,
  );
  lines.push(counts.join(', ') || 'No tables.');
  return lines.join('\n');
}

function comparisonJson(t: TableComparison) {
  return {
    table: t.table,
    status: t.status,
    fingerprintA: t.left?.fingerprint ?? null,
    fingerprintB: t.right?.fingerprint ?? null,
    columns: t.columns.map((d) => ({ column: d.column, kind: d.kind, a: d.left, b: d.right })),
  };
}

/** `schema compare --json` */
export function comparisonDocument(r: ComparisonView) {
  return { nodeA: r.nodeA, nodeB: r.nodeB, tables: r.tables.map(comparisonJson) };
}

function columnLines(columns: readonly TableColumn[]): string[] {
  return columns.map((c) => `      ${c.name} ${columnDefinitionText(c)}`);
}

export function renderDiffText(r: ComparisonView & { table: TableComparison }): string {
  const { nodeA: a, nodeB: b, table: t } = r;
  return [`${status(t.status)} ${t.table} (${a} ↔ ${b})`, ...diffLines(t, a, b)].join('\n');
}

/** What `schema diff` says of one table under its heading. */
function diffLines(t: TableComparison, a: string, b: string): string[] {
  if (t.status === 'LOCAL_ONLY' || t.status === 'REMOTE_ONLY') {
    const [has, lacks, side] = t.status === 'LOCAL_ONLY' ? [a, b, t.left!] : [b, a, t.right!];
    return [`  exists on ${has}, missing on ${lacks}; its columns on ${has}:`, ...columnLines(side.columns)];
  }
  if (t.status === 'MATCH') return [`  identical: fingerprint ${t.left!.fingerprint}`];
  if (t.status === 'ORDER_DIFFERS')
    return [
      '  the same columns in another order (logical replication maps columns by name):',
      `    ${a}: ${t.left!.columns.map((c) => c.name).join(', ')}`,
      `    ${b}: ${t.right!.columns.map((c) => c.name).join(', ')}`,
    ];
  const width = Math.max(...t.columns.map((d) => d.column.length));
  return t.columns.map((d) => {
    const label = d.kind === 'missing' ? `missing on ${b}` : d.kind === 'extra' ? `extra on ${b}` : d.kind;
    const detail =
      d.kind === 'missing'
        ? d.left
        : d.kind === 'extra'
          ? d.right
          : `${d.left ?? '(none)'} on ${a} → ${d.right ?? '(none)'} on ${b}`;
    return `  ${d.column.padEnd(width)}  ${label.padEnd(12 + Math.max(a.length, b.length))}  ${detail}`;
  });
}

/** `schema diff --json` */
export function diffDocument(r: ComparisonView & { table: TableComparison }) {
  return { nodeA: r.nodeA, nodeB: r.nodeB, ...comparisonJson(r.table) };
}

// ---- plans and drift --------------------------------------------------------------------------

/** A subscribed table's comparison in a plan or drift report, with its column differences. */
export function schemaComparisonLines(s: SchemaComparison): string[] {
  const pub = s.publisher ?? 'publisher';
  const sub = s.subscriber ?? 'subscriber';
  const where =
    s.status === 'LOCAL_ONLY'
      ? `: on ${pub} (publisher), missing on ${sub}`
      : s.status === 'REMOTE_ONLY'
        ? `: only on ${sub}`
        : s.identityChanged
          ? `: ${s.identityChanged}`
          : s.status === 'ORDER_DIFFERS'
            ? ': same columns, another order (harmless)'
            : '';
  return [
    `  ${status(s.status)} ${s.table} (subscription ${s.subscription}, ${pub} → ${sub})${where}`,
    ...s.columns.map(
      (c) =>
        `      ${differenceLine({ column: c.column, kind: c.kind, left: c.publisher as string | null, right: c.subscriber as string | null }, pub, sub)}`,
    ),
  ];
}
