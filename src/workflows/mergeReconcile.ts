/**
 * The reconcile of a merge (docs/steep-yaml.md merge, step 2): analyze, then copy each side's one-sided
 * rows to the other and resolve every conflicting key by the strategy, tables in foreign-key
 * order (parents first). Each conflict is written to `merge_log` on both nodes before either
 * row changes, keyed by its key; every write is one statement per batch. So a reconcile killed
 * at any point and run again analyzes what is left and ends at the same result, with one
 * merge_log row per conflict. `manual` writes every conflict (table, key, both rows) to a file
 * and changes nothing. A reinit whose inbound stream broke deletes the rows only on B instead
 * of copying them, each logged first, children first (`onlyB: delete`); one where that is
 * unproven logs each such row before copying it (`onlyB: log`). With nothing left to do
 * it only reads. Given `sessions` (a merge's locked transactions) it reads rows and writes there,
 * leaving them open: the re-check and the remainder's reconcile of a final pass.
 */
import type pg from 'pg';
import { readForeignKeysTo } from '../catalog/reinit.js';
import { compareValues, keyId, readRowsByKey } from '../catalog/rowsByKey.js';
import { deleteRows, insertRows, overwriteRows, type RowTarget } from '../copy/mergeRows.js';
import type { EventSink } from '../executors/events.js';
import { printAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import {
  COPIED_BACK,
  chooseSide,
  constraintHint,
  type MergeAnalysis,
  type MergeComparison,
  type MergeDecision,
  type MergePair,
  MISSED_DELETE,
  type ReconciledTable,
  type ReconcileResult,
} from '../model/merge.js';
import { type MergeStrategy, parseStrategy, resolveStrategy, strategyText } from '../model/mergeStrategy.js';
import type { Topology } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import type { CompareSide, NotVerifiable, RowDifference } from '../model/verify.js';
import { parentsFirst } from '../planner/compare/mergeCompare.js';
import { isComparison } from '../planner/compare/verify.js';
import { MergeLogStore } from '../state/mergeLog.js';
import { analyzePair, planMergeAnalysis } from './mergeAnalyze.js';
import { bothRows, CONFLICT_BATCH, keyRecord, rowRecord, writeConflicts } from './mergeConflicts.js';
import { withPair } from './verify.js';

export interface ReconcileOptions {
  tables?: string[];
  /** tables analyzed at a time */
  parallel?: number;
  /** manual: where the conflicts go (default `steep-merge-<name>-conflicts.json` in the working directory) */
  conflictsFile?: string;
  chunkRows?: number;
  /** conflicts decided, logged and written per round (default CONFLICT_BATCH) */
  batchRows?: number;
  onEvent?: EventSink;
  /** write in these sessions (a merge's locked transactions; left open) instead of its own */
  sessions?: { a: pg.Client; b: pg.Client };
  /**
   * A reinit whose inbound stream to B broke: rows only on B may be deletes B missed. `delete`:
   * they are (the way back, proven whole, brought A everything B wrote), deleted on B, each
   * recorded with its row in merge_log on both nodes, instead of copied to A. `log`: unproven
   * either way, copied to A, each recorded there first (strategy copied-back), so the ones that
   * came back can be found and deleted again. Absent: copied, as any one-sided row.
   */
  onlyB?: 'delete' | 'log';
}

const APPLICATION_NAME = 'steep merge';

/** The rows of `cmp` as written on the node of `side` (its `only`: an ordinary table alone). */
function target(cmp: MergeComparison, side: CompareSide): RowTarget {
  return {
    table: cmp.table,
    columns: cmp.publisher.columns,
    types: cmp.columnTypes,
    keys: cmp.publisher.keys.map((k) => k.name),
    only: side.only,
  };
}

/** Refuse what a reconcile cannot do before anything changes. */
function checkReconcilable(
  pair: MergePair,
  strategy: MergeStrategy,
  plans: Array<MergeComparison | NotVerifiable>,
): MergeComparison[] {
  const address = printAddress(pair);
  if (strategy.kind === 'prefer' && strategy.node !== pair.a && strategy.node !== pair.b)
    throw new SteepError(
      'merge.strategy_node',
      `strategy prefer:${strategy.node} of ${pair.kind} ${pair.name} names neither of its nodes ${pair.a} and ${pair.b}`,
      { address },
    );
  const blocked = plans.filter((p) => !isComparison(p));
  if (blocked.length > 0)
    throw new SteepError(
      'merge.not_comparable',
      `${pair.kind} ${pair.name} cannot be merged: ${blocked.map((b) => (b as NotVerifiable).reason).join('; ')}`,
      { address },
    );
  return plans.filter((p): p is MergeComparison => isComparison(p));
}

/**
 * Each table's strategy: its own (init.strategies), tied to the pair's nodes as the merge's is,
 * else the merge's.
 */
function tableStrategies(
  pair: MergePair,
  strategy: MergeStrategy,
  tables: string[],
): Map<string, MergeStrategy> {
  const out = new Map<string, MergeStrategy>();
  for (const t of tables) {
    const parsed = pair.strategies?.[t] ? parseStrategy(pair.strategies[t]) : undefined;
    out.set(
      t,
      parsed ? resolveStrategy(parsed, { source: pair.a, target: pair.b, first: pair.a }) : strategy,
    );
  }
  return out;
}

/**
 * A table with conflicting rows whose strategy is last-modified needs that column; one without
 * conflicts never consults its strategy, so it needs none.
 */
function checkStrategyColumns(
  pair: MergePair,
  cmps: MergeComparison[],
  strategies: Map<string, MergeStrategy>,
  analysis: MergeAnalysis,
): void {
  for (const c of cmps) {
    const name = qualifiedName(c.table);
    const s = strategies.get(name)!;
    const conflicts = analysis.tables.find((t) => t.table === name)?.conflicting ?? 0;
    if (s.kind !== 'last-modified' || conflicts === 0 || c.publisher.columns.includes(s.column)) continue;
    const other = pair.kind === 'link' ? `prefer:${pair.a}` : 'prefer-source';
    throw new SteepError(
      'merge.strategy_column',
      `strategy last-modified:${s.column} of ${pair.kind} ${pair.name}: ${name} has no column ${s.column} and ${conflicts} conflicting row${conflicts === 1 ? '' : 's'}; ` +
        `give it a strategy of its own in steep.yaml (init.strategies: { ${name}: "${other}" }) and apply again`,
      { address: pair },
    );
  }
}

/** Every differing key, per table, from one analysis of the pair. */
async function differingKeys(topology: Topology, pair: MergePair, opts: ReconcileOptions) {
  const diffs = new Map<string, RowDifference[]>();
  const analysis = await analyzePair(topology, pair, {
    tables: opts.tables,
    parallel: opts.parallel ?? 2,
    examples: 10,
    chunkRows: opts.chunkRows,
    onDifference: (cmp, d) => {
      const name = qualifiedName(cmp.table);
      const list = diffs.get(name) ?? [];
      list.push(d);
      diffs.set(name, list);
    },
  });
  return { analysis, diffs };
}

/** Both nodes' merge_log; conflicts to decide need it on both (a state schema before migration 6 lacks it). */
async function mergeLogs(
  topology: Topology,
  pair: MergePair,
  [a, b]: [pg.Client, pg.Client],
  conflicts: boolean,
) {
  const schema = topology.settings.stateSchema;
  const logs = [
    { client: a, store: new MergeLogStore(schema, pair.a), node: pair.a },
    { client: b, store: new MergeLogStore(schema, pair.b), node: pair.b },
  ];
  if (conflicts)
    for (const l of logs)
      if (!(await l.store.exists(l.client)))
        throw new SteepError(
          'merge.no_log',
          `steep's state schema ${schema} on ${l.node} has no merge_log of this steep (migration 6): run steep apply, which migrates it, before merging`,
          { node: l.node, address: pair },
        );
  return logs;
}

export async function reconcilePair(
  topology: Topology,
  pair: MergePair,
  strategy: MergeStrategy,
  opts: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const t0 = Date.now();
  const cmps = checkReconcilable(pair, strategy, await planMergeAnalysis(topology, pair, opts.tables));
  const byName = new Map(cmps.map((c) => [qualifiedName(c.table), c]));
  const { analysis, diffs } = await differingKeys(topology, pair, opts);
  const strategies = tableStrategies(pair, strategy, [...byName.keys()]);
  checkStrategyColumns(pair, cmps, strategies, analysis);
  const result: ReconcileResult = {
    name: pair.name,
    kind: pair.kind,
    a: pair.a,
    b: pair.b,
    strategy: strategyText(strategy),
    analysis,
    tables: [],
    conflictsFile: null,
    stopped: false,
    durationMs: 0,
  };
  const reconcile = async (a: pg.Client, b: pg.Client) => {
    if (strategy.kind === 'manual') {
      result.conflictsFile = await writeConflicts(
        a,
        b,
        pair,
        cmps,
        diffs,
        opts.conflictsFile ?? `steep-merge-${pair.name}-conflicts.json`,
      );
      result.stopped = analysis.totals.conflicting > 0;
      if (result.stopped) return;
    }
    const deleting = opts.onlyB === 'delete' && analysis.totals.onlyB > 0;
    const logOnlyB = opts.onlyB !== undefined && analysis.totals.onlyB > 0;
    const logs = await mergeLogs(topology, pair, [a, b], analysis.totals.conflicting > 0 || logOnlyB);
    const names = cmps.map((c) => qualifiedName(c.table));
    const order = parentsFirst(names, await readForeignKeysTo(a, names));
    // children first: a row deleted before the rows that reference it would be refused
    const deleted = new Map<string, number>();
    if (deleting)
      for (const name of [...order].reverse())
        deleted.set(name, await deleteMissed(b, pair, byName.get(name)!, diffs.get(name) ?? [], logs));
    for (const name of order) {
      const t = await reconcileTable(
        a,
        b,
        pair,
        strategies.get(name)!,
        byName.get(name)!,
        diffs.get(name) ?? [],
        logs,
        {
          batchRows: opts.batchRows ?? CONFLICT_BATCH,
          deleted: deleted.get(name),
          logCopiedBack: opts.onlyB === 'log',
        },
      );
      result.tables.push(t);
      opts.onEvent?.({
        event: 'merge.table_reconciled',
        level: 'info',
        table: name,
        address: printAddress(pair),
        duration_ms: t.durationMs,
        message: `${name}: ${t.copiedToA} rows copied to ${pair.a}, ${t.copiedToB} to ${pair.b}${deleting ? `, ${t.deletedB} deleted on ${pair.b} (deletes it missed)` : ''}, ${t.conflicts} conflicts (${pair.a} kept ${t.keptA}, ${pair.b} kept ${t.keptB})`,
      });
    }
  };
  if (opts.sessions) await reconcile(opts.sessions.a, opts.sessions.b);
  else await withPair(topology, [pair.a, pair.b], 'write', APPLICATION_NAME, reconcile);
  result.durationMs = Date.now() - t0;
  return result;
}

async function reconcileTable(
  a: pg.Client,
  b: pg.Client,
  pair: MergePair,
  strategy: MergeStrategy,
  cmp: MergeComparison,
  diffs: RowDifference[],
  logs: Array<{ client: pg.Client; store: MergeLogStore }>,
  opts: { batchRows: number; deleted: number | undefined; logCopiedBack: boolean },
): Promise<ReconciledTable> {
  const t0 = Date.now();
  const name = qualifiedName(cmp.table);
  const [intoA, intoB] = [target(cmp, cmp.publisher), target(cmp, cmp.subscriber)];
  const out: ReconciledTable = {
    table: name,
    copiedToA: 0,
    copiedToB: 0,
    deletedB: opts.deleted ?? 0,
    conflicts: 0,
    keptA: 0,
    keptB: 0,
    durationMs: 0,
  };
  const onlyA = diffs.filter((d) => d.kind === 'missing').map((d) => d.key);
  // rows only on B deleted there already (deleteMissed) are not copied back
  const onlyB = opts.deleted === undefined ? diffs.filter((d) => d.kind === 'extra').map((d) => d.key) : [];
  const conflicts = diffs.filter((d) => d.kind === 'different');
  try {
    out.copiedToB = await insertRows(b, intoB, [...(await readRowsByKey(a, cmp.publisher, onlyA)).values()]);
    const backRows = await readRowsByKey(b, cmp.subscriber, onlyB);
    if (opts.logCopiedBack) {
      const decisions = onlyBDecisions(pair, cmp, diffs, backRows, COPIED_BACK);
      for (const l of logs) await l.store.record(l.client, decisions);
    }
    out.copiedToA = await insertRows(a, intoA, [...backRows.values()]);
    if (strategy.kind === 'manual') return out;
    for (let i = 0; i < conflicts.length; i += opts.batchRows) {
      const batch = conflicts.slice(i, i + opts.batchRows);
      const keys = batch.map((d) => d.key);
      const [rowsA, rowsB] = await bothRows(a, b, cmp, keys);
      // a key gone from a side since the analysis is left to the final pass
      const present = batch.filter((d) => rowsA.has(keyId(d.key)) && rowsB.has(keyId(d.key)));
      const { decisions, toA, toB } = await decide(a, pair, strategy, cmp, present, rowsA, rowsB);
      // the decisions first: a merge stopped after them decides the same keys again, in place
      for (const l of logs) await l.store.record(l.client, decisions);
      out.keptA += await overwriteRows(b, intoB, toB);
      out.keptB += await overwriteRows(a, intoA, toA);
      out.conflicts += present.length;
    }
  } catch (err) {
    throw err instanceof SteepError ? err : writeFailed(name, pair, err);
  }
  out.durationMs = Date.now() - t0;
  return out;
}

/**
 * The rows only on B, deletes B missed (ReconcileOptions.onlyB): each recorded with its
 * row in merge_log on both nodes first, then deleted on B. Returns the rows deleted.
 */
async function deleteMissed(
  b: pg.Client,
  pair: MergePair,
  cmp: MergeComparison,
  diffs: RowDifference[],
  logs: Array<{ client: pg.Client; store: MergeLogStore }>,
): Promise<number> {
  const onlyB = diffs.filter((d) => d.kind === 'extra');
  if (onlyB.length === 0) return 0;
  const name = qualifiedName(cmp.table);
  try {
    const rows = await readRowsByKey(
      b,
      cmp.subscriber,
      onlyB.map((d) => d.key),
    );
    const decisions = onlyBDecisions(pair, cmp, diffs, rows, MISSED_DELETE);
    for (const l of logs) await l.store.record(l.client, decisions);
    return await deleteRows(b, target(cmp, cmp.subscriber), [...rows.values()]);
  } catch (err) {
    throw err instanceof SteepError ? err : writeFailed(name, pair, err);
  }
}

/** merge_log's record of each row only on B still there (`rows`, read by key), A having none. */
function onlyBDecisions(
  pair: MergePair,
  cmp: MergeComparison,
  diffs: readonly RowDifference[],
  rows: ReadonlyMap<string, Array<string | null>>,
  strategy: typeof MISSED_DELETE | typeof COPIED_BACK,
): MergeDecision[] {
  // a key gone from B since the analysis needs nothing
  return diffs.flatMap((d) => {
    const row = d.kind === 'extra' ? rows.get(keyId(d.key)) : undefined;
    if (!row) return [];
    return [
      {
        merge: pair.name,
        table: qualifiedName(cmp.table),
        key: keyRecord(cmp, d.key),
        strategy,
        chosenNode: strategy === MISSED_DELETE ? pair.a : pair.b,
        nodeA: pair.a,
        nodeB: pair.b,
        hashA: '',
        hashB: d.subscriberHash ?? '',
        rowA: {},
        rowB: rowRecord(cmp, row),
      },
    ];
  });
}

/**
 * Each conflicting key's winner by the strategy: the rows to write to each side, and the
 * decisions merge_log records.
 */
async function decide(
  a: pg.Client,
  pair: MergePair,
  strategy: Exclude<MergeStrategy, { kind: 'manual' }>,
  cmp: MergeComparison,
  present: RowDifference[],
  rowsA: Map<string, Array<string | null>>,
  rowsB: Map<string, Array<string | null>>,
) {
  let newer: number[] = present.map(() => 0);
  if (strategy.kind === 'last-modified') {
    const j = cmp.publisher.columns.indexOf(strategy.column);
    newer = await compareValues(
      a,
      cmp.columnTypes[j]!,
      present.map((d) => [rowsA.get(keyId(d.key))![j] ?? null, rowsB.get(keyId(d.key))![j] ?? null]),
    );
  }
  const decisions: MergeDecision[] = [];
  const toA: Array<Array<string | null>> = [];
  const toB: Array<Array<string | null>> = [];
  for (const [k, d] of present.entries()) {
    const ra = rowsA.get(keyId(d.key))!;
    const rb = rowsB.get(keyId(d.key))!;
    const side = chooseSide(strategy, pair, newer[k]);
    if (side === 'a') toB.push(ra);
    else toA.push(rb);
    decisions.push({
      merge: pair.name,
      table: qualifiedName(cmp.table),
      key: keyRecord(cmp, d.key),
      strategy: strategyText(strategy),
      chosenNode: side === 'a' ? pair.a : pair.b,
      nodeA: pair.a,
      nodeB: pair.b,
      hashA: d.publisherHash ?? '',
      hashB: d.subscriberHash ?? '',
      rowA: rowRecord(cmp, ra),
      rowB: rowRecord(cmp, rb),
    });
  }
  return { decisions, toA, toB };
}

/** A write of the merge failed: what stopped it (a constraint, named), and that running it again continues. */
function writeFailed(name: string, pair: MergePair, err: unknown): SteepError {
  const hint = constraintHint(name, err as Parameters<typeof constraintHint>[1]);
  return new SteepError(
    'merge.write_failed',
    `merging ${name} between ${pair.a} and ${pair.b} ${hint ? `stopped: ${hint}` : `failed: ${(err as { message?: string }).message ?? String(err)}`}; what was written stays, and running the merge again continues from there`,
    { address: pair, cause: err },
  );
}
