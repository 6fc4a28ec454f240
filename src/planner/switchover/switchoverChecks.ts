/**
 * `steep switchover`'s preflight (pure): which roles the fence makes read-only, and everything
 * that must hold before anything changes, each failure one sentence with the fix.
 */

import { adviceText } from '../../model/advice.js';
import { formatBytes } from '../../model/bytes.js';
import {
  disabledOnError,
  disabledOnErrorRefusal,
  divergedDisabledRefusal,
} from '../../model/disableOnError.js';
import { inboundWrites } from '../../model/inboundSubscriptions.js';
import { adminOptionGrant } from '../../model/membershipGrant.js';
import { functionGrantAdvice, functionSignature } from '../../model/privileges.js';
import { quoteIdent, quoteLiteral } from '../../model/sql.js';
import type { NewLogin, RoleFacts, SwitchoverFacts, SwitchoverOptions } from '../../model/switchover.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { PG16, PG18 } from '../../model/versions.js';
import { unfinishedInit } from '../init/reinitRefusals.js';
import { sequencePrivilegeErrors } from '../sequences.js';
import { objectChecks } from './objectChecks.js';
import { replicaModeProblems } from './replicaModeChecks.js';
import { reverseProblems } from './reverseChecks.js';
import { loginSql, writableSql } from './roleFence.js';

/** The roles the fence makes read-only, and why the others are left alone (for --dry-run). */
export function fenceRoles(
  facts: Pick<SwitchoverFacts, 'roles' | 'steepRole'>,
  opts: Pick<SwitchoverOptions, 'roles'>,
): string[] {
  if (opts.roles) return [...opts.roles].sort();
  return facts.roles.filter((r) => r.login && applicationWriter(facts, r)).map((r) => r.name);
}

/** A role the fence stops by default when it can log in: it writes, and is no superuser, replication role or steep's own. */
function applicationWriter(facts: Pick<SwitchoverFacts, 'steepRole'>, r: RoleFacts): boolean {
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
  p.push(...objectChecks(facts, opts).problems);
  p.push(...fenceRoleProblems(facts, opts));
  p.push(...steepRoleProblems(facts));
  p.push(...writerProblems(facts, opts));
  p.push(...replicaModeProblems(facts, fenceRoles(facts, opts)));
  p.push(...capacityProblems(facts, opts));
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
  if (!live.enabled) p.push(disabledProblem(facts, live));
  const copying = Object.entries(live.tables).filter(([, s]) => s !== 'r');
  if (copying.length > 0)
    p.push(
      `subscription ${sub} is still copying ${copying.map(([t, s]) => `${t} (${s})`).join(', ')}: wait until steep init status ${sub} shows it synchronized`,
    );
  // an unfinished init's way out is named with its disabled subscription: no waiting finishes it
  if (facts.state !== null && facts.state !== 'synchronized' && !unfinishedOf(facts, live))
    p.push(
      facts.state === 'diverged'
        ? `subscription ${sub} is diverged: repair it with ${adviceText('verifyRepair', sub)} before switching over`
        : `subscription ${sub} is ${facts.state}, not synchronized: wait until steep init status ${sub} shows it synchronized`,
    );
  const gaps = facts.gaps ?? [];
  if (gaps.length > 0) {
    const tables = gaps.map((g) => g.table).sort();
    p.push(
      `subscription ${sub} has a gap in ${tables.join(', ')} (${gaps[0]!.reason}): ${neu} may lack changes ${old} made there, which no drain brings; ` +
        `${adviceText('reinitTables', sub, tables)} copies ${tables.length === 1 ? 'it' : 'them'} again, then run again`,
    );
  }
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

/**
 * Why the subscription is disabled, with the way out that enables it: steep apply enables only
 * one the file enables, that has its slot, that PostgreSQL did not disable at an error and that
 * no failover left diverged (planner/subscriptions/subscriptionAlter.ts); for one disabled at an
 * error its cause and the ENABLE, as status says; where a failover left it diverged, the
 * failover's way out first.
 */
function disabledProblem(facts: SwitchoverFacts, live: NonNullable<SwitchoverFacts['live']>): string {
  const { subscription: sub, newNode: neu, oldNode: old } = facts;
  const at = `subscription ${sub} on ${neu} is disabled`;
  if (live.errors && disabledOnError({ enabled: false, ...live.errors }))
    return disabledOnErrorRefusal(
      { subscription: sub, node: neu, from: old, errorsCounted: live.errors.errorsCounted },
      facts.failoverDiverged,
      'let it catch up, then run the switchover again',
    );
  if (live.slot === null)
    return (
      `${at} without a slot (slot_name = NONE), as a switchover's release leaves it: ${neu} may be the primary already, ` +
      `so no enable is advised; if that switchover is done, nothing is left to switch over` +
      (facts.declaredEnabled === false ? '' : `: set enabled: false on ${sub} in steep.yaml`)
    );
  if (facts.declaredEnabled === false)
    return (
      `${at} as steep.yaml declares it (enabled: false), which steep apply keeps: unless ${neu} is the primary already ` +
      `(a switchover leaves it so), set enabled: true on ${sub} in steep.yaml, run steep apply and let it catch up first`
    );
  if (facts.failoverDiverged)
    return divergedDisabledRefusal(
      { subscription: sub, node: neu, from: old },
      facts.failoverDiverged,
      'let it catch up, then run the switchover again',
    );
  const unfinished = unfinishedOf(facts, live);
  if (unfinished)
    return `${unfinished.what}: steep apply does not enable it before its init does; ${unfinished.finish}; let it catch up, then run the switchover again`;
  return `${at}: enable it (steep apply) and let it catch up first`;
}

/** Disabled, its init unfinished (a two-phase one between snapshot generate and apply): steep apply does not enable it. */
function unfinishedOf(facts: SwitchoverFacts, live: NonNullable<SwitchoverFacts['live']>) {
  const init = facts.initMethod && { method: facts.initMethod };
  const d = { name: facts.subscription, node: facts.newNode, enabled: facts.declaredEnabled !== false };
  return init && unfinishedInit({ ...d, init }, live.enabled, facts.state);
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
        `role ${r.name} cannot log in and is read-only in database ${facts.database} on ${old}, as a fence an interrupted switchover leaves it: if that is what happened, give it back (${loginSql(r.name)}; ${writableSql(r.name, facts.database)}) and run again; otherwise name the roles to fence with --roles`,
      );
  for (const r of fenceRoles(facts, opts))
    if (isOn(facts.roles.find((x) => x.name === r)?.databaseSetting))
      p.push(
        `role ${r} is already read-only in database ${facts.database} on ${old}, as a fence an interrupted switchover left would be: make it writable (${writableSql(r, facts.database)}) and run again, or leave it out with --roles`,
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
        functionGrantAdvice(
          functionSignature('pg_logical_emit_message', facts.oldVersion),
          facts.steepRole,
          old,
        ),
    !facts.steepCanFence &&
      `role ${facts.steepRole} that steep connects to ${old} as cannot change other roles: grant it CREATEROLE (or connect as a superuser)`,
  ].filter((x) => x !== false);
}

/**
 * What the fence needs beyond the roles, and what it cannot stop, refused before anything
 * changes: steep's role ends each fenced role's sessions (pg_terminate_backend allows it to a
 * member that inherits the role's privileges, or to pg_signal_backend's), creates the data
 * fence's function in the state schema and a trigger on every table (TRIGGER); no prepared
 * transaction is open (its COMMIT PREPARED fires no trigger), no other subscription writes
 * into the tables (apply workers fire no ordinary trigger), and the application can log in to
 * the new primary.
 */
function writerProblems(facts: SwitchoverFacts, opts: SwitchoverOptions): string[] {
  const { oldNode: old, newNode: neu, steepRole: me } = facts;
  const p: string[] = [];
  const roles = fenceRoles(facts, opts);
  for (const r of roles) {
    const role = facts.roles.find((x) => x.name === r);
    if (role?.steepCanSignal === false)
      p.push(
        `role ${me} that steep connects to ${old} as cannot end the sessions of role ${r}, which the fence must end: ` +
          `GRANT ${quoteIdent(r)} TO ${quoteIdent(me)}; on ${old} (a member that inherits ${r}'s privileges may end its sessions), or GRANT pg_signal_backend TO ${quoteIdent(me)};`,
      );
  }
  const f = facts.fence;
  if (f && !f.schemaExists)
    p.push(
      `steep's state schema ${f.schema} does not exist on ${old}, and the data fence's function goes there: run steep apply first`,
    );
  else if (f && !f.schemaCreate)
    p.push(
      `role ${me} that steep connects to ${old} as may not create the data fence's function in schema ${f.schema}: GRANT CREATE ON SCHEMA ${quoteIdent(f.schema)} TO ${quoteIdent(me)}; on ${old}`,
    );
  for (const t of f?.tables.filter((x) => !x.trigger) ?? [])
    p.push(
      `role ${me} that steep connects to ${old} as may not create the data fence's trigger on ${t.table}, which stops every writer the role fence does not: GRANT TRIGGER ON ${t.table} TO ${quoteIdent(me)}; on ${old} as the table's owner`,
    );
  const waited = (opts.waitPreparedMs ?? 0) > 0;
  if ((facts.prepared ?? []).length > 0)
    p.push(preparedProblem(old, facts.database, facts.prepared!, waited, opts));
  for (const s of facts.inbound ?? [])
    p.push(
      `subscription ${s.name} on ${old} ${inboundWrites(s, neu)}, and no fence stops a subscription's apply: ` +
        `disable it (ALTER SUBSCRIPTION ${quoteIdent(s.name)} DISABLE on ${old}; what it has not applied waits in its slot on its publisher), then run again; ` +
        `afterwards move it to ${neu} with that slot, as docs/switchover.md "Inbound subscriptions" shows, or enable it on ${old} once a rollback moved the writes back`,
    );
  // only a role that logs in to the old primary is an application that must log in to the new one
  // (a NOLOGIN owner role named with --roles is fenced, never logged in with)
  const logsIn = (name: string) => facts.roles.find((x) => x.name === name)?.login === true;
  for (const l of facts.newLogins ?? [])
    if (roles.includes(l.name) && logsIn(l.name) && (!l.exists || !l.login || !l.connect || l.readOnly))
      p.push(
        !l.exists
          ? `role ${l.name} does not exist on ${neu}, so the application cannot log in there after the switchover: create it on ${neu} (or leave it out with --roles)`
          : !l.login || l.readOnly
            ? rollbackFenceProblem(l, neu, facts.newDatabase)
            : `role ${l.name} may not connect to database ${facts.newDatabase} on ${neu}: GRANT CONNECT ON DATABASE ${quoteIdent(facts.newDatabase)} TO ${quoteIdent(l.name)}; on ${neu}, then run again`,
      );
  return p;
}

/**
 * The roles' fence an earlier rollback left on the new primary (NOLOGIN, read-only in its
 * database): the application could write nowhere after the switchover. Lifted by the statements
 * named, on the new primary, whose tables the rollback's data fence still guards until the
 * switchover's DISABLE.
 */
function rollbackFenceProblem(l: NewLogin, neu: string, database: string): string {
  const what = [
    ...(l.login ? [] : ['cannot log in (NOLOGIN)']),
    ...(l.readOnly ? [`starts read-only in database ${database} (default_transaction_read_only = on)`] : []),
  ].join(' and ');
  const sql = [
    ...(l.login ? [] : [loginSql(l.name)]),
    ...(l.readOnly ? [writableSql(l.name, database)] : []),
  ];
  return `role ${l.name} ${what} on ${neu}, as an earlier rollback leaves it: the application could write nowhere after the switchover; run ${sql.map((q) => `${q};`).join(' ')} on ${neu}, then run again`;
}

/**
 * The prepared transactions still open in the old primary's database, named: a COMMIT PREPARED
 * after the fence writes there unseen (no trigger fires, no login is needed). `waited`: for
 * `--wait-prepared`, which ran out.
 */
export function preparedProblem(
  node: string,
  database: string,
  prepared: ReadonlyArray<{ gid: string; owner: string; prepared: string }>,
  waited: boolean,
  opts?: Pick<SwitchoverOptions, 'waitPreparedMs'>,
): string {
  const list = prepared
    .map(
      (x) =>
        `prepared transaction ${quoteLiteral(x.gid)} of role ${x.owner} in database ${database} on ${node} (prepared at ${x.prepared})`,
    )
    .join(', ');
  return (
    `${list} ${prepared.length > 1 ? 'are' : 'is'} open${waited ? ` after --wait-prepared ${(opts?.waitPreparedMs ?? 0) / 1000}s` : ''}: ` +
    `its COMMIT PREPARED would write on ${node} after the fence, where nothing stops it; have the application commit it (COMMIT PREPARED ${quoteLiteral(prepared[0]!.gid)}) ` +
    `before the switchover, or pass --wait-prepared 60s to wait for it`
  );
}

/**
 * What the switchover creates must fit: on the old primary, the release's copy of the slot
 * (unless --keep-slot) and with --reverse a subscription (an origin, an apply worker); on the
 * new primary with --reverse a slot and a walsender.
 */
function capacityProblems(facts: SwitchoverFacts, opts: SwitchoverOptions): string[] {
  const c = facts.capacity;
  if (!c) return [];
  const { oldNode: old, newNode: neu } = facts;
  const originSetting = (v: number) =>
    v >= PG18 ? 'max_active_replication_origins' : 'max_replication_slots';
  const need: Array<[boolean, string]> = [
    [
      !opts.keepSlot && c.old.slots < 1,
      `${old} has no free replication slot for the release's copy of the forward slot: raise max_replication_slots on ${old} (a restart), or pass --keep-slot`,
    ],
    [
      opts.reverse && c.old.origins < 1,
      `${old} has no free replication origin for the way back's subscription: raise ${originSetting(facts.oldVersion)} on ${old} (a restart), or switch over without --reverse`,
    ],
    [
      opts.reverse && c.old.workers < 1,
      `${old} has no free logical replication worker for the way back's subscription: raise max_logical_replication_workers on ${old} (a restart), or switch over without --reverse`,
    ],
    [
      opts.reverse && c.new.slots < 1,
      `${neu} has no free replication slot for the way back: raise max_replication_slots on ${neu} (a restart), or switch over without --reverse`,
    ],
    [
      opts.reverse && c.new.walsenders < 1,
      `${neu} has no free walsender for the way back: raise max_wal_senders on ${neu} (a restart), or switch over without --reverse`,
    ],
  ];
  return need.filter(([bad]) => bad).map(([, m]) => m);
}
