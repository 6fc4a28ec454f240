import { subscriptionAddress } from '../../model/address.js';
import type { BinarylessColumn, ClusterState } from '../../model/cluster.js';
import { compareTableNames } from '../../model/order.js';
import { displayTable } from '../../model/sql.js';
import { qualifiedName, type SubscriptionSpec, type TableName, type Topology } from '../../model/topology.js';
import { PG16 } from '../../model/versions.js';
import { listText, type PlanContext, sortedKeys } from '../context.js';
import { copiedTables, replacesSlot } from '../init/initCopy.js';

/**
 * A binary subscription's table sync (docs/steep-yaml.md, `options.binary`; 014_binary.pl): from
 * PostgreSQL 16, when both sides run 16 or later, the sync's COPY is binary, and a column whose
 * type (or a type it is made of, as an array's element) has no binary send function on the
 * publisher or no receive function on the subscriber fails it; the worker starts again and fails
 * again, for ever. Before 16 the copy is text. Streaming is not checked here: pgoutput sends a
 * column whose own type has no send function as text, but one whose type has it while a type it
 * is made of lacks it (aclitem[]) fails there too (status shows it failing). A plan that would
 * start such a copy (a create, a replace, a refresh copying the tables that join) is refused,
 * naming the table, the column and its type.
 */

/** The tables whose binaryless columns to read, per node: what binary subscriptions may copy, on both sides. */
export function binaryCopyRequests(desired: Topology, observed: ClusterState): Map<string, TableName[]> {
  const out = new Map<string, Map<string, TableName>>();
  for (const name of sortedKeys(desired.subscriptions)) {
    const d = desired.subscriptions[name]!;
    const [sub, pub] = [observed.nodes[d.node], observed.nodes[d.from]];
    if (d.options.binary !== true || !sub?.reachable || !pub?.reachable) continue;
    if (sub.serverVersion < PG16 || pub.serverVersion < PG16) continue;
    const o = sub.subscriptions[d.name];
    const received = new Set(o && !replacesSlot(o, d) ? o.tables.map(qualifiedName) : []);
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

/** The columns of `table` that `d`'s table sync copies: a column list only when every publication carrying it has one. */
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

/**
 * Refuses (a plan error per table, true) a copy of `tables` (`schema.name`) by `d`'s table sync
 * in binary format where a column cannot be sent or received so, or (`schemaSync: manual`) has
 * another type on each side; false when it can, or when the copy is text (binary off, or either
 * side before 16), or the columns were not read.
 */
export function refuseBinaryCopy(ctx: PlanContext, d: SubscriptionSpec, tables: readonly string[]): boolean {
  if (d.options.binary !== true) return false;
  const [pub, sub] = [ctx.node(d.from), ctx.node(d.node)];
  if (!pub || !sub || pub.serverVersion < PG16 || sub.serverVersion < PG16) return false;
  let refused = false;
  for (const table of [...tables].sort()) {
    const copied = copiedColumns(ctx, d, table);
    const wanted = (c: BinarylessColumn) => copied === null || copied.has(c.column);
    const sending = new Map((pub.tables[table]?.binaryless ?? []).filter(wanted).map((c) => [c.column, c]));
    const receiving = new Map((sub.tables[table]?.binaryless ?? []).filter(wanted).map((c) => [c.column, c]));
    const columns = [...new Set([...sending.keys(), ...receiving.keys()])];
    const texts = columns.flatMap((name) => {
      const noSend = sending.get(name)?.noSend ?? null;
      const noReceive = receiving.get(name)?.noReceive ?? null;
      if (noSend === null && noReceive === null) return [];
      const c = sending.get(name) ?? receiving.get(name)!;
      return [{ text: columnText(c, noSend, noReceive, d), types: [noSend, noReceive] }];
    });
    const differing = d.schemaSync === 'manual' ? differingTypes(ctx, d, table, copied) : [];
    texts.push(
      ...differing.map((c) => ({
        text: `column ${c.name} is ${c.pub} on ${d.from} and ${c.sub} on ${d.node}, which a binary copy does not convert`,
        types: [],
      })),
    );
    if (texts.length === 0) continue;
    refused = true;
    // a type of the database's own (schema-qualified) can be given the functions it lacks
    const shown = pub.tables[table] ? displayTable(pub.tables[table]) : table;
    const own = [
      ...new Set(texts.flatMap((t) => t.types).filter((t): t is string => t?.includes('.') === true)),
    ];
    ctx.error(
      'binary-copy',
      `subscription ${d.name} on ${d.node} would copy ${shown} from ${d.from} in binary format ` +
        `(options.binary: true, PostgreSQL 16 or later on both sides), but ${listText(texts.map((t) => t.text))}: ` +
        `PostgreSQL's table sync would fail on it again and again; set options.binary: false` +
        (own.length > 0
          ? `, or give ${listText(own)} binary send and receive functions on both nodes (ALTER TYPE … SET (send = …, receive = …))`
          : '') +
        (differing.length > 0
          ? `, or give ${differing.length > 1 ? 'those columns' : 'the column'} one type on both nodes`
          : ''),
      { address: subscriptionAddress(d.name), node: d.node },
    );
  }
  return refused;
}
