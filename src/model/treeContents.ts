/**
 * What a published table holds that its membership rows do not say (model/continuity.ts reads
 * both): the tables under a partitioned table, which a publication through its root sends as
 * the root's, and the schema a table sits in, which a `TABLES IN SCHEMA` membership covers.
 * PostgreSQL never sends the rows a partition held when it was attached, keeps on the subscriber
 * the rows of one detached or dropped, and sends nothing of a table while it sits in another
 * schema; none of it touches a membership row. Its catalog rows do: ATTACH and CREATE … PARTITION
 * OF write a pg_inherits row, and `SET SCHEMA` rewrites the table's namespace row in pg_depend, so
 * a row version (`xmin/cmin`) other than the one recorded tells it even where it went and came back.
 */

/** A table under a partitioned table: its name to read it by, and its pg_inherits row's version. */
export interface Leaf {
  name: string;
  row: string;
}

/** What the publisher's table holds now (catalog/treeContents.ts). */
export interface TableContents {
  /** its namespace row's version in pg_depend; null: none read */
  ns: string | null;
  /** a partitioned table's tables under it, by oid; absent: not partitioned */
  leaves?: Record<string, Leaf>;
}

/** What a baseline keeps of it: the row versions only. */
export interface KeptContents {
  ns: string | null;
  leaves?: Record<string, string>;
}

export const keptContents = (c: TableContents): KeptContents => ({
  ns: c.ns,
  ...(c.leaves
    ? { leaves: Object.fromEntries(Object.entries(c.leaves).map(([oid, l]) => [oid, l.row])) }
    : {}),
});

/** The tables under the tree now that the baseline did not hold as they are (new, or attached again). */
export function newLeaves(before: KeptContents | null | undefined, now: TableContents | undefined): Leaf[] {
  if (!before?.leaves || !now?.leaves) return [];
  return Object.entries(now.leaves)
    .filter(([oid, l]) => before.leaves![oid] !== l.row)
    .map(([, l]) => l);
}

/** The facts of the table judged that this rule reads. */
interface Judged {
  from: string;
  table: string;
  /** publications that cover it through its schema */
  bySchema: readonly string[];
  contents?: TableContents;
  /** of each new leaf (by name): does it hold rows from before it joined (null: could not be read) */
  heldBefore?: Readonly<Record<string, boolean | null>>;
}

/**
 * Why the stream of `f.table` broke where what it holds changed since the baseline (none:
 * undefined): a table under it that left (detached or dropped: the subscriber keeps its rows), one
 * that joined holding rows from before (never sent), or the table out of its schema and back.
 */
export function contentsReason(before: KeptContents | null | undefined, f: Judged): string | undefined {
  const now = f.contents;
  if (!before || !now) return undefined;
  if (f.bySchema.length > 0 && before.ns && now.ns && before.ns !== now.ns)
    return `${f.table} on ${f.from} left its schema and came back (ALTER TABLE … SET SCHEMA) since steep's baseline: ${f.bySchema.join(', ')} publishes it through its schema, so changes made while it was in another were never sent`;
  if (!before.leaves || !now.leaves) return undefined;
  const left = Object.keys(before.leaves).filter((oid) => now.leaves![oid] === undefined);
  if (left.length > 0)
    return `${left.length === 1 ? 'a table' : `${left.length} tables`} under ${f.table} on ${f.from} (oid ${left.join(', ')}) left its partition tree since steep's baseline (detached or dropped): the subscriber keeps the rows ${left.length === 1 ? 'it' : 'they'} held, which ${f.table} on ${f.from} no longer has`;
  for (const l of newLeaves(before, now)) {
    const held = f.heldBefore?.[l.name];
    if (held === false) continue;
    return held
      ? `${l.name} joined the partition tree of ${f.table} on ${f.from} (ATTACH PARTITION) holding rows written before: PostgreSQL never sends them, so the subscriber lacks them`
      : `${l.name} joined the partition tree of ${f.table} on ${f.from} (ATTACH PARTITION) and steep could not read whether it held rows then: PostgreSQL never sends those, so the subscriber may lack them`;
  }
  return undefined;
}
