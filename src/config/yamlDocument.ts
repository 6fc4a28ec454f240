import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type YAMLError,
  type YAMLMap,
} from 'yaml';
import { nestingProblem } from './nesting.js';
import { ENTITY_KINDS, type Path } from './paths.js';
import { type ComposedYaml, keyText, SourceMap } from './positions.js';
import type { ProblemList } from './problems.js';
import { firstLine, syntaxMessage } from './yamlSyntax.js';

/** steep.yaml is a small file: anything larger is refused before parsing. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** Bounds alias expansion ("billion laughs"): at most this many alias references are resolved. */
export const MAX_ALIAS_COUNT = 100;
/** Deeper flow nesting (`[[[[…`) than this is refused before parsing: the parser's cost grows with it. */
export const MAX_FLOW_DEPTH = 256;
/**
 * Deeper block nesting than this, as the indentation shows it, is refused before `yaml` parses:
 * its parser recurses once per level, and whether a few hundred levels more exhaust the stack
 * depends on how deep the caller's stack already is. Between MAX_NESTING_DEPTH and this, the
 * parsed document's own check reports the exact level.
 */
const MAX_BLOCK_DEPTH = 384;
/** Syntax errors reported before the rest are summed up in one line. */
const MAX_SYNTAX_ERRORS = 20;

/**
 * Parse steep.yaml into its plain value (mappings as objects, sequences as arrays, aliases and
 * merge keys resolved), keeping source positions. Syntax errors, tab indentation, an empty file, a
 * document that is not a mapping, duplicate and non-scalar keys all become positioned problems;
 * the result is undefined when the value cannot be trusted.
 */
export function parseYaml(text: string, file: string, problems: ProblemList) {
  if (refusedUnread(text, file, problems)) return undefined;
  const tooDeep = (): undefined => {
    problems.error('yaml-syntax', TOO_DEEP, { file, ...deepestLine(text) }, DEEP_HINT);
    return undefined;
  };
  if (blockDepthExceeds(text, MAX_BLOCK_DEPTH)) return tooDeep();
  let composed: ComposedYaml;
  try {
    composed = compose(text);
  } catch (e) {
    // yaml's parser recurses once per level of block nesting and can run out of stack
    if (!(e instanceof RangeError)) throw e;
    return tooDeep();
  }
  const { doc } = composed;
  const positions = new SourceMap(file, text, composed);

  // yaml's composer ran out of stack; where it did, and what followed, depends on the stack left
  if (doc.errors.some((e) => e.code === 'RESOURCE_EXHAUSTION')) return tooDeep();
  if (doc.errors.length > 0) {
    reportSyntaxErrors(doc.errors, text, positions, problems);
    return undefined;
  }
  for (const w of doc.warnings) {
    problems.warning('yaml-warning', `YAML: ${firstLine(w.message)}`, positions.at(w.pos[0]));
  }

  const contents = documentMapping(doc.contents as Node | null, file, positions, problems);
  if (!contents) return undefined;

  // before anything walks the value: a cycle or great depth would overflow the stack
  const nesting = nestingProblem(contents);
  if (nesting) {
    problems.error(nesting.code, nesting.message, positions.at(nesting.offset), nesting.hint);
    return undefined;
  }

  // a list or mapping used as a key would also make yaml's toJS print a process warning
  if (!checkKeys(contents, [], positions, problems)) return undefined;

  const value = plainValue(doc, file, problems);
  return value === undefined ? undefined : { value, positions };
}

/** A file too large, or nested too deeply in `[`/`{`, is refused before any parser reads it. */
function refusedUnread(text: string, file: string, problems: ProblemList): boolean {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_FILE_BYTES) {
    problems.error(
      'file-too-large',
      `the file is ${bytes} bytes; steep.yaml may be at most ${MAX_FILE_BYTES} bytes`,
      { file, line: 1, column: 1 },
    );
    return true;
  }
  const tooDeep = flowDepthExceeded(text);
  if (tooDeep !== undefined) {
    // count lines up to the offending bracket without parsing
    const line = text.slice(0, tooDeep).split('\n').length;
    const column = tooDeep - text.lastIndexOf('\n', tooDeep - 1);
    problems.error('yaml-syntax', `lists and mappings are nested more than ${MAX_FLOW_DEPTH} levels deep`, {
      file,
      line,
      column,
    });
    return true;
  }
  return false;
}

/** Each syntax error once per line and message, at most MAX_SYNTAX_ERRORS of them. */
function reportSyntaxErrors(
  errors: YAMLError[],
  text: string,
  positions: SourceMap,
  problems: ProblemList,
): void {
  const seen = new Set<string>();
  let reported = 0;
  for (const e of errors) {
    const { message, hint, offset = e.pos[0] } = syntaxMessage(e, text);
    const at = positions.at(offset);
    const key = `${at.line}:${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (reported === MAX_SYNTAX_ERRORS) {
      // past the first few, syntax errors are mostly echoes of the first ones
      problems.error('yaml-syntax', 'further YAML errors follow from here; fix the ones above first', at);
      break;
    }
    reported++;
    problems.error(e.code === 'TAB_AS_INDENT' ? 'tab-indent' : 'yaml-syntax', message, at, hint);
  }
}

/** The document's top mapping; an empty file or a list or value at the top is a problem. */
function documentMapping(
  contents: Node | null,
  file: string,
  positions: SourceMap,
  problems: ProblemList,
): YAMLMap | undefined {
  if (contents === null || (isScalar(contents) && contents.value === null)) {
    problems.error(
      'empty-file',
      'the file is empty',
      { file, line: 1, column: 1 },
      'start with `version: 1`, `topology: <name>` and a `nodes:` mapping',
    );
    return undefined;
  }
  if (!isMap(contents)) {
    const what = isSeq(contents) ? 'a list' : 'a single value';
    problems.error(
      'not-a-mapping',
      `the file must be a mapping of keys (version, topology, nodes, …), not ${what}`,
      positions.value([]),
    );
    return undefined;
  }
  return contents;
}

/** The document as a plain value, aliases resolved up to MAX_ALIAS_COUNT references. */
function plainValue(doc: Document, file: string, problems: ProblemList): Record<string, unknown> | undefined {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as Record<string, unknown>;
  } catch (e) {
    if (!(e instanceof ReferenceError)) throw e;
    problems.error(
      'too-many-aliases',
      `aliases expand to too many values (more than ${MAX_ALIAS_COUNT} alias references)`,
      { file, line: 1, column: 1 },
      'write the values out, or use fewer `*alias` references',
    );
    return undefined;
  }
}

function compose(text: string): ComposedYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    uniqueKeys: false,
    merge: true,
    prettyErrors: false,
  });
  return { doc, lines };
}

const TOO_DEEP = 'lists and mappings are nested too deeply to read';
const DEEP_HINT = 'steep.yaml needs only a few levels; flatten this value';

const BLOCK_KEY = /^(?:"[^"]*"|'[^']*'|[^\s"'#[{][^#]*?)\s*:(?:\s|$)/;
const BLOCK_SCALAR = /(?:^|\s)[|>][-+0-9]*\s*(?:#.*)?$/;

/**
 * Whether block lists and mappings nest deeper than `max`, counted from the indentation and the
 * `- ` and `key:` that open each level (a list at its key's own indentation counts as a level).
 * Block scalar lines are skipped; lines it cannot classify open nothing.
 */
function blockDepthExceeds(text: string, max: number): boolean {
  const open: { column: number; list: boolean }[] = [];
  let scalarAbove = -1; // lines indented more than this belong to a block scalar
  for (const raw of text.split('\n')) {
    let column = 0;
    while (raw.charCodeAt(column) === 0x20) column++;
    if (column === raw.length || raw[column] === '#') continue;
    if (scalarAbove >= 0 && column > scalarAbove) continue;
    scalarAbove = -1;
    let rest = raw.slice(column).trimEnd();
    // close the levels this line is not inside: deeper ones, and a list its key's next key ends
    const inside = (o: { column: number; list: boolean }) =>
      o.column < column || (o.column === column && (!o.list || isItem(rest)));
    while (open.length > 0 && !inside(open.at(-1)!)) open.pop();
    const opens = (list: boolean) => {
      const top = open.at(-1);
      if (top?.column !== column || top.list !== list) open.push({ column, list });
    };
    while (isItem(rest)) {
      opens(true);
      let skip = 1;
      while (rest.charCodeAt(skip) === 0x20) skip++;
      column += skip;
      rest = rest.slice(skip);
    }
    if (BLOCK_KEY.test(rest)) opens(false);
    if (open.length > max) return true;
    if (BLOCK_SCALAR.test(rest)) scalarAbove = open.at(-1)?.column ?? 0;
  }
  return false;
}

function isItem(content: string): boolean {
  return content === '-' || content.startsWith('- ');
}

/** Where the text is indented furthest (`- ` counts as indentation): where block nesting is deepest. */
function deepestLine(text: string): { line: number; column: number } {
  let best = { line: 1, column: 1 };
  text.split('\n').forEach((raw, i) => {
    const column = /^(?: |-(?= ))*/.exec(raw)![0].length + 1;
    if (column > best.column) best = { line: i + 1, column };
  });
  return best;
}

/** The offset at which `[`/`{` nesting first exceeds MAX_FLOW_DEPTH, counted without regard to quoting. */
function flowDepthExceeded(text: string): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > MAX_FLOW_DEPTH) return i;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return undefined;
}

/** Duplicate keys and keys that are not plain scalars, everywhere in the document. */
function checkKeys(node: Node | null, path: Path, positions: SourceMap, problems: ProblemList): boolean {
  let ok = true;
  if (isSeq(node)) {
    node.items.forEach((item, i) => {
      ok = checkKeys(item as Node | null, [...path, i], positions, problems) && ok;
    });
  } else if (isMap(node)) {
    const seen = new Map<string, { line: number; column: number }>();
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = keyText(pair);
      const keyNode = pair.key as Node | null;
      const at = keyNode?.range ? positions.at(keyNode.range[0]) : positions.container(path);
      // a tagged key (`!!binary …:`, `!!timestamp …:`) loads as an object, not a name
      if (
        key === undefined ||
        !isScalar(keyNode) ||
        keyNode.value === null ||
        typeof keyNode.value === 'object'
      ) {
        problems.error('bad-key', 'keys must be plain names, not lists, mappings or empty', at);
        ok = false;
        continue;
      }
      const first = seen.get(key);
      if (first !== undefined && key !== '<<') {
        problems.error(
          'duplicate-key',
          duplicateMessage(path, key, first),
          at,
          'names must be unique; rename or remove one',
        );
        ok = false;
      } else {
        seen.set(key, at);
      }
      ok = checkKeys(pair.value as Node | null, [...path, key], positions, problems) && ok;
    }
  }
  return ok;
}

function duplicateMessage(path: Path, key: string, first: { line: number; column: number }): string {
  const firstAt = `first at line ${first.line}, column ${first.column}`;
  // a link declared twice reads as a key that appears twice
  const kind = path.length === 1 && path[0] !== 'links' ? ENTITY_KINDS[path[0]!] : undefined;
  if (kind) return `${kind} \`${key}\` is declared twice (${firstAt})`;
  const where = path.length === 0 ? 'at the top level' : `in \`${path.join('.')}\``;
  return `key \`${key}\` appears twice ${where} (${firstAt})`;
}
