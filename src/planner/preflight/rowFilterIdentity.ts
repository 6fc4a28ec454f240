/**
 * A row filter must use only columns of the replica identity of each relation it filters, when
 * its publication publishes updates or deletes (PostgreSQL 15+, pub_rf_contains_invalid_column
 * in publicationcmds.c): PostgreSQL accepts any filter at CREATE or ALTER PUBLICATION, then
 * refuses every UPDATE (or DELETE) of the table on the publisher, "Column used in the
 * publication WHERE expression is not part of the replica identity". What it checks:
 * - the relation the row is in: a leaf partition, never the partitioned table;
 * - against that relation's own replica identity (its key or index columns; FULL allows any
 *   column; none at all is the error checkTables already gives);
 * - the filter of the relation's own publication entry, or with publish_via_partition_root
 *   that of its topmost ancestor in the publication (columns matched by name);
 * - for the operations the publication publishes; FOR ALL TABLES has no filters.
 */

import { publicationAddress } from '../../model/address.js';
import type { ObservedNode } from '../../model/cluster.js';
import { displayIdent, displayTable, quoteTable } from '../../model/sql.js';
import { type PublicationSpec, type PublicationTable, qualifiedName } from '../../model/topology.js';
import { listText, type PlanContext } from '../context.js';

/** The publication entry whose filter PostgreSQL applies to the rows of `leaf`, if any. */
function filterEntry(
  p: PublicationSpec,
  node: ObservedNode,
  leaf: string,
  stored: ReadonlyMap<string, PublicationTable>,
): PublicationTable | undefined {
  if (!p.viaPartitionRoot) return stored.get(leaf);
  // GetTopMostAncestorInPublication: a listed ancestor, or one of a published schema (no filter)
  let top: string | null = null;
  for (let up = node.tables[leaf]?.partitionOf; up; up = node.tables[up]?.partitionOf) {
    if (stored.has(up) || p.schemas.includes(node.tables[up]?.schema ?? '')) top = up;
  }
  return top === null ? stored.get(leaf) : stored.get(top);
}

/**
 * The columns `entry`'s filter uses, as the catalog read them with the filter
 * (catalog/rowFilters.ts); an inheritance child is stored with its parent's filter, read on the
 * parent (the same column names). Undefined: not read, or PostgreSQL refused the filter.
 */
function filterColumns(
  node: ObservedNode,
  p: PublicationSpec,
  entry: PublicationTable,
): string[] | undefined {
  const where = entry.where!;
  const read = node.rowFilterColumns;
  return (
    read?.[qualifiedName(entry)]?.[where] ??
    p.tables.map((t) => (t.where === where ? read?.[qualifiedName(t)]?.[where] : undefined)).find(Boolean)
  );
}

/** The live publication already filters `entry` so and publishes `ops`: PostgreSQL refuses them today. */
function alreadyFiltered(
  node: ObservedNode,
  p: PublicationSpec,
  entry: PublicationTable,
  ops: string[],
): boolean {
  const live = node.publications[p.name];
  if (!live || live.viaPartitionRoot !== p.viaPartitionRoot) return false;
  if (!ops.every((op) => live.publish.includes(op as never))) return false;
  const printed = node.rowFilters[qualifiedName(entry)]?.[entry.where!] ?? entry.where;
  return live.tables.some((x) => x.schema === entry.schema && x.name === entry.name && x.where === printed);
}

/**
 * Each leaf relation of `stored` (publication `p`'s stored tables on `node`, by `schema.name`)
 * whose filter uses a column outside its replica identity: an error naming the columns and the
 * fix, a warning when the live publication already has that filter.
 */
export function checkRowFilterIdentity(
  ctx: PlanContext,
  p: PublicationSpec,
  node: ObservedNode,
  stored: ReadonlyMap<string, PublicationTable>,
  leaves: readonly string[],
): void {
  const ops = p.publish.filter((op) => op === 'update' || op === 'delete');
  if (p.allTables || ops.length === 0) return;
  const opsText = ops.join(' and ');
  for (const leaf of leaves) {
    const table = node.tables[leaf];
    const entry = filterEntry(p, node, leaf, stored);
    if (!table || !entry?.where || !table.hasReplicaIdentity || table.replicaIdentity === 'f') continue;
    const identity = table.identityColumns;
    const used = filterColumns(node, p, entry);
    if (!identity || !used) continue;
    const outside = used.filter((c) => !identity.includes(c));
    if (outside.length === 0) continue;
    const through = leaf === qualifiedName(entry) ? '' : ` (a partition of ${displayTable(entry)})`;
    const what =
      `${node.name}: the row filter of ${displayTable(entry)} in publication ${p.name} (${entry.where}) uses ` +
      `${listText(outside.map(displayIdent))}, outside the replica identity of ${displayTable(table)}${through} (${identity.map(displayIdent).join(', ')})`;
    const fix =
      `make the replica identity cover ${outside.length === 1 ? 'it' : 'them'} (ALTER TABLE ${quoteTable(table)} REPLICA IDENTITY FULL on ${node.name}, ` +
      `or REPLICA IDENTITY USING INDEX of a unique index on ${outside.length === 1 ? 'it' : 'them'}), or publish only insert and truncate`;
    const about = { address: publicationAddress(p.name), node: node.name };
    if (alreadyFiltered(node, p, entry, ops)) {
      ctx.warn(
        'preflight.replica-identity',
        `${what}, and publication ${p.name} already publishes ${opsText} of it with this filter: PostgreSQL refuses every ` +
          `${opsText.replace(' and ', ' and every ')} on it on ${node.name}; ${fix}`,
        about,
      );
    } else {
      ctx.error('preflight.replica-identity', `${what}, so every ${opsText} on it would fail; ${fix}`, about);
    }
  }
}
