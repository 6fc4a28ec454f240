import type pg from 'pg';
import type { Leaf, TableContents } from '../model/treeContents.js';

/**
 * What a published table holds beyond its membership rows, on its publisher (model/treeContents.ts):
 * the row version (xmin/cmin) of its namespace dependency in pg_depend, which only `SET SCHEMA`
 * rewrites, and for a partitioned table each table under it (pg_partition_tree) with the row
 * version of its pg_inherits row, which ATTACH or CREATE … PARTITION OF writes. One query; a
 * table that is not there is absent.
 */
export async function readTableContents(
  client: pg.Client,
  tables: readonly string[],
): Promise<Record<string, TableContents>> {
  if (tables.length === 0) return {};
  const { rows } = await client.query<{ contents: string }>(
    `select coalesce(pg_catalog.json_object_agg(t.qn, pg_catalog.json_build_object('ns', t.ns, 'leaves', t.leaves)), '{}')::text as contents
       from (select u.qn,
                    (select d.xmin::text || '/' || d.cmin::text from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid
                        and d.objsubid = 0 and d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass) as ns,
                    case when c.relkind = 'p' then
                      (select coalesce(pg_catalog.json_object_agg(p.relid::oid::text,
                                pg_catalog.json_build_object(
                                  'name', pg_catalog.quote_ident(ln.nspname) || '.' || pg_catalog.quote_ident(l.relname),
                                  'row', i.xmin::text || '/' || i.cmin::text)), '{}')
                         from pg_catalog.pg_partition_tree(c.oid) p
                         join pg_catalog.pg_inherits i on i.inhrelid = p.relid
                         join pg_catalog.pg_class l on l.oid = p.relid
                         join pg_catalog.pg_namespace ln on ln.oid = l.relnamespace
                        where p.relid <> c.oid) end as leaves
               from unnest($1::text[]) as u(qn)
               join pg_catalog.pg_namespace n on n.nspname = split_part(u.qn, '.', 1)
               join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = substr(u.qn, length(split_part(u.qn, '.', 1)) + 2)) t`,
    [tables],
  );
  const read = JSON.parse(rows[0]!.contents) as Record<
    string,
    { ns: string | null; leaves: Record<string, Leaf> | null }
  >;
  return Object.fromEntries(
    Object.entries(read).map(([t, c]) => [t, { ns: c.ns, ...(c.leaves ? { leaves: c.leaves } : {}) }]),
  );
}

/**
 * Whether `leaf` holds a row committed before its pg_inherits row (`row`, `xmin/cmin`) was
 * written: older than that transaction (by age, which wraps as xids do), or written by it at an
 * earlier command. Such rows were there when it joined the tree, and PostgreSQL never sends them.
 * The table is scanned until the first such row: only a table new under the tree is read.
 */
export async function heldRowsBefore(client: pg.Client, leaf: Leaf): Promise<boolean> {
  const [xmin, cmin] = leaf.row.split('/');
  const { rows } = await client.query<{ held: boolean }>(
    `select exists (select 1 from ${leaf.name} t
                     where pg_catalog.age(t.xmin) > pg_catalog.age($1::text::xid)
                        or (t.xmin = $1::text::xid and t.cmin::text::int < $2::int)) as held`,
    [xmin, cmin],
  );
  return rows[0]!.held;
}
