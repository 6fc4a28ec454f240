import type { ClusterState } from '../../model/cluster.js';
import {
  columnDefinitionText,
  type TableColumn,
  type TableSchema,
  withColumns,
} from '../../model/tableSchema.js';
import type { SubscriptionSpec, Topology } from '../../model/topology.js';
import { receivedTables } from './schemaScope.js';
import type { SyncInput } from './schemaSync.js';
import { alterColumn, alterTableSql, renameColumnSql } from './tableDdl.js';

/**
 * A column renamed on the publisher (docs/steep-yaml.md, "A renamed column"): the subscriber
 * still has the old name, and the publisher's rows carry the new one, which PostgreSQL's apply
 * worker cannot find (it stops on that table, in a loop, until the column is there). Catalogs
 * keep no rename history, so it is recognised by one rule: exactly one received publisher
 * column is missing on the subscriber, exactly one subscriber column is absent on the
 * publisher, both have the same definition (type, default, nullability) at the same ordinal
 * position (attnum, which a rename keeps), and every other column matches. Anything else with
 * a column missing and one only on the subscriber is `unclear`: a plan error naming both and
 * the two ways out, never an ADD COLUMN that would leave the old rows' values in the old column.
 */
export type ColumnRename =
  | { kind: 'rename'; from: TableColumn; to: TableColumn }
  | { kind: 'unclear'; missing: TableColumn[]; extra: TableColumn[] };

/**
 * `pub` and `sub` are the table on the publisher and subscriber; `received` the publisher's
 * columns the subscription receives (null: all). null when no column is both missing and extra.
 */
export function findRename(
  pub: TableSchema,
  sub: TableSchema,
  received: ReadonlySet<string> | null,
): ColumnRename | null {
  const subByName = new Map(sub.columns.map((c) => [c.name, c]));
  const pubNames = new Set(pub.columns.map((c) => c.name));
  const considered = pub.columns.filter((c) => received === null || received.has(c.name));
  const missing = considered.filter((c) => !subByName.has(c.name));
  const extra = sub.columns.filter((c) => !pubNames.has(c.name));
  if (missing.length === 0 || extra.length === 0) return null;
  const [to] = missing;
  const [from] = extra;
  const othersMatch = considered.every((l) => {
    const r = subByName.get(l.name);
    return r === undefined || columnDefinitionText(l) === columnDefinitionText(r);
  });
  if (
    missing.length === 1 &&
    extra.length === 1 &&
    othersMatch &&
    to!.ordinal === from!.ordinal &&
    columnDefinitionText(to!) === columnDefinitionText(from!)
  )
    return { kind: 'rename', from: from!, to: to! };
  return { kind: 'unclear', missing, extra };
}

/** What the DBA can run on `node` for an unclear case: rename each candidate by hand, or add the column. */
export function renameOrAddText(
  table: TableSchema,
  r: { missing: TableColumn[]; extra: TableColumn[] },
  node: string,
): string {
  const names = (cs: TableColumn[]) => cs.map((c) => c.name).join(', ');
  const [to] = r.missing;
  const [from] = r.extra;
  return (
    `column(s) ${names(r.missing)} of ${table.schema}.${table.name} on the publisher are missing on ${node}, and column(s) ${names(r.extra)} exist only on ` +
    `${node}: steep cannot tell a renamed column from a new one here. If ${to!.name} is ${from!.name} renamed, rename it ` +
    `on ${node} (${renameColumnSql(table, from!.name, to!.name)}); if it is a new column, add it on ${node} ` +
    `(${alterTableSql(table, [alterColumn.add(to!)]).replace(/\n\s*/g, ' ')}); then plan again`
  );
}

/**
 * The renames schema sync plans (`schemaSync: auto`) or asks for (`manual`): for `plan` to read whether each subscriber
 * has applied every change from before the rename (catalog/renameApplied.ts, `renamesApplied`).
 */
export function renamesToCheck(topology: Topology, observed: ClusterState) {
  const out: Array<{ d: SubscriptionSpec; table: string; column: string }> = [];
  for (const d of Object.values(topology.subscriptions)) {
    const pub = observed.nodes[d.from];
    const sub = observed.nodes[d.node];
    if (d.schemaSync === 'strict' || !pub?.reachable || !sub?.reachable) continue;
    if (!pub.tableSchemas || !sub.tableSchemas) continue;
    const received = receivedTables(topology, d, pub.tableSchemas, topology.settings.stateSchema, pub);
    for (const [table, columns] of received) {
      const l = pub.tableSchemas.tables[table];
      const r = sub.tableSchemas.tables[table];
      if (!l?.columns || !r?.columns) continue;
      const rename = findRename(withColumns(l), withColumns(r), columns);
      if (rename?.kind === 'rename') out.push({ d, table, column: rename.from.name });
    }
  }
  return out;
}

/** Has the subscriber applied every change from before the rename, as `plan` read it (catalog/renameApplied.ts)? */
export function renameAppliedText(s: SyncInput, column: string): string {
  const a = s.subscriber.renamesApplied?.[s.d.name]?.[s.comparison.table];
  if (a === undefined) return 'not read';
  if (a.state === 'unknown') return `unknown: ${a.why}`;
  const read = `read on ${s.d.from} up to ${a.upto}`;
  return a.state === 'applied'
    ? `yes: no change still to apply names ${column} (${read})`
    : `not yet: changes still to apply name ${column} (${read})`;
}

/** The rename step's reason. */
export function renameReasonText(s: SyncInput, r: { from: TableColumn; to: TableColumn }): string {
  const { d, comparison: c } = s;
  return (
    `column ${r.from.name} of ${c.table} is ${r.to.name} on ${d.from} (the same definition at the same position: ` +
    `renamed), and subscription ${d.name}'s rows carry the new name: it is renamed on ${d.node}, where the old rows keep their ` +
    `values, once ${d.node} has applied every change from before the rename, which still name ${r.from.name} (has it? ` +
    `${renameAppliedText(s, r.from.name)}); apply checks that again right before the rename, waits for it, and renames ` +
    'nothing it cannot prove'
  );
}
