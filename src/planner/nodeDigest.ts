import type { ObservedNode } from '../model/cluster.js';
import { sortedKeys } from './context.js';
import { digestOf, stableSlot, stableSubscription } from './digest.js';
import { tableSchemasDigest } from './schema/schemaSync.js';

/**
 * One digest of everything `plan` reads from a node that only a change of definition moves:
 * server version and settings, the role's privileges, publications, subscriptions (connection
 * string masked, per-table sync states but no LSNs), slots (existence and definition), origins,
 * tables (identity, keys, which hold rows; not size estimates), table schemas and fingerprints,
 * the state schema and its records. A table's copy moves it once, as it ends (its sync state,
 * slot and origin): a capture taken during one goes stale when it ends. Positions, lag, retained
 * WAL and who holds steep's lock are left out: they move every second. So are the row filters
 * PostgreSQL read back for the file: they depend on the file, and the publications' own filters
 * are in.
 */
export function nodeCatalogDigest(node: ObservedNode): string {
  const subscriptions: Record<string, unknown> = {};
  for (const name of sortedKeys(node.subscriptions)) {
    const s = node.subscriptions[name]!;
    subscriptions[name] = {
      ...(stableSubscription(s) as object),
      tables: s.tables.map((t) => `${t.schema}.${t.name}:${t.state}`).sort(),
      origin: s.originLsn !== null,
    };
  }
  const slots: Record<string, unknown> = {};
  for (const name of sortedKeys(node.slots)) slots[name] = stableSlot(node.slots[name]);
  const tables: Record<string, unknown> = {};
  for (const name of sortedKeys(node.tables)) {
    const { estimatedRows: _rows, sizeBytes: _size, ...stable } = node.tables[name]!;
    tables[name] = stable;
  }
  const init = node.initState;
  return `sha256:${digestOf({
    serverVersion: node.serverVersion,
    database: node.database,
    settings: node.settings,
    role: node.role,
    publications: node.publications,
    subscriptions,
    slots,
    origins: sortedKeys(node.origins),
    tables,
    tableSchemas: tableSchemasDigest(node.tableSchemas),
    stateSchema: node.stateSchema,
    objectDigests: node.objectDigests,
    initState: init && {
      subscriptions: Object.values(init.subscriptions).map((s) => [
        s.subscription,
        s.initMethod,
        s.state,
        s.sourceNode,
      ]),
      slots: Object.values(init.slots).map((s) => [s.slot, s.subscription, s.lsn]),
    },
  })}`;
}
