import { isUnknown, type ObservedNode, type ObservedSubscription } from '../model/cluster.js';
import type { PlanContext } from './context.js';
import { sameServerNodes } from './subscriptions/slotKinds.js';

/**
 * Physical clones among the file's nodes (issue 64). A physical copy of a cluster (a base backup,
 * a promoted standby, a file copy) keeps its system identifier and every catalog row, so a clone
 * of a subscriber holds its original's subscriptions: the same name, the same slot on the same
 * publisher. The slot is the original's, which still streams from it; a DROP SUBSCRIPTION on the
 * clone would ask the publisher to drop it (waiting, with DROP_REPLICATION_SLOT … WAIT, for the
 * original's walsender to let go of it, then dropping it under the original).
 */

/** The other reached nodes of the file on another running server with `node`'s system identifier: `node`'s clones, or its original. */
export function cloneRelatives(ctx: PlanContext, node: string): string[] {
  const self = ctx.node(node);
  if (!self?.server) return [];
  return ctx
    .reachableNodes()
    .filter(
      (n) =>
        n.name !== node &&
        ctx.desired.nodes[n.name] !== undefined &&
        n.server?.systemIdentifier === self.server!.systemIdentifier &&
        !sameServerNodes(n, self),
    )
    .map((n) => n.name);
}

/**
 * The node of `o`'s copy on a clone relative of `subscriber`: the same subscription (name, slot,
 * publisher) exists there, so its slot is shared and is not `subscriber`'s to drop. null: none.
 */
export function sharedSlotRelative(
  ctx: PlanContext,
  subscriber: string,
  o: ObservedSubscription,
): string | null {
  if (o.slotNone) return null;
  return (
    cloneRelatives(ctx, subscriber).find((name) => {
      const copy = ctx.node(name)?.subscriptions[o.name];
      return copy !== undefined && !copy.slotNone && copy.slot === o.slot && copy.from === o.from;
    }) ?? null
  );
}

/** Names the clone and whose slot `o`'s is (a sentence's first part: the caller says what follows from it). */
export function cloneText(
  ctx: PlanContext,
  subscriber: string,
  relative: string,
  o: ObservedSubscription,
): string {
  const id = ctx.node(subscriber)?.server?.systemIdentifier ?? 'unknown';
  return (
    `${subscriber} is a physical clone of ${relative} (or ${relative} of ${subscriber}: both have system identifier ${id}, on two running servers), ` +
    `and subscription ${o.name} on ${subscriber} is ${relative}'s, copied with it: its slot ${o.slot} on ${o.from || 'its publisher'} is ${relative}'s, which streams from it`
  );
}

/**
 * `o` on a physical clone is its original's row, copied with it: the original holds a
 * subscription of the same name with the same oid (a copy keeps every catalog row's), the same
 * slot and the same connection string (both unreadable counts as the same). Not a subscription
 * made on either server since, nor one dropped and made again on the original.
 */
export function copiedRow(original: ObservedNode | undefined, o: ObservedSubscription): boolean {
  const had = original?.subscriptions[o.name];
  if (!had || had.slotNone || o.slotNone) return false;
  const conninfo =
    isUnknown(had.conninfo) || isUnknown(o.conninfo)
      ? isUnknown(had.conninfo) === isUnknown(o.conninfo)
      : had.conninfo === o.conninfo;
  return had.oid === o.oid && had.slot === o.slot && conninfo;
}
