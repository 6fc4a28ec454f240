/**
 * A snapshot's `schema.sql`: the subscribed tables as steep's schema sync creates them on a
 * subscriber that has none of them, as one script a database runs before `snapshot apply`.
 * Schemas are created only where missing (`public` is in every database), then the enum types
 * and the sequences the columns need, the tables, and the sequences' owners. A type steep's
 * schema sync does not create either (a domain, an extension's) is named in a comment: it must
 * exist first.
 */

import { quoteIdent } from '../model/sql.js';
import type { NodeTableSchemas } from '../model/tableSchema.js';
import { qualifiedName, type TableName } from '../model/topology.js';
import {
  createEnumSql,
  createSequenceSql,
  createTableSql,
  ownSequenceSql,
} from '../planner/schema/tableDdl.js';

export function schemaScript(
  subscription: string,
  read: NodeTableSchemas,
  tables: readonly TableName[],
): string {
  const notes: string[] = [];
  const schemas = new Set<string>();
  const types = new Map<string, string>();
  const sequences = new Map<string, string>();
  const creates: string[] = [];
  const owners: string[] = [];
  for (const t of tables) {
    const def = read.tables[qualifiedName(t)];
    if (!def) continue;
    const table = qualifiedName(def);
    schemas.add(def.schema);
    for (const c of def.columns) {
      const ref = c.baseType;
      if (ref && ref.schema !== 'pg_catalog' && ref.schema !== 'information_schema') {
        const qn = `${ref.schema}.${ref.name}`;
        const type = read.types[qn];
        if (type?.kind === 'enum' && !type.extension) {
          schemas.add(type.schema);
          types.set(qn, `${createEnumSql(type)};`);
        } else if (!types.has(qn)) {
          types.set(qn, '');
          notes.push(
            `-- type ${qn} (column ${c.name} of ${table}${type?.extension ? `, extension ${type.extension}` : ''}) must exist first`,
          );
        }
      }
      for (const qn of c.sequences) {
        const seq = read.sequences[qn];
        if (!seq) {
          notes.push(`-- sequence ${qn} (the default of column ${c.name} of ${table}) must exist first`);
          continue;
        }
        schemas.add(seq.schema);
        sequences.set(qn, `${createSequenceSql(seq)};`);
        if (seq.ownedBy?.table === table && seq.ownedBy.column === c.name)
          owners.push(`${ownSequenceSql(seq, def, c.name)};`);
      }
    }
    creates.push(`${createTableSql(def, def.columns)};`);
  }
  const lines = [
    `-- the tables of subscription ${subscription}, as steep's schema sync creates them`,
    ...notes,
    ...[...schemas].sort().map((s) => `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(s)};`),
    ...[...types.values()].filter((sql) => sql !== ''),
    ...sequences.values(),
    ...creates,
    ...owners,
  ];
  return `${lines.join('\n')}\n`;
}
