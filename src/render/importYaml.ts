import { isMap, parseDocument } from 'yaml';
import type { ImportedTopology } from '../model/imported.js';

/**
 * The imported topology as steep.yaml: the file it started from (nodes, settings, comments and
 * `${env:…}` references exactly as written) with `publications` and `subscriptions` set to what
 * the nodes hold, and what was left out as comments at the end.
 *
 * What no catalog holds (`protect`, a subscription's `schemaSync` and `init`) is the DBA's
 * intent: an object the file already declared on the same node keeps those keys as written.
 */

const FILE_ONLY = {
  publications: ['protect'],
  subscriptions: ['protect', 'schemaSync', 'init'],
} as const;

type Section = keyof typeof FILE_ONLY;

/** The section of the file as plain objects by name (empty when absent or not a mapping). */
function declared(
  doc: ReturnType<typeof parseDocument>,
  section: Section,
): Record<string, Record<string, unknown>> {
  const node = doc.get(section);
  if (!isMap(node)) return {};
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, value] of Object.entries(node.toJSON() as Record<string, unknown>)) {
    if (value && typeof value === 'object' && !Array.isArray(value))
      out[name] = value as Record<string, unknown>;
  }
  return out;
}

/** The section set to each imported object as its steep.yaml entry, with the file's intent keys carried over. */
function setSection<T extends { name: string; node: string }>(
  doc: ReturnType<typeof parseDocument>,
  section: Section,
  items: readonly T[],
  notes: string[],
): void {
  const before = declared(doc, section);
  const kind = section.slice(0, -1);
  const out: Record<string, unknown> = {};
  for (const { name, ...rest } of items) {
    const was = before[name];
    const kept = was?.node === rest.node ? FILE_ONLY[section].filter((key) => was[key] !== undefined) : [];
    out[name] = { ...rest, ...Object.fromEntries(kept.map((key) => [key, was?.[key]])) };
  }
  for (const [name, was] of Object.entries(before)) {
    const now = items.find((i) => i.name === name);
    if (!now || now.node !== was.node)
      notes.push(
        `${kind} ${name} was declared in the file on ${String(was.node)} but ${now ? `is on ${now.node}: written as that node holds it` : 'is not there: left out'}`,
      );
  }
  doc.set(section, doc.createNode(out));
}

export function renderImportYaml(fileText: string, imported: ImportedTopology): string {
  const doc = parseDocument(fileText);
  const notes = [...imported.notes];
  // a table without a column list or row filter is just its name
  const publications = imported.publications.map((p) =>
    p.tables ? { ...p, tables: p.tables.map((t) => (t.columns || t.where !== undefined ? t : t.name)) } : p,
  );
  setSection(doc, 'publications', publications, notes);
  setSection(doc, 'subscriptions', imported.subscriptions, notes);
  const header = "written by steep import from the nodes' catalogs: `steep plan` adopts them as they are";
  doc.commentBefore = doc.commentBefore ? `${doc.commentBefore}\n ${header}` : ` ${header}`;
  if (notes.length > 0) {
    doc.comment = [' not imported:', ...notes.map((n) => `   ${n}`)].join('\n');
  }
  return doc.toString({ lineWidth: 0 });
}
