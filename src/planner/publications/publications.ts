/**
 * Publications: create, update in place (one atomic `SET TABLE …` for tables, schemas, row
 * filters and column lists; `SET (…)` for the parameters), replace only for allTables ↔ a
 * list, delete what this topology manages and the file no longer declares. What differs is
 * `publicationDiff.ts`; here the statements and the reason of each step; the fate of observed
 * publications and `protect` are the skeleton in `managedObjects.ts`.
 */

import { type Address, publicationAddress } from '../../model/address.js';
import type { ObservedNode, ObservedPublication } from '../../model/cluster.js';
import { gatedGaps } from '../../model/continuity.js';
import { commentWithMarker, formatOwnership } from '../../model/ownership.js';
import type { Statement } from '../../model/plan.js';
import { displayTable } from '../../model/sql.js';
import { type PublicationSpec, qualifiedName } from '../../model/topology.js';
import {
  GENERATED_COLUMNS_MIN_VERSION,
  majorVersion,
  PUBLICATION_FILTERS_MIN_VERSION,
  runsVersionText,
} from '../../model/versions.js';
import { adoptionWords, type StepWords } from '../adopt.js';
import {
  type DraftStep,
  declaredText,
  listText,
  PHASE,
  type PlanContext,
  sortedKeys,
  stepKey,
} from '../context.js';
import { publicationDigest } from '../digest.js';
import { recordDrift } from '../drift.js';
import { type ManagedDrop, mayReplace, planObservedObjects } from '../managedObjects.js';
import { renamePart, renameWords } from '../renameStep.js';
import type { Rename } from '../renames.js';
import {
  alterPublicationParametersSql,
  commentOnSql,
  createPublicationSql,
  dropPublicationSql,
  setPublicationObjectsSql,
  tx,
} from '../sqlBuild.js';
import { heldTableGaps } from './heldTableGaps.js';
import { refuseStuckReaders, slotsToCatchUp } from './publicationCatchUp.js';
import {
  desiredShape,
  diffPublication,
  observedShape,
  type PublicationDiff,
  type PublicationShape,
  shapeChanges,
  sortTables,
} from './publicationDiff.js';
import { rejoiningTables, rejoiningText } from './rejoiningTables.js';

/** `node/publication`, the key of `SubscriptionInputs.membershipChanged`. */
export function publicationRef(node: string, name: string): string {
  return `${node}/${name}`;
}

/**
 * `renames`: publications renamed in place, by new name (`renames.ts`); `leftAlone`: publications
 * (publicationRef) a warning of their own accounts for, an unfinished reinit's temporary ones.
 * Returns what the subscriptions' planning needs: the publications whose published tables change
 * (publicationRef).
 */
export function planPublications(
  ctx: PlanContext,
  renames: ReadonlyMap<string, Rename>,
  leftAlone: ReadonlySet<string>,
): ReadonlySet<string> {
  const blocked = planObservedObjects(ctx, 'publication', publicationDrop, leftAlone);
  const membershipChanged = new Set<string>();
  for (const name of sortedKeys(ctx.desired.publications)) {
    const spec = ctx.desired.publications[name]!;
    const node = ctx.node(spec.node);
    if (!node || blocked.has(publicationAddress(spec.name)) || !checkPublication(ctx, spec, node)) continue;
    if (planDesiredPublication(ctx, spec, node, renames.get(name)))
      membershipChanged.add(publicationRef(node.name, spec.name));
  }
  return membershipChanged;
}

// ---------------------------------------------------------------------------------------------

/** Version gates and row filters PostgreSQL refused: plan errors; false when the publication cannot be planned. */
function checkPublication(ctx: PlanContext, d: PublicationSpec, node: ObservedNode): boolean {
  const where = { address: publicationAddress(d.name), node: node.name };
  let ok = true;
  /** `what` (`… needs`) is in the file, and the node runs a version before `since` */
  const gate = (used: boolean, since: number, what: string) => {
    if (!used || node.serverVersion >= since) return;
    ok = false;
    ctx.error(
      'unsupported-option',
      `publication ${d.name}: ${what} PostgreSQL ${majorVersion(since)} or later; ${runsVersionText(node)}`,
      where,
    );
  };
  const filters = PUBLICATION_FILTERS_MIN_VERSION;
  for (const t of d.tables) {
    gate(t.columns !== null, filters, `a column list (tables: ${displayTable(t)}) needs`);
    gate(t.where !== null, filters, `a row filter (tables: ${displayTable(t)} where) needs`);
  }
  gate(d.schemas.length > 0, filters, 'schemas (FOR TABLES IN SCHEMA) need');
  gate(d.generatedColumns === 'stored', GENERATED_COLUMNS_MIN_VERSION, 'generatedColumns needs');
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

/** The step of the file's publication on its node, if any; true when what its subscribers receive changes. */
function planDesiredPublication(
  ctx: PlanContext,
  spec: PublicationSpec,
  node: ObservedNode,
  renamed: Rename | undefined,
): boolean {
  const address: Address = { kind: 'publication', name: spec.name };
  const d = desiredShape(spec, node);
  // the statements name the tables as the file does (ONLY, filters as written)
  const written = { ...d, tables: spec.allTables ? [] : sortTables(spec.tables) };
  const marker = formatOwnership({ topology: ctx.desired.topology, protect: spec.protect });
  const add = (step: Omit<DraftStep, 'key' | 'phase' | 'address' | 'node' | 'deps'>) =>
    ctx.steps.push({
      key: stepKey('publication', node.name, spec.name),
      phase: PHASE.publication,
      address,
      node: node.name,
      deps: [],
      ...step,
    });
  const o = node.publications[spec.name];

  if (!o) {
    const readers = slotsToCatchUp(ctx, spec);
    refuseStuckReaders(ctx, spec.node, readers, address, [spec.name]);
    const waits =
      readers.length > 0
        ? `; then waits until ${listText(readers.map((r) => r.subscription))} ${readers.length === 1 ? 'has' : 'have'} confirmed a position past its creation, ` +
          'before any subscription reads it (a change decoded before it would be lost)'
        : '';
    add({
      kind: 'publication-create',
      action: 'create',
      reason: 'absent',
      reasonText: `${declaredText(spec)}, absent on ${node.name}${waits}`,
      changes: shapeChanges(written, 'after'),
      statements: createStatements(spec.name, written, marker),
      ...(readers.length > 0
        ? { catchUpAfter: { publication: spec.name, slots: readers.map((r) => r.slot) } }
        : {}),
      hazards: [],
      catalogDigest: publicationDigest(null),
    });
    return true;
  }

  const observed = observedShape(o, node.serverVersion);
  const diff = diffPublication(spec, d, observed, o.comment, commentWithMarker(o.comment, marker));
  if (diff.changes.length === 0 && !renamed) return false;

  const byHand = recordDrift(ctx, node, address, o, renamed, diff.changes, publicationDigest);

  if (diff.replace && renamed) {
    ctx.error(
      'rename.replace',
      `publication ${spec.name}: renamed from ${renamed.from}, but allTables also changes, which only a drop and a create do; rename it first, apply, then change allTables`,
      { address, node: node.name },
    );
    return diff.membershipChanged;
  }
  if (diff.replace) {
    if (mayReplace(ctx, 'publication', spec, node.name, address, 'allTables cannot change in place'))
      add({
        kind: 'publication-create',
        action: 'replace',
        reason: 'cannot-alter',
        reasonText:
          `allTables changes from ${observed.allTables} to ${d.allTables}, which PostgreSQL cannot alter in place: ` +
          `the publication is dropped and created again on ${node.name}`,
        changes: diff.changes,
        statements: [tx(dropPublicationSql(spec.name)), ...createStatements(spec.name, written, marker)],
        hazards: ['drops-object'],
        catalogDigest: publicationDigest(o),
      });
    return diff.membershipChanged;
  }

  const gate = gatedGaps(heldTableGaps(ctx, spec, node, diff.filterChanged));
  const words = alterWords(node, o, diff, byHand);
  const rename = renamed ? renamePart(ctx, 'publication', renamed) : undefined;
  const named = rename ? renameWords(rename, diff.changes, words, false) : words;
  const rejoining = rejoiningTables(ctx, spec.name, node, written.tables);
  add({
    kind: 'publication-alter',
    ...named,
    ...(rejoining.length > 0
      ? { reasonText: `${named.reasonText}; ${rejoiningText(spec.name, rejoining)}` }
      : {}),
    changes: [...(rename ? [rename.change] : []), ...diff.changes, ...gate.changes],
    statements: [...(rename?.statements ?? []), ...alterStatements(spec.name, written, observed, diff)],
    hazards: rejoining.length > 0 || gate.hazards.length > 0 ? ['data-gap'] : [],
    catalogDigest: publicationDigest(o),
  });
  return diff.membershipChanged;
}

function createStatements(name: string, written: PublicationShape, marker: string): Statement[] {
  return [tx(createPublicationSql(name, written)), tx(commentOnSql('PUBLICATION', name, marker))];
}

/**
 * The in-place alter. PostgreSQL refuses a row filter or column list on a partitioned table
 * while publish_via_partition_root is false, and refuses to turn it off while one is there:
 * turning it on comes before the tables, turning it off after them.
 */
function alterStatements(
  name: string,
  written: PublicationShape,
  observed: PublicationShape,
  diff: PublicationDiff,
): Statement[] {
  const objects = diff.objectsChanged ? [tx(setPublicationObjectsSql(name, written, observed))] : [];
  const parameters =
    Object.keys(diff.params).length > 0 ? [tx(alterPublicationParametersSql(name, diff.params))] : [];
  return [
    ...(diff.params.viaPartitionRoot === true ? [...parameters, ...objects] : [...objects, ...parameters]),
    ...(diff.commentChanged ? [tx(commentOnSql('PUBLICATION', name, diff.comment))] : []),
  ];
}

/** The action and reason of an in-place alter: an adoption, drift, or the file changed. */
function alterWords(
  node: ObservedNode,
  o: ObservedPublication,
  diff: PublicationDiff,
  byHand: boolean,
): StepWords {
  const paths = diff.changes.map((c) => c.path);
  if (o.managedBy === null)
    return adoptionWords(
      node.name,
      o.comment,
      paths.filter((p) => p !== 'comment'),
    );
  return {
    action: 'update',
    reason: byHand ? 'drifted' : 'config-changed',
    reasonText: byHand
      ? `differs from steep.yaml on ${node.name}: ${listText(paths)}`
      : `steep.yaml changes ${listText(paths)} on ${node.name}`,
  };
}

/** The drop of a publication this topology manages and the file no longer declares. */
function publicationDrop(ctx: PlanContext, node: ObservedNode, o: ObservedPublication): ManagedDrop {
  const topology = ctx.desired.topology;
  // subscriptions that keep using it after this plan
  const users: string[] = [];
  // the steps (update or drop) of every observed subscription that subscribes to it go first
  const deps: string[] = [];
  for (const n of ctx.reachableNodes()) {
    for (const s of sortedKeys(n.subscriptions)) {
      const sub = n.subscriptions[s]!;
      if (sub.from !== node.name || !sub.publications.includes(o.name)) continue;
      deps.push(stepKey('subscription', n.name, s), stepKey('subscription-drop', n.name, s));
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
      { address: publicationAddress(o.name), node: node.name },
    );
  }
  return {
    changes: shapeChanges(observedShape(o, node.serverVersion), 'before'),
    statements: [tx(dropPublicationSql(o.name))],
    hazards: [],
    deps,
    catalogDigest: publicationDigest(o),
  };
}
