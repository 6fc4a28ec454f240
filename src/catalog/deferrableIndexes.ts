import type pg from 'pg';
import { quoteIdent, quoteTable } from '../model/sql.js';
import type { TableName } from '../model/topology.js';

/**
 * The indexes of a subscriber table that steep's own copy may drop before loading it and build
 * again after (copy/deferredIndexes.ts), each with the statement that builds it exactly as it
 * was: a primary key or unique constraint by `ALTER TABLE … ADD CONSTRAINT name` and its
 * `pg_get_constraintdef` (columns, INCLUDE, WITH, DEFERRABLE, NULLS NOT DISTINCT), any other
 * index by its `pg_get_indexdef` (method, opclasses, collations, expressions, predicate).
 *
 * Only what those statements rebuild whole, so nothing about the table changes: none of a
 * table that is partitioned, a partition, not the session's role's to alter, or in a schema the
 * role may not create in (building an index asks CREATE on the table's schema, which the owner of
 * a table in `public` lacks from PostgreSQL 15, while dropping it does not); no index that
 * something depends on (a foreign key referencing it), that is the replica identity, clustered,
 * not valid, in a tablespace of its own, a partition's part of a parent index, commented, with
 * a statistics target of its own, or behind an exclusion constraint.
 */

export interface DeferrableIndex {
  index: string;
  position: number;
  /** builds it again */
  definition: string;
  /** drops it */
  drop: string;
}

export async function readDeferrableIndexes(client: pg.Client, table: TableName): Promise<DeferrableIndex[]> {
  const { rows } = await client.query<{ name: string; conname: string | null; def: string }>(
    `SELECT ic.relname AS name, con.conname,
            CASE WHEN con.oid IS NULL THEN pg_catalog.pg_get_indexdef(i.indexrelid)
                 ELSE pg_catalog.pg_get_constraintdef(con.oid) END AS def
       FROM pg_catalog.pg_class t
       JOIN pg_catalog.pg_index i ON i.indrelid = t.oid
       JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
       LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = t.oid
                                             AND con.contype IN ('p', 'u', 'x')
      WHERE t.oid = $1::regclass
        AND t.relkind = 'r' AND NOT t.relispartition
        AND pg_catalog.pg_has_role(t.relowner, 'USAGE')
        AND pg_catalog.has_schema_privilege(t.relnamespace, 'CREATE')
        AND i.indisvalid AND i.indisready AND i.indislive
        AND NOT i.indisreplident AND NOT i.indisclustered
        AND ic.reltablespace = 0
        AND (con.oid IS NULL OR con.contype IN ('p', 'u'))
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid)
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                         WHERE (d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = i.indexrelid
                                OR d.refclassid = 'pg_catalog.pg_constraint'::regclass AND d.refobjid = con.oid)
                           AND NOT (d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = i.indexrelid))
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_description x
                         WHERE x.classoid = 'pg_catalog.pg_class'::regclass AND x.objoid = i.indexrelid
                            OR x.classoid = 'pg_catalog.pg_constraint'::regclass AND x.objoid = con.oid)
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = i.indexrelid AND coalesce(a.attstattarget, -1) >= 0)
      ORDER BY con.contype = 'p' DESC NULLS LAST, ic.relname COLLATE "C"`,
    [quoteTable(table)],
  );
  return rows.map((r, position) =>
    r.conname === null
      ? {
          index: r.name,
          position,
          definition: r.def,
          drop: `DROP INDEX ${quoteTable({ schema: table.schema, name: r.name })}`,
        }
      : {
          index: r.name,
          position,
          definition: `ALTER TABLE ONLY ${quoteTable(table)} ADD CONSTRAINT ${quoteIdent(r.conname)} ${r.def}`,
          drop: `ALTER TABLE ONLY ${quoteTable(table)} DROP CONSTRAINT ${quoteIdent(r.conname)}`,
        },
  );
}
