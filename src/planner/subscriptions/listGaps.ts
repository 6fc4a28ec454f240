/**
 * A subscription's publication list gaining a publication that publishes a table it holds
 * already (docs/steep-yaml.md): PostgreSQL sends the table's changes through every publication
 * of the list — the row filters ORed, the actions joined — but copies nothing of a table
 * `pg_subscription_rel` holds. So where the gained publication takes in rows the others left
 * out (no filter, or another one), columns they did not publish, or an action none sent (a kind
 * of difference verify allowed, model/verifyDirection.ts, no longer is), what the publisher holds
 * that way never arrives: a gap of the subscription's step for each such table, gated `data-gap`,
 * recorded and compared by apply as the others (workflows/allowedGaps.ts). The old list as the
 * publisher holds it; a gained publication as the file declares it (this plan may create it),
 * its filter as PostgreSQL prints it where the catalog read it, else as written (then one written
 * otherwise than the old counts as another, and apply's comparison closes the gap).
 */
import type { ObservedNode, ObservedPublication, ObservedSubscription } from '../../model/cluster.js';
import {
  type GatedGaps,
  gatedGaps,
  membershipsOf,
  type StepGap,
  stepGapClosing,
} from '../../model/continuity.js';
import { compareText } from '../../model/order.js';
import {
  PUBLISH_OPERATIONS,
  type PublicationSpec,
  qualifiedName,
  type SubscriptionSpec,
} from '../../model/topology.js';
import { allowedKinds, DIFFERENCE_KINDS } from '../../model/verifyDirection.js';
import { listText, type PlanContext } from '../context.js';
import { normalisedFilter } from '../publications/publicationDiff.js';
import { partitionAncestors } from '../publications/publishedRelations.js';

/** What one publication sends of a table: its row filter and column list (null: every row, every column), its actions. */
interface Sent {
  where: string | null;
  columns: string | null;
  publish: readonly string[];
}

/** What `p` sends of `table` (with its partition `ancestors`) as the publisher holds it; null: nothing. */
function observedSent(p: ObservedPublication, table: string, ancestors: readonly string[]): Sent | null {
  const m = membershipsOf({ [p.name]: p }, [p.name], table, ancestors)[0];
  if (!m) return null;
  const t =
    m.via === 'table' ? p.tables.find((x) => [table, ...ancestors].includes(qualifiedName(x))) : undefined;
  return {
    where: t?.where ?? null,
    columns: t?.columns ? JSON.stringify(t.columns) : null,
    publish: p.publish,
  };
}

/** What the file's `p` will send of `table` (its filter as PostgreSQL prints it, where the catalog said): a publication this plan creates or changes. */
function declaredSent(
  publisher: ObservedNode,
  p: PublicationSpec,
  table: string,
  ancestors: readonly string[],
): Sent | null {
  const names = [table, ...ancestors];
  const t = p.tables.find((x) => names.includes(qualifiedName(x)));
  const bySchema = p.allTables || names.some((n) => p.schemas.includes(n.slice(0, n.indexOf('.'))));
  if (!t && !bySchema) return null;
  return {
    where: t ? normalisedFilter(publisher, t) : null,
    columns: t?.columns ? JSON.stringify(t.columns) : null,
    publish: p.publish,
  };
}

/** What the gained publications add to a table's stream, in words; empty: nothing. */
function widened(was: readonly Sent[], is: readonly Sent[]): string[] {
  const out: string[] = [];
  const wheres = was.map((s) => s.where);
  if (!wheres.includes(null) && is.some((s) => s.where === null || !wheres.includes(s.where)))
    out.push('rows the other publications filter out');
  const lists = was.map((s) => s.columns);
  if (!lists.includes(null) && is.some((s) => s.columns === null || !lists.includes(s.columns)))
    out.push('columns the other publications leave out');
  const unsent = (ss: readonly Sent[]) => {
    const sent = new Set(ss.flatMap((s) => s.publish));
    return PUBLISH_OPERATIONS.filter((a) => !sent.has(a));
  };
  const [before, after] = [allowedKinds(unsent(was)), allowedKinds(unsent([...was, ...is]))];
  const lost = DIFFERENCE_KINDS.filter((k) => before[k] !== undefined && after[k] === undefined);
  if (lost.length > 0)
    out.push(`actions none of them published (verify allowed ${lost.join(', ')} rows until now)`);
  return out;
}

/** The gaps the list `d.publications` opens over the tables `o` holds on `node`; warned. */
export function publicationListGaps(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  o: ObservedSubscription,
): GatedGaps {
  const publisher = ctx.observed.nodes[d.from];
  const gained = d.publications.filter((p) => !o.publications.includes(p));
  if (!publisher?.reachable || gained.length === 0) return gatedGaps([]);
  const gaps: StepGap[] = [];
  for (const table of o.tables.map(qualifiedName).sort(compareText)) {
    const ancestors = partitionAncestors(table, publisher.tables);
    const kept = o.publications.flatMap((name) => {
      const p = publisher.publications[name];
      return p ? (observedSent(p, table, ancestors) ?? []) : [];
    });
    // a table none of the old list published joins (the refresh's copy decides)
    if (kept.length === 0) continue;
    const added = gained.flatMap((name) => {
      const spec = ctx.desired.publications[name];
      const p = publisher.publications[name];
      return (
        (spec
          ? declaredSent(publisher, spec, table, ancestors)
          : p
            ? observedSent(p, table, ancestors)
            : null) ?? []
      );
    });
    const adds = added.length > 0 ? widened(kept, added) : [];
    if (adds.length > 0)
      gaps.push({
        table,
        subscription: d.name,
        reason:
          `subscription ${d.name} on ${node.name} gained publication ${listText(gained)}, which sends ${listText(adds)} of ${table}: ` +
          `PostgreSQL copied none of what ${d.from} held that way`,
      });
  }
  if (gaps.length > 0) {
    const tables = gaps.map((g) => g.table);
    ctx.warn(
      'data-gap',
      `subscription ${d.name}: publication ${listText(gained)} publishes ${listText(tables)}, which ${d.name} holds already, ` +
        `with rows, columns or actions its other publications leave out: PostgreSQL copies none of what ${d.from} holds that ` +
        `way (hazard data-gap); ${stepGapClosing(d.name, tables)}`,
      { address: { kind: 'subscription', name: d.name }, node: node.name },
    );
  }
  return gatedGaps(gaps);
}
