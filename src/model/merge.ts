/**
 * Merging two nodes that both hold rows (docs/steep-yaml.md merge, docs/links.md): which pair and
 * tables a merge concerns, what the analysis found per table, and the reconcile's decisions.
 * The comparison itself is verify's (model/verify.ts): node A stands where verify has the
 * publisher, node B the subscriber.
 */

import type { MergeStrategy } from './mergeStrategy.js';
import type { TableName } from './topology.js';
import type { RowKey, TableComparison, TableVerdict } from './verify.js';

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
  /** a strategy of its own per table (`schema.table` → text, init.strategies); the merge's for the rest */
  strategies?: Record<string, string>;
}

export interface MergeScope {
  tables: TableName[];
  schemas: string[];
  allTables: boolean;
  /**
   * a subscription's column lists (`schema.table` → the published columns): only those are
   * compared and merged, the others are not the subscription's to carry
   */
  columns?: Record<string, string[]>;
}

export type MergeTableStatus = 'identical' | 'conflicting' | 'one_sided' | 'not_comparable';

/** Per kind, the example keys of a table (up to the requested number, in key order). */
export type MergeExamples = Record<'conflicting' | 'onlyA' | 'onlyB', RowKey[]>;

export interface MergeTableAnalysis
  extends Pick<TableVerdict, 'table' | 'keyColumns' | 'chunks' | 'chunksIdentical' | 'durationMs'> {
  /** identical: nothing to do; one_sided: rows to copy, no conflict; conflicting: some key differs */
  status: MergeTableStatus;
  /** why not comparable; null otherwise */
  reason: string | null;
  rowsA: number;
  rowsB: number;
  /** same key, same row on both */
  identical: number;
  /** same key, another row */
  conflicting: number;
  onlyA: number;
  onlyB: number;
  examples: MergeExamples;
}

export interface MergeAnalysis extends Pick<MergePair, 'name' | 'kind' | 'a' | 'b'> {
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
  for (const x of tables) for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += x[k];
  return t;
}

export function tableStatus(x: { conflicting: number; onlyA: number; onlyB: number }): MergeTableStatus {
  if (x.conflicting > 0) return 'conflicting';
  return x.onlyA + x.onlyB > 0 ? 'one_sided' : 'identical';
}

/** How a merge compares a table: verify's comparison, with A's column types for writing rows back. */
export interface MergeComparison extends TableComparison {
  /** format_type() on A of each of `publisher.columns` */
  columnTypes: string[];
}

/**
 * The strategy merge_log records for a row only on B that the reconcile deleted there: a delete B
 * missed (its row kept in `rowB`; `rowA` empty, A has none).
 */
export const MISSED_DELETE = 'missed-delete';

/**
 * The strategy merge_log records for a row only on B that the reconcile copied to A where B's
 * inbound stream broke and nothing proves the row is not a delete B missed: a DBA finds there the
 * rows that came back (`rowB` the row; `rowA` empty, A had none).
 */
export const COPIED_BACK = 'copied-back';

/** One conflicting key decided: a row of `merge_log`. Rows are column → text (null for NULL). */
export interface MergeDecision {
  merge: string;
  /** `schema.table` */
  table: string;
  /** key column → value as text */
  key: Record<string, string>;
  /** as written: `prefer:eu`, `last-modified:updated_at` */
  strategy: string;
  /** the node whose row both keep */
  chosenNode: string;
  nodeA: string;
  nodeB: string;
  hashA: string;
  hashB: string;
  rowA: Record<string, string | null>;
  rowB: Record<string, string | null>;
  decidedAt?: string;
}

/**
 * Which row of a conflicting key wins. `newer` (last-modified only): 1 when A's column is the
 * greater, −1 when B's is, 0 on a tie (then the strategy's tie node wins).
 */
export function chooseSide(
  strategy: Exclude<MergeStrategy, { kind: 'manual' }>,
  pair: { a: string; b: string },
  newer = 0,
): 'a' | 'b' {
  if (strategy.kind === 'prefer') return strategy.node === pair.a ? 'a' : 'b';
  if (newer > 0) return 'a';
  if (newer < 0) return 'b';
  return strategy.tieNode === pair.a ? 'a' : 'b';
}

/** What a reconcile did to one table. */
export interface ReconciledTable {
  table: string;
  /** rows only on B, inserted on A */
  copiedToA: number;
  /** rows only on A, inserted on B */
  copiedToB: number;
  /** rows only on B deleted there: deletes B missed (ReconcileOptions.missedDeletes); each in merge_log */
  deletedB: number;
  conflicts: number;
  /** conflicts where A's row was kept (B overwritten) */
  keptA: number;
  keptB: number;
  durationMs: number;
}

export interface ReconcileResult extends Pick<MergePair, 'name' | 'kind' | 'a' | 'b'> {
  /** as written */
  strategy: string;
  /** what was found before anything changed */
  analysis: MergeAnalysis;
  /** in the order written (parents first) */
  tables: ReconciledTable[];
  /** manual: the conflicts file written, nothing changed */
  conflictsFile: string | null;
  /** manual with conflicts: stopped before any change */
  stopped: boolean;
  durationMs: number;
}

/**
 * What to do when a reconcile's write is refused by a constraint other than the key (a database
 * error's SQLSTATE, constraint and table), or null for any other failure: a unique constraint
 * besides the key (the nodes hold different keys with the same value), or a foreign key of a
 * table to itself (a row copied before the row it references, in an earlier batch).
 */
export function constraintHint(
  table: string,
  err: { code?: string; constraint?: string; table?: string; detail?: string },
): string | null {
  const name = err.constraint ? ` ${err.constraint}` : '';
  if (err.code === '23505')
    return (
      `the unique constraint${name} of ${table}, besides its key, refuses a row: the two nodes hold different keys with the same value there` +
      `${err.detail ? ` (${err.detail})` : ''}; make those rows agree on both nodes (or drop the constraint while merging), then apply again`
    );
  if (
    err.code === '23503' &&
    err.detail &&
    table.endsWith(`.${err.table ?? ''}`) &&
    err.detail.includes(`table "${err.table}"`)
  )
    return (
      `the foreign key${name} of ${table} to itself refuses a row whose referenced row is copied later (${err.detail}); ` +
      `make that constraint DEFERRABLE INITIALLY DEFERRED on both nodes, or copy the referenced rows first, then apply again`
    );
  return null;
}
