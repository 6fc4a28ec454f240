/**
 * Parsers for the graph formats steep writes, strict enough to stand for the real renderers in
 * tests (no new dependency): Mermaid flowcharts as GitHub draws them (the statements steep
 * uses: classDef, vertices with a quoted label and a shape, edges with an optional quoted label,
 * linkStyle), and Graphviz DOT (a lexer and the statement grammar of a digraph). Each throws on
 * the first line it cannot read, naming it, and returns the graph for structural assertions.
 */

export interface ParsedVertex {
  id: string;
  shape: string;
  /** label with entities decoded and `<br/>` as newlines */
  label: string;
  cls: string | null;
}

export interface ParsedEdge {
  from: string;
  to: string;
  op: string;
  label: string | null;
}

export interface ParsedMermaid {
  direction: string;
  vertices: Map<string, ParsedVertex>;
  edges: ParsedEdge[];
  classDefs: Map<string, string>;
  linkStyles: Map<number, string>;
}

const ID = '[A-Za-z_][A-Za-z0-9_]*';
const QUOTED = '"([^"]*)"';
const SHAPES: Array<[string, string, string]> = [
  ['[(', ')]', 'cylinder'],
  ['([', '])', 'stadium'],
  ['[[', ']]', 'subroutine'],
  ['[', ']', 'box'],
  ['(', ')', 'round'],
  ['{', '}', 'rhombus'],
];
const ENTITIES: Record<string, string> = { quot: '"', amp: '&', lt: '<', gt: '>' };

function decodeLabel(raw: string, where: string): string {
  // the only markup allowed is <br/>; any other < or > would be read as HTML
  const withoutBreaks = raw.replace(/<br\/>/g, '\n');
  if (/[<>]/.test(withoutBreaks)) throw new Error(`${where}: raw < or > in a label`);
  return withoutBreaks.replace(/#([a-z]+|\d+);/g, (whole, name: string) => {
    if (/^\d+$/.test(name)) return String.fromCodePoint(Number(name));
    const ch = ENTITIES[name];
    if (ch === undefined) throw new Error(`${where}: unknown entity ${whole}`);
    return ch;
  });
}

function parseStyle(style: string, where: string): void {
  for (const part of style.split(',')) {
    if (!/^[a-z-]+:[^:;]+$/.test(part.trim())) throw new Error(`${where}: bad style \`${part}\``);
  }
}

export function parseMermaid(text: string): ParsedMermaid {
  const lines = text.split('\n').map((l, i) => ({ l: l.trim(), n: i + 1 }));
  const body = lines.filter((x) => x.l !== '' && !x.l.startsWith('%%'));
  const head = /^(flowchart|graph) (LR|RL|TB|TD|BT)$/.exec(body[0]?.l ?? '');
  if (!head) throw new Error(`line 1: not a flowchart header: ${body[0]?.l}`);
  const out: ParsedMermaid = {
    direction: head[2]!,
    vertices: new Map(),
    edges: [],
    classDefs: new Map(),
    linkStyles: new Map(),
  };
  const edgeRe = new RegExp(`^(${ID}) (-->|---|-\\.->|-\\.-|==>)(?:\\|${QUOTED}\\|)? (${ID})$`);
  const usedClasses: Array<[string, string]> = [];
  for (const { l, n } of body.slice(1)) {
    const where = `line ${n}`;
    let m = /^classDef (\w+) (.+)$/.exec(l);
    if (m) {
      parseStyle(m[2]!, where);
      out.classDefs.set(m[1]!, m[2]!);
      continue;
    }
    m = /^linkStyle (\d+) (.+)$/.exec(l);
    if (m) {
      parseStyle(m[2]!, where);
      out.linkStyles.set(Number(m[1]), m[2]!);
      continue;
    }
    m = edgeRe.exec(l);
    if (m) {
      out.edges.push({
        from: m[1]!,
        op: m[2]!,
        label: m[3] === undefined ? null : decodeLabel(m[3], where),
        to: m[4]!,
      });
      continue;
    }
    m = new RegExp(`^(${ID})(.*?)(?::::(\\w+))?$`).exec(l);
    const shape =
      m && SHAPES.find(([open, close]) => m![2]!.startsWith(`${open}"`) && m![2]!.endsWith(`"${close}`));
    if (m && shape) {
      const inner = m[2]!.slice(shape[0].length + 1, m[2]!.length - shape[1].length - 1);
      if (inner.includes('"')) throw new Error(`${where}: a raw quote inside a label`);
      if (m[1] === 'end') throw new Error(`${where}: \`end\` is a reserved word`);
      if (out.vertices.has(m[1]!)) throw new Error(`${where}: vertex ${m[1]} defined twice`);
      out.vertices.set(m[1]!, {
        id: m[1]!,
        shape: shape[2],
        label: decodeLabel(inner, where),
        cls: m[3] ?? null,
      });
      if (m[3]) usedClasses.push([m[3], where]);
      continue;
    }
    throw new Error(`${where}: not a statement Mermaid reads: ${l}`);
  }
  for (const e of out.edges) {
    for (const id of [e.from, e.to])
      if (!out.vertices.has(id)) throw new Error(`edge ${e.from} → ${e.to}: vertex ${id} is not defined`);
  }
  for (const [cls, where] of usedClasses)
    if (!out.classDefs.has(cls)) throw new Error(`${where}: class ${cls} has no classDef`);
  for (const i of out.linkStyles.keys())
    if (i >= out.edges.length) throw new Error(`linkStyle ${i}: there are only ${out.edges.length} edges`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// DOT

export interface ParsedDot {
  name: string | null;
  nodes: Map<string, Record<string, string>>;
  edges: Array<{ from: string; to: string; attrs: Record<string, string> }>;
}

type Token = { kind: 'id'; value: string } | { kind: 'punct'; value: string };

function lexDot(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (text.startsWith('->', i)) {
      tokens.push({ kind: 'punct', value: '->' });
      i += 2;
    } else if ('{}[]=;,'.includes(c)) {
      tokens.push({ kind: 'punct', value: c });
      i++;
    } else if (c === '"') {
      let value = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) {
          value += text[i + 1] === 'n' ? '\n' : text[i + 1];
          i += 2;
        } else value += text[i++];
      }
      if (text[i] !== '"') throw new Error('DOT: unterminated string');
      i++;
      tokens.push({ kind: 'id', value });
    } else {
      const m = /^[A-Za-z_0-9.]+/.exec(text.slice(i));
      if (!m) throw new Error(`DOT: unexpected ${JSON.stringify(c)} at offset ${i}`);
      tokens.push({ kind: 'id', value: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

export function parseDot(text: string): ParsedDot {
  const t = lexDot(text);
  let i = 0;
  const peek = () => t[i];
  const expect = (value: string) => {
    const tok = t[i++];
    if (tok?.kind !== 'punct' || tok.value !== value)
      throw new Error(`DOT: expected ${value}, got ${tok?.value}`);
  };
  const id = (): string => {
    const tok = t[i++];
    if (tok?.kind !== 'id') throw new Error(`DOT: expected an id, got ${tok?.value}`);
    return tok.value;
  };
  const attrs = (): Record<string, string> => {
    const out: Record<string, string> = {};
    if (peek()?.value !== '[') return out;
    expect('[');
    while (peek()?.value !== ']') {
      const k = id();
      expect('=');
      out[k] = id();
      if (peek()?.value === ',' || peek()?.value === ';') i++;
    }
    expect(']');
    return out;
  };
  if (id() !== 'digraph') throw new Error('DOT: not a digraph');
  const name = peek()?.kind === 'id' ? id() : null;
  expect('{');
  const out: ParsedDot = { name, nodes: new Map(), edges: [] };
  while (peek() && peek()!.value !== '}') {
    const first = id();
    if (peek()?.value === '=') {
      i++;
      id();
    } else if (['node', 'edge', 'graph'].includes(first)) {
      attrs();
    } else if (peek()?.value === '->') {
      i++;
      const to = id();
      out.edges.push({ from: first, to, attrs: attrs() });
    } else {
      if (out.nodes.has(first)) throw new Error(`DOT: node ${first} declared twice`);
      out.nodes.set(first, attrs());
    }
    expect(';');
  }
  expect('}');
  if (i !== t.length) throw new Error('DOT: text after the closing brace');
  for (const e of out.edges)
    for (const n of [e.from, e.to])
      if (!out.nodes.has(n)) throw new Error(`DOT: edge to undeclared node ${n}`);
  return out;
}
