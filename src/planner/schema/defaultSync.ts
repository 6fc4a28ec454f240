/**
 * How a subscriber's column default, identity or generation becomes its publisher's in place
 * (schema sync's ALTER TABLE, `tableSync.ts`): the subcommands, in the order they must run, or
 * why PostgreSQL cannot do it in place.
 */
import type { TableColumn } from '../../model/tableSchema.js';
import { majorVersion, PG17 } from '../../model/versions.js';
import { alterColumn } from './tableDdl.js';

export function kindOf(c: TableColumn): 'plain' | 'identity' | 'stored' | 'virtual' {
  if (c.identity) return 'identity';
  if (c.generated) return c.generated;
  return 'plain';
}

/** How the subscriber's default / identity / generation becomes the publisher's; a string says why it cannot. */
export function syncDefault(l: TableColumn, r: TableColumn, subscriberVersion: number, typeChanged: boolean) {
  const lk = kindOf(l);
  const rk = kindOf(r);
  const out = { drops: [] as string[], sets: [] as string[], rewrites: false };
  if (lk === 'stored' || lk === 'virtual') {
    if (rk === lk && subscriberVersion >= PG17) {
      out.sets.push(alterColumn.setExpression(l));
      out.rewrites = lk === 'stored';
      return out;
    }
    if (rk === lk) {
      return `its generation expression differs, and PostgreSQL ${majorVersion(subscriberVersion)} cannot change it in place (17 can); change it by hand`;
    }
    return `it is a ${lk} generated column on the publisher but not on the subscriber, and PostgreSQL cannot make a column generated in place; recreate it by hand`;
  }
  if (rk === 'virtual') {
    return 'it is a virtual generated column on the subscriber only, and PostgreSQL cannot turn it into a plain column in place; recreate it by hand';
  }
  if (rk === 'stored') out.drops.push(alterColumn.dropExpression(r));
  if (rk === 'identity' && lk !== 'identity') out.drops.push(alterColumn.dropIdentity(r));
  if (lk === 'identity') {
    if (rk === 'identity') out.sets.push(alterColumn.setIdentity(l));
    else {
      if (rk === 'plain' && r.default !== null) out.drops.push(alterColumn.dropDefault(r));
      out.sets.push(alterColumn.addIdentity(l));
    }
    return out;
  }
  // the publisher's column is plain
  if (l.default === null) {
    if (rk === 'plain' && r.default !== null) out.drops.push(alterColumn.dropDefault(r));
  } else {
    // the old default may not convert to a new type: drop it before the type changes
    if (typeChanged && rk === 'plain' && r.default !== null) out.drops.push(alterColumn.dropDefault(r));
    out.sets.push(alterColumn.setDefault(l));
  }
  return out;
}
