import { type Address, subscriptionAddress } from '../../model/address.js';
import type { ObservedNode } from '../../model/cluster.js';
import type { SchemaComparison } from '../../model/plan.js';
import {
  type NodeTableSchemas,
  type ObservedTableSchema,
  type TableComparison,
  type TableSchema,
  withColumns,
} from '../../model/tableSchema.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { listText, type PlanContext, sortedKeys, stepKey } from '../context.js';
import { digestOf } from '../digest.js';
import { findRename, renameAppliedText, renameOrAddText } from './columnRename.js';
import { SCHEMA_CODES } from './schemaCodes.js';
import { compareTables, describeDifference, differs, onlyFillableExtras } from './schemaCompare.js';
import { asReceived, lacksObjects, received } from './schemaScope.js';
import { alterColumn, alterTableSql, renameColumnSql } from './tableDdl.js';
import { type Creations, planTableSync } from './tableSync.js';

/**
 * Schema sync (docs/steep-yaml.md): for every subscription, each table it receives is compared on its
 * publisher and subscriber. The subscription's `schemaSync` decides what a difference does:
 *   strict  a plan error per table, naming every column that differs
 *   auto    a `sync-schema` step per table on the subscriber, with the DDL that makes it match
 *           (`tableSync.ts`), and the publisher's indexes and constraints it lacks (`objectSync.ts`); the subscription's own step waits for it (returned as `waits`). What cannot be done exactly (a type from
 *           an extension, a domain, a partitioned table, a column that would have to become
 *           generated) is a plan error and no step for that table: never a half-applied DDL.
 *   manual  a warning per table; apply asks for confirmation (or --accept-schema-drift); an
 *           error where a publisher column is missing (the apply worker stops on the table),
 *           naming the statement to run (a rename when `columnRename.ts` recognises one)
 * ORDER_DIFFERS is reported, never a failure: logical replication maps columns by name. But a
 * table whose publisher gave a column name to another column since steep's baseline (a swap, a
 * rename then an add, a drop then an add: model/columnIdentity.ts) is a plan error in every
 * mode, naming what changed and the way out (copy it again): its rows on the subscriber are in
 * the wrong columns, and no DDL of schema sync, least of all a column added with a default's
 * made-up values, puts them right.
 * Extra columns on the subscriber are kept and reported.
 *
 * Only subscriptions whose publisher and subscriber were both read with table definitions
 * are compared (the catalog reads them for the tables steep.yaml's subscriptions receive).
 */

/**
 * What of a node's table definitions goes into the observed digest: the fingerprints stand for
 * the columns (hashing every column of every table would cost CPU on every plan).
 */
export function tableSchemasDigest(t: NodeTableSchemas<ObservedTableSchema> | undefined): unknown {
  if (!t) return undefined;
  const tables: Record<string, string> = {};
  for (const [qn, x] of Object.entries(t.tables))
    tables[qn] = `${x.kind}${x.partition ? '+' : ''} ${x.fingerprint} ${x.primaryKey?.join(',') ?? ''}`;
  return digestOf({
    tables,
    types: t.types,
    sequences: t.sequences,
    schemas: t.schemas,
    extensions: t.extensions,
    objects: t.objects,
  });
}

/** What schema sync gives the plan: every table compared, and what the subscriptions' steps wait for. */
export function planSchemaSync(ctx: PlanContext) {
  const out: SchemaComparison[] = [];
  /** a subscription's step key → the `sync-schema` steps of its tables: it runs once they match */
  const waits = new Map<string, string[]>();
  const creations: Creations = new Map();
  const references = new Map<string, string[]>();
  for (const name of sortedKeys(ctx.desired.subscriptions)) {
    const d = ctx.desired.subscriptions[name]!;
    const publisher = ctx.node(d.from);
    const subscriber = ctx.node(d.node);
    if (!publisher?.tableSchemas || !subscriber?.tableSchemas) continue;
    const tables = received(
      ctx.desired,
      d,
      publisher.tableSchemas,
      ctx.desired.settings.stateSchema,
      publisher,
    );
    const tableKeys: string[] = [];
    for (const [table, r] of tables) {
      const columns = r.columns;
      const sent = publisher.tableSchemas.tables[table] ?? null;
      const left = asReceived(sent, r);
      const comparison = compareTables(left, subscriber.tableSchemas.tables[table] ?? null, table, columns);
      const broken = subscriber.columnGaps?.[d.name]?.[table];
      if (broken) {
        out.push({ ...toSchemaComparison(d, comparison), identityChanged: broken.reason });
        ctx.error(
          SCHEMA_CODES.columnIdentity,
          `subscription ${d.name}: ${broken.reason}; schema sync cannot put the rows right: ${broken.wayOut}`,
          { address: subscriptionAddress(d.name), node: d.node },
        );
        continue;
      }
      out.push(toSchemaComparison(d, comparison));
      if (
        !differs(comparison.status) &&
        !comparison.columns.some((x) => x.kind === 'extra') &&
        !lacksObjects(d, publisher.tableSchemas, subscriber.tableSchemas, table)
      )
        continue;
      const sync = new SyncInput(ctx, d, publisher, subscriber, comparison, columns);
      if (d.schemaSync !== 'auto' && onlyFillableExtras(comparison.columns)) reportExtras(sync);
      else if (d.schemaSync === 'strict') reportStrict(sync);
      else if (d.schemaSync === 'manual') reportManual(sync);
      else {
        const key = planTableSync(sync, creations, references);
        // a rename waits for the subscription's step instead (tableSync.ts)
        if (key && !ctx.steps.some((x) => x.key === key && x.renamedAfter)) tableKeys.push(key);
        // a generated column made plain to take the values a publication change sends: before it
        if (key && left !== sent) publicationWaits(d, key, waits);
      }
    }
    // the subscription's create/alter runs once its tables match
    if (tableKeys.length > 0) waits.set(stepKey('subscription', d.node, d.name), tableKeys);
  }
  referencedFirst(ctx, references);
  return { comparisons: out, waits };
}

/** The steps of `d`'s publications, on its publisher, wait for the subscriber's step `key`. */
function publicationWaits(d: SubscriptionSpec, key: string, waits: Map<string, string[]>): void {
  for (const p of d.publications) {
    const k = stepKey('publication', d.from, p);
    waits.set(k, [...(waits.get(k) ?? []), key]);
  }
}

/**
 * A table's foreign keys are added once the tables they reference have their own steps done
 * (created, their unique keys built). Two tables whose steps each add a foreign key to the other
 * would wait for each other: the second keeps no wait (left alone: see docs/steep-yaml.md).
 */
function referencedFirst(ctx: PlanContext, references: Map<string, string[]>): void {
  for (const [key, refs] of references) {
    const step = ctx.steps.find((x) => x.key === key);
    if (!step) continue;
    for (const r of refs) {
      const other = ctx.steps.find((x) => x.key === r);
      if (other && !other.deps.includes(key) && !step.deps.includes(r)) step.deps.push(r);
    }
  }
}

function toSchemaComparison(d: SubscriptionSpec, c: TableComparison<ObservedTableSchema>): SchemaComparison {
  return {
    subscription: d.name,
    table: c.table,
    status: c.status,
    columns: c.columns.map((x) => ({
      column: x.column,
      kind: x.kind,
      publisher: x.left,
      subscriber: x.right,
    })),
    publisher: d.from,
    subscriber: d.node,
    publisherFingerprint: c.left?.fingerprint ?? null,
    subscriberFingerprint: c.right?.fingerprint ?? null,
  };
}

export class SyncInput {
  readonly pub: NodeTableSchemas<ObservedTableSchema>;
  readonly sub: NodeTableSchemas<ObservedTableSchema>;
  /** the compared tables, read with their columns (they differ) */
  readonly pubTable: TableSchema;
  readonly subTable: TableSchema | null;
  readonly address: Address;

  constructor(
    readonly ctx: PlanContext,
    readonly d: SubscriptionSpec,
    readonly publisher: ObservedNode,
    readonly subscriber: ObservedNode,
    readonly comparison: TableComparison<ObservedTableSchema>,
    readonly columns: ReadonlySet<string> | null,
  ) {
    this.pub = publisher.tableSchemas!;
    this.sub = subscriber.tableSchemas!;
    this.pubTable = withColumns(comparison.left!);
    this.subTable = comparison.right && withColumns(comparison.right);
    this.address = { kind: 'table', node: subscriber.name, table: comparison.table };
  }

  /** `table public.orders differs between east (publisher) and west (subscriber): …` */
  differences(): string {
    const { d, comparison: c } = this;
    if (c.status === 'LOCAL_ONLY')
      return `table ${c.table} exists on ${d.from} (publisher) but not on ${d.node} (subscriber)`;
    return `table ${c.table} differs between ${d.from} (publisher) and ${d.node} (subscriber): ${c.columns
      .map((x) => describeDifference(x, d.from, d.node))
      .join('; ')}`;
  }
}

function reportStrict(s: SyncInput): void {
  s.ctx.error(
    SCHEMA_CODES.mismatch,
    `subscription ${s.d.name} (schemaSync: strict): ${s.differences()}; make ${s.d.node} match ${s.d.from}, ` +
      'or set schemaSync: auto to let steep do it',
    { address: subscriptionAddress(s.d.name), node: s.d.node },
  );
}

/** Extra subscriber columns that replicated rows fill (NULL or a default): PostgreSQL accepts them. */
function reportExtras(s: SyncInput): void {
  const table = s.comparison.table;
  for (const x of s.comparison.columns) {
    s.ctx.warn(
      SCHEMA_CODES.extraColumn,
      `subscription ${s.d.name}: column ${x.column} of ${table} (${x.right}) exists only on ${s.d.node} (the subscriber): ` +
        `kept; rows replicated from ${s.d.from} leave it ${/ DEFAULT | GENERATED /.test(x.right ?? '') ? 'at its default' : 'NULL'}`,
      { address: subscriptionAddress(s.d.name), node: s.d.node },
    );
  }
}

function reportManual(s: SyncInput): void {
  const missing = s.comparison.columns.filter((x) => x.kind === 'missing');
  if (missing.length > 0 && s.subTable) {
    // apply has nothing to run in manual mode: it must not say "No changes" while the table cannot replicate
    const r = findRename(s.pubTable, s.subTable, s.columns);
    const todo =
      r === null
        ? `add ${missing.length > 1 ? 'them' : 'it'} on ${s.d.node} (${alterTableSql(
            s.pubTable,
            s.pubTable.columns.filter((c) => missing.some((m) => m.column === c.name)).map(alterColumn.add),
          ).replace(/\n\s*/g, ' ')})`
        : r.kind === 'rename'
          ? `${r.to.name} is ${r.from.name} renamed (same definition, same position): rename it on ${s.d.node} ` +
            `(${renameColumnSql(s.pubTable, r.from.name, r.to.name)}) once ${s.d.node} has applied every change from ` +
            `before the rename, which still name ${r.from.name} (has it? ${renameAppliedText(s, r.from.name)})`
          : renameOrAddText(s.pubTable, r, s.d.node);
    s.ctx.error(
      SCHEMA_CODES.cannotApply,
      `subscription ${s.d.name} (schemaSync: manual): ${s.differences()}; PostgreSQL cannot apply the rows of ` +
        `${s.comparison.table} to ${s.d.node} without ${listText(missing.map((m) => m.column))} (its apply worker stops on ` +
        `the table until the column exists), and steep leaves the change to you: ${todo}; or set schemaSync: auto`,
      { address: subscriptionAddress(s.d.name), node: s.d.node },
    );
    return;
  }
  s.ctx.warn(
    SCHEMA_CODES.manual,
    `subscription ${s.d.name} (schemaSync: manual): ${s.differences()}; steep leaves it to you, and apply asks ` +
      'for confirmation (or --accept-schema-drift)',
    { address: subscriptionAddress(s.d.name), node: s.d.node },
  );
}
