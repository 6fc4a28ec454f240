import { parseDocument } from 'yaml';
import type { ImportedTopology } from '../model/imported.js';

/**
 * The imported topology as steep.yaml: the file it started from (nodes, settings, comments and
 * `${env:…}` references exactly as written) with `publications` and `subscriptions` set to what
 * the nodes hold, and what was left out as comments at the end.
 */
export function renderImportYaml(fileText: string, imported: ImportedTopology): string {
  const doc = parseDocument(fileText);
  const byName = <T extends { name: string }>(items: T[]) =>
    Object.fromEntries(items.map(({ name, ...rest }) => [name, rest]));
  // a table without a column list or row filter is just its name
  const publications = imported.publications.map((p) =>
    p.tables ? { ...p, tables: p.tables.map((t) => (t.columns || t.where !== undefined ? t : t.name)) } : p,
  );
  doc.set('publications', doc.createNode(byName(publications)));
  doc.set('subscriptions', doc.createNode(byName(imported.subscriptions)));
  const header = "written by steep import from the nodes' catalogs: `steep plan` adopts them as they are";
  doc.commentBefore = doc.commentBefore ? `${doc.commentBefore}\n ${header}` : ` ${header}`;
  if (imported.notes.length > 0) {
    doc.comment = [' not imported:', ...imported.notes.map((n) => `   ${n}`)].join('\n');
  }
  return doc.toString({ lineWidth: 0 });
}
