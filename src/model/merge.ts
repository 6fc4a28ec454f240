/**
 * Merging two nodes that both hold rows (SPEC §9 merge, §4 `merge analyze`): which pair and
 * tables a merge concerns, what the analysis found per table, and the reconcile's decisions.
 * The comparison itself is verify's (model/verify.ts): node A stands where verify has the
 * publisher, node B the subscriber.
 */

import type { TableName } from './topology.js';
import type { RowKey } from './verify.js';

/**
 * The two nodes and the tables of a merge: a link (A = its first node) or one subscription
 * (A = the publisher, B = the subscriber).
 */
export interface MergePair {
  /** the link's or the subscription's name */
  name: string;
  kind: 'link' | 'subscription';
  /** node A: a link's first node, a subscription's publisher */
  a: string;
  /** node B: a link's second node, a subscription's subscriber */
  b: string;
  /** what is merged, as declared; expanded on node A (`tables` kept, `schemas` and `allTables` listed) */
  scope: MergeScope;
}

export interface MergeScope {
  tables: TableName[];
  schemas: string[];
  allTables: boolean;
}

export type MergeTableStatus = 'identical' | 'conflicting' | 'one_sided' | 'not_comparable';

/** Per kind, the example keys of a table (up to the requested number, in key order). */
export interface MergeExamples {
  conflicting: RowKey[];
  onlyA: RowKey[];
  onlyB: RowKey[];
}

export interface MergeTableAnalysis {
  /** `schema.table` */
  table: string;
  /** identical: nothing to do; one_sided: rows to copy, no conflict; conflicting: some key differs */
  status: MergeTableStatus;
  /** why not comparable; null otherwise */
  reason: string | null;
  keyColumns: string[];
  rowsA: number;
  rowsB: number;
  /** same key, same row on both */
  identical: number;
  /** same key, another row */
  conflicting: number;
  onlyA: number;
  onlyB: number;
  examples: MergeExamples;
  chunks: number;
  /** chunks whose hashes matched: never read row by row */
  chunksIdentical: number;
  durationMs: number;
}

export interface MergeAnalysis {
  name: string;
  kind: 'link' | 'subscription';
  a: string;
  b: string;
  tables: MergeTableAnalysis[];
  /** some table has a conflicting row (exit 2) */
  conflicts: boolean;
  /** tables that cannot be compared (no key, other columns, absent on a node): also exit 2 */
  notComparable: number;
  totals: { identical: number; conflicting: number; onlyA: number; onlyB: number };
  durationMs: number;
}

/** The totals over the tables. */
export function mergeTotals(tables: readonly MergeTableAnalysis[]): MergeAnalysis['totals'] {
  const t = { identical: 0, conflicting: 0, onlyA: 0, onlyB: 0 };
  for (const x of tables) {
    t.identical += x.identical;
    t.conflicting += x.conflicting;
    t.onlyA += x.onlyA;
    t.onlyB += x.onlyB;
  }
  return t;
}

export function tableStatus(x: { conflicting: number; onlyA: number; onlyB: number }): MergeTableStatus {
  if (x.conflicting > 0) return 'conflicting';
  return x.onlyA + x.onlyB > 0 ? 'one_sided' : 'identical';
}
