import type { TableName } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import type { NotVerifiable, TableComparison } from '../model/verify.js';
import { planComparison, type ShapeOfTable } from './verify.js';

/**
 * What a merge compares for each table (SPEC §9 merge): every row of A against every row of B,
 * on all their (non-generated) columns, by A's primary key, else its replica identity index —
 * verify's comparison, without row filter or column list. Both sides must have the same
 * columns: a merge copies whole rows each way. Pure: the caller reads the shapes.
 */
export function planMergeComparison(
  table: TableName,
  a: ShapeOfTable | undefined,
  b: ShapeOfTable | undefined,
  nodes: { a: string; b: string },
): TableComparison | NotVerifiable {
  const name = qualifiedName(table);
  if (!a) return { table, reason: `${name} does not exist on ${nodes.a}` };
  if (!b) return { table, reason: `${name} does not exist on ${nodes.b}` };
  const stored = (s: ShapeOfTable) => s.columns.filter((c) => !c.generated).map((c) => c.name);
  const onlyA = stored(a).filter((c) => !stored(b).includes(c));
  const onlyB = stored(b).filter((c) => !stored(a).includes(c));
  if (onlyA.length + onlyB.length > 0)
    return {
      table,
      reason: `${name} has other columns on each node (${[
        ...onlyA.map((c) => `${c} only on ${nodes.a}`),
        ...onlyB.map((c) => `${c} only on ${nodes.b}`),
      ].join(', ')}): make its schema the same on both before merging`,
    };
  const plan = planComparison({ table, columns: null, filter: null }, a, b, nodes.b);
  if (!('publisher' in plan)) return plan;
  return { ...plan, estimatedRows: Math.max(a.estimatedRows, b.estimatedRows) };
}
