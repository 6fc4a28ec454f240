import type { ObservedPublication } from '../../model/cluster.js';
import { compareTableNames, compareText, sortedText } from '../../model/order.js';
import { parseOwnership } from '../../model/ownership.js';
import type { GeneratedColumns, PublicationTable, PublishOperation } from '../../model/topology.js';
import { PG15, PG18 } from '../../model/versions.js';
import { type CatalogQuery, jsonArrayQuery } from './catalogQuery.js';

/*
 * Publications are read from their definition: pg_publication, pg_publication_rel and
 * pg_publication_namespace. Never from the expanded pg_publication_tables view, which mixes
 * explicit tables with those of FOR ALL TABLES / TABLES IN SCHEMA.
 */

const PUBLICATION_COLUMNS = `p.oid,
       p.pubname::text as name,
       pg_catalog.pg_get_userbyid(p.pubowner)::text as owner,
       pg_catalog.obj_description(p.oid, 'pg_publication') as comment,
       p.puballtables as all_tables,
       pg_catalog.array_remove(array[case when p.pubinsert then 'insert' end, case when p.pubupdate then 'update' end,
         case when p.pubdelete then 'delete' end, case when p.pubtruncate then 'truncate' end], null) as publish,
       p.pubviaroot as via_root`;

/** Every publication of the database. PostgreSQL 14–17 (no pubgencols). */
export const PUBLICATIONS_14: CatalogQuery = {
  name: 'publications',
  text: `select ${PUBLICATION_COLUMNS}
  from pg_catalog.pg_publication p`,
};

/** Every publication of the database. PostgreSQL 18+: pubgencols ('n' none, 's' stored). */
export const PUBLICATIONS_18: CatalogQuery = {
  name: 'publications',
  text: `select ${PUBLICATION_COLUMNS},
       case p.pubgencols when 's' then 'stored' when 'n' then 'none' end as generated_columns
  from pg_catalog.pg_publication p`,
};

export function publicationsQuery(serverVersion: number): CatalogQuery {
  return serverVersion >= PG18 ? PUBLICATIONS_18 : PUBLICATIONS_14;
}

/**
 * The tables named by each publication. PostgreSQL 14: no row filters, no column lists. One
 * JSON array (`jsonArrayQuery`): a publication of 500 tables is 500 rows.
 */
export const PUBLICATION_TABLES_14: CatalogQuery = jsonArrayQuery(
  'publication-tables',
  `select pr.prpubid::int8 as pubid,
       n.nspname::text as schema,
       c.relname::text as name
  from pg_catalog.pg_publication_rel pr
  join pg_catalog.pg_class c on c.oid = pr.prrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace`,
);

/**
 * The tables named by each publication, with the row filter as PostgreSQL prints it and the
 * column list as attribute names. PostgreSQL 15+ (prqual, prattrs). One JSON array.
 */
export const PUBLICATION_TABLES_15: CatalogQuery = jsonArrayQuery(
  'publication-tables',
  `select pr.prpubid::int8 as pubid,
       n.nspname::text as schema,
       c.relname::text as name,
       pg_catalog.pg_get_expr(pr.prqual, pr.prrelid) as row_filter,
       case when pr.prattrs is not null then
         array(select a.attname::text
                 from pg_catalog.pg_attribute a
                where a.attrelid = pr.prrelid and a.attnum = any (pr.prattrs::int2[]))
       end as columns
  from pg_catalog.pg_publication_rel pr
  join pg_catalog.pg_class c on c.oid = pr.prrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace`,
);

export function publicationTablesQuery(serverVersion: number): CatalogQuery {
  return serverVersion >= PG15 ? PUBLICATION_TABLES_15 : PUBLICATION_TABLES_14;
}

/** `FOR TABLES IN SCHEMA`. PostgreSQL 15+ only; on 14 no query is sent and schemas are empty. */
export const PUBLICATION_SCHEMAS_15: CatalogQuery = {
  name: 'publication-schemas',
  text: `select pn.pnpubid as pubid,
       n.nspname::text as schema
  from pg_catalog.pg_publication_namespace pn
  join pg_catalog.pg_namespace n on n.oid = pn.pnnspid`,
};

export function publicationSchemasQuery(serverVersion: number): CatalogQuery | null {
  return serverVersion >= PG15 ? PUBLICATION_SCHEMAS_15 : null;
}

export interface PublicationRow {
  oid: number;
  name: string;
  owner: string;
  comment: string | null;
  all_tables: boolean;
  /** in PUBLISH_OPERATIONS' order */
  publish: PublishOperation[];
  via_root: boolean;
  /** PG 18+ */
  generated_columns?: GeneratedColumns | null;
}

export interface PublicationTableRow {
  pubid: number;
  schema: string;
  name: string;
  /** PG 15+ */
  row_filter?: string | null;
  /** PG 15+ */
  columns?: string[] | null;
}

export interface PublicationSchemaRow {
  pubid: number;
  schema: string;
}

/** Assemble publications from the three queries, keyed by name. */
export function toPublications(
  node: string,
  pubs: PublicationRow[],
  tables: PublicationTableRow[],
  schemas: PublicationSchemaRow[],
): Record<string, ObservedPublication> {
  const tablesOf = new Map<number, PublicationTable[]>();
  for (const t of tables) {
    const list = tablesOf.get(t.pubid) ?? [];
    list.push({
      schema: t.schema,
      name: t.name,
      columns: t.columns ? sortedText(t.columns) : null,
      where: t.row_filter ?? null,
    });
    tablesOf.set(t.pubid, list);
  }
  const schemasOf = new Map<number, string[]>();
  for (const s of schemas) {
    const list = schemasOf.get(s.pubid) ?? [];
    list.push(s.schema);
    schemasOf.set(s.pubid, list);
  }

  const out: Record<string, ObservedPublication> = {};
  for (const p of [...pubs].sort((a, b) => compareText(a.name, b.name))) {
    out[p.name] = {
      name: p.name,
      node,
      allTables: p.all_tables,
      tables: (tablesOf.get(p.oid) ?? []).sort(compareTableNames),
      schemas: sortedText(schemasOf.get(p.oid) ?? []),
      publish: p.publish,
      viaPartitionRoot: p.via_root,
      generatedColumns: p.generated_columns ?? null,
      oid: p.oid,
      owner: p.owner,
      comment: p.comment,
      managedBy: parseOwnership(p.comment),
    };
  }
  return out;
}
