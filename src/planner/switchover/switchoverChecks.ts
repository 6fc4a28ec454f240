/**
 * `steep switchover`'s preflight (pure): which roles the fence makes read-only, and everything
 * that must hold before anything changes, each failure one sentence with the fix.
 */

import { adviceText } from '../../model/advice.js';
import { formatBytes } from '../../model/bytes.js';
import { adminOptionGrant } from '../../model/membershipGrant.js';
import { replicationConnectFix } from '../../model/replicationConnectError.js';
import { displayIdent, quoteIdent, quoteLiteral } from '../../model/sql.js';
import type { RoleFacts, SwitchoverFacts, SwitchoverOptions } from '../../model/switchover.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { PG16, PG17 } from '../../model/versions.js';
import { sequencePrivilegeErrors } from '../sequences.js';

/** The roles the fence makes read-only, and why the others are left alone (for --dry-run). */
export function fenceRoles(facts: SwitchoverFacts, opts: Pick<SwitchoverOptions, 'roles'>): string[] {
  if (opts.roles) return [...opts.roles].sort();
  return facts.roles.filter((r) => r.login && applicationWriter(facts, r)).map((r) => r.name);
}

/** A role the fence stops by default when it can log in: it writes, and is no superuser, replication role or steep's own. */
function applicationWriter(facts: SwitchoverFacts, r: RoleFacts): boolean {
  return r.writes && !r.superuser && !r.replication && r.name !== facts.steepRole;
}

function roleProblem(facts: SwitchoverFacts, name: string): string | null {
  const old = facts.oldNode;
  const role = facts.roles.find((r) => r.name === name);
  if (!role) return `--roles names ${name}, which is not a role on ${old}: name the roles that exist there`;
  if (name === facts.steepRole)
    return `--roles names ${name}, the role steep connects to ${old} as: steep's own role is never fenced, connect steep as another role or leave ${name} out`;
  if (role.superuser)
    return `role ${name} on ${old} is a superuser, which a read-only default cannot stop: leave it out of --roles and keep superusers from writing by other means`;
  return null;
}

function isOn(setting: string | null | undefined): boolean {
  return setting != null && ['on', 'true', 'yes', '1'].includes(setting.toLowerCase());
}

/**
 * A link's subscription is no switchover's: both nodes take writes and each carries the other's
 * back, so there is no old primary to fence, and disabling one side would stop the way back.
 */
export function linkProblem(d: SubscriptionSpec): string | null {
  if (!d.link) return null;
  return (
    `subscription ${d.name} is one side of link ${d.link}, and a link has nothing to switch over: ${d.from} and ${d.node} both take writes ` +
    `and each carries the other's back; point the application at ${d.node} as it is (steep status shows both directions caught up), nothing needs to change`
  );
}

/** Everything that must hold before anything changes, each failure one sentence with the fix. */
export function switchoverProblems(facts: SwitchoverFacts, opts: SwitchoverOptions): string[] {
  const { subscription: sub, oldNode: old, newNode: neu } = facts;
  if (!facts.live)
    return [
      `subscription ${sub} does not exist on ${neu}: create it with steep apply and let it synchronize first`,
    ];
  const p = subscriptionProblems(facts, facts.live, opts);
  for (const u of facts.unkeyed) p.push(`${u.table} cannot be switched over safely: ${u.reason}`);
  p.push(...fenceRoleProblems(facts, opts));
  p.push(...steepRoleProblems(facts));
  for (const s of facts.sequences.filter((x) => !x.present))
    p.push(
      `sequence ${s.sequence} exists on ${old} but not on ${neu}: create it on ${neu} (or leave it out with --sequences)`,
    );
  // a setval is never undone: what the role may not read or set is refused before the fence
  const { source, target } = facts.sequenceAccess;
  p.push(...sequencePrivilegeErrors(facts.sequences, source, target, 'the switchover'));
  if (opts.reverse) p.push(...reverseProblems(facts));
  return p;
}

/** The subscription is enabled, synchronized and streaming from its slot, within --max-lag. */
function subscriptionProblems(
  facts: SwitchoverFacts,
  live: NonNullable<SwitchoverFacts['live']>,
  opts: SwitchoverOptions,
): string[] {
  const p: string[] = [];
  const { subscription: sub, oldNode: old, newNode: neu } = facts;
  if (!live.enabled)
    p.push(`subscription ${sub} on ${neu} is disabled: enable it (steep apply) and let it catch up first`);
  const copying = Object.entries(live.tables).filter(([, s]) => s !== 'r');
  if (copying.length > 0)
    p.push(
      `subscription ${sub} is still copying ${copying.map(([t, s]) => `${t} (${s})`).join(', ')}: wait until steep init status ${sub} shows it synchronized`,
    );
  if (facts.state !== null && facts.state !== 'synchronized')
    p.push(
      facts.state === 'diverged'
        ? `subscription ${sub} is diverged: repair it with ${adviceText('verifyRepair', sub)} before switching over`
        : `subscription ${sub} is ${facts.state}, not synchronized: wait until steep init status ${sub} shows it synchronized`,
    );
  if (!facts.slot)
    p.push(
      `the slot ${live.slot ?? '(none)'} of subscription ${sub} does not exist on ${old}: nothing streams to ${neu}, so no drain can be proven`,
    );
  else {
    if (!facts.slot.active)
      p.push(
        `slot ${facts.slot.name} on ${old} is not streaming (no walsender holds it): check the subscription's worker on ${neu} (steep status) before switching over`,
      );
    if (facts.slot.lagBytes === null)
      p.push(
        `slot ${facts.slot.name} on ${old} has confirmed no position yet: let subscription ${sub} catch up first`,
      );
    else if (facts.slot.lagBytes > opts.maxLagBytes)
      p.push(
        `subscription ${sub} lagged more than --max-lag ${formatBytes(opts.maxLagBytes)} behind ${old} throughout --lag-timeout ${opts.lagTimeoutMs / 1000}s (${formatBytes(facts.slot.lagBytes)} at the least): wait for it to catch up (steep status), or raise --max-lag or --lag-timeout`,
      );
  }
  return p;
}

/** The roles the fence would make read-only exist, may be fenced by steep, and are not fenced already. */
function fenceRoleProblems(facts: SwitchoverFacts, opts: SwitchoverOptions): string[] {
  const p: string[] = [];
  const old = facts.oldNode;
  if (opts.roles) p.push(...opts.roles.map((name) => roleProblem(facts, name)).filter((x) => x !== null));
  else if (fenceRoles(facts, opts).length === 0)
    p.push(
      `no application role can write the subscribed tables on ${old} (only superusers, replication roles and steep's own role ${facts.steepRole} can): name the roles to fence with --roles`,
    );
  // a fence left in place (steep killed mid-run) would be taken for the role's own setting and
  // kept by the undo: the DBA decides. A role it left NOLOGIN is no longer a login role, so
  // fenceRoles does not pick it: it is found by its read-only setting
  if (!opts.roles)
    for (const r of facts.roles.filter(
      (x) => !x.login && applicationWriter(facts, x) && isOn(x.databaseSetting),
    ))
      p.push(
        `role ${r.name} cannot log in and is read-only in database ${facts.database} on ${old}, as a fence an interrupted switchover leaves it: if that is what happened, give it back (ALTER ROLE ${quoteIdent(r.name)} LOGIN; ALTER ROLE ${quoteIdent(r.name)} IN DATABASE ${quoteIdent(facts.database)} RESET default_transaction_read_only) and run again; otherwise name the roles to fence with --roles`,
      );
  for (const r of fenceRoles(facts, opts))
    if (isOn(facts.roles.find((x) => x.name === r)?.databaseSetting))
      p.push(
        `role ${r} is already read-only in database ${facts.database} on ${old}, as a fence an interrupted switchover left would be: make it writable (ALTER ROLE ${quoteIdent(r)} IN DATABASE ${quoteIdent(facts.database)} RESET default_transaction_read_only) and run again, or leave it out with --roles`,
      );
  for (const r of fenceRoles(facts, opts)) {
    const role = facts.roles.find((x) => x.name === r);
    if (!facts.steepCanFence || !role || role.alterable !== false) continue;
    p.push(
      facts.oldVersion >= PG16
        ? `role ${facts.steepRole} that steep connects to ${old} as may not alter role ${r}, which the fence makes read-only (PostgreSQL 16+ needs CREATEROLE and ADMIN OPTION on it): ` +
            `run ${adminOptionGrant(r, facts.steepRole, role.steepMember === true)} on ${old} as the role's creator or the cloud admin role` +
            `${role.steepMember ? ` (${facts.steepRole} is a member of ${r} already: this adds ADMIN OPTION and keeps its INHERIT and SET)` : ''}, or leave ${r} out with --roles`
        : `role ${facts.steepRole} that steep connects to ${old} as may not alter role ${r}, which the fence makes read-only: leave it out with --roles, or connect steep as a superuser`,
    );
  }
  return p;
}

/** What steep's own role on the old primary must be allowed: mark the WAL, change roles, end sessions. */
function steepRoleProblems(facts: SwitchoverFacts): string[] {
  const old = facts.oldNode;
  return [
    facts.steepCanEmit === false &&
      `role ${facts.steepRole} that steep connects to ${old} as may not execute pg_logical_emit_message, which marks the fence's position in the WAL: ` +
        `run GRANT EXECUTE ON FUNCTION pg_catalog.${facts.oldVersion >= PG17 ? 'pg_logical_emit_message(boolean, text, text, boolean)' : 'pg_logical_emit_message(boolean, text, text)'} TO ${quoteIdent(facts.steepRole)}; on ${old}`,
    !facts.steepCanFence &&
      `role ${facts.steepRole} that steep connects to ${old} as cannot change other roles: grant it CREATEROLE (or connect as a superuser)`,
    !facts.steepCanTerminate &&
      `role ${facts.steepRole} that steep connects to ${old} as cannot end other roles' sessions: GRANT pg_signal_backend TO ${displayIdent(facts.steepRole)}`,
  ].filter((x) => x !== false);
}

function reverseProblems(facts: SwitchoverFacts): string[] {
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
  return [
    r.publicationExists &&
      `publication ${name} already exists on ${neu}: drop it (DROP PUBLICATION ${quoteIdent(name)}) or switch over without --reverse`,
    r.slotExists && reverseSlotProblem(facts, name),
    r.subscriptionExists &&
      `subscription ${name} already exists on ${old}: drop it (DROP SUBSCRIPTION ${quoteIdent(name)}) or switch over without --reverse`,
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

/** The reverse publication, subscription and slot all take this name. */
export function reverseName(subscription: string): string {
  return `steep_reverse_${subscription}`.slice(0, 63);
}
