/**
 * SQL quoting, identical to node-postgres' escapeIdentifier / escapeLiteral (a unit test holds
 * them equal). It lives here, not in db/, because the planner (which may not import pg) builds SQL.
 */

/** "identifier", always quoted. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** 'literal'; E'…' when it holds a backslash. */
export function quoteLiteral(value: string): string {
  const quoted = `'${value.replace(/'/g, "''").replace(/\\/g, '\\\\')}'`;
  return value.includes('\\') ? ` E${quoted}` : quoted;
}

/**
 * The oid of the database the session is in, for a shared catalog whose rows carry one
 * (pg_subscription, pg_db_role_setting, pg_locks, pg_stat_progress_*).
 */
export const THIS_DATABASE_OID =
  '(SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())';

/** A timestamptz as `Date.toISOString()` writes it (milliseconds, 'Z'): a row arrives in the model's shape. */
export function isoTime(column: string): string {
  return `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/** "schema"."table" */
export function quoteTable(t: { schema: string; name: string }): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

/**
 * Keywords PostgreSQL's quote_ident quotes (reserved, and those that cannot be a column or
 * function name): an identifier spelled like one reads back only when quoted.
 */
const KEYWORDS = new Set(
  (
    'all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both case cast ' +
    'char character check coalesce collate collation column concurrently constraint create cross current_catalog ' +
    'current_date current_role current_schema current_time current_timestamp current_user dec decimal default ' +
    'deferrable desc distinct do else end except exists extract false fetch float for foreign freeze from full grant ' +
    'greatest group grouping having ilike in initially inner inout int integer intersect interval into is isnull join ' +
    'json lateral leading least left like limit localtime localtimestamp national natural nchar none normalize not ' +
    'notnull null nullif numeric offset on only or order out outer overlaps overlay placing position precision ' +
    'primary real references returning right row select session_user setof similar smallint some substring ' +
    'symmetric system_user table tablesample then time timestamp to trailing treat trim true union unique user using ' +
    'values varchar variadic verbose when where window with xmlattributes xmlconcat xmlelement xmlexists xmlforest ' +
    'xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable'
  ).split(' '),
);

/** An identifier as SQL prints it (quote_ident): bare when it reads back unchanged, else quoted. */
export function displayIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !KEYWORDS.has(name) ? name : quoteIdent(name);
}

/** `schema.table` as SQL prints it: `public.orders`, `"My Schema"."Odd.Table"`. */
export function displayTable(t: { schema: string; name: string }): string {
  return `${displayIdent(t.schema)}.${displayIdent(t.name)}`;
}
