import { compareText } from '../../model/order.js';
import type { SchemaStatus } from '../../model/plan.js';
import {
  type ColumnDifference,
  columnDefinitionText,
  defaultText,
  type ObservedTableSchema,
  type TableColumn,
  type TableComparison,
  type TableSchema,
  withColumns,
} from '../../model/tableSchema.js';

/**
 * Compare one table on two nodes, column by column (docs/steep-yaml.md). Pure. `left` is NODE_A of
 * `steep schema compare NODE_A NODE_B` (in a plan: the publisher), `right` is NODE_B (the
 * subscriber):
 *   LOCAL_ONLY   only on the left          REMOTE_ONLY   only on the right
 *   MISMATCH     a column differs          ORDER_DIFFERS the same columns in another order
 *   MATCH        the same fingerprint
 * Column differences, from the right side's point of view: `missing` (a left column the right
 * lacks), `extra` (a right column the left lacks), `type`, `default` (defaults, identity and
 * generation), `nullability`.
 */

function defaultOrNull(c: TableColumn): string | null {
  const d = defaultText(c);
  return d === 'NULL' ? null : d;
}

export function nullabilityText(c: TableColumn): string {
  return c.notNull ? 'NOT NULL' : 'NULL';
}

/**
 * `only`: the left columns that matter (a publication's column list), the others may be absent
 * on the right; null = every column.
 */
export function compareTables<T extends ObservedTableSchema>(
  left: T | null,
  right: T | null,
  table: string,
  only: ReadonlySet<string> | null = null,
): TableComparison<T> {
  if (!left && !right) throw new Error(`compareTables: ${table} is on neither side`);
  if (!right) return { table, status: 'LOCAL_ONLY', columns: [], left, right };
  if (!left) return { table, status: 'REMOTE_ONLY', columns: [], left, right };
  // the same fingerprint: the same names, types, defaults and nullability in the same order
  // (a plan reads the columns only of tables whose fingerprints differ)
  if (left.fingerprint === right.fingerprint) return { table, status: 'MATCH', columns: [], left, right };
  const leftColumns = withColumns(left).columns;
  const rightColumns = withColumns(right).columns;
  const considered = leftColumns.filter((c) => only === null || only.has(c.name));
  const rightByName = new Map(rightColumns.map((c) => [c.name, c]));
  const leftNames = new Set(leftColumns.map((c) => c.name));
  const columns: ColumnDifference[] = [];
  for (const l of considered) {
    const r = rightByName.get(l.name);
    if (!r) {
      columns.push({ column: l.name, kind: 'missing', left: columnDefinitionText(l), right: null });
      continue;
    }
    if (l.type !== r.type) columns.push({ column: l.name, kind: 'type', left: l.type, right: r.type });
    if (defaultText(l) !== defaultText(r))
      columns.push({ column: l.name, kind: 'default', left: defaultOrNull(l), right: defaultOrNull(r) });
    if (l.notNull !== r.notNull)
      columns.push({
        column: l.name,
        kind: 'nullability',
        left: nullabilityText(l),
        right: nullabilityText(r),
      });
  }
  for (const r of rightColumns) {
    if (!leftNames.has(r.name))
      columns.push({ column: r.name, kind: 'extra', left: null, right: columnDefinitionText(r) });
  }
  if (columns.length > 0) return { table, status: 'MISMATCH', columns, left, right };
  // the same columns: in the same relative order?
  const leftOrder = considered.map((c) => c.name);
  const rightOrder = rightColumns.map((c) => c.name).filter((n) => leftOrder.includes(n));
  const sameOrder = leftOrder.every((n, i) => rightOrder[i] === n);
  return { table, status: sameOrder ? 'MATCH' : 'ORDER_DIFFERS', columns, left, right };
}

/** Every table of either side (or only `tables`), compared, in name order. */
export function compareTableSets(
  left: Readonly<Record<string, TableSchema>>,
  right: Readonly<Record<string, TableSchema>>,
  tables?: readonly string[],
): TableComparison[] {
  const names = tables ?? [...new Set([...Object.keys(left), ...Object.keys(right)])];
  return [...new Set(names)]
    .sort(compareText)
    .filter((n) => left[n] || right[n])
    .map((n) => compareTables(left[n] ?? null, right[n] ?? null, n));
}

/** A mismatch that matters for replication: anything but MATCH and ORDER_DIFFERS. */
export function differs(status: SchemaStatus): boolean {
  return status !== 'MATCH' && status !== 'ORDER_DIFFERS';
}

/** `column note is missing on west`, `column total is numeric(10,2) on east, numeric(12,2) on west` */
export function describeDifference(d: ColumnDifference, leftNode: string, rightNode: string): string {
  const col = `column ${d.column}`;
  switch (d.kind) {
    case 'missing':
      return `${col} (${d.left}) is missing on ${rightNode}`;
    case 'extra':
      return `${col} (${d.right}) exists only on ${rightNode}`;
    case 'default':
      return `${col} has default ${d.left ?? 'none'} on ${leftNode}, ${d.right ?? 'none'} on ${rightNode}`;
    case 'type':
    case 'nullability':
      return `${col} is ${d.left} on ${leftNode}, ${d.right} on ${rightNode}`;
  }
}

/**
 * An extra subscriber column, from its definition text (`integer NOT NULL`, `text DEFAULT 'x'
 * NOT NULL`), that rows replicated without it can fill: nullable, or with a default (identity
 * and generated columns included). PostgreSQL accepts such a table.
 */
export function extraDefinitionFillable(definition: string | null): boolean {
  if (definition === null) return false;
  return !definition.endsWith(' NOT NULL') || / DEFAULT | GENERATED /.test(definition);
}

/** Only extra subscriber columns that replicated rows can fill: reported, never a failure. */
export function onlyFillableExtras(
  columns: ReadonlyArray<{ kind: string; subscriber?: unknown; right?: string | null }>,
): boolean {
  const text = (c: { subscriber?: unknown; right?: string | null }) =>
    typeof c.subscriber === 'string' ? c.subscriber : (c.right ?? null);
  return columns.length > 0 && columns.every((c) => c.kind === 'extra' && extraDefinitionFillable(text(c)));
}
