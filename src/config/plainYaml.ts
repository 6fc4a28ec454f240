/**
 * A fast reader for the plain YAML steep.yaml files are written in: block mappings and lists
 * indented with spaces, plain or quoted one-line scalars, one-line `[a, b]` lists and
 * `{ k: v, k2: v2 }` mappings of such scalars, and comments.
 * The `yaml` package is slow to compose a file of thousands of lines in a fresh process (its
 * parser is cold and keeps every token for positions); this reads the same file in a small
 * fraction of that time.
 *
 * It is only a shortcut: it returns undefined as soon as the text uses anything else (anchors,
 * aliases, tags, merge keys, block scalars, multi-line or escaped scalars, nested flow
 * collections, tabs, a duplicate key, a value it would have to type other than as a string, a
 * whole number, true, false or null, an indentation it does not expect), and the caller then
 * reads the file with `yaml`, which also reports any error. When it returns a value, that value
 * equals what `yaml`'s `parseDocument(text).toJS()` gives (a property test holds them equal).
 */

/** Deeper than this, leave it to `yaml` (and its nesting checks). */
const MAX_DEPTH = 32;

interface Line {
  indent: number;
  /** the text after the indentation, comment and trailing spaces removed */
  content: string;
}

/** Thrown inside the reader when the text leaves the subset; never escapes readPlainYaml. */
class NotPlain extends Error {}

function notPlain(): never {
  throw new NotPlain();
}

/** The plain value of `text`, or undefined when it is not in the subset (or is not a non-empty mapping). */
export function readPlainYaml(text: string): Record<string, unknown> | undefined {
  if (text.includes('\t') || text.includes('\r') || text.startsWith('\uFEFF')) return undefined;
  try {
    const lines = splitLines(text);
    if (lines.length === 0 || lines[0]!.indent !== 0) return undefined;
    const reader = { lines, i: 0 };
    const value = readBlock(reader, 0, 0);
    if (reader.i !== lines.length) return undefined;
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch (e) {
    if (e instanceof NotPlain) return undefined;
    throw e;
  }
}

function splitLines(text: string): Line[] {
  const out: Line[] = [];
  for (const raw of text.split('\n')) {
    let indent = 0;
    while (raw.charCodeAt(indent) === 0x20) indent++;
    if (indent === raw.length || raw[indent] === '#') continue;
    const first = raw[indent]!;
    // directives, document markers, explicit keys: not the subset
    if (first === '%' || first === '?' || raw.startsWith('---') || raw.startsWith('...')) notPlain();
    out.push({ indent, content: raw.slice(indent).trimEnd() });
  }
  return out;
}

interface Reader {
  lines: Line[];
  i: number;
}

/** A mapping or list whose lines start at `indent`. */
function readBlock(r: Reader, indent: number, depth: number): unknown {
  if (depth > MAX_DEPTH) notPlain();
  const line = r.lines[r.i]!;
  if (line.indent !== indent) notPlain();
  return isItem(line.content) ? readList(r, indent, depth) : readMapping(r, indent, depth);
}

/** A block list's item line: `-` alone or `- ` and its value. */
export function isItem(content: string): boolean {
  return content === '-' || content.startsWith('- ');
}

function readList(r: Reader, indent: number, depth: number): unknown[] {
  const out: unknown[] = [];
  while (r.i < r.lines.length) {
    const line = r.lines[r.i]!;
    if (line.indent < indent) break;
    if (line.indent > indent) notPlain();
    // a list at its key's own indentation ends at the next key
    if (!isItem(line.content)) break;
    if (line.content === '-') notPlain();
    let offset = 2;
    while (line.content.charCodeAt(offset) === 0x20) offset++;
    const rest = line.content.slice(offset);
    if (isItem(rest) || rest === '') notPlain();
    if (splitKey(rest) !== undefined) {
      // `- key: value` starts a mapping indented as far as `key`
      r.lines[r.i] = { indent: indent + offset, content: rest };
      out.push(readMapping(r, indent + offset, depth + 1));
    } else {
      out.push(readValue(rest));
      r.i++;
    }
  }
  return out;
}

function readMapping(r: Reader, indent: number, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  while (r.i < r.lines.length) {
    const line = r.lines[r.i]!;
    if (line.indent < indent) break;
    if (line.indent > indent) notPlain();
    const split = splitKey(line.content);
    if (split === undefined) notPlain();
    const [key, rest] = split;
    if (Object.hasOwn(out, key)) notPlain();
    r.i++;
    if (rest !== '') {
      out[key] = readValue(rest);
      continue;
    }
    const next = r.lines[r.i];
    if (next && next.indent > indent) out[key] = readBlock(r, next.indent, depth + 1);
    // a list may sit at its key's own indentation
    else if (next && next.indent === indent && isItem(next.content))
      out[key] = readList(r, indent, depth + 1);
    else out[key] = null;
  }
  return out;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `key: rest` or `key:` → [key, rest]; undefined when the line is not a plain key. */
function splitKey(content: string): [string, string] | undefined {
  const colon = content.indexOf(':');
  if (colon <= 0) return undefined;
  const after = content.charCodeAt(colon + 1);
  if (!Number.isNaN(after) && after !== 0x20) return undefined;
  const key = content.slice(0, colon);
  if (!KEY.test(key) || typeof plainScalar(key) !== 'string' || key === '__proto__') notPlain();
  const rest = content.slice(colon + 1).trim();
  return [key, rest.startsWith('#') ? '' : rest];
}

/** A value written on the key's (or item's) line. */
function readValue(text: string): unknown {
  const first = text[0]!;
  if (first === '[') return readFlowList(text);
  if (first === '{') return readFlowMapping(text);
  if (first === '"' || first === "'") return quoted(text);
  if ('&*!|>%@`-?:,]}#'.includes(first)) notPlain();
  return plainScalar(stripComment(text));
}

function stripComment(text: string): string {
  const hash = text.indexOf(' #');
  const value = hash >= 0 ? text.slice(0, hash).trimEnd() : text;
  if (value.includes(': ') || value.endsWith(':')) notPlain();
  return value;
}

/** A one-line quoted scalar, without escapes, then nothing but a comment. */
function quoted(text: string): string {
  const q = text[0]!;
  let value = '';
  let i = 1;
  for (;;) {
    const end = text.indexOf(q, i);
    if (end < 0) notPlain();
    value += text.slice(i, end);
    if (q === "'" && text[end + 1] === "'") {
      value += "'";
      i = end + 2;
      continue;
    }
    i = end + 1;
    break;
  }
  if (q === '"' && value.includes('\\')) notPlain();
  const tail = text.slice(i);
  if (tail !== '' && !/^ +#/.test(tail)) notPlain();
  return value;
}

/**
 * The items of the one-line flow collection `text` opens (`[` or `{`) and `close` ends: split at
 * the commas outside quotes, trimmed; after it nothing but a comment. None nested.
 */
function flowItems(text: string, close: string): string[] {
  const items: string[] = [];
  let start = 1;
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    // a quote opens a quoted scalar only where one starts, an item or a key's value (inside a
    // plain scalar it is a character)
    if ((c === '"' || c === "'") && /^(\s*|.*:\s*)$/.test(text.slice(start, i))) i = closingQuote(text, i);
    else if (c === ',' || c === close) {
      items.push(text.slice(start, i).trim());
      start = i + 1;
      if (c !== close) continue;
      const tail = text.slice(i + 1);
      if (tail !== '' && !/^ +#/.test(tail)) notPlain();
      if (items.length === 1 && items[0] === '') return [];
      if (items.includes('')) notPlain();
      return items;
    } else if ('[]{}#'.includes(c)) notPlain();
  }
  return notPlain();
}

/** The quote that closes the one at `open` ('' inside single quotes is a quote). */
function closingQuote(text: string, open: number): number {
  const q = text[open]!;
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] !== q) continue;
    if (q === "'" && text[i + 1] === "'") i++;
    else return i;
  }
  return notPlain();
}

/** A plain or quoted scalar inside a flow collection. */
function flowScalar(item: string): unknown {
  if (item[0] === '"' || item[0] === "'") return quoted(item);
  if (item.includes(':') || '&*!|>%@`-?'.includes(item[0]!)) notPlain();
  return plainScalar(item);
}

/** `[a, b, c]` of plain or quoted scalars, on one line. */
function readFlowList(text: string): unknown[] {
  return flowItems(text, ']').map((item) => {
    if (item.includes(':')) notPlain();
    return flowScalar(item);
  });
}

/** `{ a: x, b: y }` of plain keys and plain or quoted scalars, on one line. */
function readFlowMapping(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of flowItems(text, '}')) {
    const split = splitKey(item);
    if (split === undefined || split[1] === '' || Object.hasOwn(out, split[0])) notPlain();
    out[split[0]] = flowScalar(split[1]);
  }
  return out;
}

/** YAML 1.2 core schema, as `yaml` resolves it; anything but strings, small whole numbers, booleans and null leaves the subset. */
function plainScalar(s: string): unknown {
  if (s === '' || s === '~' || s === 'null' || s === 'Null' || s === 'NULL') return null;
  if (s === 'true' || s === 'True' || s === 'TRUE') return true;
  if (s === 'false' || s === 'False' || s === 'FALSE') return false;
  if (/^[0-9]+$/.test(s)) {
    const n = Number(s);
    if (!Number.isSafeInteger(n)) notPlain();
    return n;
  }
  // other numbers (signed, octal, hex, floats, .inf, .nan): leave them to `yaml`; every one
  // starts with a digit, a sign or a dot (names, the usual scalar, skip the six patterns)
  if ('0123456789+-.'.includes(s[0]!) && looksNumeric(s)) notPlain();
  return s;
}

function looksNumeric(s: string): boolean {
  return (
    /^[-+]?[0-9]+$/.test(s) ||
    /^0o[0-7]+$/.test(s) ||
    /^0x[0-9a-fA-F]+$/.test(s) ||
    /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(s) ||
    /^[-+]?\.(inf|Inf|INF)$/.test(s) ||
    /^\.(nan|NaN|NAN)$/.test(s)
  );
}
