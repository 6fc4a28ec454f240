import type { TableName } from '../model/topology.js';

/** PostgreSQL's NAMEDATALEN - 1: identifiers are at most 63 bytes (UTF-8 bytes, not characters). */
export const MAX_IDENTIFIER_BYTES = 63;

/** Why `name` cannot be a PostgreSQL identifier, or undefined when it can. */
export function identifierProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.includes('\0')) return 'contains a NUL character';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_IDENTIFIER_BYTES) {
    return `is ${bytes} bytes long; PostgreSQL identifiers are at most ${MAX_IDENTIFIER_BYTES} bytes`;
  }
  return undefined;
}

/** Replication slot names: lower-case letters, digits and underscore (PostgreSQL's rule). */
const SLOT_NAME = /^[a-z0-9_]+$/;

export function slotNameProblem(name: string): string | undefined {
  const problem = identifierProblem(name);
  if (problem) return problem;
  return SLOT_NAME.test(name) ? undefined : 'may hold only lower-case letters, digits and `_`';
}

/** `table` or `schema.table`, each part an identifier PostgreSQL takes as written (≤ 63 bytes). */
const PLAIN_TABLE_NAME = /^([\w$]{1,63})(?:\.([\w$]{1,63}))?$/;

export type ParsedTableName = { ok: true; table: TableName } | { ok: false; problem: string; hint?: string };

/**
 * `schema.table`, or a bare `table` (in public). A part in double quotes may hold dots and
 * quotes (`"my.schema".orders`, `"say ""hi"""`); unquoted parts are taken as written.
 */
export function parseTableName(text: string): ParsedTableName {
  // the usual name, `schema.table` or `table` in ASCII letters, digits, `_` and `$`, each part
  // at most 63 characters (= bytes): no trimming, splitting or byte counting (a file may list
  // thousands, read once by code V8 has not optimised yet)
  const plain = PLAIN_TABLE_NAME.exec(text);
  if (plain) {
    const [, first, second] = plain as unknown as [string, string, string | undefined];
    return {
      ok: true,
      table: second === undefined ? { schema: 'public', name: first } : { schema: first, name: second },
    };
  }
  // no quote: the parts are what lies between the dots (the loop below builds each part a
  // character at a time)
  if (!text.includes('"')) {
    const parts = text
      .trim()
      .split('.')
      .map((p) => p.trim());
    if (parts.length <= 2 && !parts.includes('')) return tableOf(parts);
  }
  const parts: string[] = [];
  let i = 0;
  const source = text.trim();
  for (;;) {
    let part = '';
    if (source[i] === '"') {
      i++;
      for (;;) {
        if (i >= source.length) return { ok: false, problem: 'has a `"` that is not closed' };
        if (source[i] === '"') {
          if (source[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += source[i];
        i++;
      }
      if (part === '') return { ok: false, problem: 'has an empty quoted part' };
    } else {
      while (i < source.length && source[i] !== '.') {
        if (source[i] === '"') {
          return {
            ok: false,
            problem: 'has a `"` inside a name',
            hint: 'quote the whole part: `"my.schema".orders`',
          };
        }
        part += source[i];
        i++;
      }
      part = part.trim();
      if (part === '')
        return { ok: false, problem: 'has an empty part', hint: 'write `schema.table` or `table`' };
    }
    parts.push(part);
    if (i >= source.length) break;
    if (source[i] !== '.')
      return { ok: false, problem: 'has text after a closing `"`', hint: 'write `"schema".table`' };
    i++;
  }
  if (parts.length > 2) {
    return {
      ok: false,
      problem: `has ${parts.length - 1} dots; a table name is \`schema.table\` or \`table\``,
      hint: 'quote a part that holds a dot: `"my.schema".orders`',
    };
  }
  return tableOf(parts);
}

/** One or two parts, none empty: the table, unless a part cannot be an identifier. */
function tableOf(parts: string[]): ParsedTableName {
  const [first, second] = parts as [string, string | undefined];
  const table = second === undefined ? { schema: 'public', name: first } : { schema: first, name: second };
  for (const part of [table.schema, table.name]) {
    const problem = identifierProblem(part);
    if (problem) return { ok: false, problem: `part \`${part}\` ${problem}` };
  }
  return { ok: true, table };
}
