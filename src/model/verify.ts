/**
 * Data consistency of a subscription (docs/repair.md): what is compared for each table,
 * and what the comparison found. Shared by `verify`, `verify --repair` and later `merge analyze`.
 */
import { compareText } from './order.js';
import {
  type PublicationDef,
  qualifiedName,
  type SubscriptionRef,
  type SubscriptionSpec,
  type TableName,
} from './topology.js';
import type { AllowedDifferences, AllowedKinds } from './verifyDirection.js';

/** One column of the key a table is compared by, as one side declares it. */
export interface KeyColumn {
  name: string;
  /** format_type() on that side, for casting key values back */
  type: string;
  /** has a collation: ordered and bucketed with COLLATE "C" on both sides */
  collatable: boolean;
  /** int2/int4/int8: ordered natively, compared as integers by the CLI */
  integer: boolean;
}

/** What one side of a table comparison reads. */
export interface CompareSide {
  table: TableName;
  /** the key: primary key, else the replica identity index */
  keys: KeyColumn[];
  /** compared columns, in the publisher's column order (the key columns among them) */
  columns: string[];
  /**
   * the compared columns hashed by their type's own hash: the same type on both sides, one
   * whose equal values print alike (planner hashesByValue); the others are hashed as their text
   */
  byValue: Array<{ name: string; collatable: boolean }>;
  /** the publication's row filter, as PostgreSQL prints it (publisher only); null = every row */
  filter: string | null;
  /**
   * an ordinary table, read without its inheritance children (`ONLY`): PostgreSQL publishes and
   * copies each child as a table of its own, compared on its own when published; false for a
   * partitioned table, read with its partitions (compared through its root)
   */
  only: boolean;
}

/** How a table is compared: both sides, and its key-range chunks. */
export interface TableComparison {
  table: TableName;
  /** 'primary key' or 'replica identity index <name>' */
  keySource: string;
  publisher: CompareSide;
  subscriber: CompareSide;
  /** the publisher's estimate of its rows (progress only) */
  estimatedRows: number;
  /** a part of the table (a rolling verify's segment): the whole table's estimate, which sizes its samples */
  tableRows?: number;
  /** the kinds of difference PostgreSQL rightly leaves (verifyDirection.ts allowedKinds); absent: none */
  allowed?: AllowedKinds;
}

/** A table that cannot be compared, and why. */
export interface NotVerifiable {
  table: TableName;
  reason: string;
  /** no later verify can compare it: PostgreSQL does not replicate every change of it (publish without update or delete, say) */
  notComparable?: true;
}

/** A key as text, one value per key column. */
export type RowKey = string[];

export type DifferenceKind = 'missing' | 'extra' | 'different';

export type TableStatus = 'equal' | 'diverged' | 'not_verifiable';

export interface TableVerdict {
  /** `schema.table` */
  table: string;
  status: TableStatus;
  /** why not verifiable; for a keyless table found diverged, what its comparison can tell; null otherwise */
  reason: string | null;
  /** not verifiable for good, as published (NotVerifiable.notComparable): no advice to verify it again */
  notComparable?: true;
  /** empty for a keyless table, compared as a multiset of whole rows */
  keyColumns: string[];
  /** rows compared: the publisher's rows (after its row filter) */
  rows: number;
  /** the subscriber's rows */
  subscriberRows: number;
  chunks: number;
  /** chunks whose hashes matched: never read row by row */
  chunksIdentical: number;
  /** on the publisher, not on the subscriber */
  missing: number;
  /** on the subscriber, not on the publisher (or outside its row filter) */
  extra: number;
  /** on both, with other values in the compared columns */
  different: number;
  /**
   * differences of the kinds PostgreSQL rightly leaves (TableComparison.allowed), counted apart from
   * missing, extra and different above, which count divergences only; absent when none is allowed
   */
  allowed?: AllowedDifferences;
  /** up to `examples` keys of each kind */
  examples: Record<DifferenceKind, RowKey[]>;
  /** keys whose rows kept changing through every re-check: in flux, not reported as diverged */
  changing: number;
  durationMs: number;
  /** an init's comparison of a big table (model/initEvidence.ts): the segments it compared of all; absent: every row */
  sample?: { compared: number; of: number };
}

export interface VerifyReport extends SubscriptionRef {
  tables: TableVerdict[];
  /** some table differs */
  diverged: boolean;
  /**
   * tables that could not be compared (still copying, not yet subscribed, schemas apart, a keyless
   * one written throughout): not known equal, so verify exits 2 for them too
   */
  notVerifiable: number;
  /** the subscription's init state after the run (null: steep's state schema is absent) */
  state: string | null;
  /** why the subscriber's rows may be the only copy (model/advice.ts): no repair is suggested; null: they are not */
  onlyCopy: string | null;
  durationMs: number;
}

/** A difference the row-level diff found between the two sides, with the row hashes it saw. */
export interface RowDifference {
  key: RowKey;
  kind: DifferenceKind;
  /** null when absent on that side */
  publisherHash: string | null;
  subscriberHash: string | null;
}

/**
 * Whether a re-check, taken once the subscriber has replayed past the publisher's position after
 * the publisher's read, confirms an earlier difference. A row missing or extra on the subscriber
 * stays so whatever the other side's image: a change in flight would have arrived by then, and
 * PostgreSQL skips the publisher's later updates of a row the subscriber lacks (update_missing),
 * so a row the publisher keeps updating would otherwise never show the same image twice. A row
 * on both sides that differs must show the same images twice: a publisher's update in flight
 * changes it, and an update applied overwrites the subscriber's row.
 */
export function confirmsDifference(before: RowDifference, now: RowDifference): boolean {
  if (before.kind !== now.kind) return false;
  return (
    now.kind !== 'different' ||
    (now.publisherHash === before.publisherHash && now.subscriberHash === before.subscriberHash)
  );
}

/**
 * Two different integers as PostgreSQL prints them (`-12`, `7`): by sign, then length, then
 * digits — no number built (a merge join compares millions).
 */
function compareIntegers(x: string, y: string): number {
  const nx = x.startsWith('-');
  const ny = y.startsWith('-');
  if (nx !== ny) return nx ? -1 : 1;
  const order = x.length !== y.length ? (x.length < y.length ? -1 : 1) : x < y ? -1 : 1;
  return nx ? -order : order;
}

/** Compare two keys in the order both sides stream them: integers numerically, the rest by UTF-8 bytes (COLLATE "C"). */
export function compareKeys(a: RowKey, b: RowKey, keys: readonly KeyColumn[]): number {
  for (let i = 0; i < keys.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (keys[i]!.integer) return compareIntegers(x, y);
    return Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8'));
  }
  return 0;
}

/** `id=5` or `a=1, b=x`: a key the way a DBA would look it up. */
export function formatKey(key: RowKey, columns: readonly string[]): string {
  return columns.map((c, i) => `${c}=${key[i]}`).join(', ');
}

/**
 * The merge join of two key-ordered streams of (key, row hash): every key present on one side
 * only, or on both with different hashes. Never holds more than one row of each side.
 */
export async function* mergeRowHashes(
  publisher: AsyncIterable<{ key: RowKey; hash: string }>,
  subscriber: AsyncIterable<{ key: RowKey; hash: string }>,
  keys: readonly KeyColumn[],
): AsyncGenerator<RowDifference> {
  const p = publisher[Symbol.asyncIterator]();
  const s = subscriber[Symbol.asyncIterator]();
  let a = await p.next();
  let b = await s.next();
  while (!a.done || !b.done) {
    if (b.done || (!a.done && compareKeys(a.value.key, b.value.key, keys) < 0)) {
      const row = a.value!;
      yield { key: row.key, kind: 'missing', publisherHash: row.hash, subscriberHash: null };
      a = await p.next();
    } else if (a.done || compareKeys(a.value.key, b.value.key, keys) > 0) {
      yield { key: b.value.key, kind: 'extra', publisherHash: null, subscriberHash: b.value.hash };
      b = await s.next();
    } else {
      if (a.value.hash !== b.value.hash)
        yield {
          key: a.value.key,
          kind: 'different',
          publisherHash: a.value.hash,
          subscriberHash: b.value.hash,
        };
      a = await p.next();
      b = await s.next();
    }
  }
}

/** One table as the subscription's publications publish it. */
export interface PublishedScope {
  table: TableName;
  /** the column list (every column when the publication has none); null before 15 */
  columns: string[] | null;
  /** the row filters of the publications that publish it; null when one of them has none */
  filter: string | null;
  /** of insert, update, delete, truncate: those no publication of it publishes (PostgreSQL never sends them); null or absent: none */
  notReplicated?: string[] | null;
  /** the publications (of those read) that publish it */
  publications?: string[];
  /** its partition ancestors on the publisher, nearest first (`schema.table`); null or absent: not a partition */
  ancestors?: string[] | null;
}

/**
 * Of a published table's columns, those its publications send, given the names they send
 * (`pg_publication_tables.attnames`, 15+; null: every column, before 15): a generated column only
 * where named (PostgreSQL 18 sends one a column list names, or all with
 * publish_generated_columns = stored). What verify compares, steep's own copy copies and a
 * subscriber's table must have.
 */
export function sentColumns<T extends { name: string; generated: unknown }>(
  columns: readonly T[],
  sent: readonly string[] | null,
): T[] {
  return columns.filter((c) => (sent === null ? !c.generated : sent.includes(c.name)));
}

/**
 * The names the publications of a subscription send of table `t` (`columns`: its columns on the
 * publisher), as `sentColumns` takes them: a column list's names; every column but the virtual
 * generated ones where a publication lists none and has publish_generated_columns = stored (18);
 * null where one lists none without it (every column but the generated ones).
 */
export function sentNames(
  publications: readonly Pick<PublicationDef, 'allTables' | 'schemas' | 'tables' | 'generatedColumns'>[],
  t: TableName,
  columns: readonly { name: string; generated: 'stored' | 'virtual' | null }[],
): string[] | null {
  const listed = new Set<string>();
  let every: 'plain' | 'stored' | null = null;
  for (const p of publications) {
    const pt = p.tables.find((x) => x.schema === t.schema && x.name === t.name);
    if (!p.allTables && !p.schemas.includes(t.schema) && !pt) continue;
    if (pt?.columns) for (const c of pt.columns) listed.add(c);
    else every = every === 'stored' || p.generatedColumns === 'stored' ? 'stored' : 'plain';
  }
  if (every === 'stored') return columns.filter((c) => c.generated !== 'virtual').map((c) => c.name);
  return every === 'plain' || listed.size === 0 ? null : [...listed];
}

/** A table's columns and the key it can be compared by, on one node. */
export interface TableShape {
  table: TableName;
  columns: Array<KeyColumn & { generated: boolean }>;
  /** primary key, else replica identity index; null when neither */
  key: { source: string; columns: string[] } | null;
  estimatedRows: number;
  /** a partitioned table (its rows are its partitions'); else an ordinary one */
  partitioned: boolean;
  /** its row-level security as the connected role meets it; null when it has none (relrowsecurity off) */
  rowSecurity: RowSecurity | null;
}

/**
 * A table with row-level security enabled, and what decides whether the connected role reads
 * every row of it (planner/compare/rowSecurity.ts): a superuser or a role with BYPASSRLS always
 * does, its owner (or a member inheriting the owner's privileges) unless FORCE ROW LEVEL SECURITY.
 */
export interface RowSecurity {
  /** FORCE ROW LEVEL SECURITY: its owner is filtered too */
  forced: boolean;
  owner: string;
  /** its policies' names; none: PostgreSQL shows a filtered role no row at all (default deny) */
  policies: string[];
  /** the connected role */
  role: string;
  superuser: boolean;
  bypassRls: boolean;
  /** the role holds the owner's privileges: it is the owner, or a member inheriting them */
  asOwner: boolean;
}

/** The rows a repair of the diverged tables deletes (extra) and overwrites (different) on the subscriber. */
export function repairLosses(r: VerifyReport): { extra: number; different: number } {
  // a reinit copies the publisher's rows: the rows PostgreSQL rightly left apart go too
  const diverged = r.tables.filter((t) => t.status === 'diverged');
  return {
    extra: diverged.reduce((n, t) => n + t.extra + (t.allowed?.extra ?? 0), 0),
    different: diverged.reduce((n, t) => n + t.different + (t.allowed?.different ?? 0), 0),
  };
}

/** `276 extra row(s) exist only on west and are deleted, 3 different row(s) take east's values` */
export function lossText(r: VerifyReport, count: (n: number) => string = String): string {
  const { extra, different } = repairLosses(r);
  return [
    extra > 0 ? `${count(extra)} extra row(s) exist only on ${r.node} and are deleted` : '',
    different > 0 ? `${count(different)} different row(s) take ${r.from}'s values` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

/**
 * With `origin = none` (030_origin.pl) a publisher sends only the changes made on it: a table it
 * also receives through a subscription from a node other than `d`'s subscriber holds rows there
 * that `d` rightly never gets, so it is neither comparable, nor a data gap when empty, nor to be
 * copied. `schema.table` → those subscriptions of the publisher (`feeds`, with the node each
 * receives from: null when unknown); a subscription from `d`'s own subscriber (a link's way back)
 * brings that node's rows and does not count. Empty unless `d` has origin = none.
 */
export function fedUpstream(
  d: Pick<SubscriptionSpec, 'node' | 'options'>,
  feeds: ReadonlyArray<{ name: string; from: string | null; tables: readonly string[] }>,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (d.options.origin !== 'none') return out;
  for (const f of [...feeds].sort((a, b) => compareText(a.name, b.name))) {
    if (f.from === d.node) continue;
    for (const t of f.tables) out.set(t, [...(out.get(t) ?? []), f.name]);
  }
  return out;
}

/**
 * The ancestor a published partition's changes go out as, given its partition ancestors (nearest
 * first) and the relations a subscription's publications publish (pg_publication_tables): the
 * topmost ancestor published too, which only a publication with publish_via_partition_root
 * lists, or null. pgoutput sends the partition's changes as that ancestor's, with its row
 * filter alone, whatever publishes the partition itself, on every version (013_partition.pl,
 * 028_row_filter.pl); 16+ also leaves the partition out of the subscription (planner
 * `receivedFrom`). Nor is it copied on its own: its rows are copied with the ancestor's.
 */
export function publishedAncestor(
  ancestors: readonly string[] | null | undefined,
  published: ReadonlySet<string>,
): string | null {
  let top: string | null = null;
  for (const a of ancestors ?? []) if (published.has(a)) top = a;
  return top;
}

/** A partition of the scope replicated as an ancestor's (publishedAncestor): the ancestor and the publications that publish it. */
export interface ThroughAncestor {
  ancestor: string;
  publications: string[];
}

/** The partitions of `scope` PostgreSQL replicates as an ancestor's, by `schema.table`. */
export function throughAncestors(scope: PublishedScope[]): Map<string, ThroughAncestor> {
  const published = new Map(scope.map((s) => [qualifiedName(s.table), s]));
  const names = new Set(published.keys());
  const out = new Map<string, ThroughAncestor>();
  for (const s of scope) {
    const ancestor = publishedAncestor(s.ancestors, names);
    if (ancestor)
      out.set(qualifiedName(s.table), {
        ancestor,
        publications: published.get(ancestor)!.publications ?? [],
      });
  }
  return out;
}
