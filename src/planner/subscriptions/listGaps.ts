/**
 * A subscription's publication list changed over a table it holds already, and still receives
 * (docs/steep-yaml.md): PostgreSQL sends the table's changes through every publication of the
 * list — the row filters ORed, the actions joined — but copies nothing of a table
 * `pg_subscription_rel` holds, nor removes what a narrower list leaves out. So where the new list
 * takes in rows the old one filtered out, columns it did not publish, or an action none of it sent
 * (a kind of difference verify allowed, model/verifyDirection.ts, no longer is), what the publisher
 * holds that way never arrives; where it filters out rows the old one sent, they stay, kept up no
 * longer: a gap of the subscription's step for each such table, gated `data-gap`, recorded and
 * compared by apply as the others (workflows/allowedGaps.ts). The old list as the
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

/** What the new list changes of a held table's stream that its stream never mends, in words; empty: nothing. */
function unmended(was: readonly Sent[], is: readonly Sent[]): string[] {
  const out: string[] = [];
  const everyRow = (ss: readonly Sent[]) => ss.some((s) => s.where === null);
  const beyond = (a: readonly Sent[], b: readonly Sent[]) =>
    !everyRow(b) && (everyRow(a) || a.some((s) => !b.some((x) => x.where === s.where)));
  if (beyond(is, was)) out.push('rows the old list filtered out, never copied');
  if (beyond(was, is)) out.push('rows the new list filters out, which stay');
  const lists = was.map((s) => s.columns);
  if (!lists.includes(null) && is.some((s) => s.columns === null || !lists.includes(s.columns)))
    out.push('values of columns the old list left out, never copied');
  const unsent = (ss: readonly Sent[]) => {
    const sent = new Set(ss.flatMap((s) => s.publish));
    return PUBLISH_OPERATIONS.filter((a) => !sent.has(a));
  };
  const [before, after] = [allowedKinds(unsent(was)), allowedKinds(unsent(is))];
  const lost = DIFFERENCE_KINDS.filter((k) => before[k] !== undefined && after[k] === undefined);
  if (lost.length > 0)
    out.push(
      `what actions none of the old list published left (verify allowed its ${lost.join(', ')} rows until now)`,
    );
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
  const dropped = o.publications.filter((p) => !d.publications.includes(p));
  if (!publisher?.reachable || gained.length + dropped.length === 0) return gatedGaps([]);
  const change = [
    ...(gained.length > 0 ? [`gains ${listText(gained)}`] : []),
    ...(dropped.length > 0 ? [`drops ${listText(dropped)}`] : []),
  ].join(' and ');
  const gaps: StepGap[] = [];
  for (const table of o.tables.map(qualifiedName).sort(compareText)) {
    const ancestors = partitionAncestors(table, publisher.tables);
    const observed = (name: string) => {
      const p = publisher.publications[name];
      return p ? (observedSent(p, table, ancestors) ?? []) : [];
    };
    const was = o.publications.flatMap(observed);
    const is = [
      ...d.publications.filter((p) => !gained.includes(p)).flatMap(observed),
      ...gained.flatMap((name) => {
        const spec = ctx.desired.publications[name];
        return spec ? (declaredSent(publisher, spec, table, ancestors) ?? []) : observed(name);
      }),
    ];
    // joining (the refresh's copy decides) or leaving the subscription: no stream to mend
    if (was.length === 0 || is.length === 0) continue;
    const words = unmended(was, is);
    if (words.length > 0)
      gaps.push({
        table,
        subscription: d.name,
        reason: `the publication list of subscription ${d.name} on ${node.name} ${change}, which leaves in ${table} ${listText(words)}`,
      });
  }
  if (gaps.length > 0) {
    const tables = gaps.map((g) => g.table);
    ctx.warn(
      'data-gap',
      `subscription ${d.name}: its publication list ${change}, which changes what ${d.from} sends of ${listText(tables)}, ` +
        `held on ${node.name} already: PostgreSQL copies none of the rows that come in, nor removes those that go out ` +
        `(hazard data-gap); ${stepGapClosing(d.name, tables)}`,
      { address: { kind: 'subscription', name: d.name }, node: node.name },
    );
  }
  return gatedGaps(gaps);
}
