/**
 * Schema sync, `schemaSync: auto` (one idea: the `sync-schema` step of one table, docs/steep-yaml.md): the
 * DDL that makes a subscriber's table match its publisher's — CREATE TABLE, or one ALTER TABLE
 * of added columns, types, defaults, identity, generation and nullability — with the schemas,
 * enum types and sequences it needs first. Built whole, then planned whole or refused whole
 * (a plan error per problem): never a half-applied DDL. `schemaSync.ts` decides which tables
 * come here.
 */
import { gatedGaps, type StepGap } from '../../model/continuity.js';
import type { Change, Hazard, Step } from '../../model/plan.js';
import {
  columnDefinitionText,
  defaultText,
  type TableColumn,
  type TableSchema,
  type TypeRef,
} from '../../model/tableSchema.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { GENERATED_COLUMNS_MIN_VERSION, majorVersion, PG18 } from '../../model/versions.js';
import { listText, PHASE, sameJson, stepKey } from '../context.js';
import { digestOf } from '../digest.js';
import { tx } from '../sqlBuild.js';
import { type ColumnRename, findRename, renameOrAddText } from './columnRename.js';
import { kindOf, syncDefault } from './defaultSync.js';
import { planObjectSync } from './objectSync.js';
import {
  addColumnSql,
  type ColumnEffects,
  changeTypeSql,
  defaultsLast,
  keptValueDefault,
  madePlainGap,
} from './oldRowValues.js';
import { SCHEMA_CODES } from './schemaCodes.js';
import type { SyncInput } from './schemaSync.js';
import { syncReasonText } from './syncReason.js';
import {
  alterColumn,
  alterTableSql,
  createEnumSql,
  createSchemaSql,
  createSequenceSql,
  createTableSql,
  ownSequenceSql,
  renameColumnSql,
  replicaIdentityFullSql,
} from './tableDdl.js';

/** Schemas, enum types and sequences a step creates on a node (by `[node, kind, name]`), to its step's key: later steps depend on it instead. */
export type Creations = Map<string, string>;

/** One table's sync, built up and then either planned whole or refused whole. */
class TableSync {
  readonly pre: string[] = [];
  /** the ALTER TABLE subcommands by the pass PostgreSQL runs them in, written out in that order for the reader */
  readonly subcommands = {
    drops: [] as string[],
    types: [] as string[],
    setNotNull: [] as string[],
    sets: [] as string[],
    adds: [] as string[],
  };
  readonly post: string[] = [];
  readonly changes: Change[] = [];
  readonly hazards = new Set<Hazard>();
  /** the gaps its added and retyped columns open in the subscriber's rows (oldRowValues.ts) */
  readonly gaps: StepGap[] = [];
  readonly defaults: ColumnEffects['defaults'] = [];
  readonly deps = new Set<string>();
  readonly problems: string[] = [];
  renamedAfter: Step['renamedAfter'];
  private readonly claims = new Set<string>();
  private readonly warnedLabels = new Set<string>();

  constructor(
    readonly s: SyncInput,
    readonly creations: Creations,
    readonly key: string,
  ) {}

  private need(kind: 'schema' | 'type' | 'sequence', name: string, create: () => string | null): void {
    const k = JSON.stringify([this.s.subscriber.name, kind, name]);
    if (this.claims.has(k)) return;
    const creator = this.creations.get(k);
    // made by another table's step: depend on it (the same table's step, planned by another
    // subscription, holds it already: build the same statements again, to compare)
    if (creator !== undefined && creator !== this.key) {
      this.deps.add(creator);
      return;
    }
    const sql = create();
    if (sql === null) return;
    this.claims.add(k);
    this.pre.push(sql);
  }

  commitClaims(): void {
    for (const k of this.claims) this.creations.set(k, this.key);
  }

  requireSchema(schema: string): void {
    if (this.s.sub.schemas.includes(schema)) return;
    this.need('schema', schema, () => createSchemaSql(schema));
  }

  requireType(ref: TypeRef | null, column: string): void {
    // null: read without what CREATE needs, which auto mode always reads
    if (ref === null || ref.schema === 'pg_catalog' || ref.schema === 'information_schema') return;
    const { s } = this;
    const qn = `${ref.schema}.${ref.name}`;
    const here = s.sub.types[qn];
    const there = s.pub.types[qn];
    if (here) {
      if (
        here.kind === 'enum' &&
        there?.kind === 'enum' &&
        !sameJson(here.labels, there.labels) &&
        !this.warnedLabels.has(qn)
      ) {
        this.warnedLabels.add(qn);
        s.ctx.warn(
          SCHEMA_CODES.enumLabels,
          `enum type ${qn} has labels ${listText(there.labels ?? [])} on ${s.d.from} but ${listText(here.labels ?? [])} ` +
            `on ${s.d.node}: rows with a label ${s.d.node} lacks will fail to replicate; add them with ALTER TYPE … ADD VALUE on ${s.d.node}`,
          { address: s.address, node: s.d.node },
        );
      }
      return;
    }
    const where = `column ${column} of ${s.comparison.table}`;
    if (!there)
      this.problems.push(
        `${where} has type ${qn}, which does not exist on ${s.d.node} and is not a type steep can read on ${s.d.from} ` +
          `(a table's row type?): create it on ${s.d.node} first`,
      );
    else if (there.extension)
      this.problems.push(
        s.sub.extensions.includes(there.extension)
          ? `${where} has type ${qn} from extension ${there.extension}; ${s.d.node} has that extension but no type ${qn} ` +
              `(installed in another schema?): make the extension's schema the same on both nodes`
          : `${where} has type ${qn} from extension ${there.extension}, which is not installed on ${s.d.node}: ` +
              `run CREATE EXTENSION ${there.extension} on ${s.d.node} (steep does not install extensions)`,
      );
    else if (there.kind !== 'enum')
      this.problems.push(
        `${where} has type ${qn} (a ${there.kind} type), which does not exist on ${s.d.node}, and steep creates only ` +
          `enum types: create ${qn} on ${s.d.node} first`,
      );
    else {
      this.requireSchema(there.schema);
      this.need('type', qn, () => createEnumSql(there));
    }
  }

  requireSequences(c: TableColumn, table: TableSchema): void {
    const { s } = this;
    for (const qn of c.sequences) {
      if (s.sub.sequences[qn]) continue;
      const seq = s.pub.sequences[qn];
      if (!seq) {
        this.problems.push(
          `the default of column ${c.name} of ${s.comparison.table} uses sequence ${qn}, which does not exist on ${s.d.node} ` +
            `and cannot be read on ${s.d.from}: create it on ${s.d.node} first`,
        );
        continue;
      }
      this.requireSchema(seq.schema);
      this.need('sequence', qn, () => createSequenceSql(seq));
      if (seq.ownedBy?.table === `${table.schema}.${table.name}` && seq.ownedBy.column === c.name)
        this.post.push(ownSequenceSql(seq, table, c.name));
    }
  }

  requireColumnFeatures(c: TableColumn): void {
    const v = this.s.subscriber.serverVersion;
    if (c.generated === 'virtual' && v < PG18) {
      this.problems.push(
        `column ${c.name} of ${this.s.comparison.table} is a virtual generated column, which needs PostgreSQL 18; ` +
          `${this.s.d.node} runs PostgreSQL ${majorVersion(v)}`,
      );
    }
  }
}

function reverseAutoSubscription(s: SyncInput): SubscriptionSpec | undefined {
  return Object.values(s.ctx.desired.subscriptions).find(
    (r) => r.node === s.d.from && r.from === s.d.node && r.schemaSync === 'auto' && r.name !== s.d.name,
  );
}

/**
 * Plan the sync step of one table (or errors for it); returns the step's key when there is one.
 * `references`: the steps its foreign keys wait for, by its key (planSchemaSync keeps those planned).
 */
export function planTableSync(
  s: SyncInput,
  creations: Creations,
  references: Map<string, string[]>,
): string | undefined {
  const key = stepKey('table', s.d.node, s.comparison.table);
  const sync = new TableSync(s, creations, key);
  if (s.subTable === null) createTable(s, sync);
  else alterTable(s, s.subTable, sync);

  if (sync.problems.length > 0) {
    for (const p of sync.problems) {
      s.ctx.error(SCHEMA_CODES.cannotSync, `subscription ${s.d.name} (schemaSync: auto): ${p}`, {
        address: s.address,
        node: s.d.node,
      });
    }
    return undefined;
  }
  const subcommands = Object.values(sync.subcommands).flat();
  const objects = planObjectSync(s, s.subTable === null);
  const statements = [
    ...sync.pre,
    ...(s.subTable === null ? [createTableSql(s.pubTable, columnsToCreate(s))] : []),
    ...(subcommands.length > 0 ? [alterTableSql(s.pubTable, subcommands)] : []),
    ...sync.post,
    ...objects.statements,
  ];
  const defaultsAfter = defaultsLast(s, statements, sync.defaults);
  if (statements.length === 0) return undefined;

  // another subscription into the same table on this node planned it already
  const other = s.ctx.steps.find((x) => x.key === key);
  if (other) {
    const same = other.statements.map((x) => x.sql);
    if (sameJson(same, statements)) return key;
    s.ctx.error(
      SCHEMA_CODES.conflict,
      `table ${s.comparison.table} on ${s.d.node} is received by more than one subscription with schemaSync: auto, ` +
        `and their publishers define it differently: make the publishers match first`,
      { address: s.address, node: s.d.node },
    );
    return undefined;
  }
  sync.commitClaims();
  if (s.subTable !== null && objects.statements.length > 0) sync.hazards.add('locks-table');
  if (objects.references.length > 0) references.set(key, objects.references);
  const gate = gatedGaps(sync.gaps);
  s.ctx.steps.push({
    key,
    phase: PHASE.tables,
    address: s.address,
    node: s.d.node,
    kind: 'table-sync',
    action: 'sync-schema',
    reason: 'schema-mismatch',
    reasonText: syncReasonText(s, objects, defaultsAfter),
    changes: [...sync.changes, ...objects.changes, ...gate.changes],
    statements: statements.map(tx),
    hazards: [...sync.hazards, ...gate.hazards],
    deps: [...sync.deps],
    catalogDigest: digestOf({
      table: { publisher: s.pubTable, subscriber: s.subTable },
      ...(objects.built.length > 0 ? { objects: objects.built } : {}),
    }),
    ...(sync.renamedAfter ? { renamedAfter: sync.renamedAfter } : {}),
    ...defaultsAfter,
  });
  return key;
}

/** The publisher's columns a created table gets: those received, and the primary key's. */
function columnsToCreate(s: SyncInput): TableColumn[] {
  const pk = new Set(s.pubTable.primaryKey ?? []);
  return s.pubTable.columns.filter((c) => s.columns === null || s.columns.has(c.name) || pk.has(c.name));
}

function createTable(s: SyncInput, sync: TableSync): void {
  const t = s.pubTable;
  if (t.kind === 'p' || t.partition) {
    sync.problems.push(
      `${s.comparison.table} is ${t.kind === 'p' ? 'a partitioned table' : 'a partition'} on ${s.d.from} and does not exist on ` +
        `${s.d.node}; steep does not create partitioned tables or partitions: create it on ${s.d.node} as on ${s.d.from}`,
    );
    return;
  }
  sync.requireSchema(t.schema);
  const columns = columnsToCreate(s);
  for (const c of columns) {
    sync.requireType(c.baseType, c.name);
    sync.requireColumnFeatures(c);
    sync.requireSequences(c, t);
  }
  if (t.replicaIdentity === 'f') sync.post.push(replicaIdentityFullSql(t));
  sync.changes.push({
    path: 'columns',
    before: null,
    after: columns.map((c) => `${c.name} ${columnDefinitionText(c)}`),
  });
  if (t.primaryKey) sync.changes.push({ path: 'primaryKey', before: null, after: t.primaryKey });
}

function alterTable(s: SyncInput, subTable: TableSchema, sync: TableSync): void {
  const t = s.pubTable;
  const subByName = new Map(subTable.columns.map((c) => [c.name, c]));
  const reverse = reverseAutoSubscription(s);
  const rename = findRename(t, subTable, s.columns);
  if (rename !== null) {
    renameColumn(s, rename, reverse, sync);
    return;
  }
  for (const l of t.columns) {
    if (s.columns !== null && !s.columns.has(l.name)) continue;
    const r = subByName.get(l.name);
    if (r) changeColumn(s, l, r, subTable, sync, reverse);
    else sync.subcommands.adds.push(addColumn(s, l, subTable, sync));
  }
  subscriberOnlyColumns(s, subTable, sync);
}

/** A column renamed on the publisher (the whole step, as nothing else differs), or a problem. */
function renameColumn(
  s: SyncInput,
  r: ColumnRename,
  reverse: SubscriptionSpec | undefined,
  sync: TableSync,
): void {
  if (r.kind === 'unclear') sync.problems.push(renameOrAddText(s.pubTable, r, s.d.node));
  else if (reverse)
    sync.problems.push(
      `column ${r.to.name} of ${s.comparison.table} on ${s.d.from} is ${r.from.name} on ${s.d.node}, and subscriptions ` +
        `${s.d.name} and ${reverse.name} replicate it both ways with schemaSync: auto: steep cannot tell which side renamed ` +
        `it; rename it by hand on the side that is wrong`,
    );
  else {
    sync.post.push(renameColumnSql(s.pubTable, r.from.name, r.to.name));
    // the changes from before the rename are applied first (executors/renameGuard.ts), and so the
    // subscription's own step (an ENABLE, say) runs first; planSchemaSync keeps it from waiting for this one
    if (s.subscriber.subscriptions[s.d.name]) {
      sync.renamedAfter = { subscription: s.d.name, table: s.comparison.table, column: r.from.name };
      sync.deps.add(stepKey('subscription', s.d.node, s.d.name));
    }
    sync.changes.push({ path: `columns.${r.from.name}.name`, before: r.from.name, after: r.to.name });
    sync.hazards.add('locks-table');
  }
}

/** A publisher's column the subscriber lacks: its ADD COLUMN subcommand. */
function addColumn(s: SyncInput, l: TableColumn, subTable: TableSchema, sync: TableSync): string {
  sync.requireType(l.baseType, l.name);
  sync.requireColumnFeatures(l);
  sync.requireSequences(l, subTable);
  sync.changes.push({ path: `columns.${l.name}`, before: null, after: columnDefinitionText(l) });
  sync.hazards.add('locks-table');
  return addColumnSql(s, l, sync);
}

/**
 * A column on both sides: its type, default (identity, generation) and nullability made the
 * publisher's; refused where schema sync runs both ways, as neither side can be called right.
 */
function changeColumn(
  s: SyncInput,
  l: TableColumn,
  r: TableColumn,
  subTable: TableSchema,
  sync: TableSync,
  reverse: SubscriptionSpec | undefined,
): void {
  const table = s.comparison.table;
  const out = sync.subcommands;
  const typeChanged = l.type !== r.type;
  const defaultChanged = defaultText(l) !== defaultText(r);
  const nullChanged = l.notNull !== r.notNull;
  if (!typeChanged && !defaultChanged && !nullChanged) return;
  if (reverse) {
    sync.problems.push(
      `subscriptions ${s.d.name} and ${reverse.name} replicate ${table} both ways, both with schemaSync: auto, and column ` +
        `${l.name} differs (${[typeChanged && 'type', defaultChanged && 'default', nullChanged && 'nullability'].filter(Boolean).join(', ')}): ` +
        `steep cannot tell which side is right; make ${s.d.from} and ${s.d.node} agree by hand`,
    );
    return;
  }
  if (typeChanged) {
    sync.requireType(l.baseType, l.name);
    out.types.push(changeTypeSql(s, l, r, sync));
    sync.changes.push({ path: `columns.${l.name}.type`, before: r.type, after: l.type });
    sync.hazards.add('rewrites-table');
  }
  if (defaultChanged) {
    const defaultSync = syncDefault(l, r, s.subscriber.serverVersion, typeChanged);
    // the publisher keeps a value for its rows from before the column: the same default as an ADD's
    if (l.missing !== undefined && kindOf(l) === 'plain' && kindOf(r) === 'plain' && !typeChanged)
      keptValueDefault(s, l, sync);
    else if (typeof defaultSync === 'string') {
      // a plain subscriber column takes the values of a stored generated one that is sent (18)
      const sendIt =
        l.generated === 'stored' &&
        kindOf(r) === 'plain' &&
        s.publisher.serverVersion >= GENERATED_COLUMNS_MIN_VERSION
          ? `, or have ${s.d.from}'s publication send its values into it (generatedColumns: stored)`
          : '';
      sync.problems.push(`column ${l.name} of ${table}: ${defaultSync}${sendIt}`);
    } else {
      out.drops.push(...defaultSync.drops);
      out.sets.push(...defaultSync.sets);
      madePlainGap(s, l, r, sync);
      if (defaultSync.rewrites) sync.hazards.add('rewrites-table');
      if (kindOf(l) === 'plain' && l.default !== null) sync.requireSequences(l, subTable);
    }
    sync.changes.push({
      path: `columns.${l.name}.default`,
      before: defaultText(r) === 'NULL' ? null : defaultText(r),
      after: defaultText(l) === 'NULL' ? null : defaultText(l),
    });
  }
  if (nullChanged) {
    if (l.notNull) out.setNotNull.push(alterColumn.setNotNull(l));
    else out.drops.push(alterColumn.dropNotNull(l));
    sync.changes.push({ path: `columns.${l.name}.notNull`, before: r.notNull, after: l.notNull });
  }
  sync.hazards.add('locks-table');
}

/** Columns only the subscriber has are kept (warned); one replicated rows cannot fill is a problem. */
function subscriberOnlyColumns(s: SyncInput, subTable: TableSchema, sync: TableSync): void {
  const table = s.comparison.table;
  for (const r of subTable.columns) {
    if (s.pubTable.columns.some((c) => c.name === r.name)) continue;
    if (r.notNull && defaultText(r) === 'NULL')
      sync.problems.push(
        `column ${r.name} of ${table} exists only on ${s.d.node} and is NOT NULL without a default: rows replicated from ` +
          `${s.d.from} cannot fill it; give it a default or drop its NOT NULL on ${s.d.node}`,
      );
    else
      s.ctx.warn(
        SCHEMA_CODES.extraColumn,
        `subscription ${s.d.name}: column ${r.name} of ${table} exists only on ${s.d.node} (the subscriber): kept; rows ` +
          `replicated from ${s.d.from} leave it ${r.default !== null || r.identity || r.generated ? 'at its default' : 'NULL'}`,
        { address: s.address, node: s.d.node },
      );
  }
}
