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
  let hasBackslash = false;
  let out = "'";
  for (const c of value) {
    if (c === "'") out += "''";
    else if (c === '\\') {
      out += '\\\\';
      hasBackslash = true;
    } else out += c;
  }
  out += "'";
  return hasBackslash ? ` E${out}` : out;
}

/** "schema"."table" */
export function quoteTable(t: { schema: string; name: string }): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}
