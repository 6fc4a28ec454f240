import { subscriptionAddress } from '../../model/address.js';
import type { Change } from '../../model/plan.js';
import {
  createObjectSql,
  missingObjects,
  OBJECT_KIND_TEXT,
  objectText,
  type TableObject,
} from '../../model/tableObjects.js';
import { stepKey } from '../context.js';
import type { SyncInput } from './schemaSync.js';

/**
 * `schemaSync: auto` carries a table's indexes and constraints (docs/steep-yaml.md, "Indexes
 * and constraints"): those of the publisher's table its subscriber lacks (the same kind and
 * definition under any name counts as had) are built in the table's `sync-schema` step, after
 * its columns: on a table the step creates, before the copy loads it (steep's own copy then
 * builds a big table's indexes after its rows, copy/deferredIndexes.ts; PostgreSQL's `copy_data`
 * loads into them). What cannot be carried exactly is left out, never silently: a warning per
 * table names each object and why (a partitioned table or a partition, a publication column
 * list, a name the subscriber uses for something else, another primary key, a foreign key to a
 * table the subscription does not receive or through a row filter: its rows would not be there
 * to check against).
 */

/** Not under `schema.`: what is left out stays left out, and `steep drift` does not count it again and again. */
export const OBJECTS_LEFT_OUT = 'objects.left-out';

export interface ObjectSync {
  statements: string[];
  /** the steps of the tables its foreign keys reference (planSchemaSync keeps those that exist) */
  references: string[];
  changes: Change[];
  /** what the step builds, for its reason */
  built: TableObject[];
}

/** The indexes and constraints `s`'s table gets on the subscriber (`created`: by this step's CREATE TABLE). */
export function planObjectSync(s: SyncInput, created: boolean): ObjectSync {
  const out: ObjectSync = { statements: [], references: [], changes: [], built: [] };
  const table = s.comparison.table;
  const pub = s.pub.objects?.[table];
  if (!pub || !s.sub.objects) return out;
  const sub = s.sub.objects[table] ?? [];
  // CREATE TABLE declares the primary key
  const missing = missingObjects(pub, sub).filter(
    (o) => !(created && o.kind === 'p' && s.pubTable.primaryKey),
  );
  if (missing.length === 0) return out;
  const leftOut: string[] = [];
  const why = whole(s);
  for (const o of missing) {
    const reason = why ?? objectProblem(s, o, sub);
    if (reason) leftOut.push(`${objectText(o)} (${reason})`);
    else {
      out.built.push(o);
      out.statements.push(createObjectSql(s.pubTable, o));
      if (o.kind === 'f' && o.references && o.references !== table)
        out.references.push(stepKey('table', s.d.node, o.references));
    }
  }
  if (out.built.length > 0)
    out.changes.push({ path: 'indexesAndConstraints', before: null, after: out.built.map(objectText) });
  if (leftOut.length > 0)
    s.ctx.warn(
      OBJECTS_LEFT_OUT,
      `subscription ${s.d.name} (schemaSync: auto) leaves out of ${table} on ${s.d.node} what ${s.d.from} has: ` +
        `${leftOut.join('; ')}; ${s.d.node} is then no complete copy of ${table} (steep switchover refuses while a ` +
        `constraint is missing): create ${leftOut.length > 1 ? 'them' : 'it'} on ${s.d.node} yourself where that is right`,
      { address: subscriptionAddress(s.d.name), node: s.d.node },
    );
  return out;
}

/** Why none of the table's objects is carried, or null. */
function whole(s: SyncInput): string | null {
  const t = s.pubTable;
  if (t.kind === 'p') return 'a partitioned table: steep does not carry its indexes and constraints';
  if (t.partition) return 'a partition: steep does not carry its indexes and constraints';
  if (s.columns !== null) return `${s.d.name} receives ${s.comparison.table} through a column list`;
  return null;
}

/** Why `o` cannot be carried, or null. */
function objectProblem(s: SyncInput, o: TableObject, sub: readonly TableObject[]): string | null {
  const taken = sub.find((x) => x.name === o.name);
  if (taken)
    return `${s.d.node} has a ${OBJECT_KIND_TEXT[taken.kind]} of that name defined otherwise: ${taken.definition}`;
  if (o.kind === 'p' && sub.some((x) => x.kind === 'p')) return `${s.d.node}'s table has another primary key`;
  if (o.kind !== 'f' || o.references === null) return null;
  if (!receives(s, o.references))
    return `it references ${o.references}, which subscription ${s.d.name} does not receive: its rows would not be there to check against`;
  const filtered = [s.comparison.table, o.references].find((t) => rowFiltered(s, t));
  if (filtered)
    return `${s.d.name} receives ${filtered} through a row filter: rows it leaves out may be the ones referenced`;
  return null;
}

function publicationsOf(s: SyncInput) {
  return s.d.publications.map((p) => s.ctx.desired.publications[p]).filter((p) => p !== undefined);
}

/** Whether `d` receives `table` (`schema.name`) from its publisher. */
function receives(s: SyncInput, table: string): boolean {
  const t = s.pub.tables[table];
  if (!t) return false;
  return publicationsOf(s).some(
    (p) =>
      p.allTables ||
      p.schemas.includes(t.schema) ||
      p.tables.some((x) => x.schema === t.schema && x.name === t.name),
  );
}

function rowFiltered(s: SyncInput, table: string): boolean {
  return publicationsOf(s).some((p) =>
    p.tables.some((x) => `${x.schema}.${x.name}` === table && x.where !== null),
  );
}
