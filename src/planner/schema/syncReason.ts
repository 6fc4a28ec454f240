/**
 * The reason of a table's `sync-schema` step (tableSync.ts): what differs between the two
 * nodes' tables, or what the subscriber's lacks, and the wait before defaults where it waits.
 */
import type { Step } from '../../model/plan.js';
import { OBJECT_KIND_TEXT } from '../../model/tableObjects.js';
import { listText } from '../context.js';
import { findRename, renameReasonText } from './columnRename.js';
import type { ObjectSync } from './objectSync.js';
import { differs } from './schemaCompare.js';
import type { SyncInput } from './schemaSync.js';

export function syncReasonText(s: SyncInput, objects: ObjectSync, wait: Pick<Step, 'defaultsAfter'>): string {
  const text = reasonText(s, objects);
  const after = wait.defaultsAfter;
  if (after === undefined) return text;
  const n = after.columns.length;
  return (
    `${text}; the default${n === 1 ? '' : 's'} of ${listText(after.columns)} ${n === 1 ? 'is' : 'are'} set once ${s.d.name} ` +
    `has applied what ${s.d.from} inserted before adding ${n === 1 ? 'it' : 'them'}, which ${n === 1 ? 'takes' : 'take'} the value ` +
    `${s.d.from}'s rows from before hold until then`
  );
}

function reasonText(s: SyncInput, objects: ObjectSync): string {
  const { d, comparison: c } = s;
  if (c.status === 'LOCAL_ONLY') {
    const built = objects.built.length > 0 ? ', indexes and constraints' : '';
    return (
      `subscription ${d.name} receives ${c.table} from ${d.from}, and ${d.node} has no such table: it is created as on ` +
      `${d.from} (columns, defaults, not-null, primary key${built})`
    );
  }
  const lacks =
    objects.built.length > 0
      ? `${c.table} on ${d.node} lacks what ${d.from} has: ${listText(objects.built.map((o) => `${OBJECT_KIND_TEXT[o.kind]} ${o.name}`))}`
      : '';
  if (!differs(c.status)) return lacks;
  const rename = s.subTable && findRename(s.pubTable, s.subTable, s.columns);
  if (rename?.kind === 'rename') return renameReasonText(s, rename);
  const kinds = c.columns
    .filter((x) => x.kind !== 'extra')
    .map((x) => (x.kind === 'missing' ? `${x.column} missing` : `${x.column} ${x.kind}`));
  const columns = `${c.table} on ${d.node} differs from ${d.from}, whose rows subscription ${d.name} receives: ${listText(kinds)}`;
  return lacks ? `${columns}; ${lacks}` : columns;
}
