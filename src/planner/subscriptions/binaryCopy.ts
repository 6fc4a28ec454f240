import { subscriptionAddress } from '../../model/address.js';
import type { BinarylessColumn, ClusterState } from '../../model/cluster.js';
import { compareTableNames } from '../../model/order.js';
import { displayTable } from '../../model/sql.js';
import { qualifiedName, type SubscriptionSpec, type TableName, type Topology } from '../../model/topology.js';
import { PG16 } from '../../model/versions.js';
import { listText, type PlanContext, sortedKeys } from '../context.js';
import { copiedTables, replacesSlot } from '../init/initCopy.js';

/**
 * A binary subscription (docs/steep-yaml.md, `options.binary`; 014_binary.pl) fails for ever, its
 * worker starting again and failing again, on a column PostgreSQL cannot carry in binary:
 * - its table sync: from PostgreSQL 16, when both sides run 16 or later, the sync's COPY is
 *   binary, and fails on a column whose type (or a type it is made of, as an array's element) has
 *   no binary send function on the publisher or no receive function on the subscriber. Before 16
 *   the copy is text.
 * - its stream, on every version: pgoutput sends a column whose own type has a send function in
 *   binary, so that column fails where a type it is made of has none (aclitem[]), or where the
 *   subscriber's type has no receive function; a column whose own type has none (aclitem) goes as
 *   text and is fine.
 * With `schemaSync: manual`, a column of another type on each side (bigint against integer) fails
 * both. A plan that would start such a copy or stream (a create, a replace, an alter making the
 * subscription binary, a refresh of the tables that join) is refused, naming the table, the column
 * and its type.
 */

/**
 * The tables whose binaryless columns to read, per node, on both sides of each binary
 * subscription: all of its tables where it is created, replaced or made binary, else those that
 * join it.
 */
export function binaryRequests(desired: Topology, observed: ClusterState): Map<string, TableName[]> {
  const out = new Map<string, Map<string, TableName>>();
  for (const name of sortedKeys(desired.subscriptions)) {
    const d = desired.subscriptions[name]!;
    const [sub, pub] = [observed.nodes[d.node], observed.nodes[d.from]];
    if (d.options.binary !== true || !sub?.reachable || !pub?.reachable) continue;
    const o = sub.subscriptions[d.name];
    const streaming = o && !replacesSlot(o, d) && o.options.binary === true;
    const received = new Set(streaming ? o.tables.map(qualifiedName) : []);
    const tables = copiedTables(desired, observed, d).filter(
      (t) => !received.has(qualifiedName(t)) && pub.tables[qualifiedName(t)],
    );
    for (const node of [d.node, d.from]) {
      const m = out.get(node) ?? new Map<string, TableName>();
      for (const t of tables) m.set(qualifiedName(t), t);
      out.set(node, m);
    }
  }
  return new Map(
    [...out.entries()]
      .filter(([, t]) => t.size > 0)
      .map(([n, t]) => [n, [...t.values()].sort(compareTableNames)]),
  );
}

/** The columns of `table` that `d` copies and streams: a column list only when every publication carrying it has one. */
function copiedColumns(ctx: PlanContext, d: SubscriptionSpec, table: string): Set<string> | null {
  const lists: string[][] = [];
  for (const name of d.publications) {
    const p = ctx.desired.publications[name] ?? ctx.node(d.from)?.publications[name];
    if (!p) continue;
    const entry = p.tables.find((t) => qualifiedName(t) === table);
    if (entry?.columns) lists.push(entry.columns);
    else if (entry || p.allTables || p.schemas.includes(table.slice(0, table.indexOf('.')))) return null;
  }
  return lists.length > 0 ? new Set(lists.flat()) : null;
}

/**
 * `column acl is aclitem, which has no binary send function on a and no binary receive function
 * on b`; `column tags is bin.tag[], made of bin.tag, which has …`
 */
function columnText(
  c: { column: string; type: string },
  noSend: string | null,
  noReceive: string | null,
  d: SubscriptionSpec,
): string {
  const lacks = [
    ...(noSend ? [{ type: noSend, text: `no binary send function on ${d.from}` }] : []),
    ...(noReceive ? [{ type: noReceive, text: `no binary receive function on ${d.node}` }] : []),
  ];
  const types = [...new Set(lacks.map((l) => l.type))];
  return `column ${c.column} is ${c.type}, ${types
    .map((t) => {
      const has = `which has ${lacks
        .filter((l) => l.type === t)
        .map((l) => l.text)
        .join(' and ')}`;
      return t === c.type ? has : `made of ${t}, ${has}`;
    })
    .join('; ')}`;
}

/** `numeric(10,2)[]` → `numeric[]`: a typmod changes no binary format */
function withoutTypmod(type: string): string {
  return type.replace(/\([^)]*\)/g, '');
}

/**
 * With `schemaSync: manual` a column whose type differs between the two nodes is a warning (strict
 * refuses it, auto alters the subscriber's first): the copied columns whose types differ, where
 * both sides' columns were read (they are, where the tables' fingerprints differ).
 */
function differingTypes(
  ctx: PlanContext,
  d: SubscriptionSpec,
  table: string,
  copied: Set<string> | null,
): Array<{ name: string; pub: string; sub: string }> {
  const pubColumns = ctx.node(d.from)?.tableSchemas?.tables[table]?.columns ?? [];
  const subColumns = new Map(
    (ctx.node(d.node)?.tableSchemas?.tables[table]?.columns ?? []).map((c) => [c.name, c.type]),
  );
  return pubColumns.flatMap((c) => {
    const sub = subColumns.get(c.name);
    if (sub === undefined || (copied !== null && !copied.has(c.name))) return [];
    return withoutTypmod(sub) === withoutTypmod(c.type) ? [] : [{ name: c.name, pub: c.type, sub }];
  });
}

/** A column that cannot be carried in binary, and the types that stop it */
interface Stopped {
  text: string;
  types: Array<string | null>;
}

/**
 * Refuses (a plan error per table, true) starting `d`'s binary copy (`copies`) or stream of
 * `tables` (`schema.name`; default: all of its tables) where a column cannot be sent or received
 * so, or (`schemaSync: manual`) has another type on each side; false when it can, when `d` is not
 * binary, or when the columns were not read. The copy is binary only with 16 or later on both
 * sides, and fails first.
 */
export function refuseBinary(
  ctx: PlanContext,
  d: SubscriptionSpec,
  opts: { copies: boolean; tables?: readonly string[] },
): boolean {
  if (d.options.binary !== true) return false;
  const tables = opts.tables ?? copiedTables(ctx.desired, ctx.observed, d).map(qualifiedName);
  const [pub, sub] = [ctx.node(d.from), ctx.node(d.node)];
  if (!pub || !sub) return false;
  const binaryCopy = opts.copies && pub.serverVersion >= PG16 && sub.serverVersion >= PG16;
  let refused = false;
  for (const table of [...tables].sort()) {
    const carried = copiedColumns(ctx, d, table);
    const wanted = (c: BinarylessColumn) => carried === null || carried.has(c.column);
    const sending = new Map((pub.tables[table]?.binaryless ?? []).filter(wanted).map((c) => [c.column, c]));
    const receiving = new Map((sub.tables[table]?.binaryless ?? []).filter(wanted).map((c) => [c.column, c]));
    const columns = [...new Set([...sending.keys(), ...receiving.keys()])];
    const stopped = (stream: boolean): Stopped[] =>
      columns.flatMap((name) => {
        const sent = sending.get(name);
        // pgoutput sends a column whose own type has no send function as text
        if (stream && sent?.ownSend === false) return [];
        const noSend = sent?.noSend ?? null;
        const noReceive = receiving.get(name)?.noReceive ?? null;
        if (noSend === null && noReceive === null) return [];
        const text = columnText(sent ?? receiving.get(name)!, noSend, noReceive, d);
        return [{ text, types: [noSend, noReceive] }];
      });
    const differing = d.schemaSync === 'manual' ? differingTypes(ctx, d, table, carried) : [];
    const differs = (how: string): Stopped[] =>
      differing.map((c) => ({
        text: `column ${c.name} is ${c.pub} on ${d.from} and ${c.sub} on ${d.node}, which a binary ${how} does not convert`,
        types: [],
      }));
    // the copy comes first: where it fails, that is the one error
    const copyStopped = binaryCopy ? [...stopped(false), ...differs('copy')] : [];
    const texts = copyStopped.length > 0 ? copyStopped : [...stopped(true), ...differs('stream')];
    if (texts.length === 0) continue;
    refused = true;
    // a type of the database's own (schema-qualified) can be given the functions it lacks
    const shown = pub.tables[table] ? displayTable(pub.tables[table]) : table;
    const own = [
      ...new Set(texts.flatMap((t) => t.types).filter((t): t is string => t?.includes('.') === true)),
    ];
    const wayOut =
      'set options.binary: false' +
      (own.length > 0
        ? `, or give ${listText(own)} binary send and receive functions on both nodes (ALTER TYPE … SET (send = …, receive = …))`
        : '') +
      (differing.length > 0
        ? `, or give ${differing.length > 1 ? 'those columns' : 'the column'} one type on both nodes`
        : '');
    const what =
      copyStopped.length > 0
        ? {
            code: 'binary-copy',
            text: `would copy ${shown} from ${d.from} in binary format (options.binary: true, PostgreSQL 16 or later on both sides)`,
            fails: "PostgreSQL's table sync would fail on it again and again",
          }
        : {
            code: 'binary-stream',
            text: `would stream ${shown} from ${d.from} in binary format (options.binary: true)`,
            fails: "PostgreSQL's apply worker would fail on the first change to it, again and again",
          };
    ctx.error(
      what.code,
      `subscription ${d.name} on ${d.node} ${what.text}, but ${listText(texts.map((t) => t.text))}: ${what.fails}; ${wayOut}`,
      { address: subscriptionAddress(d.name), node: d.node },
    );
  }
  return refused;
}
