import { quoteIdent, quoteTable } from './sql.js';
import type { TableName } from './topology.js';

/**
 * A table's indexes and constraints as the catalog reads them (catalog/queries/tableObjects.ts):
 * what `schemaSync: auto` carries to a subscriber (planner/schema/objectSync.ts) and what
 * `steep switchover` compares between the two nodes (planner/switchover/objectChecks.ts).
 * Definitions are PostgreSQL's own text, printed with names schema-qualified, so the same
 * object reads the same on every node; two objects are the same when their kind and definition
 * are (an index's own name left out): a name differing between nodes is no difference.
 */

/**
 * `index` an index behind no constraint, `unique-index` a unique one; the constraints by their
 * contype: p primary key, u unique, c check, x exclusion, f foreign key (NOT NULL is a column's)
 */
export type TableObjectKind = 'index' | 'unique-index' | 'p' | 'u' | 'c' | 'x' | 'f';

export interface TableObject {
  name: string;
  kind: TableObjectKind;
  /** pg_get_indexdef (the whole CREATE INDEX) or pg_get_constraintdef */
  definition: string;
  /** a foreign key's referenced table, `schema.name`; null otherwise */
  references: string | null;
}

export const OBJECT_KIND_TEXT: Record<TableObjectKind, string> = {
  index: 'index',
  'unique-index': 'unique index',
  p: 'primary key',
  u: 'unique constraint',
  c: 'check constraint',
  x: 'exclusion constraint',
  f: 'foreign key',
};

/** The order a table's objects are built in: indexes, then the constraints a foreign key may reference, checks, foreign keys. */
const BUILD_ORDER: Record<TableObjectKind, number> = {
  p: 0,
  u: 1,
  x: 2,
  'unique-index': 3,
  index: 4,
  c: 5,
  f: 6,
};

/** What makes two objects the same: kind and definition, an index's own name left out. */
export function objectKey(o: TableObject): string {
  const def =
    o.kind === 'index' || o.kind === 'unique-index'
      ? o.definition.replace(/^(CREATE (?:UNIQUE )?INDEX )(?:"(?:[^"]|"")*"|\S+) ON /, '$1ON ')
      : o.definition;
  return `${o.kind} ${def}`;
}

/** `unique constraint so_parent_v_key UNIQUE (v)`, `index so_parent_n_idx (CREATE INDEX …)` */
export function objectText(o: TableObject): string {
  return o.kind === 'index' || o.kind === 'unique-index'
    ? `${OBJECT_KIND_TEXT[o.kind]} ${o.name} (${o.definition})`
    : `${OBJECT_KIND_TEXT[o.kind]} ${o.name} ${o.definition}`;
}

/** Whether PostgreSQL enforces something with it (every kind but a plain index, which only speeds reads up). */
export function enforces(o: TableObject): boolean {
  return o.kind !== 'index';
}

/** The objects of `left` that `right` lacks (by `objectKey`), in build order, then by name. */
export function missingObjects(left: readonly TableObject[], right: readonly TableObject[]): TableObject[] {
  const have = new Set(right.map(objectKey));
  return left
    .filter((o) => !have.has(objectKey(o)))
    .sort(
      (a, b) => BUILD_ORDER[a.kind] - BUILD_ORDER[b.kind] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
}

/** The statement that builds `o` on `table`: its CREATE INDEX, or ALTER TABLE ONLY … ADD CONSTRAINT. */
export function createObjectSql(table: TableName, o: TableObject): string {
  if (o.kind === 'index' || o.kind === 'unique-index') return o.definition;
  return `ALTER TABLE ONLY ${quoteTable(table)} ADD CONSTRAINT ${quoteIdent(o.name)} ${o.definition}`;
}
