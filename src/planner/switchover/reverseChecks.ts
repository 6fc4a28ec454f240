/**
 * The way back's checks (`--reverse`): both nodes 16+, and its names free — the publication on
 * the new primary, the subscription on the old one, the slot on the new primary's server —
 * or taken by what steep can show it made. Pure.
 */

import { withDatabaseTag } from '../../model/databaseTag.js';
import { replicationConnectFix } from '../../model/replicationConnectError.js';
import { displayIdent, quoteIdent, quoteLiteral } from '../../model/sql.js';
import type { SwitchoverFacts } from '../../model/switchover.js';
import { PG16 } from '../../model/versions.js';

export function reverseProblems(facts: SwitchoverFacts): string[] {
  const { oldNode: old, newNode: neu } = facts;
  const low = [
    [old, facts.oldVersion],
    [neu, facts.newVersion],
  ].filter(([, v]) => (v as number) < PG16);
  if (low.length > 0)
    return [
      `--reverse needs PostgreSQL 16 or later on both nodes for origin = none (${low.map(([n, v]) => `${n} runs ${Math.floor((v as number) / 10000)}`).join(', ')}): switch over without --reverse`,
    ];
  const r = facts.reverse!;
  const name = reverseName(facts.subscription);
  const slotName = reverseSlotName(facts.subscription, facts.newDatabase);
  return [
    r.publicationExists && takenName('publication', name, neu, r.publicationMarked === true),
    r.slotExists && reverseSlotProblem(facts, slotName),
    r.subscriptionExists && takenName('subscription', name, old, r.subscriptionMarked === true),
    r.unreachable !== null &&
      `${old} cannot subscribe to ${neu} for the way back (${r.unreachable}): ${replicationConnectFix(r.unreachable, old, neu, r.reverseUser ?? facts.steepRole)}; or switch over without --reverse`,
    !r.oldCanSubscribe &&
      `role ${facts.steepRole} that steep connects to ${old} as cannot create subscriptions: GRANT pg_create_subscription TO ${displayIdent(facts.steepRole)} (or connect as a superuser)`,
  ].filter((x) => x !== false);
}

/**
 * The way back's slot name is taken on the new primary. Slots are the server's: one of another
 * database (another topology's way back, maybe live) or one a subscriber streams from is never
 * named for dropping. One of this database that nobody streams from is the leftover of this
 * subscription's own earlier way back (the name is the subscription's, unique in this database).
 */
export function reverseSlotProblem(facts: SwitchoverFacts, name: string): string {
  const { newNode: neu, newDatabase: db } = facts;
  const s = facts.reverse?.slot;
  const without = 'switch over without --reverse (and set up the way back yourself)';
  if (!s)
    return `slot ${name} already exists on ${neu}, and whose it is could not be read: steep does not drop it; ${without}`;
  if (!s.here)
    return (
      `slot ${name} on ${neu} belongs to database ${s.database ?? '(none: a physical slot)'}, not ${db} (slots are the server's; another topology's way back, maybe${s.active ? `, streaming now to ${s.streamedBy ?? 'a subscriber'}` : ''}): ` +
      `it is not steep's to drop from ${db}; ${without}, or ask who runs ${s.database ?? 'that slot'} whether it is still used (only they drop it, there)`
    );
  if (s.active)
    return `slot ${name} in database ${db} on ${neu} is streaming now to ${s.streamedBy ?? 'a subscriber'}: a live way back, which steep does not drop; find that subscriber (steep status) and ${without}`;
  return `slot ${name} in database ${db} on ${neu} is left from an earlier way back of subscription ${facts.subscription} (nobody streams from it): drop it on ${neu} (SELECT pg_drop_replication_slot(${quoteLiteral(name)})) or ${without}`;
}

/**
 * The way back's name taken on `node`: dropped only where steep's comment shows it made it (an
 * earlier way back of this subscription); any other is renamed out of the way, never dropped.
 */
function takenName(
  kind: 'publication' | 'subscription',
  name: string,
  node: string,
  steeps: boolean,
): string {
  const what = kind === 'publication' ? 'PUBLICATION' : 'SUBSCRIPTION';
  return steeps
    ? `${kind} ${name} on ${node} is left from an earlier way back of this subscription (steep's comment on it): drop it (DROP ${what} ${quoteIdent(name)} on ${node}) or switch over without --reverse`
    : `${kind} ${name} already exists on ${node}, and steep cannot show it made it (no comment of steep's): rename it (ALTER ${what} ${quoteIdent(name)} RENAME TO ${quoteIdent(`${name}_old`.slice(0, 63))} on ${node}) or switch over without --reverse`;
}

/** The reverse publication and subscription take this name (each in its database). */
export function reverseName(subscription: string): string {
  return `steep_reverse_${subscription}`.slice(0, 63);
}

/**
 * The reverse slot on the new primary: slots are the server's, so its name carries the tag of
 * the new primary's database (model/databaseTag.ts), and a way back of another database's
 * topology with the same subscription name never takes it. A way back made before the tag keeps
 * its slot (`steep_reverse_<subscription>`): its subscription names it, and dropping that
 * subscription drops it.
 */
export function reverseSlotName(subscription: string, database: string): string {
  return withDatabaseTag(`steep_reverse_${subscription}`, database);
}
