/**
 * Preflight checks, per node, before any step runs (docs/architecture.md, Inside the planner): one idea, the checks a plan makes
 * of each node's readiness — reachable, not locked by another steep, wal_level, slot / walsender /
 * worker capacity for what the plan creates and copies, published tables and their replica
 * identity, the subscriber's key for the changes it applies, the role's privileges. Each failure is a plan error whose message ends with the
 * fix, in one sentence.
 */

import { publicationAddress } from '../../model/address.js';
import type {
  ObservedNode,
  ObservedPublication,
  ObservedTable,
  OtherDatabaseSubscription,
} from '../../model/cluster.js';
import { lockHeldMessage } from '../../model/lockHolder.js';
import { compareText } from '../../model/order.js';
import { displayTable, quoteTable } from '../../model/sql.js';
import {
  type PublicationSpec,
  type PublicationTable,
  type PublishOperation,
  qualifiedName,
  type TableName,
} from '../../model/topology.js';
import { listText, type PlanContext, sortedKeys } from '../context.js';
import { leafPartitions, storedTables } from '../publications/publishedRelations.js';
import { checkApplyIdentity } from './applyIdentity.js';
import { checkPrivileges, nameOf } from './preflightPrivileges.js';
import { checkRowFilterIdentity } from './rowFilterIdentity.js';

export function checkReachable(ctx: PlanContext): void {
  for (const name of sortedKeys(ctx.desired.nodes)) {
    const n = ctx.observed.nodes[name];
    if (!n) {
      ctx.error('preflight.unreachable', `${name}: the node was not read; check its connection settings`, {
        node: name,
      });
    } else if (!n.reachable && n.stale) {
      ctx.error('failover.stale-url', n.error, { node: name });
    } else if (!n.reachable) {
      // connect errors read `node east: …`; plan errors read `east: …`
      const error = n.error.startsWith(`node ${name}: `) ? n.error.slice('node '.length) : n.error;
      const message = error.startsWith(`${name}:`) ? error : `${name}: ${error}`;
      ctx.error('preflight.unreachable', message, { node: name });
    }
  }
}

export function preflight(ctx: PlanContext): void {
  checkLocked(ctx);
  checkWalLevel(ctx);
  checkCapacity(ctx);
  checkCopyCapacity(ctx);
  checkTables(ctx);
  checkApplyIdentity(ctx);
  checkPrivileges(ctx);
}

/**
 * Another steep command holds the lock on a node (or a killed one's last statement still runs
 * there): its changes are under way, and this plan may show them half made (as steps, drift or
 * errors). A warning for plan; apply refuses such a plan (workflows/apply.ts checkApplicable).
 */
function checkLocked(ctx: PlanContext): void {
  for (const name of sortedKeys(ctx.desired.nodes)) {
    const lock = ctx.node(name)?.steepLock;
    if (lock) ctx.warn('preflight.locked', lockHeldMessage(name, lock), { node: name });
  }
}

/** Nodes that publish: a publication lives there or a subscription reads from it. */
function publisherNodes(ctx: PlanContext): string[] {
  const { publications, subscriptions } = ctx.desired;
  const names = [
    ...Object.values(publications).map((p) => p.node),
    ...Object.values(subscriptions).map((s) => s.from),
  ];
  return [...new Set(names)].sort(compareText);
}

function checkWalLevel(ctx: PlanContext): void {
  for (const name of publisherNodes(ctx)) {
    const node = ctx.node(name);
    if (!node || node.settings.walLevel === 'logical') continue;
    ctx.error(
      'preflight.wal_level',
      `${name}: wal_level is ${node.settings.walLevel}; set wal_level = logical and restart`,
      { node: name },
    );
  }
}

/** Free max_replication_slots and max_wal_senders for the slots this plan creates. */
function checkCapacity(ctx: PlanContext): void {
  const nodes = [...new Set(ctx.slotChanges.map((c) => c.node))].sort(compareText);
  for (const name of nodes) {
    const node = ctx.node(name);
    if (!node) continue;
    const changes = ctx.slotChanges.filter((c) => c.node === name);
    const created = changes.filter((c) => c.change === 'create');
    if (created.length === 0) continue;
    const dropped = changes.filter((c) => c.change === 'drop').length;
    const existing = Object.keys(node.slots).length;
    const needed = existing - dropped + created.length;
    const maxSlots = node.settings.maxReplicationSlots;
    if (needed > maxSlots) {
      ctx.error(
        'preflight.max_replication_slots',
        `${name}: max_replication_slots is ${maxSlots} with ${existing} slot${existing === 1 ? '' : 's'} in use, and this plan ` +
          `needs ${created.length} more (${listText(created.map((c) => c.slot).sort(compareText))}); set max_replication_slots = ${needed} or more and restart`,
        { node: name },
      );
    }
    const streaming = created.filter((c) => c.streams).length;
    const active = Object.values(node.slots).filter((s) => s.active).length;
    const senders = node.settings.maxWalSenders;
    if (streaming > 0 && active + streaming > senders) {
      ctx.error(
        'preflight.max_wal_senders',
        `${name}: max_wal_senders is ${senders} with ${active} in use, and this plan starts ${streaming} more; ` +
          `set max_wal_senders = ${active + streaming} or more and restart`,
        { node: name },
      );
    }
  }
}

/** The initial copies in this plan, by subscription: the tables PostgreSQL syncs, at most `syncs` at once. */
function copiesInPlan(ctx: PlanContext) {
  return ctx.steps.flatMap((step) => {
    const tables = step.changes.find((c) => c.path === 'init.copies')?.after;
    const d = ctx.desired.subscriptions[nameOf(step)];
    const node = ctx.node(step.node);
    if (step.kind !== 'subscription-init' || !d || !node || !Array.isArray(tables) || tables.length === 0)
      return [];
    const syncs = Math.min(tables.length, node.settings.maxSyncWorkersPerSubscription);
    return [{ subscriber: step.node, publisher: d.from, syncs }];
  });
}

/** `other databases of this server: crm_in, crm_off in crm; bi_in in bi` */
function otherDatabasesText(list: readonly OtherDatabaseSubscription[]): string {
  const byDatabase = new Map<string, string[]>();
  for (const o of list) byDatabase.set(o.database, [...(byDatabase.get(o.database) ?? []), o.name]);
  return `other databases of this server: ${[...byDatabase].map(([db, subs]) => `${subs.join(', ')} in ${db}`).join('; ')}`;
}

/**
 * What subscriptions need of their servers at the peak of the initial copies this plan starts
 * (all of them run at once): on the subscriber, an apply worker per enabled subscription and up
 * to max_sync_workers_per_subscription table-sync workers per copy; on the publisher, a slot and
 * a walsender per table sync. A table sync PostgreSQL cannot start a slot or walsender for
 * fails and is retried: steep would report the init failed, so that is an error. A sync that
 * waits for a subscriber worker only makes the copy slower: a warning.
 */
function checkCopyCapacity(ctx: PlanContext): void {
  const copies = copiesInPlan(ctx);
  const creates = ctx.steps.filter((s) => s.kind === 'subscription-create');
  const subscribers = new Set([...creates.map((s) => s.node), ...copies.map((c) => c.subscriber)]);
  for (const name of [...subscribers].sort(compareText)) {
    const node = ctx.node(name);
    if (!node) continue;
    const dropped = new Set(
      ctx.steps.filter((s) => s.kind === 'subscription-drop' && s.node === name).map(nameOf),
    );
    // a declared one counts once it is there or made now (one whose init waits is made later)
    const declared = Object.values(ctx.desired.subscriptions).filter(
      (d) =>
        d.node === name &&
        (node.subscriptions[d.name] !== undefined ||
          creates.some((s) => s.node === name && nameOf(s) === d.name)),
    );
    const others = Object.values(node.subscriptions).filter(
      (o) => o.enabled && !dropped.has(o.name) && !declared.some((d) => d.name === o.name),
    );
    const own = declared.filter((d) => d.enabled).length + others.length;
    // the server's other databases' subscriptions draw on the same workers
    const elsewhere = (node.otherDatabaseSubscriptions ?? []).filter((o) => o.enabled);
    const applyWorkers = own + elsewhere.length;
    const syncs = copies.filter((c) => c.subscriber === name).reduce((n, c) => n + c.syncs, 0);
    const max = node.settings.maxLogicalReplicationWorkers;
    const setting = `max_logical_replication_workers is ${max}`;
    const users = elsewhere.length > 0 ? ` (${otherDatabasesText(elsewhere)})` : '';
    if (applyWorkers > max) {
      ctx.error(
        'preflight.max_logical_replication_workers',
        `${name}: ${setting}, and ${applyWorkers} enabled ${applyWorkers === 1 ? 'subscription needs' : 'subscriptions each need'} an apply worker${users}; ` +
          `set max_logical_replication_workers = ${applyWorkers + syncs} or more and restart`,
        { node: name },
      );
    } else if (syncs > 0 && own >= max) {
      // the apply workers of this database alone take every worker: no table sync can ever start
      ctx.error(
        'preflight.max_logical_replication_workers',
        `${name}: ${setting}, and the apply workers of its ${own} enabled subscription${own === 1 ? '' : 's'} take them all, so no table copy can start ` +
          `(PostgreSQL waits for a free worker for as long as they run); set max_logical_replication_workers = ${applyWorkers + syncs} or more and restart`,
        { node: name },
      );
    } else if (syncs > 0 && applyWorkers >= max) {
      ctx.warn(
        'preflight.max_logical_replication_workers',
        `${name}: ${setting}, and the apply workers of ${applyWorkers} enabled subscriptions take them all${users}, so no table copy can start while those run ` +
          `(the init would wait for a free worker): set max_logical_replication_workers = ${applyWorkers + syncs} and restart, or disable those subscriptions first`,
        { node: name },
      );
    } else if (applyWorkers + syncs > max) {
      ctx.warn(
        'preflight.max_logical_replication_workers',
        `${name}: ${setting}, and the initial copies want ${applyWorkers + syncs} workers at once ` +
          `(${applyWorkers} apply, ${syncs} table sync): table syncs wait for a free worker and the copy takes longer; ` +
          `set max_logical_replication_workers = ${applyWorkers + syncs} and restart to copy at full speed`,
        { node: name },
      );
    }
    // the launcher and every replication worker are background workers
    const workers = 1 + applyWorkers + syncs;
    if (applyWorkers + syncs <= max && workers > node.settings.maxWorkerProcesses) {
      ctx.warn(
        'preflight.max_worker_processes',
        `${name}: max_worker_processes is ${node.settings.maxWorkerProcesses}, and logical replication wants ${workers} ` +
          `background workers at once (the launcher, ${applyWorkers} apply, ${syncs} table sync): ` +
          `set max_worker_processes = ${workers} or more and restart`,
        { node: name },
      );
    }
  }

  const publishers = [...new Set(copies.map((c) => c.publisher))].sort(compareText);
  for (const name of publishers) {
    const node = ctx.node(name);
    if (!node) continue;
    const syncs = copies.filter((c) => c.publisher === name).reduce((n, c) => n + c.syncs, 0);
    const changes = ctx.slotChanges.filter((c) => c.node === name);
    const created = changes.filter((c) => c.change === 'create');
    const slots =
      Object.keys(node.slots).length - changes.filter((c) => c.change === 'drop').length + created.length;
    const maxSlots = node.settings.maxReplicationSlots;
    // over max_replication_slots even without the copies: checkCapacity already said so
    if (slots <= maxSlots && slots + syncs > maxSlots) {
      ctx.error(
        'preflight.max_replication_slots',
        `${name}: max_replication_slots is ${maxSlots}; after this plan ${slots} ${slots === 1 ? 'slot is' : 'slots are'} in use, and the initial copies ` +
          `create up to ${syncs} more at once (a temporary slot per table sync); set max_replication_slots = ${slots + syncs} or more and restart`,
        { node: name },
      );
    }
    const senders =
      Object.values(node.slots).filter((s) => s.active).length + created.filter((c) => c.streams).length;
    const maxSenders = node.settings.maxWalSenders;
    if (senders <= maxSenders && senders + syncs > maxSenders) {
      ctx.error(
        'preflight.max_wal_senders',
        `${name}: max_wal_senders is ${maxSenders}; after this plan ${senders} ${senders === 1 ? 'is' : 'are'} in use, and the initial copies ` +
          `use up to ${syncs} more at once (one per table sync); set max_wal_senders = ${senders + syncs} or more and restart`,
        { node: name },
      );
    }
  }
}

function replicaIdentityFix(node: string, t: ObservedTable | { schema: string; name: string }): string {
  return `run ALTER TABLE ${quoteTable(t)} REPLICA IDENTITY FULL on ${node} (or add a primary key)`;
}

/**
 * Every published table exists and, when updates or deletes are published, the relations
 * PostgreSQL checks can take them (CheckCmdReplicaIdentity): the relations that receive the
 * rows, so the leaf partitions of a partitioned table (never the partitioned table itself) and
 * the inheritance children a table without `only` brings. Each needs a replica identity, and a
 * column list must cover it (PostgreSQL 15+: "Column list used by the publication does not
 * cover the replica identity"), and none may cover REPLICA IDENTITY FULL, not even one of every
 * column; a row filter may use only its columns (rowFilterIdentity.ts). An insert-only
 * publication needs none. Tables an allTables / schemas publication covers are warnings: the
 * file does not name them.
 */
function checkTables(ctx: PlanContext): void {
  for (const pubName of sortedKeys(ctx.desired.publications)) {
    const p = ctx.desired.publications[pubName]!;
    const node = ctx.node(p.node);
    if (!node) continue;
    const needsIdentity = identityOps(p).length > 0;
    const named = new Set<string>();
    if (!p.allTables) {
      for (const t of p.tables) {
        if (node.tables[qualifiedName(t)]) continue;
        ctx.error(
          'preflight.missing-table',
          `${node.name}: table ${displayTable(t)} does not exist (publication ${p.name} publishes it); create it on ${node.name} or remove it from the publication`,
          { address: publicationAddress(p.name), node: node.name },
        );
      }
      const stored = storedTables(
        p.tables.filter((x) => node.tables[qualifiedName(x)]),
        node.tables,
      );
      const leaves = new Set<string>();
      for (const t of stored) {
        const qn = qualifiedName(t);
        named.add(qn);
        if (!needsIdentity) continue;
        for (const leaf of leafPartitions(qn, node.tables)) {
          named.add(leaf);
          leaves.add(leaf);
          checkIdentity(ctx, p, node, t, leaf);
        }
      }
      const byName = new Map(stored.map((t) => [qualifiedName(t), t]));
      checkRowFilterIdentity(ctx, p, node, byName, [...leaves].sort(compareText));
    }
    if (needsIdentity && (p.allTables || p.schemas.length > 0)) warnCovered(ctx, p, node, named);
  }
}

/** The updates and deletes publication `p` publishes. */
function identityOps(p: PublicationSpec): PublishOperation[] {
  return p.publish.filter((op) => op === 'update' || op === 'delete');
}

/** `leaf` (table `t` itself, or one of its leaf partitions) can take `p`'s updates and deletes. */
function checkIdentity(
  ctx: PlanContext,
  p: PublicationSpec,
  node: ObservedNode,
  t: PublicationTable,
  leaf: string,
): void {
  const address = publicationAddress(p.name);
  const ops = identityOps(p).join(' and ');
  const table = node.tables[leaf]!;
  const shown = displayTable(table);
  const through = leaf === qualifiedName(t) ? '' : ` (a partition of ${displayTable(t)})`;
  if (!table.hasReplicaIdentity) {
    // the live publication already publishes those operations of it (an insert-only
    // table, imported as it runs): PostgreSQL refuses them on the publisher today, and the
    // plan changes nothing of that — a warning, so the file steep import wrote plans
    if (alreadyPublished(node.publications[p.name], p, t)) {
      ctx.warn(
        'preflight.replica-identity',
        `${node.name}: table ${shown}${through} has no replica identity, and publication ${p.name} already publishes ${ops} of it: ` +
          `PostgreSQL refuses every ${ops.replace(' and ', ' and every ')} on it on ${node.name} (inserts replicate); if it is ever changed, ${replicaIdentityFix(node.name, table)}`,
        { address, node: node.name },
      );
      return;
    }
    ctx.error(
      'preflight.replica-identity',
      `${node.name}: table ${shown}${through} has no replica identity, but publication ${p.name} publishes ${ops}; ${replicaIdentityFix(node.name, table)}`,
      { address, node: node.name },
    );
    return;
  }
  // pub_contains_invalid_column: "With REPLICA IDENTITY FULL, no column list is allowed"
  if (t.columns && table.replicaIdentity === 'f') {
    ctx.error(
      'preflight.replica-identity',
      `${node.name}: table ${shown}${through} has REPLICA IDENTITY FULL, which PostgreSQL lets no column list cover, so with the ` +
        `column list of ${displayTable(t)} in publication ${p.name} (${t.columns.join(', ')}) every ${ops} on it would fail; ` +
        `drop the column list, give the table a primary key or REPLICA IDENTITY USING INDEX the list covers, or publish only insert and truncate`,
      { address, node: node.name },
    );
    return;
  }
  const uncovered = t.columns ? (table.identityColumns ?? []).filter((c) => !t.columns!.includes(c)) : [];
  if (uncovered.length > 0) {
    ctx.error(
      'preflight.replica-identity',
      `${node.name}: the column list of ${displayTable(t)} in publication ${p.name} (${t.columns!.join(', ')}) does not cover the replica ` +
        `identity of ${shown}${through} (${(table.identityColumns ?? []).join(', ')}), so every ${ops} on it would fail; ` +
        `add ${listText(uncovered)} to the column list, or publish only insert and truncate`,
      { address, node: node.name },
    );
  }
}

/** Tables an allTables / schemas publication covers without naming them: a warning for each without a replica identity. */
function warnCovered(ctx: PlanContext, p: PublicationSpec, node: ObservedNode, named: Set<string>): void {
  const ops = identityOps(p).join(' and ');
  for (const qn of sortedKeys(node.tables)) {
    const table = node.tables[qn]!;
    // a partitioned table receives no rows itself; an unlogged one is never published
    if (table.kind === 'p' || table.unlogged) continue;
    if (!p.allTables && !p.schemas.includes(table.schema)) continue;
    if (named.has(qn) || table.hasReplicaIdentity) continue;
    ctx.warn(
      'preflight.replica-identity',
      `${node.name}: table ${displayTable(table)} has no replica identity, and publication ${p.name} covers it and publishes ${ops}: ` +
        `${ops} on it will fail; ${replicaIdentityFix(node.name, table)}`,
      { address: publicationAddress(p.name), node: node.name },
    );
  }
}

/** The live publication publishes every one of `p`'s updates and deletes, and table `t`. */
function alreadyPublished(live: ObservedPublication | undefined, p: PublicationSpec, t: TableName): boolean {
  if (!live || !identityOps(p).every((op) => live.publish.includes(op))) return false;
  return live.allTables || live.tables.some((x) => x.schema === t.schema && x.name === t.name);
}
