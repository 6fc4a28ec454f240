import { qualifiedName, type TableName } from '../../model/topology.js';
import {
  type KeyColumn,
  type NotVerifiable,
  type PublishedScope,
  sentColumns,
  type TableComparison,
  type TableShape,
  type ThroughAncestor,
} from '../../model/verify.js';
import { type AllowedKinds, allowedKinds, allowsEverything } from '../../model/verifyDirection.js';
import { rowSecurityRefusal } from './rowSecurity.js';

/**
 * What `verify` compares for each table of a subscription (docs/steep-yaml.md): the publisher's rows after
 * its row filter, on its column list, against the subscriber's same columns (extra subscriber
 * columns are ignored), by the publisher's primary key, else its replica identity index. Pure:
 * the caller reads the shapes.
 */

/** Rows per chunk the first pass aims at: small enough that a differing chunk is cheap to diff row by row. */
export const CHUNK_ROWS = 50_000;
/** At most this many chunks per table. */
export const MAX_CHUNKS = 2_000;

export function chunkCount(estimatedRows: number, chunkRows = CHUNK_ROWS): number {
  return Math.max(1, Math.min(MAX_CHUNKS, Math.ceil(estimatedRows / Math.max(1, chunkRows))));
}

/** The first pass returns at most about this many groups per table (chunks × sub-groups). */
export const MAX_GROUPS = 131_072;

/**
 * Sub-groups per chunk (a power of two, catalog/rowHashes.ts Grouping) so that a group holds
 * about `groupRows` rows, within MAX_GROUPS; 1 (chunks only) without `groupRows`.
 */
export function subGroupCount(estimatedRows: number, chunks: number, groupRows?: number): number {
  if (!groupRows) return 1;
  const perChunk = estimatedRows / Math.max(1, chunks);
  let subs = 1;
  while (subs * groupRows < perChunk && chunks * subs * 2 <= MAX_GROUPS) subs *= 2;
  return subs;
}

/**
 * Runs of consecutive values of a dense integer key from `lo` to `hi`, about `groups` of them
 * (catalog/rowHashes.ts KeySteps): each `width` values wide, the last one reaching `hi`.
 */
export function keySteps(
  ends: { lo: number; hi: number },
  groups: number,
): { lo: number; width: number; count: number } {
  const span = ends.hi - ends.lo + 1;
  const width = Math.max(1, Math.ceil(span / Math.max(1, groups)));
  return { lo: ends.lo, width, count: Math.ceil(span / width) };
}

/**
 * Types whose own hash a comparison can use instead of hashing the value's text (five times
 * cheaper): equal values of them print alike, so hashing the value misses no difference the
 * text would show. Not numeric (1.0 = 1.00), float (0 = -0), interval ('1 day' = '24 hours'),
 * json (no hash), nor a type that prints by a setting beyond those compareSession sets.
 */
const HASHED_BY_VALUE =
  /^(smallint|integer|bigint|boolean|text|character varying(\(\d+\))?|uuid|date|bytea|timestamp(\(\d\))? with(out)? time zone)$/;

export function hashesByValue(type: string): boolean {
  return HASHED_BY_VALUE.test(type);
}

/** How a table without a key is compared (`keyless`): its rows as a multiset, on every compared column. */
export const WHOLE_ROW = 'whole row (no key: compared as a multiset of rows)';

/**
 * `keyless`: a table with neither a primary key nor a replica identity index is compared as a
 * multiset of whole rows (keys empty; executors/tableCompare.ts) — what REPLICA IDENTITY FULL
 * replicates — instead of being refused (a merge needs keys to decide rows by). A table the
 * connected role reads through a row-level security policy on either node (`publisherNode`, the
 * publisher's name in that refusal) is refused last, once nothing else keeps it from being compared
 * (rowSecurity.ts). A table PostgreSQL does not send every change of (actions its publications do
 * not publish; `upstream`: the publisher's own subscriptions applying into it under origin = none)
 * is compared in PostgreSQL's direction, allowing the kinds of difference PostgreSQL rightly leaves
 * (model/verifyDirection.ts); not comparable when that is every kind, or when it has no key to
 * tell the kinds apart.
 */
export function planComparison(
  scope: PublishedScope,
  publisher: TableShape | undefined,
  subscriber: TableShape | undefined,
  subscriberNode: string,
  opts: {
    keyless?: boolean;
    publisherNode?: string;
    upstream?: { from: string; subscriptions: readonly string[] } | null;
  } = {},
): TableComparison | NotVerifiable {
  const table = scope.table;
  const name = qualifiedName(table);
  if (!publisher) return { table, reason: `${name} is published but cannot be read on the publisher` };
  if (!subscriber) return { table, reason: `${name} does not exist on ${subscriberNode}` };
  const allowed = allowedKinds(scope.notReplicated ?? [], opts.upstream ?? null);
  const direction = Object.keys(allowed).length > 0;
  if (direction && (allowsEverything(allowed) || !publisher.key))
    return {
      table,
      reason: notComparableReason(name, allowed, subscriberNode, !publisher.key),
      notComparable: true,
    };
  const key = publisher.key ?? (opts.keyless ? { source: WHOLE_ROW, columns: [] } : null);
  if (!key)
    return {
      table,
      reason: `${name} has neither a primary key nor a replica identity index to compare rows by`,
    };
  const columns = sentColumns(publisher.columns, scope.columns ?? null).map((c) => c.name);
  const missingKey = key.columns.find((k) => !columns.includes(k));
  if (missingKey)
    return { table, reason: `the column list of ${name} leaves out its key column ${missingKey}` };
  const absent = columns.filter((c) => !subscriber.columns.some((s) => s.name === c));
  if (absent.length > 0)
    return { table, reason: `${name} on ${subscriberNode} has no column ${absent.join(', ')}` };
  // both sides have every key column: it is one of the compared columns, which both have
  const keyColumns = (shape: TableShape): KeyColumn[] =>
    key.columns.map((n) => {
      const c = shape.columns.find((x) => x.name === n)!;
      return { name: c.name, type: c.type, collatable: c.collatable, integer: c.integer };
    });
  const pubKeys = keyColumns(publisher);
  const subKeys = keyColumns(subscriber);
  const i = pubKeys.findIndex(
    (p, j) => p.collatable !== subKeys[j]!.collatable || p.integer !== subKeys[j]!.integer,
  );
  if (i >= 0)
    return {
      table,
      reason: `key column ${pubKeys[i]!.name} of ${name} is ${pubKeys[i]!.type} on the publisher but ${subKeys[i]!.type} on ${subscriberNode}: rows cannot be ordered alike`,
    };
  const filtered =
    rowSecurityRefusal(table, opts.publisherNode ?? 'the publisher', publisher.rowSecurity) ??
    rowSecurityRefusal(table, subscriberNode, subscriber.rowSecurity);
  if (filtered) return { table, reason: filtered };
  const byValue = publisher.columns
    .filter((c) => columns.includes(c.name) && hashesByValue(c.type))
    .filter((c) => subscriber.columns.find((x) => x.name === c.name)?.type === c.type)
    .map((c) => ({ name: c.name, collatable: c.collatable }));
  return {
    table,
    keySource: key.source,
    publisher: { table, keys: pubKeys, columns, byValue, filter: scope.filter, only: !publisher.partitioned },
    subscriber: { table, keys: subKeys, columns, byValue, filter: null, only: !subscriber.partitioned },
    estimatedRows: publisher.estimatedRows,
    ...(direction ? { allowed } : {}),
  };
}

/** Why a table PostgreSQL leaves apart cannot be compared in its direction: every kind allowed, or no key. */
function notComparableReason(
  name: string,
  allowed: AllowedKinds,
  subscriberNode: string,
  keyless: boolean,
): string {
  const why = [...new Set(Object.values(allowed))].join('; ');
  return keyless
    ? `${name} is not comparable: ${why}, so ${subscriberNode} may rightly hold rows that differ from the publisher's, and without a key the rows PostgreSQL rightly leaves apart cannot be told from the others`
    : `${name} is not comparable: ${why}, so PostgreSQL may rightly leave rows missing, extra and different on ${subscriberNode}`;
}

export function isComparison(x: TableComparison | NotVerifiable): x is TableComparison {
  return 'publisher' in x;
}

function publishesAncestor(t: ThroughAncestor): string {
  const pubs = t.publications;
  return `publication${pubs.length === 1 ? '' : 's'} ${pubs.join(', ')} ${pubs.length === 1 ? 'publishes' : 'publish'} its partition ancestor ${t.ancestor} with publish_via_partition_root, so PostgreSQL sends its changes as ${t.ancestor}'s, with ${t.ancestor}'s row filter`;
}

/** `verify --tables` of a partition the subscription does not list (16+): its rows are its ancestor's. */
export function throughAncestorRefusal(name: string, t: ThroughAncestor): string {
  return `${name} is no table of the subscription: ${publishesAncestor(t)}, and leaves ${name} out of the subscription; its rows are compared in ${t.ancestor} (verify ${t.ancestor})`;
}

/**
 * A partition replicated as its ancestor's that the subscription lists too (before 16, which
 * copies it once on its own as well): what the subscriber holds in it is that copy, never
 * streamed into, so no comparison could call it equal or diverged.
 */
export function throughAncestorNotComparable(
  table: TableName,
  t: ThroughAncestor,
  subscriberNode: string,
): NotVerifiable {
  const name = qualifiedName(table);
  return {
    table,
    reason: `${name} is not comparable on its own: ${publishesAncestor(t)} (compared in ${t.ancestor}); before PostgreSQL 16 the subscription lists ${name} as well and copied it once on its own, so what ${subscriberNode} holds in it is that copy, which no change streams into`,
    notComparable: true,
  };
}
