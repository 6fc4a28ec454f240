import { compareText } from './order.js';

/**
 * A subscription set to `origin = none` by hand where steep.yaml says `any` (docs/status.md,
 * `gap`): pgoutput then sends only the changes made on the publisher itself, and every change its
 * own apply workers make carries their origin, so what the publisher receives from a third node
 * never reaches the subscriber, with no error, lag or missing slot to show it. steep's own switch
 * is gated `data-gap` in the plan (planner/subscriptions/originNoneGap.ts) and recorded by apply;
 * this is the same hole made by hand, read from the catalog at every reading.
 */

/** A subscription of the publisher: what it applies there, and from which node (null: unknown). */
export interface Feed {
  name: string;
  from: string | null;
  tables: readonly string[];
}

/**
 * The tables of `carried` the publisher receives through `feeds` that `subscriber` gets from
 * nowhere else: a feed from the subscriber itself (the other way of a two-way link, what `none`
 * is for) is left out, and so is one from a node the subscriber subscribes to for that table
 * itself (`direct`: a mesh). `schema.table` → `sub from node, …`.
 */
export function unforwardedTables(
  carried: readonly string[],
  subscriber: string,
  feeds: readonly Feed[],
  direct: readonly Feed[],
): Map<string, string> {
  const out = new Map<string, string>();
  const sorted = [...feeds].sort((a, b) => compareText(a.name, b.name));
  for (const table of carried) {
    const upstream = sorted.filter(
      (f) =>
        f.from !== subscriber &&
        f.tables.includes(table) &&
        !direct.some((d) => d.from !== null && d.from === f.from && d.tables.includes(table)),
    );
    if (upstream.length > 0)
      out.set(
        table,
        upstream.map((f) => `${f.name} from ${f.from ?? 'a node steep.yaml does not declare'}`).join(', '),
      );
  }
  return out;
}

/** Why `table` of `subscription` on `node` misses changes: set to origin = none by hand, fed by `feeds` on `from`. */
export function originNoneReason(
  subscription: string,
  node: string,
  from: string,
  table: string,
  feeds: string,
): string {
  return (
    `${subscription} on ${node} was set to origin = none by hand (steep.yaml says any), and ${from} receives ${table} through ${feeds}: ` +
    `${from} sends ${node} none of the changes it applies from there, so they never reach ${node}`
  );
}
