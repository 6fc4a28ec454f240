/**
 * What a YAML syntax error means in steep.yaml, in words a DBA can act on (yamlDocument.ts reports
 * them): the yaml library's own text gets a hint, and an indentation error names the keys and
 * columns involved, at the line to change.
 */
import type { YAMLError } from 'yaml';

export function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** What a syntax error means in steep.yaml, and where to show it when that is not yaml's offset. */
export function syntaxMessage(
  e: YAMLError,
  file: string,
): { message: string; hint?: string; offset?: number } {
  const text = firstLine(e.message).replace(/\s+at line \d+, column \d+:?$/, '');
  switch (e.code) {
    case 'TAB_AS_INDENT':
      return {
        message: 'a tab is used for indentation; YAML allows only spaces',
        hint: 'indent with spaces',
      };
    case 'MULTIPLE_DOCS':
      return {
        message: 'the file holds more than one YAML document (a second `---`)',
        hint: 'keep a single document in steep.yaml',
      };
    case 'BAD_INDENT': {
      const closing = /end with an? ([\]}])/.exec(text)?.[1];
      if (closing) {
        const opening = closing === '}' ? '{' : '[';
        return {
          message: `invalid YAML: a \`${opening}\` is not closed with \`${closing}\``,
          hint: `close it, or indent the lines inside it further than its key`,
        };
      }
      return (
        (/same column/.test(text) && keyBesideOthers(file, e.pos[0])) || {
          message: `bad indentation: ${lowerFirst(text)}`,
          hint: 'check the indentation of this line',
        }
      );
    }
    // a line indented further than the key above it continues that key's value
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return lineInsideValue(file, e.pos[0]) ?? { message: `invalid YAML: ${lowerFirst(text)}` };
    default:
      return { message: `invalid YAML: ${lowerFirst(text)}` };
  }
}

interface Line {
  number: number;
  start: number;
  /** spaces before the key, a list item's `- ` counted as indentation */
  indent: number;
  key: string;
}

/** The line at `offset`, or the next one that holds more than blanks or a comment. */
function lineAt(text: string, offset: number, next = false): Line | undefined {
  let start = text.lastIndexOf('\n', offset - 1) + 1;
  for (;;) {
    const end = text.indexOf('\n', start);
    const raw = text.slice(start, end < 0 ? undefined : end);
    const key = raw.replace(/^[\s-]*/, '');
    if (!next || (key !== '' && !key.startsWith('#'))) {
      const number = text.slice(0, start).split('\n').length;
      return { number, start, indent: raw.length - key.length, key: key.split(':')[0]!.trim() };
    }
    if (end < 0) return undefined;
    start = end + 1;
  }
}

/**
 * A key at another column than any mapping open above it: between the column of the keys of one
 * (the nearest line above indented less) and of one nested in it (the least indented line
 * between). Either may be meant; the hint names both.
 */
function keyBesideOthers(text: string, offset: number) {
  const line = lineAt(text, offset, true);
  if (!line) return undefined;
  let deeper: Line | undefined;
  for (let start = line.start - 1; start > 0; start = text.lastIndexOf('\n', start - 1)) {
    const above = lineAt(text, start);
    if (!above || above.key === '' || above.key.startsWith('#') || above.indent === line.indent) continue;
    if (above.indent > line.indent) {
      if (!deeper || above.indent < deeper.indent) deeper = above;
      continue;
    }
    const beside = (l: Line) => `column ${l.indent + 1} beside \`${l.key}\``;
    return {
      message: `bad indentation: \`${line.key}\` starts at column ${line.indent + 1}, not at the column of the keys above it: ${[
        deeper,
        above,
      ]
        .filter((l) => l !== undefined)
        .map((l) => `\`${l.key}\` (line ${l.number}) at column ${l.indent + 1}`)
        .join(', ')}`,
      hint: `move it to ${deeper ? `${beside(deeper)} or to ` : ''}${beside(above)}`,
      offset: line.start + line.indent,
    };
  }
  return undefined;
}

/** The line under a key with a value, indented further than that key: yaml reads it into the value. */
function lineInsideValue(text: string, offset: number) {
  const keyLine = lineAt(text, offset)!;
  const end = text.indexOf('\n', offset);
  const line = end < 0 ? undefined : lineAt(text, end + 1, true);
  if (!line || line.indent <= keyLine.indent || keyLine.key === '') return undefined;
  return {
    message: `bad indentation: line ${line.number} is indented further than \`${keyLine.key}\` on line ${keyLine.number}, so YAML reads it as part of \`${keyLine.key}\`'s value`,
    hint: `start it at column ${keyLine.indent + 1}, as \`${keyLine.key}\``,
    offset: line.start + line.indent,
  };
}

function lowerFirst(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}
