import type { ObservedNode, ObservedPublication } from '../model/cluster.js';
import { formatOwnership } from '../model/ownership.js';
import type { Change, Hazard, Statement } from '../model/plan.js';
import { displayTable } from '../model/sql.js';
import {
  type GeneratedColumns,
  type PublicationSpec,
  type PublicationTable,
  qualifiedName,
} from '../model/topology.js';
import { adoptionWords, desiredComment, reportUnmanaged } from './adopt.js';
import {
  compareText,
  declaredText,
  listText,
  PHASE,
  type PlanContext,
  sameJson,
  sortedKeys,
  stepKey,
} from './context.js';
import {
  effectiveGeneratedColumns,
  GENERATED_COLUMNS_MIN_VERSION,
  majorVersion,
  PUBLICATION_FILTERS_MIN_VERSION,
} from './defaults.js';
import { publicationDigest } from './digest.js';
import { changedOutsideSteep, recordDrift } from './drift.js';
import { storedTables } from './publishedRelations.js';
import {
  alterPublicationParametersSql,
  commentOnSql,
  createPublicationSql,
  dropPublicationSql,
  type PublicationParameters,
  setPublicationObjectsSql,
  tx,
} from './sqlBuild.js';

/**
 * Publications: create, update in place (one atomic `SET TABLE …` for tables, schemas, row
 * filters and column lists; `SET (…)` for the parameters), replace only for allTables ↔ a
 * list, delete what this topology manages and the file no longer declares.
 */

export function publicationAddress(name: string): string {
  return `publication.${name}`;
}

/** `node/publication`, the key of `PublicationsOutcome.membershipChanged`. */
export function publicationRef(node: string, name: string): string {
  return `${node}/${name}`;
}

/** What planning the publications tells the subscriptions' planning. */
export interface PublicationsOutcome {
  /** `node/publication` (publicationRef) whose set of published tables changes in this plan: subscribers refresh */
  membershipChanged: ReadonlySet<string>;
}

interface Run {
  /** addresses with an object-level error: no step is planned for them */
  blocked: Set<string>;
  membershipChanged: Set<string>;
}

export function planPublications(ctx: PlanContext): PublicationsOutcome {
  const run: Run = { blocked: new Set(), membershipChanged: new Set() };
  const topology = ctx.desired.topology;
  for (const node of ctx.reachableNodes()) {
    for (const name of sortedKeys(node.publications)) {
      const o = node.publications[name]!;
      const d = ctx.desired.publications[name];
      const inFile = d?.node === node.name;
      const address = publicationAddress(name);
      if (o.managedBy && o.managedBy.topology !== topology) {
        // another topology's object: an error only when this file claims it (no takeover);
        // otherwise it is reported like any object this file does not manage, and left alone
        if (inFile) {
          ctx.error(
            'foreign-owner',
            `publication ${name} on ${node.name} is managed by steep topology ${o.managedBy.topology}, not ${topology}: ` +
              `steep does not take over another topology's objects; manage it from that topology's file or remove it from this one`,
            { address, node: node.name },
          );
          run.blocked.add(address);
        } else reportUnmanaged(ctx, node.name, 'publication', name, o.managedBy);
        continue;
      }
      if (inFile) continue;
      if (!o.managedBy) reportUnmanaged(ctx, node.name, 'publication', name, null);
      else planPublicationDelete(ctx, node, o);
    }
  }
  for (const name of sortedKeys(ctx.desired.publications)) {
    planDesiredPublication(ctx, run, ctx.desired.publications[name]!);
  }
  return { membershipChanged: run.membershipChanged };
}

// ---------------------------------------------------------------------------------------------

function sortTables(tables: readonly PublicationTable[]): PublicationTable[] {
  return [...tables]
    .map((t) => ({ ...t, columns: t.columns ? [...t.columns].sort(compareText) : null }))
    .sort((a, b) => compareText(a.schema, b.schema) || compareText(a.name, b.name));
}

function tableNames(tables: readonly PublicationTable[]): string[] {
  return tables.map(displayTable);
}

/** The desired row filter as PostgreSQL prints it (looked up by the catalog), else as written. */
function normalisedFilter(node: ObservedNode, t: PublicationTable): string | null {
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

function versionText(node: ObservedNode): string {
  return `${node.name} runs PostgreSQL ${node.serverVersionText || majorVersion(node.serverVersion)}`;
}

/** Version gates and row filters PostgreSQL refused: plan errors; false when the publication cannot be planned. */
function checkPublication(ctx: PlanContext, d: PublicationSpec, node: ObservedNode): boolean {
  const address = publicationAddress(d.name);
  const where = { address, node: node.name };
  let ok = true;
  const v = node.serverVersion;
  if (v < PUBLICATION_FILTERS_MIN_VERSION) {
    const need = majorVersion(PUBLICATION_FILTERS_MIN_VERSION);
    for (const t of d.tables) {
      if (t.columns) {
        ok = false;
        ctx.error(
          'unsupported-option',
          `publication ${d.name}: a column list (tables: ${displayTable(t)}) needs PostgreSQL ${need} or later; ${versionText(node)}`,
          where,
        );
      }
      if (t.where !== null) {
        ok = false;
        ctx.error(
          'unsupported-option',
          `publication ${d.name}: a row filter (tables: ${displayTable(t)} where) needs PostgreSQL ${need} or later; ${versionText(node)}`,
          where,
        );
      }
    }
    if (d.schemas.length > 0) {
      ok = false;
      ctx.error(
        'unsupported-option',
        `publication ${d.name}: schemas (FOR TABLES IN SCHEMA) need PostgreSQL ${need} or later; ${versionText(node)}`,
        where,
      );
    }
  }
  if (v < GENERATED_COLUMNS_MIN_VERSION && d.generatedColumns === 'stored') {
    ok = false;
    ctx.error(
      'unsupported-option',
      `publication ${d.name}: generatedColumns needs PostgreSQL ${majorVersion(GENERATED_COLUMNS_MIN_VERSION)} or later; ${versionText(node)}`,
      where,
    );
  }
  for (const t of d.tables) {
    if (t.where === null) continue;
    const refused = node.rowFilterErrors[qualifiedName(t)]?.[t.where];
    if (refused !== undefined) {
      ok = false;
      ctx.error(
        'row-filter',
        `${node.name}: PostgreSQL refuses the row filter of ${displayTable(t)} in publication ${d.name} (${t.where}): ${refused}; ` +
          'write it as one boolean expression over the columns of the table',
        where,
      );
    }
  }
  return ok;
}

export interface PublicationShape {
  allTables: boolean;
  tables: PublicationTable[];
  schemas: string[];
  publish: string[];
  viaPartitionRoot: boolean;
  generatedColumns: GeneratedColumns | null;
}

/** Every attribute as a change from nothing (create) or to nothing (delete). */
function shapeChanges(p: PublicationShape, side: 'before' | 'after'): Change[] {
  const value = (path: string, v: unknown): Change =>
    side === 'after' ? { path, before: null, after: v } : { path, before: v, after: null };
  const out: Change[] = [value('allTables', p.allTables), value('tables', tableNames(p.tables))];
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

function planDesiredPublication(ctx: PlanContext, run: Run, spec: PublicationSpec): void {
  const node = ctx.node(spec.node);
  const address = publicationAddress(spec.name);
  if (!node || run.blocked.has(address)) return;
  if (!checkPublication(ctx, spec, node)) {
    run.blocked.add(address);
    return;
  }
  const d = desiredShape(spec, node);
  // the statements name the tables as the file does (ONLY, filters as written)
  const written = { ...d, tables: spec.allTables ? [] : sortTables(spec.tables) };
  const params: PublicationParameters = {
    publish: spec.publish,
    viaPartitionRoot: d.viaPartitionRoot,
    generatedColumns: d.generatedColumns,
  };
  const comment = formatOwnership({ topology: ctx.desired.topology, protect: spec.protect });
  const createStatements: Statement[] = [
    tx(createPublicationSql(spec.name, written, params)),
    tx(commentOnSql('PUBLICATION', spec.name, comment)),
  ];
  const key = stepKey('publication', node.name, spec.name);
  const o = node.publications[spec.name];

  if (!o) {
    run.membershipChanged.add(publicationRef(node.name, spec.name));
    ctx.addStep({
      key,
      phase: PHASE.publication,
      address,
      node: node.name,
      kind: 'publication-create',
      action: 'create',
      reason: 'absent',
      reasonText: `${declaredText(spec)}, absent on ${node.name}`,
      changes: shapeChanges(written, 'after'),
      statements: createStatements,
      hazards: [],
      deps: [],
      catalogDigest: publicationDigest(null),
    });
    return;
  }

  const observed = observedShape(o, node.serverVersion);
  const changes: Change[] = [];
  const replace = d.allTables !== observed.allTables;
  if (replace) changes.push({ path: 'allTables', before: observed.allTables, after: d.allTables });

  let objectsChanged = false;
  let membershipChanged = replace;
  const filterChanged: string[] = [];
  const before = tableNames(observed.tables);
  const after = tableNames(d.tables);
  if (!sameJson(before, after)) {
    changes.push({ path: 'tables', before, after });
    objectsChanged = true;
    membershipChanged = true;
  }
  const observedByName = new Map(observed.tables.map((t) => [qualifiedName(t), t]));
  const writtenWhere = new Map(spec.tables.map((t) => [qualifiedName(t), t.where]));
  for (const t of d.tables) {
    const ot = observedByName.get(qualifiedName(t));
    if (!ot) continue;
    const qn = displayTable(t);
    if (!sameJson(t.columns, ot.columns)) {
      changes.push({ path: `tables[${qn}].columns`, before: ot.columns, after: t.columns });
      objectsChanged = true;
      filterChanged.push(qn);
    }
    if (t.where !== ot.where) {
      changes.push({
        path: `tables[${qn}].where`,
        before: ot.where,
        after: writtenWhere.get(qualifiedName(t)) ?? t.where,
      });
      objectsChanged = true;
      if (!filterChanged.includes(qn)) filterChanged.push(qn);
    }
  }
  if (!sameJson(observed.schemas, d.schemas)) {
    changes.push({ path: 'schemas', before: observed.schemas, after: d.schemas });
    objectsChanged = true;
    membershipChanged = true;
  }
  const changedParams: PublicationParameters = {};
  if (!sameJson(observed.publish, d.publish)) {
    changes.push({ path: 'publish', before: observed.publish, after: d.publish });
    changedParams.publish = spec.publish;
  }
  if (observed.viaPartitionRoot !== d.viaPartitionRoot) {
    changes.push({ path: 'viaPartitionRoot', before: observed.viaPartitionRoot, after: d.viaPartitionRoot });
    changedParams.viaPartitionRoot = d.viaPartitionRoot;
    // partitions ↔ their root: what a subscriber receives changes shape
    membershipChanged = true;
  }
  if (observed.generatedColumns !== d.generatedColumns) {
    changes.push({ path: 'generatedColumns', before: observed.generatedColumns, after: d.generatedColumns });
    changedParams.generatedColumns = d.generatedColumns;
  }
  const adopted = o.managedBy === null;
  const ownComment = desiredComment(o.comment, comment);
  const commentChanged = o.comment !== ownComment;
  if (commentChanged) changes.push({ path: 'comment', before: o.comment, after: ownComment });
  if (changes.length === 0) return;

  // being adopted is not drift; a managed object changed outside steep is
  const byHand = !adopted && changedOutsideSteep(node, address, publicationDigest(o));
  if (byHand) recordDrift(ctx, address, changes, false);
  if (membershipChanged) run.membershipChanged.add(publicationRef(node.name, spec.name));

  if (replace) {
    if (spec.protect) {
      ctx.error(
        'protected',
        `publication ${spec.name} on ${node.name} is protected, cannot replace: allTables cannot change in place ` +
          'and steep will not drop a protected publication; set protect: false to allow it',
        { address, node: node.name },
      );
      return;
    }
    ctx.addStep({
      key,
      phase: PHASE.publication,
      address,
      node: node.name,
      kind: 'publication-create',
      action: 'replace',
      reason: 'cannot-alter',
      reasonText:
        `allTables changes from ${observed.allTables} to ${d.allTables}, which PostgreSQL cannot alter in place: ` +
        `the publication is dropped and created again on ${node.name}`,
      changes,
      statements: [tx(dropPublicationSql(spec.name)), ...createStatements],
      hazards: ['drops-object'],
      deps: [],
      catalogDigest: publicationDigest(o),
    });
    return;
  }

  // PostgreSQL refuses a row filter or column list on a partitioned table while
  // publish_via_partition_root is false, and refuses to turn it off while one is there: turning
  // it on comes before the tables, turning it off after them
  const statements: Statement[] = [];
  const objects = objectsChanged ? [tx(setPublicationObjectsSql(spec.name, written, observed))] : [];
  const parameters =
    Object.keys(changedParams).length > 0
      ? [tx(alterPublicationParametersSql(spec.name, changedParams))]
      : [];
  if (changedParams.viaPartitionRoot === true) statements.push(...parameters, ...objects);
  else statements.push(...objects, ...parameters);
  if (commentChanged) statements.push(tx(commentOnSql('PUBLICATION', spec.name, ownComment)));

  if (filterChanged.length > 0) warnNoRecopy(ctx, spec, filterChanged);

  const paths = changes.map((c) => c.path);
  const attributes = paths.filter((p) => p !== 'comment');
  const words = adopted
    ? adoptionWords(node.name, o.comment, attributes)
    : {
        action: 'update' as const,
        reason: byHand ? ('drifted' as const) : ('config-changed' as const),
        reasonText: byHand
          ? `differs from steep.yaml on ${node.name}: ${listText(paths)}`
          : `steep.yaml changes ${listText(paths)} on ${node.name}`,
      };
  ctx.addStep({
    key,
    phase: PHASE.publication,
    address,
    node: node.name,
    kind: 'publication-alter',
    ...words,
    changes,
    statements,
    hazards: [],
    deps: [],
    catalogDigest: publicationDigest(o),
  });
}

/** A row-filter or column-list change is not re-copied: name `steep reinit` for every subscriber. */
function warnNoRecopy(ctx: PlanContext, spec: PublicationSpec, tables: string[]): void {
  const address = publicationAddress(spec.name);
  const receivers = sortedKeys(ctx.desired.subscriptions)
    .map((n) => ctx.desired.subscriptions[n]!)
    .filter((s) => s.from === spec.node && s.publications.includes(spec.name));
  const list = [...tables].sort(compareText);
  if (receivers.length === 0) {
    ctx.warn(
      'no-recopy',
      `publication ${spec.name} changes the row filter or column list of ${listText(list)}: rows already copied to a subscriber are not re-copied`,
      { address, node: spec.node },
    );
    return;
  }
  for (const s of receivers) {
    ctx.warn(
      'no-recopy',
      `publication ${spec.name} changes the row filter or column list of ${listText(list)}: PostgreSQL does not re-copy ` +
        `rows subscription ${s.name} already has; run steep reinit ${s.name} --tables ${list.join(',')} to resynchronise them`,
      { address, node: spec.node },
    );
  }
}

/** Keys of the steps (update or drop) of every observed subscription that subscribes to node/name. */
function subscriptionKeysUsing(ctx: PlanContext, node: string, name: string): string[] {
  const keys: string[] = [];
  for (const n of ctx.reachableNodes()) {
    for (const s of sortedKeys(n.subscriptions)) {
      const sub = n.subscriptions[s]!;
      if (sub.from === node && sub.publications.includes(name)) {
        keys.push(stepKey('subscription', n.name, s), stepKey('subscription-drop', n.name, s));
      }
    }
  }
  return keys;
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

function planPublicationDelete(ctx: PlanContext, node: ObservedNode, o: ObservedPublication): void {
  const address = publicationAddress(o.name);
  const topology = ctx.desired.topology;
  const moved = ctx.desired.publications[o.name];
  if (moved?.protect) {
    // the file still declares it, protected, on another node: moving it drops this one
    ctx.error(
      'protected',
      `publication ${o.name} is protected, cannot replace: steep.yaml declares it on ${moved.node}, which would drop it on ` +
        `${node.name}; set protect: false to allow the move`,
      { address, node: node.name },
    );
    return;
  }
  if (o.managedBy?.protect) {
    ctx.error(
      'protected',
      `publication ${o.name} on ${node.name} is protected (steep's marker records protect: true), so steep will not drop it; ` +
        'to drop it, declare it again with protect: false, apply, then remove it',
      { address, node: node.name },
    );
    return;
  }
  const shape = observedShape(o, node.serverVersion);
  // subscriptions that keep using it after this plan
  const users: string[] = [];
  for (const n of ctx.reachableNodes()) {
    for (const s of sortedKeys(n.subscriptions)) {
      const sub = n.subscriptions[s]!;
      if (sub.from !== node.name || !sub.publications.includes(o.name)) continue;
      const d = ctx.desired.subscriptions[s];
      const keeps =
        d?.node === n.name
          ? d.from === node.name && d.publications.includes(o.name)
          : !sub.managedBy || sub.managedBy.topology !== topology;
      if (keeps) users.push(`${s} on ${n.name}`);
    }
  }
  if (users.length > 0) {
    ctx.warn(
      'publication-in-use',
      `publication ${o.name} on ${node.name} is dropped while subscription ${listText(users)} still subscribes to it: ` +
        'it will fail until its publication list no longer names it',
      { address, node: node.name },
    );
  }
  const hazards: Hazard[] = ['drops-object'];
  ctx.addStep({
    key: stepKey('publication-drop', node.name, o.name),
    phase: PHASE.publicationDrop,
    address,
    node: node.name,
    kind: 'publication-drop',
    action: 'delete',
    reason: 'removed-from-config',
    reasonText: `managed by steep (topology ${topology}) on ${node.name} and no longer in steep.yaml`,
    changes: shapeChanges(shape, 'before'),
    statements: [tx(dropPublicationSql(o.name))],
    hazards,
    deps: subscriptionKeysUsing(ctx, node.name, o.name),
    catalogDigest: publicationDigest(o),
  });
}
