import type { ObservedPublication } from '../../model/cluster.js';
import { compareTableNames, sortedText } from '../../model/order.js';
import { parseOwnership } from '../../model/ownership.js';
import type { GeneratedColumns, PublicationTable, PublishOperation } from '../../model/topology.js';
import { PG15, PG18 } from '../../model/versions.js';
import { byName, type CatalogQuery, grouped, jsonArrayQuery } from './catalogQuery.js';
import { type OwnerToRoleRow, ownerToRoleColumns, toOwnerToRole } from './role.js';

/*
 * Publications are read from their definition: pg_publication, pg_publication_rel and
 * pg_publication_namespace. Never from the expanded pg_publication_tables view, which mixes
 * explicit tables with those of FOR ALL TABLES / TABLES IN SCHEMA.
 */

/** Every publication of the database. PostgreSQL 18+: pubgencols ('n' none, 's' stored); before, null. */
/** A publication `p`'s `publish` option as a text array, in PUBLISH_OPERATIONS' order. */
export const PUBLISH = `pg_catalog.array_remove(array[case when p.pubinsert then 'insert' end, case when p.pubupdate then 'update' end,
         case when p.pubdelete then 'delete' end, case when p.pubtruncate then 'truncate' end], null)`;

export function publicationsQuery(serverVersion: number): CatalogQuery {
  const generated =
    serverVersion >= PG18
      ? `case p.pubgencols when 's' then 'stored' when 'n' then 'none' end`
      : 'null::text';
  return {
    text: `select p.oid,
       p.pubname::text as name,
       pg_catalog.pg_get_userbyid(p.pubowner)::text as owner,
       ${ownerToRoleColumns('p.pubowner', serverVersion)},
       pg_catalog.obj_description(p.oid, 'pg_publication') as comment,
       p.puballtables as all_tables,
       ${PUBLISH} as publish,
       p.pubviaroot as via_root,
       ${generated} as generated_columns,
       p.xmin::text as row_version
  from pg_catalog.pg_publication p`,
  };
}

/**
 * The tables named by each publication, with the column list as attribute names and the row
 * filter as PostgreSQL prints it: PostgreSQL 15+ (prattrs, prqual); null on 14. One JSON array
 * (`jsonArrayQuery`): a publication of 500 tables is 500 rows.
 */
export function publicationTablesQuery(serverVersion: number): CatalogQuery {
  const since15 = `case when pr.prattrs is not null then
         array(select a.attname::text
                 from pg_catalog.pg_attribute a
                where a.attrelid = pr.prrelid and a.attnum = any (pr.prattrs::int2[]))
       end as columns,
       pg_catalog.pg_get_expr(pr.prqual, pr.prrelid) as "where"`;
  return jsonArrayQuery(
    `select pr.prpubid::int8 as pubid,
       pr.oid::int8 as member_oid,
       n.nspname::text as schema,
       c.relname::text as name,
       ${serverVersion >= PG15 ? since15 : `null::text[] as columns,\n       null::text as "where"`}
  from pg_catalog.pg_publication_rel pr
  join pg_catalog.pg_class c on c.oid = pr.prrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace`,
  );
}

/** `FOR TABLES IN SCHEMA`. PostgreSQL 15+ only; on 14 no query is sent and schemas are empty. */
export const PUBLICATION_SCHEMAS_15: CatalogQuery = {
  text: `select pn.pnpubid as pubid,
       pn.oid as member_oid,
       n.nspname::text as schema
  from pg_catalog.pg_publication_namespace pn
  join pg_catalog.pg_namespace n on n.oid = pn.pnnspid`,
};

export function publicationSchemasQuery(serverVersion: number): CatalogQuery | null {
  return serverVersion >= PG15 ? PUBLICATION_SCHEMAS_15 : null;
}

export interface PublicationRow extends OwnerToRoleRow {
  oid: number;
  name: string;
  owner: string;
  comment: string | null;
  all_tables: boolean;
  /** in PUBLISH_OPERATIONS' order */
  publish: PublishOperation[];
  via_root: boolean;
  /** null before 18 */
  generated_columns: GeneratedColumns | null;
  /** pg_publication.xmin (absent in a test's rows) */
  row_version?: string;
}

/**
 * A table of a publication: its columns not sorted yet. `member_oid`: its pg_publication_rel
 * row, which PostgreSQL makes anew when the table leaves the publication and joins it again
 * (model/continuity.ts); absent in a test's rows.
 */
export type PublicationTableRow = { pubid: number; member_oid?: number } & PublicationTable;

export interface PublicationSchemaRow {
  pubid: number;
  /** its pg_publication_namespace row (as member_oid of a table) */
  member_oid?: number;
  schema: string;
}

/** Assemble publications from the three queries, keyed by name. */
export function toPublications(
  node: string,
  pubs: PublicationRow[],
  tables: PublicationTableRow[],
  schemas: PublicationSchemaRow[],
): Record<string, ObservedPublication> {
  const tablesOf = grouped(
    tables.map(
      ({ pubid, member_oid: _, ...t }) =>
        [pubid, { ...t, columns: t.columns ? sortedText(t.columns) : null }] as const,
    ),
  );
  const schemasOf = grouped(schemas.map((s) => [s.pubid, s.schema] as const));
  const membersOf = grouped(
    tables
      .filter((t) => t.member_oid !== undefined)
      .map((t) => [t.pubid, [`${t.schema}.${t.name}`, t.member_oid!] as const] as const),
  );
  const schemaMembersOf = grouped(
    schemas
      .filter((s) => s.member_oid !== undefined)
      .map((s) => [s.pubid, [s.schema, s.member_oid!] as const] as const),
  );

  return byName(
    pubs.map((p) => ({
      name: p.name,
      node,
      allTables: p.all_tables,
      tables: (tablesOf.get(p.oid) ?? []).sort(compareTableNames),
      schemas: sortedText(schemasOf.get(p.oid) ?? []),
      publish: p.publish,
      viaPartitionRoot: p.via_root,
      generatedColumns: p.generated_columns,
      oid: p.oid,
      ...(p.row_version !== undefined ? { rowVersion: p.row_version } : {}),
      owner: p.owner,
      ...toOwnerToRole(p),
      comment: p.comment,
      managedBy: parseOwnership(p.comment),
      ...(membersOf.has(p.oid) || schemaMembersOf.has(p.oid)
        ? {
            members: {
              tables: Object.fromEntries(membersOf.get(p.oid) ?? []),
              schemas: Object.fromEntries(schemaMembersOf.get(p.oid) ?? []),
            },
          }
        : {}),
    })),
  );
}
