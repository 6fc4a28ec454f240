/**
 * The one ordering steep uses for names, desired and observed (tables, columns, schemas,
 * publications, subscriptions, nodes): by UTF-16 code unit, i.e. JavaScript's default sort, so
 * it never depends on a server's collation or the machine's locale.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortedText(values: Iterable<string>): string[] {
  return [...values].sort(compareText);
}

export function compareTableNames(
  a: { schema: string; name: string },
  b: { schema: string; name: string },
): number {
  return compareText(a.schema, b.schema) || compareText(a.name, b.name);
}
