import { subscriptionAddress } from '../../model/address.js';
import { compareText } from '../../model/order.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { listText, type PlanContext, sortedKeys } from '../context.js';
import { effectiveOrigin } from '../defaults.js';

/**
 * Subscription loops. A loop (east → west → east, or longer) in which any subscription has
 * `origin: any` — explicitly, by default, or because its server has no such option — would
 * replicate every change around it forever: a plan error naming the loop. Per table: the loop
 * counts only when one table goes all the way round (a subscription with origin any carries it,
 * and every other hop has a subscription carrying it too); a one-way subscription beside a link
 * between the same nodes, on other tables, is no loop. A subscription the file does not declare
 * carries the tables it lists in pg_subscription_rel.
 */

/** The tables a subscription carries: all, whole schemas, or single tables (`schema.name`). */
interface Scope {
  all: boolean;
  schemas: Set<string>;
  tables: Set<string>;
}

const EVERYTHING: Scope = { all: true, schemas: new Set(), tables: new Set() };

function union(scopes: Scope[]): Scope {
  return {
    all: scopes.some((x) => x.all),
    schemas: new Set(scopes.flatMap((x) => [...x.schemas])),
    tables: new Set(scopes.flatMap((x) => [...x.tables])),
  };
}

function schemaOf(table: string): string {
  return table.slice(0, table.indexOf('.'));
}

function intersect(a: Scope, b: Scope): Scope {
  if (a.all) return b;
  if (b.all) return a;
  const covers = (x: Scope, t: string) => x.tables.has(t) || x.schemas.has(schemaOf(t));
  return {
    all: false,
    schemas: new Set([...a.schemas].filter((n) => b.schemas.has(n))),
    tables: new Set([
      ...[...a.tables].filter((t) => covers(b, t)),
      ...[...b.tables].filter((t) => covers(a, t)),
    ]),
  };
}

function isEmpty(x: Scope): boolean {
  return !x.all && x.schemas.size === 0 && x.tables.size === 0;
}

/** What a declared subscription's publications carry; a publication steep.yaml does not declare: everything. */
function scopeOf(ctx: PlanContext, d: SubscriptionSpec): Scope {
  return union(
    d.publications.map((name) => {
      const p = ctx.desired.publications[name];
      if (!p || p.node !== d.from || p.allTables) return EVERYTHING;
      return {
        all: false,
        schemas: new Set(p.schemas),
        tables: new Set(p.tables.map((t) => `${t.schema}.${t.name}`)),
      };
    }),
  );
}

interface Edge {
  /** publisher */
  from: string;
  /** subscriber */
  to: string;
  /** the subscription, as named in messages */
  label: string;
  /** its address, when the file declares it */
  address?: string;
  origin: 'any' | 'none';
  scope: Scope;
}

/**
 * The subscriptions that will replicate after the plan: the file's, plus observed ones steep
 * leaves alone. A disabled one (declared `enabled: false`, or observed disabled) carries nothing
 * while it stays so, as after a switchover's release: it is part of no loop until it is enabled,
 * and then the plan that enables it finds the loop.
 */
function edges(ctx: PlanContext): Edge[] {
  const out: Edge[] = sortedKeys(ctx.desired.subscriptions)
    .map((name) => ctx.desired.subscriptions[name]!)
    .filter((d) => d.enabled)
    .map((d) => ({
      from: d.from,
      to: d.node,
      label: d.name,
      address: subscriptionAddress(d.name),
      origin: effectiveOrigin(d.options, ctx.serverVersion(d.node)),
      scope: scopeOf(ctx, d),
    }));
  for (const node of ctx.reachableNodes()) {
    for (const name of sortedKeys(node.subscriptions)) {
      const fate = ctx.fateOf('subscription', node.name, name);
      if (fate !== 'unmanaged' && fate !== 'foreign') continue;
      const o = node.subscriptions[name]!;
      if (o.from === '' || !o.enabled) continue;
      out.push({
        from: o.from,
        to: node.name,
        label: `${name} (not managed by ${ctx.desired.topology})`,
        origin: o.options.origin ?? 'any',
        // what it applies: PostgreSQL applies changes only to the tables in its pg_subscription_rel
        scope: {
          all: false,
          schemas: new Set(),
          tables: new Set(o.tables.map((t) => `${t.schema}.${t.name}`)),
        },
      });
    }
  }
  return out;
}

/** Every elementary cycle, each once, starting at its smallest node: ['east', 'west'] is east → west → east. */
export function findCycles(pairs: ReadonlyArray<{ from: string; to: string }>): string[][] {
  const adjacency = new Map<string, string[]>();
  for (const e of pairs) {
    const list = adjacency.get(e.from) ?? [];
    if (!list.includes(e.to)) list.push(e.to);
    adjacency.set(e.from, list);
  }
  for (const list of adjacency.values()) list.sort(compareText);
  const nodes = [...new Set(pairs.flatMap((e) => [e.from, e.to]))].sort(compareText);
  const cycles: string[][] = [];
  for (const start of nodes) {
    const path = [start];
    const visit = (at: string) => {
      for (const next of adjacency.get(at) ?? []) {
        if (next === start) cycles.push([...path]);
        else if (compareText(next, start) > 0 && !path.includes(next)) {
          path.push(next);
          visit(next);
          path.pop();
        }
      }
    };
    visit(start);
  }
  return cycles;
}

export function checkCycles(ctx: PlanContext): void {
  const all = edges(ctx);
  for (const cycle of findCycles(all)) {
    const hops = cycle.map((from, i) => ({ from, to: cycle[(i + 1) % cycle.length]! }));
    const perHop = hops.map((h) => all.filter((e) => e.from === h.from && e.to === h.to));
    // the subscriptions with origin any that carry a table every other hop carries too
    const looping = perHop.flatMap((edges, i) =>
      edges.filter(
        (e) =>
          e.origin === 'any' &&
          !isEmpty(
            perHop.reduce(
              (acc, other, j) => (j === i ? acc : intersect(acc, union(other.map((o) => o.scope)))),
              e.scope,
            ),
          ),
      ),
    );
    if (looping.length === 0) continue;
    const inLoop = perHop.flat();
    const loop = [...cycle, cycle[0]!].join(' → ');
    const first = looping[0]!;
    ctx.error(
      'cycle',
      `subscriptions form a loop ${loop} (${inLoop.map((e) => `${e.label}: ${e.to} from ${e.from}`).join(', ')}) ` +
        `with origin any on ${listText(looping.map((e) => e.label))}: every change would replicate around it forever; set options.origin: none ` +
        'on the subscriptions of the loop',
      { address: first.address, node: first.to },
    );
  }
}

/**
 * `copy_data` with `origin: none` from a publisher that itself subscribes: the initial copy is
 * not filtered by origin, so rows copied may have come from a third node.
 */
export function warnOriginCopy(ctx: PlanContext, d: SubscriptionSpec, copyData: boolean): void {
  if (!copyData || effectiveOrigin(d.options, ctx.serverVersion(d.node)) !== 'none') return;
  const upstream = edges(ctx)
    .filter((e) => e.to === d.from)
    .map((e) => `${e.label} from ${e.from}`);
  if (upstream.length === 0) return;
  ctx.warn(
    'origin-copy',
    `subscription ${d.name} copies data from ${d.from} with origin: none, but ${d.from} itself subscribes ` +
      `(${upstream.join(', ')}): origin: none does not filter the initial copy, so copied rows may have come from another node`,
    { address: subscriptionAddress(d.name), node: d.node },
  );
}

/**
 * The same for a refresh that copies the tables joining `d` (`tables`, `schema.name`): each one
 * its publisher itself receives through a subscription there may hold rows of another origin,
 * and the copy takes them whatever `origin: none` says (PostgreSQL warns at the REFRESH as at the
 * create, 030_origin.pl).
 */
export function warnOriginRefreshCopy(
  ctx: PlanContext,
  d: SubscriptionSpec,
  tables: readonly string[],
): void {
  if (tables.length === 0 || effectiveOrigin(d.options, ctx.serverVersion(d.node)) !== 'none') return;
  const fed = fedTables(ctx, d.from, tables).map((f) => `${f.table} (${f.feeds})`);
  if (fed.length === 0) return;
  ctx.warn(
    'origin-copy',
    `subscription ${d.name}'s refresh copies data from ${d.from} with origin: none, but ${d.from} itself receives ` +
      `${listText(fed)} through a subscription: origin: none does not filter the copy, so copied rows may have come from another node`,
    { address: subscriptionAddress(d.name), node: d.node },
  );
}

/**
 * Which of `tables` (`schema.name`) `publisher` itself receives through a subscription after the
 * plan, and from where (`feeds`: `sub from node, …`), sorted. With `subscriber`: what it would not
 * get otherwise: a feed from it (the other way of a two-way link) is left out, and so is one from
 * a node it subscribes to for that table itself (a mesh).
 */
export function fedTables(
  ctx: PlanContext,
  publisher: string,
  tables: readonly string[],
  subscriber?: string,
): Array<{ table: string; feeds: string }> {
  const covers = (x: Scope, t: string) => x.all || x.tables.has(t) || x.schemas.has(schemaOf(t));
  const all = edges(ctx);
  const into = all.filter((e) => e.to === publisher && e.from !== subscriber);
  const direct = (from: string, t: string) =>
    all.some((e) => e.to === subscriber && e.from === from && covers(e.scope, t));
  return [...tables].sort(compareText).flatMap((table) => {
    const upstream = into.filter((e) => covers(e.scope, table) && !direct(e.from, table));
    return upstream.length > 0
      ? [{ table, feeds: upstream.map((e) => `${e.label} from ${e.from}`).join(', ') }]
      : [];
  });
}
