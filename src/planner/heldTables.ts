/**
 * What a subscription receives of a table it holds already, through each publication of its list
 * (the row filters ORed, the actions joined: PostgreSQL's pgoutput), and what a change of that
 * leaves on the subscriber that its stream never mends (docs/steep-yaml.md): PostgreSQL copies
 * nothing of a table `pg_subscription_rel` holds, nor removes what it no longer sends. Rows
 * taken in that were filtered out before, values of columns taken in, the differences verify
 * allowed while an action was unsent (model/verifyDirection.ts) never arrive; rows filtered out
 * now stay, kept up no longer. Shared by a publication's step (publications/heldTableGaps.ts) and
 * a subscription's list (subscriptions/listGaps.ts), each a gap gated `data-gap`.
 */
import type { ObservedNode, ObservedPublication, ObservedSubscription } from '../model/cluster.js';
import { compareText } from '../model/order.js';
import {
  PUBLISH_OPERATIONS,
  type PublicationDef,
  type PublicationSpec,
  type PublicationTable,
  qualifiedName,
} from '../model/topology.js';
import { allowedKinds, DIFFERENCE_KINDS } from '../model/verifyDirection.js';
import { normalisedFilter } from './publications/publicationDiff.js';
import { partitionAncestors } from './publications/publishedRelations.js';

/**
 * What one publication sends of a table: its row filter and column list (null: every row, every
 * column), its actions, and whether its stored generated columns come (18: no list, and
 * `generatedColumns: stored`; a list names the ones it sends).
 */
interface Sent {
  where: string | null;
  columns: string | null;
  publish: readonly string[];
  storedGenerated: boolean;
}

/** What `p` sends of `table` (with its partition `ancestors`), its filter as `whereOf` gives it; null: nothing. */
function sentBy(
  p: PublicationDef,
  table: string,
  ancestors: readonly string[],
  whereOf: (t: PublicationTable) => string | null,
): Sent | null {
  const publishes = (n: string) =>
    p.allTables ||
    p.tables.some((x) => qualifiedName(x) === n) ||
    p.schemas.includes(n.slice(0, n.indexOf('.')));
  // via its root, a partition is sent as that root: not under its own name
  if (p.viaPartitionRoot && ancestors.some(publishes)) return null;
  const names = [table, ...ancestors];
  const t = p.tables.find((x) => names.includes(qualifiedName(x)));
  if (!t && !names.some(publishes)) return null;
  return {
    where: t ? whereOf(t) : null,
    columns: t?.columns ? JSON.stringify(t.columns) : null,
    publish: p.publish,
    storedGenerated: p.generatedColumns === 'stored' && !t?.columns,
  };
}

/** What `p` sends of `table` as the publisher holds it (its filter as PostgreSQL prints it); null: nothing. */
function observedSent(p: ObservedPublication, table: string, ancestors: readonly string[]): Sent | null {
  return sentBy(p, table, ancestors, (t) => t.where);
}

/**
 * What the file's `p` will send of `table`: a publication this plan creates or changes, its filter
 * as PostgreSQL prints it where the catalog read it, else as written (then counted as another).
 */
function declaredSent(
  publisher: ObservedNode,
  p: PublicationSpec,
  table: string,
  ancestors: readonly string[],
): Sent | null {
  return sentBy(p, table, ancestors, (t) => normalisedFilter(publisher, t));
}

/**
 * What a change from `was` to `is` leaves in a held table that its stream never mends, in words;
 * empty: nothing. `generated`: the publisher's table has a stored generated column (null: its
 * columns were not read).
 */
function unmended(was: readonly Sent[], is: readonly Sent[], generated: boolean | null): string[] {
  const out: string[] = [];
  // filters are compared as PostgreSQL prints them: which rows one takes in that another leaves
  // out, no text says, so two different filters may do both
  const everyRow = (ss: readonly Sent[]) => ss.some((s) => s.where === null);
  const filters = (ss: readonly Sent[]) => new Set(ss.map((s) => s.where));
  const [before, after] = [filters(was), filters(is)];
  if (!everyRow(was) && everyRow(is)) out.push('rows it filtered out before, never copied');
  else if (everyRow(was) && !everyRow(is)) out.push('rows it filters out now, which stay');
  else if (!everyRow(was) && (before.size !== after.size || [...after].some((w) => !before.has(w))))
    out.push(
      'rows its filters take in or leave out otherwise than before (taken in: never copied; left out: staying)',
    );
  const lists = was.map((s) => s.columns);
  if (!lists.includes(null) && is.some((s) => s.columns === null || !lists.includes(s.columns)))
    out.push('values of columns it left out before, never copied');
  else if (generated !== false && !was.some((s) => s.storedGenerated) && is.some((s) => s.storedGenerated))
    out.push(
      `values of its stored generated columns${generated === null ? ' (if it has any: its columns were not read)' : ''} it did not send before, never copied`,
    );
  const unsent = (ss: readonly Sent[]) => {
    const sent = new Set(ss.flatMap((s) => s.publish));
    return PUBLISH_OPERATIONS.filter((a) => !sent.has(a));
  };
  const [allowedBefore, allowedAfter] = [allowedKinds(unsent(was)), allowedKinds(unsent(is))];
  const lost = DIFFERENCE_KINDS.filter(
    (k) => allowedBefore[k] !== undefined && allowedAfter[k] === undefined,
  );
  if (lost.length > 0)
    out.push(
      `what the actions it did not send before left (verify allowed its ${lost.join(', ')} rows until now)`,
    );
  return out;
}

/**
 * Each table `o` holds that `publisher` sends through both its list now and `after`, with what the
 * change leaves unmended (none listed: nothing). `declared(name)`: the publication as the file
 * will make it, else it is read as the publisher holds it.
 */
export function heldTableChanges(
  publisher: ObservedNode,
  o: ObservedSubscription,
  after: readonly string[],
  declared: (name: string) => PublicationSpec | undefined,
): Array<{ table: string; words: string[] }> {
  const out: Array<{ table: string; words: string[] }> = [];
  for (const table of o.tables.map(qualifiedName).sort(compareText)) {
    const ancestors = partitionAncestors(table, publisher.tables);
    const held = (name: string) => {
      const p = publisher.publications[name];
      return (p ? observedSent(p, table, ancestors) : null) ?? [];
    };
    const was = o.publications.flatMap(held);
    const is = after.flatMap((name) => {
      const spec = declared(name);
      return spec ? (declaredSent(publisher, spec, table, ancestors) ?? []) : held(name);
    });
    // joining (a refresh's copy decides) or leaving the subscription: no stream to mend
    if (was.length === 0 || is.length === 0) continue;
    const columns = publisher.tableSchemas?.tables[table]?.columns;
    const words = unmended(was, is, columns ? columns.some((c) => c.generated === 'stored') : null);
    if (words.length > 0) out.push({ table, words });
  }
  return out;
}
