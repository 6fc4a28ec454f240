import type pg from 'pg';
import type { ReinitPublication } from '../model/cluster.js';
import type { RoleGaps } from '../model/privileges.js';
import { PG15 } from '../model/versions.js';
import { partitionAncestorsSql } from './compareScope.js';
import { PUBLISH } from './queries/publications.js';
import { DENIED_FUNCTIONS, deniedFunctions } from './queries/role.js';

/**
 * What `steep reinit` reads (docs/repair.md): the publisher's definition of each of
 * the subscription's publications — its options and every table it publishes, with the row
 * filter and column list the publication itself sets — and, on the subscriber, the foreign keys
 * that point at the tables a reinit would truncate.
 */

/** The definitions of `names` on the publisher (absent ones are absent). */
export async function readPublicationDefs(
  client: pg.Client,
  version: number,
  names: string[],
): Promise<Map<string, ReinitPublication>> {
  const { rows } = await client.query<ReinitPublication>(
    `SELECT p.pubname::text AS name, ${PUBLISH} AS publish, p.pubviaroot AS "viaRoot",
            coalesce((SELECT json_agg(json_build_object('schema', t.schemaname, 'name', t.tablename, ${
              version >= PG15
                ? `'columns', CASE WHEN r.prattrs IS NOT NULL THEN t.attnames END, 'filter', t.rowfilter`
                : `'columns', NULL, 'filter', NULL`
            }, 'table', t.schemaname || '.' || t.tablename,
               'ancestors', ${partitionAncestorsSql('t.schemaname', 't.tablename')}) ORDER BY t.schemaname, t.tablename)
               FROM pg_catalog.pg_publication_tables t
               LEFT JOIN pg_catalog.pg_publication_rel r
                 ON r.prpubid = p.oid
                AND r.prrelid = (pg_catalog.quote_ident(t.schemaname) || '.' || pg_catalog.quote_ident(t.tablename))::regclass
              WHERE t.pubname = p.pubname), '[]') AS tables
       FROM pg_catalog.pg_publication p WHERE p.pubname = ANY($1)`,
    [names],
  );
  return new Map(rows.map((r) => [r.name, r]));
}

export interface ForeignKeyRef {
  /** the referencing table, `schema.table` */
  from: string;
  /** the referenced table */
  to: string;
  constraint: string;
}

/** Foreign keys on the subscriber that reference any of `tables` (`schema.table`). */
export async function readForeignKeysTo(client: pg.Client, tables: string[]): Promise<ForeignKeyRef[]> {
  const { rows } = await client.query<ForeignKeyRef>(
    `SELECT fn.nspname || '.' || f.relname AS "from", tn.nspname || '.' || t.relname AS "to", c.conname::text AS "constraint"
       FROM pg_catalog.pg_constraint c
       JOIN pg_catalog.pg_class f ON f.oid = c.conrelid JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace
       JOIN pg_catalog.pg_class t ON t.oid = c.confrelid JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
      WHERE c.contype = 'f' AND (tn.nspname || '.' || t.relname) = ANY($1::text[])
      ORDER BY 1, 2, 3`,
    [tables],
  );
  return rows;
}

/** The session's role and the restricted functions it may not execute (model/privileges.ts). */
export async function readDeniedFunctions(
  client: pg.Client,
): Promise<{ role: string; denied: RoleGaps['functions'] }> {
  const { rows } = await client.query<{ name: string; denied_functions: string }>(
    `select current_user::text as name, ${DENIED_FUNCTIONS} as denied_functions`,
  );
  return { role: rows[0]!.name, denied: deniedFunctions(rows[0]!.denied_functions) };
}

/** Of `tables` (`schema.table`), those on this node with inheritance children (plain tables, not partitioned). */
export async function readInheritanceParents(client: pg.Client, tables: string[]): Promise<string[]> {
  const { rows } = await client.query<{ t: string }>(
    `SELECT DISTINCT n.nspname || '.' || c.relname AS t
       FROM pg_catalog.pg_inherits i
       JOIN pg_catalog.pg_class c ON c.oid = i.inhparent AND c.relkind = 'r'
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE (n.nspname || '.' || c.relname) = ANY($1::text[])`,
    [tables],
  );
  return rows.map((r) => r.t);
}
