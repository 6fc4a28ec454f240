import { SteepError } from './errors.js';
import { INIT_METHOD, type InitMethod } from './initMethods.js';
import { quoteTable } from './sql.js';

/**
 * The desired state: what steep.yaml declares, normalised, every default filled in.
 * Where desired and observed describe the same object they share a shape (`PublicationDef`,
 * `SubscriptionDef`), so a diff is a comparison of two values of one type.
 */

export type SchemaSyncMode = 'strict' | 'auto' | 'manual';
export type PublishOperation = 'insert' | 'update' | 'delete' | 'truncate';
export type ExistingData = 'fail' | 'truncate' | 'keep';
/** Tables added later to a subscription whose init is none or a finished manual: copy them, or the DBA vouches. */
export type NewTables = 'copy' | 'skip';
export type Streaming = 'off' | 'on' | 'parallel';
export type Origin = 'any' | 'none';
export type GeneratedColumns = 'none' | 'stored';

/** Canonical order of publish operations, as PostgreSQL lists them. */
export const PUBLISH_OPERATIONS: readonly PublishOperation[] = ['insert', 'update', 'delete', 'truncate'];

export interface Settings {
  schemaSync: SchemaSyncMode;
  stateSchema: string;
  /** milliseconds */
  lockTimeout: number;
  /** milliseconds; 0 = none */
  statementTimeout: number;
  /** milliseconds to establish a connection to a node; 0 = wait forever */
  connectTimeout: number;
  parallel: number;
  /** connections open at once across all nodes while reading them */
  maxConnections: number;
  /** `drift --sequences`: values a subscriber sequence may lag its publisher's (absent: 0) */
  sequenceLag?: number;
  /** glob patterns of orphaned slots `apply --allow-destroy` may drop (absent: none) */
  dropOrphanSlots?: string[];
  /** `verify.window`: every subscription's unless it sets its own (config's default: 7d; absent only where a Topology is built by hand) */
  verifyWindow?: VerifyWindow;
  /** `verify.fullBelow`: every subscription's unless it sets its own (absent: model/initEvidence.ts's 1 GB) */
  verifyFullBelow?: number;
}

/**
 * `verify.window` (model/verifyWindow.ts): how long a table may go without a comparison that
 * found it equal before its subscription is `unverified`, in milliseconds; `off` waives it.
 */
export type VerifyWindow = number | 'off';

/** Glob patterns (`*`, `?`) of objects steep neither reports nor touches. */
export interface IgnoreSpec {
  slots: string[];
  publications: string[];
  subscriptions: string[];
}

/** Where a value came from in the file, for error messages. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** How to reach a node. `password` is a secret: never print it, use db/mask. */
export interface ConnectionSpec {
  host: string;
  /**
   * libpq's hostaddr: the IP address connected to instead of looking `host` up; `host` still
   * names the server for TLS (SNI, verify-full) and the password file
   */
  hostaddr?: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  /** libpq's TLS fields, as the file wrote them (paths on the machine that connects); db/tls.ts applies them */
  sslmode?: string;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  sslcrl?: string;
}

export interface NodeSpec {
  name: string;
  connection: ConnectionSpec;
  /** How subscribers reach this node, when it differs from `connection`. */
  replicationConnection?: ConnectionSpec;
  /** A passfile on the subscriber's server, so no password is stored in pg_subscription. */
  replicationPassfile?: string;
  /**
   * Its physical standbys (`standbys:`), any of which a failover may promote: subscriptions from
   * this node name every host (libpq multi-host, read-write only), and on 17+ use failover slots.
   */
  standbys?: ConnectionSpec[];
  priority: number;
  sandbox: boolean;
  /** Declared server version (server_version_num), when the file states one. */
  serverVersion?: number;
}

/** A subscription as reports name it: its name, its subscriber and its publisher. */
export interface SubscriptionRef {
  subscription: string;
  /** the subscriber */
  node: string;
  /** the publisher */
  from: string;
}

export interface TableName {
  schema: string;
  name: string;
}

export interface PublicationTable extends TableName {
  /** Column list (PG 15+), sorted; null = all columns. */
  columns: string[] | null;
  /** Row filter (PG 15+) as written, or as PostgreSQL prints it when observed; null = none. */
  where: string | null;
  /**
   * `ONLY`: the table without its inheritance children. Absent = false: PostgreSQL then adds
   * every child as a publication table of its own (never read back: observed tables omit it).
   */
  only?: boolean;
}

/** The shape desired and observed publications share. */
export interface PublicationDef {
  name: string;
  node: string;
  allTables: boolean;
  /** Sorted by schema, then name. Empty when allTables. */
  tables: PublicationTable[];
  /** `FOR TABLES IN SCHEMA` (PG 15+), sorted. */
  schemas: string[];
  /** Canonical order (PUBLISH_OPERATIONS). */
  publish: PublishOperation[];
  viaPartitionRoot: boolean;
  /** PG 18+; null where the server has no such option. */
  generatedColumns: GeneratedColumns | null;
}

/** What the file says of a publication or subscription besides its shape. */
interface Declared {
  protect: boolean;
  /** the `links:` entry it comes from, when it does */
  link?: string;
  /** `renamedFrom:` the name it had on its node: renamed in place (planner/renames.ts) */
  renamedFrom?: string;
}

export type PublicationSpec = PublicationDef & Declared;

/** Subscription options, camelCase; every one is optional in the file. */
export interface SubscriptionOptions {
  binary: boolean;
  streaming: Streaming;
  synchronousCommit: string;
  twoPhase: boolean;
  disableOnError: boolean;
  origin: Origin;
  /** PG 17+ */
  failover: boolean;
  /** PG 16+ */
  passwordRequired: boolean;
  /** PG 16+ */
  runAsOwner: boolean;
}

export type SubscriptionOptionName = keyof SubscriptionOptions;

/** The shape desired and observed subscriptions share. */
export interface SubscriptionDef {
  name: string;
  /** the subscriber */
  node: string;
  /** the publisher */
  from: string;
  /** sorted */
  publications: string[];
  slot: string;
  enabled: boolean;
}

/** `init.splitAbove` when the file does not set it: 1 GB. */
export const DEFAULT_SPLIT_ABOVE = 1024 ** 3;
/**
 * steep's own copy builds the indexes of a table this big (the publisher's estimate), or of one
 * it splits, after loading it (copy/deferredIndexes.ts). Dropping them costs a few catalog writes
 * a table (5–8 ms), and building a 25 MB table's key after its load about 0.1 s: 20 tables of
 * 25 MB, their keys built after, took 23 % less time to copy than with the keys kept, the
 * subscriber 23–29 % less CPU and 30 % less WAL (bench/README.md, `init-snapshot`, 30 Nov 2026).
 */
export const DEFER_INDEXES_FROM = 16 * 1024 * 1024;

export interface InitSpec {
  method: InitMethod;
  parallel: number;
  /** `parallel` was given in the subscription's own `init` (not inherited from settings) */
  parallelDeclared?: boolean;
  /** bytes: bigger tables are split into key ranges by steep's own copy (default DEFAULT_SPLIT_ABOVE) */
  splitAbove?: number;
  existingData: ExistingData;
  /** absent: such an addition is a plan error (data-gap) */
  newTables?: NewTables;
  /** merge only */
  strategy?: string;
  /** merge only: a strategy of its own per table (`schema.table` → text); `strategy` for the rest */
  strategies?: Record<string, string>;
  /** a link declared `none`: steep proves both nodes equal under write locks before it starts the link */
  proveEqual?: true;
}

/**
 * Started by a merge unit's locked pass (planner/init/mergeInit.ts), which makes the slots itself:
 * a merge, or a link declared `none`, whose claim that both nodes hold the same rows the pass
 * proves before it starts the subscriptions.
 */
export function startsUnderLocks(init: InitSpec): boolean {
  return INIT_METHOD[init.method].underLocks || init.proveEqual === true;
}

export interface SubscriptionSpec extends SubscriptionDef, Declared {
  /** Only the options the file sets; the rest are PostgreSQL's defaults for the server's version. */
  options: Partial<SubscriptionOptions>;
  schemaSync: SchemaSyncMode;
  init: InitSpec;
  /** `slot:` is written in the file (absent: the slot is the default, the subscription's name, or the one it kept through a rename) */
  slotDeclared?: true;
  /** set by the planner, never the file: `slot` is the one it kept through a rename (steep's marker records it) */
  slotKept?: true;
  /** `verify.window`, its own or settings' (absent: none) */
  verifyWindow?: VerifyWindow;
  /** `verify.fullBelow`, its own or settings' (absent: model/initEvidence.ts's 1 GB) */
  verifyFullBelow?: number;
}

/**
 * A two-way pair (`links:`, PostgreSQL 16+): a publication and a subscription on each node, both
 * subscriptions `origin = none`. Each object is named `<link>_<the node it lives on>`.
 */
export interface LinkSpec {
  name: string;
  /** [first, second]: `last-modified` ties go to the first */
  nodes: [string, string];
  /** the publication that lives on each node */
  publications: Record<string, string>;
  /** the subscription that lives on each node (receiving from the other) */
  subscriptions: Record<string, string>;
  /** sorted; empty when `schemas` are given */
  tables: TableName[];
  /** sorted */
  schemas: string[];
  /** method merge | snapshot | none, as the file gives it (the subscriptions carry what each edge does) */
  init: InitSpec;
}

export interface Topology {
  version: 1;
  /** The topology id: marks every object steep manages. */
  topology: string;
  settings: Settings;
  nodes: Record<string, NodeSpec>;
  publications: Record<string, PublicationSpec>;
  subscriptions: Record<string, SubscriptionSpec>;
  /** `links:` (absent: none); their publications and subscriptions are in the maps above */
  links?: Record<string, LinkSpec>;
  /** `ignore:` (absent: nothing ignored) */
  ignore?: IgnoreSpec;
  /** Where each object was declared, keyed by address (`publication.orders_pub`). */
  positions: Record<string, SourcePosition>;
  /** The file it came from and its digest (`sha256:…`) */
  source: { path: string; digest: string };
}

export function qualifiedName(t: TableName): string {
  return `${t.schema}.${t.name}`;
}

/** The table a qualifiedName names (split at its first dot); a bare `t` is in public. */
export function tableOfQualified(qn: string): TableName {
  const dot = qn.indexOf('.');
  return dot < 0 ? { schema: 'public', name: qn } : { schema: qn.slice(0, dot), name: qn.slice(dot + 1) };
}

/** A qualifiedName quoted for SQL. */
export function quoteQualified(qn: string): string {
  return quoteTable(tableOfQualified(qn));
}

/**
 * The subscription steep.yaml declares under `name`; otherwise a SteepError (`code` names the
 * command's family) that lists the names it does declare.
 */
export function declaredSubscription(topology: Topology, name: string, code: string): SubscriptionSpec {
  const d = topology.subscriptions[name];
  if (!d) {
    const known = Object.keys(topology.subscriptions).sort();
    throw new SteepError(
      code,
      `steep.yaml declares no subscription ${name}${known.length > 0 ? ` (it declares ${known.join(', ')})` : ''}`,
    );
  }
  return d;
}
