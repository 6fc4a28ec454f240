/**
 * The one ordering steep uses for names in observed state (tables, columns, schemas,
 * publications): by UTF-16 code unit, i.e. JavaScript's default sort, so it never depends on a
 * server's collation and matches how the desired state is sorted.
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
