import type { SwitchoverFacts, SwitchoverOptions } from '../../model/switchover.js';
import { createObjectSql, enforces, missingObjects, objectText } from '../../model/tableObjects.js';

/**
 * The indexes and constraints of the published tables that the old primary has and the new one
 * lacks (docs/switchover.md): the new primary would take the writes without enforcing them.
 * Each constraint (primary key, unique, exclusion, check, foreign key; a unique index too) is a
 * refusal before anything changes, naming the table, the object, the statement that builds it
 * and `--accept-missing-constraints`; a plain index only speeds reads up, so its absence is a
 * warning with its name (the application may slow down on the new primary). With the flag, the
 * missing constraints are warnings too.
 */
export function objectChecks(
  facts: Pick<SwitchoverFacts, 'objects' | 'oldNode' | 'newNode' | 'subscription'>,
  opts: Pick<SwitchoverOptions, 'acceptMissingConstraints'>,
): { problems: string[]; warnings: string[] } {
  const out = { problems: [] as string[], warnings: [] as string[] };
  const o = facts.objects;
  if (!o) return out;
  const { oldNode: old, newNode: neu, subscription: sub } = facts;
  const apply =
    o.schemaSync === 'auto'
      ? 'steep apply builds it (schemaSync: auto)'
      : `with schemaSync: auto on ${sub}, steep apply builds it`;
  for (const table of Object.keys(o.old).sort()) {
    const [schema, ...rest] = table.split('.');
    const name = { schema: schema!, name: rest.join('.') };
    const indexes: string[] = [];
    for (const x of missingObjects(o.old[table]!, o.new[table] ?? [])) {
      if (!enforces(x)) indexes.push(x.name);
      else if (opts.acceptMissingConstraints)
        out.warnings.push(
          `${objectText(x)} of ${table} on ${old} is missing on ${neu}: switching over without it (--accept-missing-constraints), ${neu} does not enforce it`,
        );
      else
        out.problems.push(
          `${objectText(x)} of ${table} on ${old} is missing on ${neu}, which would take the writes without enforcing it: ` +
            `create it on ${neu} (${createObjectSql(name, x)}; ${apply}), or pass --accept-missing-constraints to switch over without it`,
        );
    }
    if (indexes.length > 0)
      out.warnings.push(
        `${table} on ${neu} lacks ${indexes.length === 1 ? 'the index' : 'the indexes'} ${indexes.join(', ')} of ${old}: ` +
          `queries that use ${indexes.length === 1 ? 'it' : 'them'} slow down on ${neu} (${apply.replace(/\bit\b/, indexes.length === 1 ? 'it' : 'them')})`,
      );
  }
  return out;
}
