import type pg from 'pg';
import { readTableShapes, readTablesOfSchemas } from '../catalog/compareScope.js';
import { loadTopology } from '../config/load.js';
import { compareTable } from '../executors/tableCompare.js';
import { SteepError } from '../model/errors.js';
import {
  type MergeAnalysis,
  type MergeComparison,
  type MergePair,
  type MergeTableAnalysis,
  mergeTotals,
  tableStatus,
} from '../model/merge.js';
import type { TableName, Topology } from '../model/topology.js';
import { qualifiedName, tableOfQualified } from '../model/topology.js';
import type { NotVerifiable, RowDifference, TableComparison, TableVerdict } from '../model/verify.js';
import { MERGE_CHUNK_ROWS, MERGE_GROUP_ROWS, planMergeComparison } from '../planner/compare/mergeCompare.js';
import { isComparison } from '../planner/compare/verify.js';
import { notVerifiable, pool, withPair } from './verify.js';
import { chunkRowsSetting } from './verifySettings.js';

/**
 * `steep merge analyze LINK|SUBSCRIPTION` (docs/links.md, docs/steep-yaml.md merge): how the rows of two nodes that
 * both hold data overlap, table by table — identical, conflicting (same key, another row), only
 * on A, only on B — with example keys. Read-only. It is verify's comparison engine
 * (executors/tableCompare.ts) without the replay re-checks: the two nodes do not replicate
 * between them yet, so what differs, differs.
 */

export interface MergeAnalyzeOptions {
  /** only these tables (`schema.table`, public when no schema) */
  tables?: string[];
  /** tables compared at a time (one session per node each) */
  parallel: number;
  examples: number;
  /** rows per chunk aimed at (default MERGE_CHUNK_ROWS) */
  chunkRows?: number;
  onTableDone?: (t: MergeTableAnalysis) => void;
  /** every row that differs, with the comparison of its table (reconcile collects them) */
  onDifference?: (cmp: TableComparison, d: RowDifference) => void;
}

const APPLICATION_NAME = 'steep merge';

/**
 * The pair a name stands for: a link (A = its first node, its tables or schemas) or a
 * subscription (A = its publisher, B = its subscriber, its publications' tables as declared).
 */
export function mergePairOf(topology: Topology, name: string): MergePair {
  const link = topology.links?.[name];
  if (link)
    return {
      name,
      kind: 'link',
      a: link.nodes[0],
      b: link.nodes[1],
      scope: { tables: link.tables, schemas: link.schemas, allTables: false },
      ...(link.init.strategies ? { strategies: link.init.strategies } : {}),
    };
  const d = topology.subscriptions[name];
  if (!d) {
    const links = Object.keys(topology.links ?? {});
    const known = [...links, ...Object.keys(topology.subscriptions)].sort();
    throw new SteepError(
      'merge.unknown_name',
      `steep.yaml declares no link or subscription ${name}${known.length > 0 ? ` (it declares ${known.join(', ')})` : ''}`,
    );
  }
  const pubs = d.publications.map((p) => topology.publications[p]).filter((p) => p !== undefined);
  const columns: Record<string, string[]> = {};
  for (const t of pubs.flatMap((p) => p.tables)) if (t.columns) columns[qualifiedName(t)] ??= t.columns;
  return {
    name,
    kind: 'subscription',
    a: d.from,
    b: d.node,
    scope: {
      tables: pubs.flatMap((p) => p.tables.map((t) => ({ schema: t.schema, name: t.name }))),
      schemas: pubs.flatMap((p) => p.schemas),
      allTables: pubs.some((p) => p.allTables),
      columns,
    },
    ...(d.init.strategies ? { strategies: d.init.strategies } : {}),
  };
}

/** The pair's tables as node A holds them now (schemas and all-tables listed there), or `only`. */
export async function mergeTables(
  client: pg.Client,
  topology: Topology,
  pair: MergePair,
  only: string[] | undefined,
): Promise<TableName[]> {
  const listed = pair.scope.allTables
    ? await readTablesOfSchemas(client, null, topology.settings.stateSchema)
    : pair.scope.schemas.length > 0
      ? await readTablesOfSchemas(client, pair.scope.schemas, topology.settings.stateSchema)
      : [];
  const byName = new Map([...pair.scope.tables, ...listed].map((t) => [qualifiedName(t), t] as const));
  if (!only) return [...byName.values()];
  const wanted = only.map(tableOfQualified);
  const unknown = wanted.filter((w) => !byName.has(qualifiedName(w))).map(qualifiedName);
  if (unknown.length > 0)
    throw new SteepError(
      'merge.unknown_table',
      `${pair.kind} ${pair.name} does not merge ${unknown.join(', ')} (it merges ${[...byName.keys()].join(', ') || 'no table'})`,
      { address: pair },
    );
  return wanted.map((w) => byName.get(qualifiedName(w))!);
}

/** The comparisons of the pair's tables (or of `only`), as both nodes show them now. */
export async function planMergeAnalysis(
  topology: Topology,
  pair: MergePair,
  only: string[] | undefined,
): Promise<Array<MergeComparison | NotVerifiable>> {
  return withPair(topology, [pair.a, pair.b], 'compare', APPLICATION_NAME, async (a, b) => {
    const tables = await mergeTables(a, topology, pair, only);
    const [shapesA, shapesB] = await Promise.all([readTableShapes(a, tables), readTableShapes(b, tables)]);
    return tables.map((t) => {
      const n = qualifiedName(t);
      return planMergeComparison(t, shapesA.get(n), shapesB.get(n), pair, pair.scope.columns?.[n] ?? null);
    });
  });
}

/** A table's comparison as a merge reads it: what verify calls missing is only on A, extra only on B. */
function asMergeTable(v: TableVerdict): MergeTableAnalysis {
  const counts = { conflicting: v.different, onlyA: v.missing, onlyB: v.extra };
  const compared = v.status !== 'not_verifiable';
  return {
    table: v.table,
    status: compared ? tableStatus(counts) : 'not_comparable',
    reason: compared ? null : v.reason,
    keyColumns: v.keyColumns,
    rowsA: v.rows,
    rowsB: v.subscriberRows,
    identical: v.rows - v.missing - v.different,
    ...counts,
    examples: { conflicting: v.examples.different, onlyA: v.examples.missing, onlyB: v.examples.extra },
    chunks: v.chunks,
    chunksIdentical: v.chunksIdentical,
    durationMs: v.durationMs,
  };
}

/** Compare one table of the pair (A where verify has the publisher). */
export async function analyzeTable(
  topology: Topology,
  pair: MergePair,
  cmp: TableComparison,
  opts: Pick<MergeAnalyzeOptions, 'examples' | 'chunkRows' | 'onDifference'>,
): Promise<MergeTableAnalysis> {
  const name = qualifiedName(cmp.table);
  return withPair(topology, [pair.a, pair.b], 'compare', APPLICATION_NAME, async (a, b) => {
    try {
      const v = await compareTable(a, b, cmp, {
        examples: opts.examples,
        chunkRows: opts.chunkRows ?? chunkRowsSetting() ?? MERGE_CHUNK_ROWS,
        groupRows: MERGE_GROUP_ROWS,
        onDifference: opts.onDifference ? (d) => opts.onDifference!(cmp, d) : undefined,
      });
      return asMergeTable(v);
    } catch (err) {
      if (err instanceof SteepError) throw err;
      throw new SteepError(
        'merge.analyze_failed',
        `comparing ${name} on ${pair.a} and ${pair.b} failed: ${(err as { message?: string }).message ?? String(err)}`,
        { address: pair, cause: err },
      );
    }
  });
}

/** Analyze a pair (what `merge analyze` and a merge init run). */
export async function analyzePair(
  topology: Topology,
  pair: MergePair,
  opts: MergeAnalyzeOptions,
): Promise<MergeAnalysis> {
  const t0 = Date.now();
  for (const node of [pair.a, pair.b])
    if (!topology.nodes[node])
      throw new SteepError(
        'merge.unknown_node',
        `${pair.kind} ${pair.name} names node ${node}, which steep.yaml does not declare`,
      );
  const plans = await planMergeAnalysis(topology, pair, opts.tables);
  const tables = await pool(plans, opts.parallel, async (plan) => {
    const t = isComparison(plan)
      ? await analyzeTable(topology, pair, plan, opts)
      : asMergeTable(notVerifiable(plan));
    opts.onTableDone?.(t);
    return t;
  });
  const totals = mergeTotals(tables);
  return {
    name: pair.name,
    kind: pair.kind,
    a: pair.a,
    b: pair.b,
    tables,
    conflicts: totals.conflicting > 0,
    notComparable: tables.filter((t) => t.status === 'not_comparable').length,
    totals,
    durationMs: Date.now() - t0,
  };
}

export async function analyzeMerge(configPath: string, name: string, opts: MergeAnalyzeOptions) {
  const t0 = Date.now();
  const { topology, warnings } = await loadTopology(configPath);
  const analysis = await analyzePair(topology, mergePairOf(topology, name), opts);
  analysis.durationMs = Date.now() - t0;
  return { analysis, configWarnings: warnings };
}
