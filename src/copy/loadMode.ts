import type pg from 'pg';
import { readLoadFacts } from '../catalog/loadFacts.js';
import { subscriptionAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import type { LoadMode } from '../model/loadOrder.js';
import { qualifiedName, type SubscriptionSpec, type TableName } from '../model/topology.js';
import { planLoad, unsplitTables } from '../planner/init/loadOrder.js';

/**
 * How this copy loads `tables` on the subscriber, read at its start (the plan read the same, and
 * refused what it refuses here): as replication does where the session's role may set
 * session_replication_role, else in the planner's foreign-key order. A cycle of NOT DEFERRABLE
 * foreign keys or a trigger that would fire, come since the plan, stops it before any row loads;
 * so does, for `snapshot apply` (`files`: the tables the snapshot holds in several files), a
 * table in several files that references itself through a NOT DEFERRABLE foreign key.
 */
export async function loadModeOf(
  sub: pg.Client,
  d: SubscriptionSpec,
  tables: readonly TableName[],
  subVersion: number,
  snapshot?: { split: readonly string[] },
): Promise<{ mode: LoadMode; text: string }> {
  const facts = await readLoadFacts(sub, tables);
  const { mode, errors } = planLoad(
    { node: d.node, serverVersion: subVersion, subscription: d.name },
    facts,
    tables.map(qualifiedName),
    { twoPhase: d.init.method === 'two-phase', split: false, applying: snapshot !== undefined },
    snapshot?.split,
  );
  if (errors.length > 0)
    throw new SteepError('copy.load_order', errors.join('; '), {
      node: d.node,
      address: subscriptionAddress(d.name),
    });
  // the copy's plan event says so: "…, in foreign-key order (role admin may not set session_replication_role)"
  return {
    mode,
    text: mode.replica
      ? ''
      : `, in foreign-key order (role ${facts.role} may not set session_replication_role)`,
  };
}

/**
 * The tables `snapshot generate` writes as one file each for this subscriber (a self-reference
 * that loads only in one COPY statement there: planner/init/loadOrder.ts unsplitTables).
 */
export async function unsplitOn(sub: pg.Client, tables: readonly TableName[]): Promise<string[]> {
  return unsplitTables(await readLoadFacts(sub, tables));
}
