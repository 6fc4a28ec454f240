import type { CopyEstimate } from '../../model/plan.js';
import type { TableName } from '../../model/topology.js';
import { qualifiedName } from '../../model/topology.js';
import type { PlanContext } from '../context.js';
import { leafPartitions } from '../publications/publishedRelations.js';

/**
 * Say what moves (docs/architecture.md, Inside the planner): a step that copies data states the tables, their size and how long
 * the copy should take. The rate is the one steep's earlier snapshot inits from the same
 * publisher achieved — their start and completion are recorded in the state schema
 * (`subscription_state`), their tables' sizes are the publisher's — else a stated default.
 */

/** The default copy rate when no earlier init from the publisher was measured: 20 MB/s. */
export const DEFAULT_COPY_BYTES_PER_SECOND = 20 * 1024 * 1024;

/** Bytes per second of the finished snapshot inits from `publisher`, or null when none was recorded. */
export function measuredCopyRate(ctx: PlanContext, publisher: string): number | null {
  const from = ctx.node(publisher);
  if (!from) return null;
  let bytes = 0;
  let seconds = 0;
  for (const node of ctx.reachableNodes()) {
    for (const rec of Object.values(node.initState?.subscriptions ?? {})) {
      const o = node.subscriptions[rec.subscription];
      if (!o || o.from !== publisher || rec.initMethod !== 'snapshot' || !rec.startedAt || !rec.completedAt)
        continue;
      const took = (Date.parse(rec.completedAt) - Date.parse(rec.startedAt)) / 1000;
      const size = o.tables.reduce((s, t) => s + (from.tables[qualifiedName(t)]?.sizeBytes ?? 0), 0);
      if (took <= 0 || size <= 0) continue;
      bytes += size;
      seconds += took;
    }
  }
  return seconds > 0 ? bytes / seconds : null;
}

export function copyEstimate(
  ctx: PlanContext,
  publisher: string,
  tables: readonly (TableName | string)[],
): CopyEstimate {
  const from = ctx.node(publisher);
  const names = tables.map((t) => (typeof t === 'string' ? t : qualifiedName(t)));
  const sizes = names.map((n) => from?.tables[n]?.sizeBytes ?? null);
  const unknownTables = sizes.filter((b) => b === null).length;
  const bytes =
    unknownTables === names.length && names.length > 0
      ? null
      : sizes.reduce<number>((s, b) => s + (b ?? 0), 0);
  const measured = measuredCopyRate(ctx, publisher);
  const bytesPerSecond = measured ?? DEFAULT_COPY_BYTES_PER_SECOND;
  return {
    tables: names,
    bytes,
    unknownTables,
    seconds: bytes === null ? null : Math.round((bytes / bytesPerSecond) * 10) / 10,
    bytesPerSecond: Math.round(bytesPerSecond),
    rateSource: measured === null ? 'default' : 'measured',
  };
}

/** The relations a copy of `tables` reads on `publisher`: a partitioned table's leaves, whose sizes are its rows'. */
export function copiedLeaves(ctx: PlanContext, publisher: string, tables: readonly string[]): string[] {
  const from = ctx.node(publisher);
  return from ? tables.flatMap((t) => leafPartitions(t, from.tables)) : [...tables];
}
