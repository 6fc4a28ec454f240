/**
 * What the rows a subscriber's table holds get from a column schema sync adds or retypes
 * (docs/steep-yaml.md, "A column added on the publisher"): their value comes from the subscriber's
 * ALTER, never from the stream, so they equal the publisher's only where that ALTER gives them
 * what the publisher's own ALTER gave its rows.
 *
 * A type change converts them with the subscriber's cast (`USING c::type`): the publisher's
 * conversion only where its ALTER used the same, which no catalog keeps (not `USING price / 100`).
 * It is always gated `data-gap`, with the comparison apply makes after it.
 *
 * An added column: which value the publisher's rows from before it hold, its catalog says in three
 * cases: none (no default: NULL on both sides), a generated column (computed from the row on each
 * side), and a default PostgreSQL evaluated once at its ADD COLUMN (`DEFAULT now()`, `DEFAULT 0`),
 * whose value it keeps (`attmissingval`, `TableColumn.missing`) until the table is rewritten: the
 * subscriber's column is added with that value, then given the publisher's default, once the
 * subscriber has applied the inserts the publisher made before its ADD COLUMN (they come without
 * the column, and take the subscriber's default when applied: `keptValueDefault`). Otherwise
 * (a volatile default PostgreSQL evaluated row by row, an identity, a table rewritten since, a
 * default set after the column was added) no catalog says what the publisher's rows hold, and
 * the step is gated `data-gap` with the copy that closes it.
 */
import { type StepGap, stepGapClosing } from '../../model/continuity.js';
import type { Hazard, Step } from '../../model/plan.js';
import { quoteLiteral } from '../../model/sql.js';
import { defaultText, type TableColumn } from '../../model/tableSchema.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { SCHEMA_CODES } from './schemaCodes.js';
import type { SyncInput } from './schemaSync.js';
import { addRewritesTable, alterColumn, alterTableSql } from './tableDdl.js';

/** What a column's subcommand in a table's sync step leaves besides itself. */
export interface ColumnEffects {
  /** statements after the ALTER TABLE */
  post: string[];
  gaps: StepGap[];
  hazards: Set<Hazard>;
  /** subcommands that set the defaults of columns the publisher keeps a value for, once the changes from before them are applied */
  defaults: Array<{ column: string; sql: string }>;
}

/** The ADD COLUMN subcommand of the publisher's column `c`, giving the subscriber's rows the publisher's value where the catalog says it. */
export function addColumnSql(s: SyncInput, c: TableColumn, out: ColumnEffects): string {
  const table = s.comparison.table;
  if (c.missing !== undefined) {
    // added with the value the publisher's old rows hold, then given the publisher's default (or
    // none: a default dropped after the ADD leaves its value in the old rows)
    keptValueDefault(s, c, out);
    return alterColumn.add({ ...c, default: `${quoteLiteral(c.missing)}::${c.type}` });
  }
  // without a default both sides' rows hold NULL; a generated column is computed from the row
  if (c.generated === null && defaultText(c) !== 'NULL') {
    const { gap, warning } = unknownValuesGap(s.d, table, c);
    out.gaps.push(gap);
    s.ctx.warn('data-gap', warning, { address: s.address, node: s.d.node });
    if (!c.notNull && c.identity === null) {
      // NULL in the old rows, then the default: what a column added without one and given it
      // after holds (the publisher's old rows then hold NULL too), and no rewrite
      out.post.push(alterTableSql(s.pubTable, [alterColumn.setDefault(c)]));
      return alterColumn.add({ ...c, default: null });
    }
  }
  if (addRewritesTable(c)) out.hazards.add('rewrites-table');
  const rows = s.subscriber.tables[table]?.estimatedRows ?? 0;
  if (c.notNull && defaultText(c) === 'NULL' && rows > 0) {
    s.ctx.warn(
      SCHEMA_CODES.notNullAdd,
      `column ${c.name} is added to ${table} on ${s.d.node} as NOT NULL without a default, and the table holds about ` +
        `${Math.round(rows)} rows: PostgreSQL refuses that (the step fails and changes nothing); fill the column by hand`,
      { address: s.address, node: s.d.node },
    );
  }
  return alterColumn.add(c);
}

/**
 * The ALTER COLUMN … TYPE subcommand of the publisher's column `c` over the subscriber's `r`: the
 * rows the subscriber holds are converted by its cast, gated `data-gap`.
 */
export function changeTypeSql(
  s: SyncInput,
  c: TableColumn,
  r: TableColumn,
  out: Pick<ColumnEffects, 'gaps'>,
): string {
  const { d } = s;
  const table = s.comparison.table;
  const cast = `${c.name}::${c.type}`;
  out.gaps.push({
    table,
    subscription: d.name,
    reason:
      `the type of column ${c.name} of ${table} was changed on ${d.node} by schema sync (${r.type} to ${c.type}): the ` +
      `rows ${d.node} held were converted with ${cast}, which ${d.from}'s catalog does not show is how its own were`,
  });
  s.ctx.warn(
    'data-gap',
    `subscription ${d.name}: the type of column ${c.name} of ${table} is changed on ${d.node} from ${r.type} to ` +
      `${c.type}, and the rows ${d.node} holds are converted with \`${cast}\`: they equal ${d.from}'s only where its ` +
      `own ALTER converted them the same way (not \`USING ${c.name} / 100\`), which no catalog keeps (hazard ` +
      `data-gap); ${stepGapClosing(d.name, [table])}`,
    { address: s.address, node: d.node },
  );
  return alterColumn.type(c);
}

/** The gap an added column whose old rows' values are unknown opens, and its sentence for the plan. */
function unknownValuesGap(
  d: SubscriptionSpec,
  table: string,
  c: TableColumn,
): { gap: StepGap; warning: string } {
  const why = c.identity
    ? 'an identity numbers the rows in the order each side stores them'
    : `${d.from} keeps no single value its rows from before ${c.name} got (a default evaluated row by row, a table rewritten since, or a default set after the column was added)`;
  // addColumnSql: a nullable column is added NULL, then given its default
  const got = !c.notNull && c.identity === null ? 'NULL' : `${d.node}'s own values of it`;
  return {
    gap: {
      table,
      subscription: d.name,
      reason: `column ${c.name} was added to ${table} on ${d.node} by schema sync: the rows ${d.node} held got ${got}, which ${d.from}'s catalog does not show are its values`,
    },
    warning:
      `subscription ${d.name}: column ${c.name} is added to ${table} on ${d.node} with ${defaultText(c)}, and the rows ` +
      `${d.node} holds get ${got}, not necessarily ${d.from}'s: ${why} (hazard data-gap); ${stepGapClosing(d.name, [table])}`,
  };
}

/**
 * A stored generated column of the subscriber made plain (DROP EXPRESSION) to take the values a
 * publication sends of the publisher's generated one (schemaScope.ts asReceived). It runs before
 * the publication's change (else the apply worker fails on every change until it does), so the
 * changes the publisher made before that change and the subscriber applies after this one come
 * without the column: those rows get NULL. And with another generation expression the rows it
 * holds keep their own values. Always gated `data-gap`, with the comparison apply makes after
 * it: with no write in between, equal.
 */
export function madePlainGap(
  s: SyncInput,
  l: TableColumn,
  r: TableColumn,
  out: Pick<ColumnEffects, 'gaps'>,
): void {
  const { d } = s;
  const table = s.comparison.table;
  const sent = s.pub.tables[table]?.columns?.find((c) => c.name === r.name);
  if (l.generated !== null || r.generated !== 'stored' || sent?.generated !== 'stored') return;
  const window = `the rows ${d.from} writes before its publication sends ${r.name} and ${d.node} applies after get NULL`;
  const own =
    sent.default === r.default
      ? ''
      : `, and the rows ${d.node} holds keep what its own expression (${r.default}) computed, not ${d.from}'s (${sent.default})`;
  out.gaps.push({
    table,
    subscription: d.name,
    reason: `column ${r.name} of ${table} was made plain on ${d.node} by schema sync to take the values ${d.from} sends: ${window}${own}`,
  });
  s.ctx.warn(
    'data-gap',
    `subscription ${d.name}: column ${r.name} of ${table} is generated on ${d.node}, which refuses the values ${d.from} ` +
      `now sends: it is made plain first (DROP EXPRESSION), then the publication sends them; ${window}${own} ` +
      `(hazard data-gap: stop the writes to ${table} until apply has run, or copy it); ${stepGapClosing(d.name, [table])}`,
    { address: s.address, node: d.node },
  );
}

/**
 * The default of the publisher's column `c`, which keeps a value for its rows from before its
 * ADD COLUMN (`c.missing`), given to the subscriber's plain column. The inserts the publisher
 * made before that ADD come without the column, and the subscriber's apply worker gives them
 * the default the column has when it applies them: it must be that value until they are
 * applied. Where the subscription exists, the default is set after the step's other
 * statements once nothing from before is on its way (`defaults`, `defaultsAfter`:
 * executors/keptDefaults.ts); where it does not exist yet, nothing is; where it has no slot
 * (slot_name NONE), steep can neither wait nor read, and the step is gated `data-gap`.
 */
export function keptValueDefault(s: SyncInput, c: TableColumn, out: ColumnEffects): void {
  const { d } = s;
  const table = s.comparison.table;
  const sql = c.default === null ? alterColumn.dropDefault(c) : alterColumn.setDefault(c);
  const o = s.subscriber.subscriptions[d.name];
  if (o && !o.slotNone) {
    out.defaults.push({ column: c.name, sql });
    return;
  }
  out.post.push(alterTableSql(s.pubTable, [sql]));
  if (o === undefined) return;
  const window =
    `the rows ${d.from} inserted before its ADD COLUMN of ${c.name} that ${d.node} applies after this step get ` +
    `${d.node}'s default, not the value ${d.from}'s rows from before it hold`;
  out.gaps.push({
    table,
    subscription: d.name,
    reason: `the default of column ${c.name} of ${table} was set on ${d.node} by schema sync while subscription ${d.name} had no slot: ${window}`,
  });
  s.ctx.warn(
    'data-gap',
    `subscription ${d.name}: the default of column ${c.name} of ${table} is set on ${d.node} while the subscription ` +
      `has no slot (slot_name NONE), so steep can neither wait until it has applied what ${d.from} wrote before adding ` +
      `the column nor read whether it has: ${window} (hazard data-gap); ${stepGapClosing(d.name, [table])}`,
    { address: s.address, node: d.node },
  );
}

/**
 * `statements` with the subcommands `keptValueDefault` left to set after the wait appended as
 * one ALTER TABLE, and the step's `defaultsAfter` that tells apply where to wait.
 */
export function defaultsLast(
  s: SyncInput,
  statements: string[],
  defaults: ColumnEffects['defaults'],
): Pick<Step, 'defaultsAfter'> {
  const o = s.subscriber.subscriptions[s.d.name];
  if (defaults.length === 0 || o === undefined) return {};
  statements.push(
    alterTableSql(
      s.pubTable,
      defaults.map((x) => x.sql),
    ),
  );
  return {
    defaultsAfter: {
      node: s.d.from,
      subscription: s.d.name,
      slots: [o.slot],
      table: s.comparison.table,
      columns: defaults.map((x) => x.column),
      from: statements.length - 1,
    },
  };
}
