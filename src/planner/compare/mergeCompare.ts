import type { MergeComparison } from '../../model/merge.js';
import type { TableName } from '../../model/topology.js';
import { qualifiedName } from '../../model/topology.js';
import type { NotVerifiable, TableShape } from '../../model/verify.js';
import { isComparison, planComparison } from './verify.js';

/**
 * Rows per chunk and per group a merge aims at. A merge expects differences (a verify expects
 * none): the smaller the groups, the fewer rows around each conflict are read row by row.
 * Chunks (key ranges) keep a run of differing keys in few chunks; sub-groups by key hash keep
 * differences spread evenly in few groups (1 M rows: 245 chunks × 512 groups of about 8 rows;
 * at 1 % conflicts spread evenly, about 8 % of the groups, and so of the rows, are read again).
 */
export const MERGE_CHUNK_ROWS = 4096;
export const MERGE_GROUP_ROWS = 8;

/**
 * What a merge compares for each table (docs/steep-yaml.md merge): every row of A against every row of B,
 * on all their (non-generated) columns — a subscription's column list given (`listed`), on those
 * only: the others are not the subscription's — by A's primary key, else its replica identity
 * index: verify's comparison, without row filter. Both sides must have the compared columns: a
 * merge copies them each way. Pure: the caller reads the shapes.
 */
export function planMergeComparison(
  table: TableName,
  a: TableShape | undefined,
  b: TableShape | undefined,
  nodes: { a: string; b: string },
  listed: string[] | null = null,
): MergeComparison | NotVerifiable {
  const name = qualifiedName(table);
  if (!a) return { table, reason: `${name} does not exist on ${nodes.a}` };
  if (!b) return { table, reason: `${name} does not exist on ${nodes.b}` };
  const stored = (s: TableShape) =>
    s.columns.filter((c) => !c.generated && (listed === null || listed.includes(c.name))).map((c) => c.name);
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
  const plan = planComparison({ table, columns: listed, filter: null }, a, b, nodes.b, {
    publisherNode: nodes.a,
  });
  if (!isComparison(plan)) return plan;
  const types = new Map(a.columns.map((c) => [c.name, c.type]));
  return {
    ...plan,
    estimatedRows: Math.max(a.estimatedRows, b.estimatedRows),
    columnTypes: plan.publisher.columns.map((c) => types.get(c)!),
  };
}

/**
 * Tables in the order a merge inserts rows: a table after those it references (foreign keys
 * among the merged tables), else in the given order; tables in a reference cycle keep it.
 */
export function parentsFirst(
  tables: readonly string[],
  references: ReadonlyArray<{ from: string; to: string }>,
): string[] {
  const parents = new Map(tables.map((t) => [t, new Set<string>()]));
  for (const r of references)
    if (r.from !== r.to && parents.has(r.from) && parents.has(r.to)) parents.get(r.from)!.add(r.to);
  const out: string[] = [];
  const placed = new Set<string>();
  while (out.length < tables.length) {
    const ready = tables.filter((t) => !placed.has(t) && [...parents.get(t)!].every((p) => placed.has(p)));
    // a cycle: take the first table left, in the given order
    const next = ready.length > 0 ? ready : [tables.find((t) => !placed.has(t))!];
    for (const t of next) {
      placed.add(t);
      out.push(t);
    }
  }
  return out;
}
