import type { ObservedNode, ObservedPublication } from '../../model/cluster.js';
import { compareText } from '../../model/order.js';
import type { Change } from '../../model/plan.js';
import { displayTable } from '../../model/sql.js';
import {
  type PublicationDef,
  type PublicationSpec,
  type PublicationTable,
  qualifiedName,
} from '../../model/topology.js';
import { GENERATED_COLUMNS_MIN_VERSION } from '../../model/versions.js';
import { sameJson } from '../context.js';
import { effectiveGeneratedColumns } from '../defaults.js';
import type { PublicationParameters } from '../sqlBuild.js';
import { storedTables } from './publishedRelations.js';

/**
 * What differs about a publication: the file's and the node's publication in one comparable
 * shape (`PublicationShape`), and the typed difference between them (`PublicationDiff`), from
 * which `publications.ts` writes the statements and the reason.
 */

export type PublicationShape = Omit<PublicationDef, 'name' | 'node'>;

export function sortTables(tables: readonly PublicationTable[]): PublicationTable[] {
  return [...tables]
    .map((t) => ({ ...t, columns: t.columns ? [...t.columns].sort(compareText) : null }))
    .sort((a, b) => compareText(a.schema, b.schema) || compareText(a.name, b.name));
}

/** The desired row filter as PostgreSQL prints it (looked up by the catalog), else as written. */
export function normalisedFilter(node: ObservedNode, t: PublicationTable): string | null {
  if (t.where === null) return null;
  return node.rowFilters[qualifiedName(t)]?.[t.where] ?? t.where;
}

/**
 * The publication as PostgreSQL will store it on `node`: row filters as it prints them, the
 * inheritance children of a table without `only` added (storedTables), so a converged
 * publication compares equal.
 */
export function desiredShape(spec: PublicationSpec, node: ObservedNode): PublicationShape {
  const normalised = spec.tables.map((t) => ({ ...t, where: normalisedFilter(node, t) }));
  return {
    allTables: spec.allTables,
    tables: spec.allTables ? [] : sortTables(storedTables(normalised, node.tables)),
    schemas: spec.allTables ? [] : [...spec.schemas].sort(compareText),
    publish: [...spec.publish],
    viaPartitionRoot: spec.viaPartitionRoot,
    generatedColumns: effectiveGeneratedColumns(spec.generatedColumns, node.serverVersion),
  };
}

/** A publication as the node holds it, in the shape the file's publications are compared in. */
export function observedShape(o: ObservedPublication, serverVersion: number): PublicationShape {
  return {
    allTables: o.allTables,
    tables: sortTables(o.tables),
    schemas: [...o.schemas].sort(compareText),
    publish: [...o.publish],
    viaPartitionRoot: o.viaPartitionRoot,
    generatedColumns: serverVersion >= GENERATED_COLUMNS_MIN_VERSION ? o.generatedColumns : null,
  };
}

/** Every attribute as a change from nothing (create) or to nothing (delete). */
export function shapeChanges(p: PublicationShape, side: 'before' | 'after'): Change[] {
  const value = (path: string, v: unknown): Change =>
    side === 'after' ? { path, before: null, after: v } : { path, before: v, after: null };
  const out: Change[] = [value('allTables', p.allTables), value('tables', p.tables.map(displayTable))];
  for (const t of p.tables) {
    if (t.columns) out.push(value(`tables[${displayTable(t)}].columns`, t.columns));
    if (t.where !== null) out.push(value(`tables[${displayTable(t)}].where`, t.where));
  }
  out.push(
    value('schemas', p.schemas),
    value('publish', p.publish),
    value('viaPartitionRoot', p.viaPartitionRoot),
  );
  if (p.generatedColumns !== null) out.push(value('generatedColumns', p.generatedColumns));
  return out;
}

/**
 * How an existing publication differs from the file: every attribute that differs (file against
 * node, in the plan's order); `replace` when allTables does (PostgreSQL cannot alter it, only a
 * drop and a create change it); `objectsChanged` when tables, schemas, a column list or a row
 * filter do (one `SET TABLE …` sets them all); `membershipChanged` when what a subscriber receives
 * does (subscribers refresh); `filterChanged`: the tables whose column list or row filter changes
 * (rows already copied are not re-copied); the parameters `SET (…)` sets; the comment steep sets.
 */
export type PublicationDiff = ReturnType<typeof diffPublication>;

/**
 * `d`: the file's publication as the node will store it; `observed`: the node's; `comment`:
 * the comment it should carry. Row filters are compared as PostgreSQL prints them and shown as
 * the file writes them.
 */
export function diffPublication(
  spec: PublicationSpec,
  d: PublicationShape,
  observed: PublicationShape,
  observedComment: string | null,
  comment: string,
) {
  const changes: Change[] = [];
  const replace = d.allTables !== observed.allTables;
  if (replace) changes.push({ path: 'allTables', before: observed.allTables, after: d.allTables });

  const filterChanged: string[] = [];
  const before = observed.tables.map(displayTable);
  const after = d.tables.map(displayTable);
  if (!sameJson(before, after)) {
    changes.push({ path: 'tables', before, after });
  }
  const observedByName = new Map(observed.tables.map((t) => [qualifiedName(t), t]));
  const writtenWhere = new Map(spec.tables.map((t) => [qualifiedName(t), t.where]));
  for (const t of d.tables) {
    const ot = observedByName.get(qualifiedName(t));
    if (!ot) continue;
    const qn = displayTable(t);
    if (!sameJson(t.columns, ot.columns)) {
      changes.push({ path: `tables[${qn}].columns`, before: ot.columns, after: t.columns });
      filterChanged.push(qn);
    }
    if (t.where !== ot.where) {
      changes.push({
        path: `tables[${qn}].where`,
        before: ot.where,
        after: writtenWhere.get(qualifiedName(t)) ?? t.where,
      });
      if (!filterChanged.includes(qn)) filterChanged.push(qn);
    }
  }
  if (!sameJson(observed.schemas, d.schemas)) {
    changes.push({ path: 'schemas', before: observed.schemas, after: d.schemas });
  }
  const params: PublicationParameters = {};
  if (!sameJson(observed.publish, d.publish)) {
    changes.push({ path: 'publish', before: observed.publish, after: d.publish });
    params.publish = spec.publish;
  }
  if (observed.viaPartitionRoot !== d.viaPartitionRoot) {
    changes.push({ path: 'viaPartitionRoot', before: observed.viaPartitionRoot, after: d.viaPartitionRoot });
    params.viaPartitionRoot = d.viaPartitionRoot;
  }
  if (observed.generatedColumns !== d.generatedColumns) {
    changes.push({ path: 'generatedColumns', before: observed.generatedColumns, after: d.generatedColumns });
    params.generatedColumns = d.generatedColumns;
  }
  const paths = changes.map((c) => c.path);
  const objectsChanged = paths.some((p) => p === 'tables' || p === 'schemas' || p.startsWith('tables['));
  // viaPartitionRoot: partitions ↔ their root, what a subscriber receives changes shape
  const membershipChanged = paths.some((p) =>
    ['allTables', 'tables', 'schemas', 'viaPartitionRoot'].includes(p),
  );
  const commentChanged = observedComment !== comment;
  if (commentChanged) changes.push({ path: 'comment', before: observedComment, after: comment });
  return {
    changes,
    replace,
    objectsChanged,
    membershipChanged,
    filterChanged,
    params,
    comment,
    commentChanged,
  };
}
