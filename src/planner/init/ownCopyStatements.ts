import { formatBytes } from '../../model/bytes.js';
import type { ObservedNode } from '../../model/cluster.js';
import type { Hazard, Statement } from '../../model/plan.js';
import { quoteTable } from '../../model/sql.js';
import {
  DEFAULT_SPLIT_ABOVE,
  DEFER_INDEXES_FROM,
  qualifiedName,
  type SubscriptionSpec,
  type TableName,
} from '../../model/topology.js';
import type { PlanContext } from '../context.js';
import { dropSlotSql, nonTx, truncateTablesSql, tx } from '../sqlBuild.js';
import { copiedTables } from './initCopy.js';

/**
 * The statements steep's own copy (copy/) runs besides its COPY streams, decided here: emptying
 * what an interrupted copy loaded and dropping its slot when the copy starts over, and the lock
 * under which a big empty table's indexes are dropped (built again after its copy). Whether
 * each runs is known only when the copy runs, so each begins with its condition as an SQL
 * comment, which the plan, its JSON and apply_log show; the engine runs exactly that text when
 * the condition holds, or nothing. `snapshot apply` and `snapshot delete`, outside plan/apply,
 * take their statements from here and sqlBuild.ts too, and report those they ran.
 */

const START_OVER = 'if the copy starts over';

/** `sql` after its condition, an SQL comment that ends at its line: a name's line break is left out. */
function when(condition: string, sql: string): string {
  return `-- ${condition.replace(/[\r\n]+/g, ' ')}:\n${sql}`;
}

/** A planned statement without the condition `when` put before it: the SQL that ran. */
export function withoutCondition(sql: string): string {
  return sql.startsWith('-- ') ? sql.slice(sql.indexOf('\n') + 1) : sql;
}

/**
 * The copy of `d` starts over when no snapshot of an earlier copy is still held: it empties the
 * tables that copy loaded (`copied`) and drops the slot it made (`slotExists` on the publisher).
 */
export function startOverStatements(
  d: SubscriptionSpec,
  copied: readonly TableName[],
  slotExists: boolean,
): Statement[] {
  const why = `${START_OVER} (no snapshot of an earlier copy of ${d.name} is still held)`;
  return [
    ...(copied.length > 0
      ? [tx(when(`${why}, empty what that copy loaded`, truncateTablesSql(copied)))]
      : []),
    ...(slotExists
      ? [
          {
            ...nonTx(
              when(`${why}, drop the slot that copy made unless a process uses it`, dropSlotSql(d.slot)),
            ),
            node: d.from,
          },
        ]
      : []),
  ];
}

/** The planned statements a copy that starts over runs, in order (each with its node). */
export function plannedStartOver(planned: readonly Statement[]): Statement[] {
  return planned.filter((s) => s.sql.startsWith(`-- ${START_OVER}`));
}

/** The lock under which `table`'s deferrable indexes are dropped, once it is found empty. */
export function deferIndexesLock(table: TableName): Statement {
  return tx(
    when(
      `when its copy starts, if ${qualifiedName(table)} is empty and split into key ranges or of at least ${formatBytes(DEFER_INDEXES_FROM)}, ` +
        'its indexes are dropped under this lock and built after its copy',
      `LOCK TABLE ${quoteTable(table)} IN ACCESS EXCLUSIVE MODE`,
    ),
  );
}

/** The planned lock of `table`, if the plan has one: without it, its indexes are not deferred. */
export function plannedLock(planned: readonly Statement[], table: TableName): Statement | undefined {
  const sql = deferIndexesLock(table).sql;
  return planned.find((s) => s.sql === sql);
}

/**
 * The init step of `d` with steep's own copy (`snapshot`): starting over (the tables of an
 * earlier copy recorded on the subscriber, its slot if the publisher has it and the copy is no
 * new one), and a lock for each copied table big enough that its indexes may be deferred (above
 * `splitAbove` or at least DEFER_INDEXES_FROM by the publisher's estimate, a bound on the one the
 * copy reads at its snapshot).
 */
export function ownCopyStatements(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  opts: { creating: boolean },
): { statements: Statement[]; hazards: Hazard[] } {
  const publisher = ctx.node(d.from);
  const copied = node.initState?.copied?.[d.name] ?? [];
  // a new subscription's slot of that name is dropped by its own step, before it is created
  const slotExists = !opts.creating && publisher?.slots[d.slot] !== undefined;
  const splitAbove = d.init.splitAbove ?? DEFAULT_SPLIT_ABOVE;
  const big = copiedTables(ctx.desired, ctx.observed, d).filter((t) => {
    const size = publisher?.tables[qualifiedName(t)]?.sizeBytes;
    return size != null && (size > splitAbove || size >= DEFER_INDEXES_FROM);
  });
  const statements = [...startOverStatements(d, copied, slotExists), ...big.map(deferIndexesLock)];
  const hazards: Hazard[] = [
    ...(copied.length > 0 ? (['truncates-data'] as const) : []),
    ...(slotExists ? (['drops-slot'] as const) : []),
    ...(big.length > 0 ? (['locks-table'] as const) : []),
  ];
  return { statements, hazards };
}
