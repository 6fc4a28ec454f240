/**
 * A path is where a value sits in steep.yaml: `['subscriptions', 'west_orders', 'options', 'streaming']`.
 * Problems are raised against paths; positions.ts turns a path into file:line:column, and the
 * helpers here turn it into the words a DBA reads ("subscription `west_orders`: `streaming` …").
 */
export type PathSegment = string | number;
export type Path = readonly PathSegment[];

/** A stable string for a path, for sets and maps. */
export function pathKey(path: Path): string {
  return JSON.stringify(path);
}

// no prototype: a section named `__proto__` or `constructor` is no kind of entity
const ENTITY_KINDS: Record<string, string> = Object.assign(Object.create(null), {
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
  const last = path[path.length - 1];
  if (typeof last === 'number') {
    const parent = path[path.length - 2];
    return `item ${last + 1} of \`${String(parent)}\``;
  }
  return `\`${String(last ?? '')}\``;
}

/** "owner: text", or just "text" at the top level. */
export function withOwner(path: Path, text: string): string {
  const owner = ownerOf(path);
  return owner ? `${owner}: ${text}` : text;
}
