import {
  type ClusterState,
  type ObservedNode,
  type ObservedSlot,
  type OtherDatabaseSubscription,
  reachableNode,
} from '../../model/cluster.js';
import type { SlotKind } from '../../model/statusReport.js';
import type { Topology } from '../../model/topology.js';
import { madeBySteep } from './slotOrigin.js';

/**
 * What a replication slot on a publisher is for, as `steep status` reports it: used by a
 * subscription, prepared by `steep init prepare`, expected by a declared subscription not made
 * yet (`pending`), PostgreSQL's own table-sync slot, a physical slot, orphaned (nothing uses it
 * and steep made it: slotOrigin.ts), another tool's (`other`: nothing steep reads uses it, and
 * steep cannot show it made it), or `unknown`
 * when its user may sit on a node steep cannot read, or it lives in another database of the
 * publisher's server (never orphaned: not this database's to drop). Pure: the catalog read decides nothing.
 */

/** PostgreSQL's own table-synchronisation slots (`pg_<suboid>_sync_<relid>_<sysid>`), owned by a subscription. */
export const TABLESYNC_SLOT = /^pg_\d+_sync_\d+_\d+$/;

export interface SlotClass {
  kind: SlotKind;
  /** the subscription using it (or prepared for, or expecting it) */
  subscription: string | null;
  /**
   * used by a subscription of another database of a node's server (outside the file): which; or,
   * with kind `unknown`, the other database of the publisher's server the slot lives in
   */
  otherDatabase?: { node: string; database: string };
  /** prepared slots: the LSN `init prepare` recorded */
  preparedLsn: string | null;
}

/** The class of `slot` on the reachable publisher `publisher`. */
export function classifySlot(
  topology: Topology,
  observed: ClusterState,
  publisher: string,
  slot: ObservedSlot,
): SlotClass {
  const nodes = Object.values(observed.nodes).filter((n): n is ObservedNode => n.reachable);
  // slots are the server's: one of another database of the publisher's server is never this
  // database's subscription's, whatever its name (another topology's, with the same names)
  const home = reachableNode(observed, publisher)?.database;
  const ours = slot.database === null || home === undefined || slot.database === home;
  const user = ours
    ? nodes
        .flatMap((x) => Object.values(x.subscriptions))
        .find((o) => !o.slotNone && o.slot === slot.name && (o.from === publisher || o.from === ''))
    : undefined;
  const expected = ours
    ? Object.values(topology.subscriptions).find((d) => d.from === publisher && d.slot === slot.name)
    : undefined;
  const prepared = expected
    ? reachableNode(observed, expected.node)?.initState?.slots[expected.name]
    : undefined;
  // a slot no readable subscription uses may be used by one on a node steep cannot read
  const unread = Object.keys(topology.nodes).some((name) => !reachableNode(observed, name));
  const none = { subscription: null, preparedLsn: null };
  if (slot.slotType === 'physical') return { kind: 'physical', ...none };
  if (TABLESYNC_SLOT.test(slot.name)) return { kind: 'tablesync', ...none };
  if (user) return { kind: 'subscription', subscription: user.name, preparedLsn: null };
  const elsewhere = otherDatabaseUser(observed, slot.name);
  if (elsewhere)
    return {
      kind: 'subscription',
      subscription: elsewhere.name,
      preparedLsn: null,
      otherDatabase: { node: elsewhere.node, database: elsewhere.database },
    };
  // slots are server-wide: one in another database of the server is that database's, not an orphan of this one
  if (slot.database !== null && home !== undefined && slot.database !== home)
    return { kind: 'unknown', ...none, otherDatabase: { node: publisher, database: slot.database } };
  if (expected ? !reachableNode(observed, expected.node) : unread)
    return { kind: 'unknown', subscription: expected?.name ?? null, preparedLsn: null };
  if (expected && prepared && prepared.slot === slot.name)
    return { kind: 'prepared', subscription: expected.name, preparedLsn: prepared.lsn };
  if (expected) return { kind: 'pending', subscription: expected.name, preparedLsn: null };
  const node = reachableNode(observed, publisher);
  if (!node || !madeBySteep(topology, observed, node, slot)) return { kind: 'other', ...none };
  return { kind: 'orphan', ...none };
}

/**
 * A subscription of another database of a read node's server whose slot is named `slot` (by
 * name: the publisher it connects to is in subconninfo, not always readable; a slot taken for
 * someone's that is not is kept, never dropped).
 */
export function otherDatabaseUser(
  observed: ClusterState,
  slot: string,
): (OtherDatabaseSubscription & { node: string }) | undefined {
  const read = Object.values(observed.nodes).filter((n): n is ObservedNode => n.reachable);
  // a database that is a node of the file itself: its own subscriptions were read as such
  const isNode = (server: ObservedNode, database: string) =>
    read.some((m) => m.database === database && sameServerNodes(m, server));
  for (const n of read) {
    const o = (n.otherDatabaseSubscriptions ?? []).find((x) => x.slot === slot && !isNode(n, x.database));
    if (o) return { ...o, node: n.name };
  }
  return undefined;
}

/** Both read from one running server (their identities equal). */
export function sameServerNodes(a: ObservedNode, b: ObservedNode): boolean {
  if (!a.server || !b.server) return false;
  return a.server.systemIdentifier === b.server.systemIdentifier && a.server.startedAt === b.server.startedAt;
}
