/**
 * A subscriber finds the row an UPDATE or DELETE names by its own key: its replica identity
 * index, else its primary key (RelationGetIndexAttrBitmap, IDENTITY_KEY then PRIMARY_KEY), and
 * PostgreSQL's apply worker stops at a change whose old key lacks one of those columns
 * ("publisher did not send replica identity column expected by the logical replication target
 * relation", logicalrep_rel_mark_updatable in src/backend/replication/logical/relation.c). The
 * publisher sends as the old key its replica identity's columns (every column for FULL). A
 * subscriber table with no key at all takes changes only from a FULL publisher ("has neither
 * REPLICA IDENTITY index nor PRIMARY KEY"). What is checked: each plain table a subscription
 * receives by name (partitions and trees are left to PostgreSQL), when a publication of it
 * publishes updates or deletes; the subscriber's key is known from the catalog where it is its
 * replica identity (a FULL or NOTHING subscriber table with a primary key is not judged). An
 * error before the subscription exists; a warning once it does, where it stops it today.
 */

import { subscriptionAddress } from '../../model/address.js';
import type { ObservedNode, ObservedTable } from '../../model/cluster.js';
import { compareText } from '../../model/order.js';
import { displayIdent, displayTable, quoteIdent, quoteTable } from '../../model/sql.js';
import { qualifiedName, type SubscriptionSpec } from '../../model/topology.js';
import { type PlanContext, sortedKeys } from '../context.js';

/** The subscriber's key for finding rows, its words, or null when it has none; undefined: not judged. */
function subscriberKey(t: ObservedTable): { columns: string[]; what: string } | null | undefined {
  if (t.replicaIdentity === 'i' && t.hasReplicaIdentity)
    return { columns: t.identityColumns ?? [], what: 'replica identity index' };
  if (t.replicaIdentity === 'd' && t.hasPrimaryKey)
    return { columns: t.identityColumns ?? [], what: 'primary key' };
  if (t.hasPrimaryKey) return undefined;
  return t.replicaIdentity === 'i' ? undefined : null;
}

/** The plain tables `d` receives from publications that publish updates or deletes, by `schema.name`. */
function changedTables(ctx: PlanContext, d: SubscriptionSpec, publisher: ObservedNode): string[] {
  const out = new Set<string>();
  for (const name of d.publications) {
    const p = ctx.desired.publications[name];
    if (!p?.publish.some((op) => op === 'update' || op === 'delete')) continue;
    const named = new Set(p.tables.map(qualifiedName));
    for (const [qn, t] of Object.entries(publisher.tables))
      if (named.has(qn) || p.allTables || p.schemas.includes(t.schema)) out.add(qn);
  }
  return [...out].filter((qn) => {
    const t = publisher.tables[qn]!;
    return t.kind === 'r' && !t.partitionOf && t.schema !== ctx.desired.settings.stateSchema;
  });
}

/**
 * The ways out, the one that also applies what was already sent first: the subscriber finding
 * rows by the columns the publisher sends (its WAL keeps the old key each change was logged with).
 */
function wayOut(
  d: SubscriptionSpec,
  pub: ObservedTable,
  sub: ObservedTable,
  sent: string[],
  exists: boolean,
): string {
  if (pub.replicaIdentity === 'f')
    return `give ${quoteTable(sub)} on ${d.node} a primary key or replica identity index made of columns ${d.from}'s table has`;
  const index = quoteIdent(`${sub.name}_replica_key`.slice(0, 63));
  return (
    `on ${d.node}, find rows by the columns ${d.from} sends: CREATE UNIQUE INDEX ${index} ON ${quoteTable(sub)} (${sent.map(quoteIdent).join(', ')}); ` +
    `ALTER TABLE ${quoteTable(sub)} REPLICA IDENTITY USING INDEX ${index}${exists ? ' (the changes already sent then apply too)' : ''}; ` +
    `or make ${d.from} send every column: ALTER TABLE ${quoteTable(pub)} REPLICA IDENTITY FULL on ${d.from} (more WAL per UPDATE and DELETE${exists ? '; changes already logged keep the key they were logged with' : ''})`
  );
}

export function checkApplyIdentity(ctx: PlanContext): void {
  for (const name of sortedKeys(ctx.desired.subscriptions)) {
    const d = ctx.desired.subscriptions[name]!;
    const publisher = ctx.node(d.from);
    const subscriber = ctx.node(d.node);
    if (!publisher || !subscriber) continue;
    const exists = subscriber.subscriptions[d.name] !== undefined;
    for (const qn of changedTables(ctx, d, publisher).sort(compareText)) {
      const pub = publisher.tables[qn]!;
      const sub = subscriber.tables[qn];
      // a publisher table without a usable identity is preflight's checkTables error
      if (!sub || !pub.hasReplicaIdentity) continue;
      const key = subscriberKey(sub);
      if (key === undefined) continue;
      const sent = pub.identityColumns ?? [];
      const missing = key === null ? [] : key.columns.filter((c) => !sent.includes(c));
      if (key !== null ? missing.length === 0 : pub.replicaIdentity === 'f') continue;
      const sentText =
        pub.replicaIdentity === 'f' ? 'every column' : `(${sent.map(displayIdent).join(', ')})`;
      const finds =
        key === null
          ? `has no primary key or replica identity index on ${displayTable(sub)} to find the rows an UPDATE or DELETE names`
          : `finds the rows of ${displayTable(sub)} that an UPDATE or DELETE names by its ${key.what} (${key.columns.map(displayIdent).join(', ')})`;
      const cause = `${d.node}: subscription ${d.name} ${finds}, but ${d.from} sends their replica identity ${sentText}`;
      const fix = wayOut(d, pub, sub, sent, exists);
      const about = { address: subscriptionAddress(d.name), node: d.node };
      if (exists)
        ctx.warn(
          'preflight.apply-identity',
          `${cause}: PostgreSQL stops the subscription at every UPDATE or DELETE of it (it retries and fails again until fixed); ${fix}`,
          about,
        );
      else
        ctx.error(
          'preflight.apply-identity',
          `${cause}: PostgreSQL stops the subscription at the first UPDATE or DELETE of it; ${fix}`,
          about,
        );
    }
  }
}
