/**
 * Table definitions as the catalog reads them, for schema fingerprints, `schema compare` and
 * schema sync (docs/steep-yaml.md). Observed only: steep.yaml does not declare table columns.
 */
import type { SchemaColumnDifference, SchemaStatus } from './plan.js';
import type { TableObject } from './tableObjects.js';
import type { TableName } from './topology.js';

/** Which tables the catalog reads columns for: every table, or those of some schemas and a list. */
export interface TableScope {
  all: boolean;
  /** sorted */
  schemas: string[];
  /** sorted by schema, then name */
  tables: TableName[];
  /** also read what CREATE needs (types, sequences, schemas, extensions): for schemaSync: auto */
  objects?: boolean;
}

export function isEmptyScope(s: TableScope): boolean {
  return !s.all && s.schemas.length === 0 && s.tables.length === 0;
}

/** A type by schema and name (the element type, for an array column). */
export type TypeRef = TableName;

export interface TableColumn {
  name: string;
  /** format_type(atttypid, atttypmod), schema-qualified outside pg_catalog: `character varying(10)`, `public.mood[]` */
  type: string;
  /** The default as PostgreSQL prints it (pg_get_expr), or the generation expression of a generated column; null when none. */
  default: string | null;
  notNull: boolean;
  /** attnum: the column's position (dropped columns leave gaps) */
  ordinal: number;
  identity: 'always' | 'by-default' | null;
  generated: 'stored' | 'virtual' | null;
  /** `"schema"."collation"` when it is not the type's default collation, else null (¹) */
  collation: string | null;
  /** the type a CREATE needs: the column's type, or its element type for an array (¹) */
  baseType: TypeRef | null;
  /** sequences its default uses (`schema.name`), e.g. a serial's (¹) */
  sequences: string[];
  /**
   * The value the rows it was added over hold, as JSON prints it, where PostgreSQL keeps one
   * (`attmissingval`: a default evaluated once at ADD COLUMN, until a rewrite); absent otherwise (¹)
   */
  missing?: string;
  // (¹) read only with `TableScope.objects` (what CREATE needs); null / empty otherwise
}

/** A table as a plan reads it: its columns only where needed (see `columns`). */
export interface ObservedTableSchema extends TableName {
  /** r = table, p = partitioned */
  kind: 'r' | 'p';
  /** a partition of a partitioned table */
  partition: boolean;
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  /**
   * in ordinal order; null when only the fingerprint was read: a plan reads the columns of a
   * table only where its fingerprints differ between a publisher and a subscriber
   */
  columns: TableColumn[] | null;
  /** primary key columns in key order; null without one, or when read without `TableScope.objects` */
  primaryKey: string[] | null;
  /** SHA-256 hex of `fingerprintText(columns)` */
  fingerprint: string;
}

/** A table read with its columns. */
export interface TableSchema extends ObservedTableSchema {
  /** in ordinal order */
  columns: TableColumn[];
}

/** The table, read with its columns; an Error when only its fingerprint was read (a bug: whoever needs them reads them). */
export function withColumns(t: ObservedTableSchema): TableSchema {
  if (t.columns === null) throw new Error(`the columns of ${t.schema}.${t.name} were not read`);
  return t as TableSchema;
}

/** A type outside pg_catalog and information_schema (not a table's row type, not an array). */
export interface UserType extends TypeRef {
  kind: 'enum' | 'domain' | 'composite' | 'range' | 'multirange' | 'base' | 'pseudo';
  /** the extension it belongs to */
  extension: string | null;
  /** an enum's labels in sort order */
  labels: string[] | null;
}

export interface SequenceDef extends TableName {
  /** smallint | integer | bigint */
  dataType: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cache: string;
  cycle: boolean;
  /** the column that owns it (a serial's), as `schema.table` and column */
  ownedBy: { table: string; column: string } | null;
}

/**
 * What the catalog read about tables on one node, for the tables of `scope`; types, sequences,
 * schemas and extensions only when `scope.objects` (empty otherwise).
 */
export interface NodeTableSchemas<T extends ObservedTableSchema = TableSchema> {
  scope: TableScope;
  /** by `schema.table` */
  tables: Record<string, T>;
  /** every user type of the node, by `schema.name` */
  types: Record<string, UserType>;
  /** every sequence of the node except identity sequences, by `schema.name` */
  sequences: Record<string, SequenceDef>;
  /** every schema (namespace) outside the system ones, sorted */
  schemas: string[];
  /** installed extensions, sorted */
  extensions: string[];
  /** each table's indexes and constraints by `schema.table` (a table without any absent); only with `scope.objects` */
  objects?: Record<string, TableObject[]>;
}

/** A table's fingerprint as `steep schema fingerprint` reports and saves it. */
export interface TableFingerprint extends TableName {
  fingerprint: string;
  columnCount: number;
}

/** The default as the fingerprint writes it: generation and identity spelled out, `NULL` for none. */
export function defaultText(c: Pick<TableColumn, 'default' | 'identity' | 'generated'>): string {
  if (c.identity) return `GENERATED ${c.identity === 'always' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`;
  if (c.generated) return `GENERATED ALWAYS AS (${c.default ?? ''}) ${c.generated.toUpperCase()}`;
  return c.default ?? 'NULL';
}

/**
 * The text whose SHA-256 is a table's fingerprint: every column in ordinal order as
 * `name:type:default:nullable` (nullable YES or NO, as information_schema.columns says), joined by `|`.
 */
export function fingerprintText(columns: readonly TableColumn[]): string {
  return [...columns]
    .sort((a, b) => a.ordinal - b.ordinal)
    .map((c) => `${c.name}:${c.type}:${defaultText(c)}:${c.notNull ? 'NO' : 'YES'}`)
    .join('|');
}

// A table compared on two nodes (planner/schema/schemaCompare.ts compares, render shows).

export interface ColumnDifference {
  column: string;
  kind: SchemaColumnDifference['kind'];
  left: string | null;
  right: string | null;
}

export interface TableComparison<T extends ObservedTableSchema = TableSchema> {
  /** `schema.table` */
  table: string;
  status: SchemaStatus;
  columns: ColumnDifference[];
  left: T | null;
  right: T | null;
}

/** `numeric(10,2) DEFAULT 0 NOT NULL`: how a column reads in a difference. */
export function columnDefinitionText(c: TableColumn): string {
  const d = defaultText(c);
  const def = d === 'NULL' ? '' : c.identity || c.generated ? ` ${d}` : ` DEFAULT ${d}`;
  return `${c.type}${def}${c.notNull ? ' NOT NULL' : ''}`;
}
