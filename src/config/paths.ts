/**
 * A path is where a value sits in steep.yaml: `['subscriptions', 'west_orders', 'options', 'streaming']`.
 * Problems are raised against paths; positions.ts turns a path into file:line:column, and the
 * helpers here turn it into the words a DBA reads ("subscription `west_orders`: `streaming` …").
 */
export type PathSegment = string | number;
export type Path = readonly PathSegment[];

/**
 * A path as a walk of the whole document goes: each step links to the one above, and the array
 * is built only for a value that has something to report (no array per value walked).
 */
export interface Trail {
  readonly up: Trail | undefined;
  readonly key: PathSegment;
}

export function pathOf(trail: Trail | undefined): Path {
  const path: PathSegment[] = [];
  for (let t = trail; t !== undefined; t = t.up) path.push(t.key);
  return path.reverse();
}

/**
 * The same value with `change` applied to every value inside it (a leaf when `change` returns
 * it): a list or a plain mapping comes back as itself when nothing in it changed, else as a new
 * one. A mapping of another kind (a tagged YAML value: Date, Map…; or without prototype) always
 * comes back as a new plain mapping of its own entries. `change` returns `SKIP` to leave a key
 * out. Keys are set with defineProperty, so a key named __proto__ stays a plain key.
 */
export function mapDocument(
  value: unknown,
  change: (value: unknown, trail: Trail, inList: boolean) => unknown,
  trail: Trail | undefined = undefined,
  inList = false,
): unknown {
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = change(value[i], { up: trail, key: i }, true);
      if (out === undefined && item !== value[i]) out = value.slice(0, i);
      out?.push(item);
    }
    return out ?? value;
  }
  if (value === null || typeof value !== 'object') return value;
  let out: Record<string, unknown> | undefined =
    Object.getPrototypeOf(value) === Object.prototype ? undefined : {};
  const entries = Object.entries(value);
  for (let i = 0; i < entries.length; i++) {
    const [key, item] = entries[i]!;
    const changed = change(item, { up: trail, key }, inList);
    if (out === undefined && changed !== item) {
      out = {};
      for (const [k, v] of entries.slice(0, i)) define(out, k, v);
    }
    if (out !== undefined && changed !== SKIP) define(out, key, changed);
  }
  return out ?? value;
}

/** What mapDocument's `change` returns to leave a key out. */
export const SKIP: unique symbol = Symbol('skip');

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A stable string for a path, for sets and maps. */
export function pathKey(path: Path): string {
  return JSON.stringify(path);
}

// no prototype: a section named `__proto__` or `constructor` is no kind of entity
export const ENTITY_KINDS: Record<string, string> = Object.assign(Object.create(null), {
  nodes: 'node',
  publications: 'publication',
  subscriptions: 'subscription',
  links: 'link',
});

/**
 * The object a path belongs to, in words: "node `east`", "publication `orders_pub`",
 * "settings", or '' at the top level.
 */
export function ownerOf(path: Path): string {
  const [section, name] = path;
  if (typeof section !== 'string') return '';
  const kind = ENTITY_KINDS[section];
  if (kind && typeof name === 'string' && path.length > 2) return `${kind} \`${name}\``;
  if (section === 'settings' && path.length > 1) return 'settings';
  return '';
}

/**
 * The owner of the object *at* a path (for "is missing required key" messages, where the path
 * is the mapping itself): `['subscriptions', 's']` → "subscription `s`".
 */
export function describeObject(path: Path): string {
  const [section, name] = path;
  if (path.length === 0) return 'the file';
  if (typeof section === 'string' && path.length === 2 && typeof name === 'string' && ENTITY_KINDS[section]) {
    return `${ENTITY_KINDS[section]} \`${name}\``;
  }
  const owner = ownerOf(path);
  return owner ? `${owner}: ${fieldOf(path)}` : fieldOf(path);
}

/** The key a path ends in, in backticks; a list item reads "item 2 of `tables`". */
export function fieldOf(path: Path): string {
  const last = path.at(-1);
  return typeof last === 'number'
    ? `item ${last + 1} of \`${String(path.at(-2))}\``
    : `\`${String(last ?? '')}\``;
}

/** "owner: text", or just "text" at the top level. */
export function withOwner(path: Path, text: string): string {
  const owner = ownerOf(path);
  return owner ? `${owner}: ${text}` : text;
}
