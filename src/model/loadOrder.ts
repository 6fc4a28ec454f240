/**
 * How steep's own copy loads a subscriber's tables. With `session_replication_role = replica`
 * (a superuser, or from PostgreSQL 15 a role granted SET ON PARAMETER) foreign keys and ordinary
 * triggers do not fire, as during PostgreSQL's own table sync, and any table may load at any
 * time. Without it every foreign key is checked as rows arrive, so a table loads only after
 * the tables it references (`planner/init/loadOrder.ts` decides the order, `copy/` follows it).
 */

/** A foreign key of a subscriber table, as the catalog reads it (`schema.table` names). */
export interface ForeignKeyEdge {
  /** the constraint's name */
  name: string;
  /** the referencing table */
  table: string;
  /** the referenced table */
  references: string;
  /** DEFERRABLE (initially deferred or not): `SET CONSTRAINTS ALL DEFERRED` moves its check to COMMIT */
  deferrable: boolean;
}

/** Tables that load together, once every table of `after` is loaded. */
export interface LoadGroup {
  /** in the order they load */
  tables: string[];
  /** tables outside the group that must be loaded first */
  after: string[];
  /**
   * tables that reference each other through DEFERRABLE foreign keys: loaded in one transaction,
   * one session, with SET CONSTRAINTS ALL DEFERRED (checked at its COMMIT)
   */
  deferred: boolean;
}

/** A load in foreign-key order: its groups (referenced before referencing) and the tables never split into key ranges. */
export interface LoadOrder {
  groups: LoadGroup[];
  /**
   * tables that reference themselves: each loads in one COPY statement (PostgreSQL checks a NOT
   * DEFERRABLE foreign key at the end of the statement, when every row of the table is there)
   */
  whole: string[];
}

/** What the copy engine is told: load as replication does, or in foreign-key order. */
export type LoadMode = { replica: true } | ({ replica: false } & LoadOrder);

/** What the catalog reads of a subscriber for its load: who may set the role, the tables' foreign keys and triggers. */
export interface LoadFacts {
  role: string;
  /** may SET session_replication_role */
  replicaAllowed: boolean;
  /** the foreign keys of the loaded tables (those that exist there) */
  foreignKeys: ForeignKeyEdge[];
  /** user triggers that fire in origin mode (`tgenabled = 'O'`), as `schema.table: trigger` */
  originTriggers: string[];
}
