import { quoteIdent } from './sql.js';

/**
 * Column identity (docs/steep-yaml.md, "A renamed column"; docs/status.md, `gap`), pure.
 * PostgreSQL's apply worker maps the publisher's columns to the subscriber's by name. A
 * publisher that gives a name to another column — two columns swapped in one transaction, a
 * rename followed by a new column with the old name, a column dropped and added again — sends
 * the new column's changes into the subscriber's column of that name, where the rows copied
 * before keep the old column's values. Catalogs alone cannot tell a swap from a subscriber made
 * by hand with another column order, so steep keeps a baseline per (subscription, table): the
 * publisher's attnum (and type) of each column name, taken from the first reading that sees the
 * table's stream running (model/continuity.ts). A name whose attnum differs from the baseline's
 * while the subscriber still has a column of that name is a break.
 *
 * A plain rename (attnum kept, new name) is no break: the baseline keeps the old name while the
 * subscriber still has it (until steep's rename step, or the DBA, renames it there), so a new
 * column given the old name before then is still seen; once the subscriber no longer has the
 * old name the baseline follows the publisher.
 */

export interface ColumnIdentity {
  attnum: number;
  /** format_type of the column */
  type: string;
  /** the value PostgreSQL kept for the rows the column was added over (catalog/columnIdentity.ts); absent: none */
  kept?: string;
  /** in a baseline: the subscriber's own kept value for the column, as recorded beside the publisher's */
  subscriberKept?: string;
}

/** column name → identity on the publisher */
export type ColumnIdentities = Record<string, ColumnIdentity>;

export interface ColumnIdentityFacts {
  /** the publisher's columns now */
  publisher: ColumnIdentities;
  /** the subscriber's column names now */
  subscriber: readonly string[];
  /** the subscriber's kept values now, by column name (absent: none) */
  subscriberKept?: Readonly<Record<string, string>>;
}

export interface ColumnIdentityReading {
  /** why the stream of the table broke; null: no break */
  reason: string | null;
  /** the baseline to keep (unchanged when a break was found) */
  next: ColumnIdentities;
}

const sameIdentities = (a: ColumnIdentities, b: ColumnIdentities) =>
  Object.keys(a).length === Object.keys(b).length &&
  Object.entries(a).every(([n, x]) => b[n]?.attnum === x.attnum && b[n]?.type === x.type);

/** Whether two baselines differ (a reading that moved it is recorded). */
export function identitiesDiffer(a: ColumnIdentities | null, b: ColumnIdentities | null): boolean {
  if (a === null || b === null) return a !== b;
  return !sameIdentities(a, b);
}

/** Which name the publisher gives now to the column the baseline knew as attnum `n`. */
function nameNow(now: ColumnIdentities, attnum: number): string | null {
  return Object.entries(now).find(([, x]) => x.attnum === attnum)?.[0] ?? null;
}

/**
 * The reading of one table: `base` the recorded baseline (null: none yet, this reading takes
 * one), `f` the facts now, `table` and `from` for the sentence.
 */
export function readColumnIdentity(
  base: ColumnIdentities | null,
  f: ColumnIdentityFacts,
  table: string,
  from: string,
): ColumnIdentityReading {
  const subscriber = new Set(f.subscriber);
  const now = withSubscriberKept(f.publisher, f.subscriberKept);
  if (base === null) return { reason: null, next: now };
  const moved = Object.keys(base)
    .filter(
      (n) => subscriber.has(n) && f.publisher[n] !== undefined && f.publisher[n]!.attnum !== base[n]!.attnum,
    )
    .sort();
  if (moved.length > 0) return { reason: movedText(base, f.publisher, moved, table, from), next: base };
  const apart = Object.entries(now)
    .filter(
      ([n, x]) => keptApart(x) && (base[n]?.kept !== x.kept || base[n]?.subscriberKept !== x.subscriberKept),
    )
    .map(([n]) => n)
    .sort();
  if (apart.length > 0) return { reason: keptText(now, apart, table, from), next: base };
  const next: ColumnIdentities = { ...now };
  // a renamed column's old name, while the subscriber still has it
  for (const [n, x] of Object.entries(base))
    if (f.publisher[n] === undefined && subscriber.has(n)) next[n] = x;
  return { reason: null, next };
}

/**
 * The publisher's columns with the subscriber's kept value of each (`subscriberKept`): what a
 * baseline records, so that a pair of kept values it holds is no break.
 */
export function withSubscriberKept(
  publisher: ColumnIdentities,
  subscriberKept: Readonly<Record<string, string>> | undefined,
): ColumnIdentities {
  const out: ColumnIdentities = {};
  for (const [n, x] of Object.entries(publisher)) {
    const kept = subscriberKept?.[n];
    out[n] = kept === undefined ? x : { ...x, subscriberKept: kept };
  }
  return out;
}

/** The subscriber's kept values of `columns` (a node's identities), by name. */
export function keptValues(columns: ColumnIdentities): Record<string, string> {
  return Object.fromEntries(
    Object.entries(columns).flatMap(([n, x]) => (x.kept === undefined ? [] : [[n, x.kept]])),
  );
}

/**
 * Kept values apart: a column added on each side by its own ADD COLUMN over rows it held, with
 * a default PostgreSQL evaluated once (`DEFAULT now()`, schemaSync strict or manual: the DBA
 * adds it on both), gives each side's old rows its own value, and no change carries them.
 */
const keptApart = (x: ColumnIdentity) =>
  x.kept !== undefined && x.subscriberKept !== undefined && x.kept !== x.subscriberKept;

function keptText(now: ColumnIdentities, apart: string[], table: string, from: string): string {
  const each = apart.map(
    (n) => `${n} (${now[n]!.kept} on ${from}, ${now[n]!.subscriberKept} on the subscriber)`,
  );
  return (
    `column${apart.length === 1 ? '' : 's'} ${each.join(', ')} of ${table} ${apart.length === 1 ? 'was' : 'were'} ` +
    `added on each side with a default evaluated once, so the rows each held then keep another value on each, ` +
    'which no change carries'
  );
}

function movedText(
  base: ColumnIdentities,
  now: ColumnIdentities,
  moved: string[],
  table: string,
  from: string,
): string {
  const parts: string[] = [];
  const told = new Set<string>();
  for (const n of moved) {
    if (told.has(n)) continue;
    const other = nameNow(now, base[n]!.attnum);
    // a swap: n now is the column the baseline knew as `other`, and `other` now is n's
    if (
      other !== null &&
      moved.includes(other) &&
      now[other]!.attnum === base[n]!.attnum &&
      base[other]?.attnum === now[n]!.attnum
    ) {
      parts.push(
        `columns ${n} and ${other} of ${table} were swapped on ${from} (each name is now the other column)`,
      );
      told.add(other);
    } else {
      const was = other === null ? 'the column it named was dropped' : `the column it named is ${other} now`;
      parts.push(`column ${n} of ${table} on ${from} is another column now (${was}; ${n} was added again)`);
    }
    told.add(n);
  }
  return (
    `${parts.join('; ')}: PostgreSQL maps columns by name, so its changes reach the subscriber's column of that name, ` +
    "where the rows copied before still hold the old column's values"
  );
}

/**
 * The statement that adds to the subscriber's `table` the publisher's columns it lacks, with
 * their type only (NULL in the rows there, never a value made up by a default), or null.
 */
export function addMissingSql(table: string, f: ColumnIdentityFacts): string | null {
  const have = new Set(f.subscriber);
  const missing = Object.entries(f.publisher)
    .filter(([n]) => !have.has(n))
    .sort(([, x], [, y]) => x.attnum - y.attnum);
  if (missing.length === 0) return null;
  const dot = table.indexOf('.');
  const name = `${quoteIdent(table.slice(0, dot))}.${quoteIdent(table.slice(dot + 1))}`;
  return `ALTER TABLE ${name} ${missing.map(([n, x]) => `ADD COLUMN ${quoteIdent(n)} ${x.type}`).join(', ')}`;
}
