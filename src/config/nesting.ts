import type { Alias, Node, YAMLMap } from 'yaml';
import { isAlias, isMap, isNode, isPair, isScalar, isSeq } from 'yaml';

/**
 * Deeper nesting of lists and mappings than this is refused, counting an alias as the value it
 * stands for: every later check walks the value, and a steep.yaml needs a handful of levels.
 */
export const MAX_NESTING_DEPTH = 256;

export interface NestingProblem {
  code: 'too-deep' | 'circular-alias' | 'bad-merge';
  message: string;
  hint: string;
  /** offset in the text */
  offset: number;
}

/**
 * What the document would be once its aliases and merge keys are resolved, checked before it is:
 * an alias inside the value its anchor marks (the value would contain itself), nesting deeper than
 * MAX_NESTING_DEPTH, a merge key (`<<`) whose value is not mappings. Walks without recursion and
 * visits each node once, so neither deep nor alias-heavy documents cost more than their size.
 */
export function nestingProblem(root: Node): NestingProblem | undefined {
  const sources = aliasSources(root);
  const resolve = (node: unknown): unknown => (isAlias(node) ? sources.get(node) : node);

  const height = new Map<Node, number>();
  const onPath = new Set<Node>();
  const stack: { node: Node; kids: Node[]; next: number; max: number }[] = [];
  let depth = 0;
  const tooDeep = (at: Node): NestingProblem => {
    // the outermost alias on the walk
    const alias = stack.find((f) => isAlias(f.node))?.node as Alias | undefined;
    return {
      code: 'too-deep',
      message:
        `lists and mappings are nested more than ${MAX_NESTING_DEPTH} levels deep` +
        (alias ? ` once *${alias.source} is expanded` : ''),
      hint: 'steep.yaml needs only a few levels; flatten this value',
      offset: (alias ?? at).range?.[0] ?? 0,
    };
  };

  const enter = (node: Node): NestingProblem | undefined => {
    const problem = isMap(node) ? badMerge(node, resolve) : undefined;
    if (problem) return problem;
    if (isMap(node) || isSeq(node)) {
      depth++;
      if (depth > MAX_NESTING_DEPTH) return tooDeep(node);
    }
    const source = isAlias(node) ? sources.get(node) : undefined;
    stack.push({ node, kids: isAlias(node) ? (source ? [source] : []) : children(node), next: 0, max: 0 });
    onPath.add(node);
    return undefined;
  };

  const first = enter(root);
  if (first) return first;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next < top.kids.length) {
      const kid = top.kids[top.next++]!;
      const known = height.get(kid);
      if (known !== undefined) {
        // reached again through an alias: its subtree is known, only the depth it lands at is new
        if (depth + known > MAX_NESTING_DEPTH) return tooDeep(kid);
        top.max = Math.max(top.max, known);
      } else if (onPath.has(kid)) {
        // only an alias leads back to a node being walked: to one of its own containers
        return circularAlias(top.node as Alias);
      } else if (isMap(kid) || isSeq(kid) || isAlias(kid)) {
        const problem = enter(kid);
        if (problem) return problem;
      } else {
        height.set(kid, 0);
      }
      continue;
    }
    stack.pop();
    onPath.delete(top.node);
    const collection = isMap(top.node) || isSeq(top.node);
    if (collection) depth--;
    const h = top.max + (collection ? 1 : 0);
    height.set(top.node, h);
    const parent = stack[stack.length - 1];
    if (parent) parent.max = Math.max(parent.max, h);
  }
  return undefined;
}

/** A merge key (`<<`) of the mapping given something yaml cannot merge. */
function badMerge(map: YAMLMap, resolve: (node: unknown) => unknown): NestingProblem | undefined {
  for (const pair of map.items) {
    if (isPair(pair) && isMergeKey(pair.key) && !mergesMappings(pair.value, resolve)) {
      const at = isNode(pair.value) ? pair.value : (pair.key as Node);
      return {
        code: 'bad-merge',
        message: 'a merge key (`<<`) must be given a mapping, an alias of one, or a list of those',
        hint: 'merge a mapping, e.g. `<<: *defaults`',
        offset: at.range?.[0] ?? 0,
      };
    }
  }
  return undefined;
}

/** The alias leads back to a container of its own: the value it stands for would contain itself. */
function circularAlias(alias: Alias): NestingProblem {
  return {
    code: 'circular-alias',
    message: `*${alias.source} is inside the value &${alias.source} marks, so that value would contain itself`,
    hint: 'an alias can only repeat a value written out before it',
    offset: alias.range?.[0] ?? 0,
  };
}

/** Keys and values of a mapping, items of a list, in document order. */
function children(node: Node): Node[] {
  const items: unknown[] = isSeq(node)
    ? node.items
    : isMap(node)
      ? node.items.flatMap((pair) => (isPair(pair) ? [pair.key, pair.value] : []))
      : [];
  return items.filter(isNode);
}

/** The node each alias stands for: the last one anchored with its name before it, as yaml resolves it. */
function aliasSources(root: Node): Map<Alias, Node> {
  const sources = new Map<Alias, Node>();
  const anchors = new Map<string, Node>();
  const pending: Node[] = [root];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (isAlias(node)) {
      const source = anchors.get(node.source);
      if (source) sources.set(node, source);
      continue;
    }
    if (node.anchor) anchors.set(node.anchor, node);
    pending.push(...children(node).reverse());
  }
  return sources;
}

/** A plain `<<` key, which yaml reads as a merge (a quoted "<<" is an ordinary key). */
function isMergeKey(key: unknown): boolean {
  if (!isScalar(key)) return false;
  const v = key.value;
  return (
    (typeof v === 'symbol' && v.description === '<<') || (v === '<<' && (!key.type || key.type === 'PLAIN'))
  );
}

/** yaml merges a mapping, an alias of one, or a list (or alias of a list) of those; anything else throws. */
function mergesMappings(value: unknown, resolve: (node: unknown) => unknown): boolean {
  const source = resolve(value);
  return isSeq(source) ? source.items.every((item) => isMap(resolve(item))) : isMap(source);
}
