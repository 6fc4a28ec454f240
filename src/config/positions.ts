import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';
import type { SourcePosition } from '../model/topology.js';
import type { Path } from './paths.js';

/** A parsed document and the line offsets of its text. */
export interface ComposedYaml {
  doc: Document;
  lines: LineCounter;
}

interface Located {
  /** the pair whose key names the value (absent for the document root and list items) */
  pair?: Pair;
  node: Node | null;
}

/** The YAML key a pair carries, as a string (scalar keys only). */
export function keyText(pair: Pair): string | undefined {
  const key = pair.key;
  if (!isScalar(key)) return undefined;
  // yaml reads a plain `<<` as a merge key, whose value is Symbol(<<)
  if (typeof key.value === 'symbol') return key.value.description ?? '';
  return key.value === null ? 'null' : String(key.value);
}

/**
 * Turns a path in the loaded value back into file:line:column, following aliases and merge
 * keys the way the value was built. With duplicate keys the last one wins, as in the value.
 */
export class SourceMap {
  constructor(
    readonly file: string,
    private readonly text: string,
    private readonly composed: ComposedYaml,
  ) {}

  /** Per mapping, each key's pair (the last, as in the value): a lookup per problem must not scan the mapping. */
  private readonly pairsByKey = new WeakMap<YAMLMap, Map<string, Pair>>();

  /** Position of an offset in the text (columns count UTF-16 code units, as editors do). */
  at(offset: number): SourcePosition {
    const { line, col } = this.composed.lines.linePos(offset);
    return { file: this.file, line, column: col };
  }

  /** Where the key of the value at `path` is written (the value itself for list items). */
  key(path: Path): SourcePosition {
    const found = this.locateNearest(path);
    if (found.exact) {
      const key = found.located.pair?.key;
      if (isScalar(key) && key.range) return this.at(key.range[0]);
      const node = found.located.node;
      if (!found.located.pair && node?.range) return this.at(node.range[0]);
    }
    return this.fallback(found);
  }

  /** Where the value at `path` is written (its key when the value is empty). */
  value(path: Path): SourcePosition {
    const found = this.locateNearest(path);
    if (!found.exact) return this.fallback(found);
    const node = found.located.node;
    const range = node?.range;
    if (!range || (isScalar(node) && node.value === null && range[0] === range[1])) return this.key(path);
    return this.at(range[0]);
  }

  /** Where the mapping at `path` is named: its key, or the top of the file for the root. */
  container(path: Path): SourcePosition {
    return path.length === 0 ? this.root() : this.key(path);
  }

  /** The source text of the scalar at `path`, with its start offset, when it is one. */
  scalarSource(path: Path): { source: string; offset: number } | undefined {
    const found = this.locateNearest(path);
    const node = found.located.node;
    if (!found.exact || !isScalar(node) || !node.range) return undefined;
    return { source: this.text.slice(node.range[0], node.range[1]), offset: node.range[0] };
  }

  private root(): SourcePosition {
    const contents = this.composed.doc.contents;
    return contents?.range ? this.at(contents.range[0]) : { file: this.file, line: 1, column: 1 };
  }

  /** The nearest ancestor that has a position: its key, or the top of the file. */
  private fallback(found: { exact: boolean; depth: number; path: Path }): SourcePosition {
    const depth = found.exact ? found.path.length - 1 : found.depth;
    return depth <= 0 ? this.root() : this.key(found.path.slice(0, depth));
  }

  private locateNearest(path: Path): { located: Located; exact: boolean; depth: number; path: Path } {
    let located: Located = { node: (this.composed.doc.contents as Node | null) ?? null };
    for (let i = 0; i < path.length; i++) {
      const next = this.child(located.node, path[i] as string | number, 0);
      if (!next) return { located, exact: false, depth: i, path };
      located = next;
    }
    return { located, exact: true, depth: path.length, path };
  }

  private resolve(node: Node | null): Node | null {
    let current = node;
    for (let hops = 0; current && isAlias(current) && hops < 100; hops++) {
      current = (current.resolve(this.composed.doc) as Node | undefined) ?? null;
    }
    return current;
  }

  private pairs(map: YAMLMap): Map<string, Pair> {
    let index = this.pairsByKey.get(map);
    if (!index) {
      index = new Map();
      for (const pair of map.items) {
        const key = isPair(pair) ? keyText(pair) : undefined;
        if (key !== undefined) index.set(key, pair);
      }
      this.pairsByKey.set(map, index);
    }
    return index;
  }

  private child(parent: Node | null, segment: string | number, depth: number): Located | undefined {
    const node = this.resolve(parent);
    if (!node || depth > 50) return undefined;
    if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      return item === undefined ? undefined : { node: (item as Node | null) ?? null };
    }
    if (!isMap(node)) return undefined;
    const pair = this.pairs(node).get(String(segment));
    if (pair) return { pair, node: (pair.value as Node | null) ?? null };
    // merge keys (`<<: *defaults`): the value may come from the merged mapping
    for (const pair of node.items) {
      if (isPair(pair) && keyText(pair) === '<<') {
        const sources = this.resolve(pair.value as Node | null);
        const list = isSeq(sources) ? (sources.items as Node[]) : [sources];
        for (const source of list) {
          const inMerged = this.child(source, segment, depth + 1);
          if (inMerged) return inMerged;
        }
      }
    }
    return undefined;
  }
}
