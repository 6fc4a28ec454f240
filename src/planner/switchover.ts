/**
 * `steep switchover` decided (pure): which roles the fence makes read-only, what preflight
 * refuses, the steps with the SQL they run and the SQL that undoes them, the expected write
 * blackout, and the way back after the release.
 *
 * The fence is two changes per role, both undone exactly: `ALTER ROLE … IN DATABASE … SET
 * default_transaction_read_only = on` (new sessions start read-only; the per-role, per-database
 * setting outranks every other default, and it marks the role as fenced for the next preflight)
 * and `ALTER ROLE … NOLOGIN`. The setting alone is advice: a session may override it at
 * connection (`PGOPTIONS=-c default_transaction_read_only=off`) or per transaction (`BEGIN READ
 * WRITE`), and revoking write privileges would not stop a role that owns the table (an owner
 * may grant them back) nor one that holds them through another role or PUBLIC. A role that
 * cannot log in cannot write at all, whatever it owns, so NOLOGIN is what the fence relies on;
 * its cost is that the role cannot connect to the old primary's server at all (reads and other
 * databases included) until the undo or the rollback gives LOGIN back. Existing sessions keep
 * their login, so they are terminated: each as soon as the transaction it ran at the fence has
 * ended, the rest at the end of the grace period.
 *
 * The fence LSN is read after the last fenced session has ended: a flushed WAL mark
 * (`walMark.ts` says why the write position is not enough).
 */
import { formatBytes } from '../model/bytes.js';
import { displayIdent, quoteIdent, quoteLiteral } from '../model/sql.js';
import type {
  NodeSql,
  RoleFacts,
  RollbackCommand,
  SwitchoverFacts,
  SwitchoverOptions,
  SwitchoverPlan,
  SwitchoverStep,
} from '../model/switchover.js';
import { PG16, PG17 } from '../model/versions.js';
import { flushedMarkSql } from './walMark.js';

/** The verify engine's rough pace on a drained pair, for the expected blackout (bench/switchover). */
const VERIFY_ROWS_PER_SECOND = 200_000;
/** The subscriber's acknowledgement of the fence LSN (40–190 ms measured by bench/switchover): the drain's floor. */
const FEEDBACK_MS = 200;
/** How often the fence polls for the ended sessions to leave (executors/switchover.ts). */
const EXIT_POLL_MS = 20;
/** CREATE SUBSCRIPTION of the reverse direction (it creates a slot on the new primary). */
const REVERSE_MS = 500;

/** The roles the fence makes read-only, and why the others are left alone (for --dry-run). */
export function fenceRoles(facts: SwitchoverFacts, opts: Pick<SwitchoverOptions, 'roles'>): string[] {
  if (opts.roles) return [...opts.roles].sort();
  return facts.roles
    .filter((r) => r.login && r.writes && !r.superuser && !r.replication && r.name !== facts.steepRole)
    .map((r) => r.name);
}

function roleProblem(facts: SwitchoverFacts, name: string, role: RoleFacts | undefined): string | null {
  const old = facts.oldNode;
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

/** Everything that must hold before anything changes, each failure one sentence with the fix. */
export function switchoverProblems(facts: SwitchoverFacts, opts: SwitchoverOptions): string[] {
  const p: string[] = [];
  const { subscription: sub, oldNode: old, newNode: neu } = facts;
  if (!facts.live) {
    p.push(
      `subscription ${sub} does not exist on ${neu}: create it with steep apply and let it synchronize first`,
    );
    return p;
  }
  if (!facts.live.enabled)
    p.push(`subscription ${sub} on ${neu} is disabled: enable it (steep apply) and let it catch up first`);
  const copying = Object.entries(facts.live.tables).filter(([, s]) => s !== 'r');
  if (copying.length > 0)
    p.push(
      `subscription ${sub} is still copying ${copying.map(([t, s]) => `${t} (${s})`).join(', ')}: wait until steep init status ${sub} shows it synchronized`,
    );
  if (facts.state !== null && facts.state !== 'synchronized')
    p.push(
      facts.state === 'diverged'
        ? `subscription ${sub} is diverged: repair it with steep verify ${sub} --repair before switching over`
        : `subscription ${sub} is ${facts.state}, not synchronized: wait until steep init status ${sub} shows it synchronized`,
    );
  if (!facts.slot)
    p.push(
      `the slot ${facts.live.slot ?? '(none)'} of subscription ${sub} does not exist on ${old}: nothing streams to ${neu}, so no drain can be proven`,
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
  for (const u of facts.unkeyed) p.push(`${u.table} cannot be switched over safely: ${u.reason}`);
  if (opts.roles) {
    for (const name of opts.roles) {
      const problem = roleProblem(
        facts,
        name,
        facts.roles.find((r) => r.name === name),
      );
      if (problem) p.push(problem);
    }
  } else if (fenceRoles(facts, opts).length === 0)
    p.push(
      `no application role can write the subscribed tables on ${old} (only superusers, replication roles and steep's own role ${facts.steepRole} can): name the roles to fence with --roles`,
    );
  // a fence left in place (steep killed mid-run) would be taken for the role's own setting and
  // kept by the undo: the DBA decides. A role it left NOLOGIN is no longer a login role, so
  // fenceRoles does not pick it: it is found by its read-only setting
  if (!opts.roles)
    for (const r of facts.roles.filter(
      (x) =>
        !x.login &&
        x.writes &&
        !x.superuser &&
        !x.replication &&
        x.name !== facts.steepRole &&
        isOn(x.databaseSetting),
    ))
      p.push(
        `role ${r.name} cannot log in and is read-only in database ${facts.database} on ${old}, as a fence an interrupted switchover leaves it: if that is what happened, give it back (ALTER ROLE ${quoteIdent(r.name)} LOGIN; ALTER ROLE ${quoteIdent(r.name)} IN DATABASE ${quoteIdent(facts.database)} RESET default_transaction_read_only) and run again; otherwise name the roles to fence with --roles`,
      );
  for (const r of fenceRoles(facts, opts)) {
    const before = facts.roles.find((x) => x.name === r)?.databaseSetting;
    if (isOn(before))
      p.push(
        `role ${r} is already read-only in database ${facts.database} on ${old}, as a fence an interrupted switchover left would be: make it writable (ALTER ROLE ${quoteIdent(r)} IN DATABASE ${quoteIdent(facts.database)} RESET default_transaction_read_only) and run again, or leave it out with --roles`,
      );
  }
  for (const r of fenceRoles(facts, opts)) {
    const role = facts.roles.find((x) => x.name === r);
    if (!facts.steepCanFence || !role || role.alterable !== false) continue;
    p.push(
      facts.oldVersion >= PG16
        ? `role ${facts.steepRole} that steep connects to ${old} as may not alter role ${r}, which the fence makes read-only (PostgreSQL 16+ needs CREATEROLE and ADMIN OPTION on it): ` +
            `run GRANT ${quoteIdent(r)} TO ${quoteIdent(facts.steepRole)} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE; on ${old} as the role's creator or the cloud admin role, or leave ${r} out with --roles`
        : `role ${facts.steepRole} that steep connects to ${old} as may not alter role ${r}, which the fence makes read-only: leave it out with --roles, or connect steep as a superuser`,
    );
  }
  if (facts.steepCanEmit === false)
    p.push(
      `role ${facts.steepRole} that steep connects to ${old} as may not execute pg_logical_emit_message, which marks the fence's position in the WAL: ` +
        `run GRANT EXECUTE ON FUNCTION pg_catalog.${facts.oldVersion >= PG17 ? 'pg_logical_emit_message(boolean, text, text, boolean)' : 'pg_logical_emit_message(boolean, text, text)'} TO ${quoteIdent(facts.steepRole)}; on ${old}`,
    );
  if (!facts.steepCanFence)
    p.push(
      `role ${facts.steepRole} that steep connects to ${old} as cannot change other roles: grant it CREATEROLE (or connect as a superuser)`,
    );
  if (!facts.steepCanTerminate)
    p.push(
      `role ${facts.steepRole} that steep connects to ${old} as cannot end other roles' sessions: GRANT pg_signal_backend TO ${displayIdent(facts.steepRole)}`,
    );
  for (const s of facts.sequences.filter((x) => !x.present))
    p.push(
      `sequence ${s.sequence} exists on ${old} but not on ${neu}: create it on ${neu} (or leave it out with --sequences)`,
    );
  if (opts.reverse) p.push(...reverseProblems(facts));
  return p;
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
  const p: string[] = [];
  if (r.publicationExists)
    p.push(
      `publication ${name} already exists on ${neu}: drop it (DROP PUBLICATION ${quoteIdent(name)}) or switch over without --reverse`,
    );
  if (r.slotExists)
    p.push(
      `slot ${name} already exists on ${neu}: drop it (SELECT pg_drop_replication_slot(${quoteLiteral(name)})) or switch over without --reverse`,
    );
  if (r.subscriptionExists)
    p.push(
      `subscription ${name} already exists on ${old}: drop it (DROP SUBSCRIPTION ${quoteIdent(name)}) or switch over without --reverse`,
    );
  if (r.unreachable !== null)
    p.push(
      `${old} cannot subscribe to ${neu} for the way back (${r.unreachable}): let ${old} reach ${neu} as ${neu}'s connection in steep.yaml says (pg_hba.conf, network, password), or switch over without --reverse`,
    );
  if (!r.oldCanSubscribe)
    p.push(
      `role ${facts.steepRole} that steep connects to ${old} as cannot create subscriptions: GRANT pg_create_subscription TO ${displayIdent(facts.steepRole)} (or connect as a superuser)`,
    );
  return p;
}

/** The reverse publication, subscription and slot all take this name. */
export function reverseName(subscription: string): string {
  return `steep_reverse_${subscription}`.slice(0, 63);
}

/**
 * The fence's terminations of sessions that started before it (`$1`, the time it took effect;
 * later ones started read-only). While the grace runs, `finishedOnly`: a session whose
 * transaction of the fence's time has ended (it is idle, or in a transaction begun after the
 * fence) — a transaction under way at the fence gets the grace to commit; after it, every one.
 */
function terminateSql(roles: readonly string[], finishedOnly: boolean): string {
  const list = roles.map(quoteLiteral).join(', ');
  return `SELECT pid, pg_catalog.pg_terminate_backend(pid) AS signalled FROM pg_catalog.pg_stat_activity WHERE datname = current_database() AND usename IN (${list}) AND backend_start <= $1 AND pid <> pg_catalog.pg_backend_pid()${finishedOnly ? ' AND (xact_start IS NULL OR xact_start > $1)' : ''}`;
}

function readOnlySql(role: string, database: string): string {
  return `ALTER ROLE ${quoteIdent(role)} IN DATABASE ${quoteIdent(database)} SET default_transaction_read_only = on`;
}

/**
 * The fence LSN, in this order on one session (see the comment at the top): the last SELECT
 * returns it, and the COMMIT has flushed the WAL up to it.
 */
export function fenceLsnSql(subscription: string): string[] {
  return flushedMarkSql(`switchover ${subscription}: fence`);
}

export interface SwitchoverInputs {
  /** the connection string the old primary's reverse subscription uses, password as **** */
  reverseConninfo: string;
  /** the setval statements the sequences step would run now (the step reads the values again) */
  sequenceSql: string[];
  /** the tables the verify step compares */
  verifyTables: string[];
}

export function planSwitchover(
  facts: SwitchoverFacts,
  opts: SwitchoverOptions,
  inputs: SwitchoverInputs,
): SwitchoverPlan {
  const { subscription: sub, oldNode: old, newNode: neu } = facts;
  const roles = fenceRoles(facts, opts);
  const slot = facts.slot?.name ?? facts.live?.slot ?? sub;
  const db = quoteIdent(facts.database);
  const byName = new Map(facts.roles.map((r) => [r.name, r]));
  // per role: the read-only default, then NOLOGIN for a role that can log in; undo[i] undoes statements[i]
  const fence: NodeSql[] = [];
  const unfence: NodeSql[] = [];
  for (const r of roles) {
    const role = byName.get(r);
    const before = role?.databaseSetting ?? null;
    fence.push({ node: old, sql: readOnlySql(r, facts.database) });
    unfence.push({
      node: old,
      sql:
        before === null
          ? `ALTER ROLE ${quoteIdent(r)} IN DATABASE ${db} RESET default_transaction_read_only`
          : `ALTER ROLE ${quoteIdent(r)} IN DATABASE ${db} SET default_transaction_read_only = ${quoteLiteral(before)}`,
    });
    if (role?.login) {
      fence.push({ node: old, sql: `ALTER ROLE ${quoteIdent(r)} NOLOGIN` });
      unfence.push({ node: old, sql: `ALTER ROLE ${quoteIdent(r)} LOGIN` });
    }
  }
  const terminateFinishedSql = terminateSql(roles, true);
  const terminateAllSql = terminateSql(roles, false);
  const rev = opts.reverse ? reverseName(sub) : null;
  const steps: SwitchoverStep[] = [
    {
      id: 'fence',
      title: `fence ${roles.join(', ')} on ${old} (read-only, no login), end their sessions (grace ${opts.graceMs / 1000}s), record the fence LSN (flushed)`,
      statements: [
        ...fence,
        { node: old, sql: 'SELECT now() -- $1: the time the fence took effect' },
        { node: old, sql: terminateFinishedSql },
        { node: old, sql: terminateAllSql },
        ...fenceLsnSql(sub).map((sql) => ({ node: old, sql })),
      ],
      undo: unfence,
    },
    {
      id: 'drain',
      title: `wait until ${neu} has replayed past the fence LSN (at most ${opts.fenceTimeoutMs / 1000}s)`,
      statements: [
        { node: neu, sql: originSql(sub) },
        {
          node: old,
          sql: `SELECT confirmed_flush_lsn FROM pg_catalog.pg_replication_slots WHERE slot_name = ${quoteLiteral(slot)}`,
        },
      ],
      undo: [],
    },
    {
      id: 'sequences',
      title: `set ${facts.sequences.length} sequence(s) on ${neu} to ${old}'s values + ${opts.sequenceHeadroom}`,
      statements: inputs.sequenceSql.map((sql) => ({ node: neu, sql })),
      undo: [],
    },
  ];
  if (opts.verify !== 'none')
    steps.push({
      id: 'verify',
      title: `compare ${inputs.verifyTables.length} table(s) on both nodes exactly (the steep verify engine)`,
      statements: [],
      undo: [],
    });
  if (rev) {
    // every column: the old primary's tables hold all the columns the new one's do
    const tables = facts.tables;
    steps.push({
      id: 'reverse',
      title: `way back: publication ${rev} on ${neu}, subscription ${rev} on ${old} (copy_data = false, origin = none)`,
      // the slot is made on its own first, as PostgreSQL asks when both are databases of one
      // server: CREATE SUBSCRIPTION making it there would wait for its own transaction for ever
      statements: [
        { node: neu, sql: `CREATE PUBLICATION ${quoteIdent(rev)} FOR TABLE ${tables.join(', ')}` },
        {
          node: neu,
          sql: `SELECT pg_catalog.pg_create_logical_replication_slot(${quoteLiteral(rev)}, 'pgoutput')`,
        },
        {
          node: old,
          sql: `CREATE SUBSCRIPTION ${quoteIdent(rev)} CONNECTION ${quoteLiteral(inputs.reverseConninfo)} PUBLICATION ${quoteIdent(rev)} WITH (copy_data = false, origin = none, create_slot = false, slot_name = ${quoteLiteral(rev)})`,
        },
      ],
      undo: [
        { node: old, sql: `DROP SUBSCRIPTION IF EXISTS ${quoteIdent(rev)}` },
        {
          node: neu,
          sql: `SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = ${quoteLiteral(rev)}`,
        },
        { node: neu, sql: `DROP PUBLICATION IF EXISTS ${quoteIdent(rev)}` },
      ],
    });
  }
  const release: NodeSql[] = [{ node: neu, sql: `ALTER SUBSCRIPTION ${quoteIdent(sub)} DISABLE` }];
  if (!opts.keepSlot)
    release.push(
      { node: neu, sql: `ALTER SUBSCRIPTION ${quoteIdent(sub)} SET (slot_name = NONE)` },
      { node: old, sql: `SELECT pg_catalog.pg_drop_replication_slot(${quoteLiteral(slot)})` },
    );
  steps.push({
    id: 'release',
    title: `disable ${sub} on ${neu}${opts.keepSlot ? `, keep slot ${slot}` : `, drop slot ${slot} on ${old}`}; ${old} stays read-only`,
    statements: release,
    undo: [],
  });
  const { ms, basis } = expectedBlackout(facts, opts, steps[0]!.statements.length);
  return {
    subscription: sub,
    oldNode: old,
    newNode: neu,
    roles,
    slot,
    reverseName: rev,
    steps,
    terminateFinishedSql,
    terminateAllSql,
    fenceLsnSql: fenceLsnSql(sub),
    expectedBlackoutMs: ms,
    blackoutBasis: basis,
    rollback: rollbackCommands(facts, opts, { roles, unfence, slot, reverse: rev }),
  };
}

function originSql(sub: string): string {
  return `SELECT pg_catalog.pg_replication_origin_progress('pg_' || oid, true) FROM pg_catalog.pg_subscription WHERE subname = ${quoteLiteral(sub)}`;
}

/**
 * The blackout is every step from the fence to the release's DISABLE. From what preflight
 * measured (facts.measured): the statements' round trips (fence, sequences, release), the
 * subscriber's confirmation of the flushed WAL (the drain), the verify engine's fixed cost and
 * its pace on a sample, the old primary's connection to the new one (reverse). Without a
 * measurement, the lag over the apply rate and fixed guesses.
 */
function expectedBlackout(
  facts: SwitchoverFacts,
  opts: SwitchoverOptions,
  fenceStatements: number,
): { ms: number; basis: string } {
  const m = facts.measured;
  const rt = m?.roundTripMs ?? 0;
  const lag = facts.slot?.lagBytes ?? 0;
  const guessedDrain = FEEDBACK_MS + (lag > 0 && facts.applyRate ? (lag / facts.applyRate) * 1000 : 0);
  const drainMs = m?.drainMs != null ? Math.max(m.drainMs, 2 * rt) : guessedDrain;
  const fenceMs = rt * fenceStatements + EXIT_POLL_MS;
  const sequencesMs = rt * (2 + facts.sequences.length);
  const rate = m?.verifyRowsPerSecond ?? VERIFY_ROWS_PER_SECOND;
  const verifyMs = opts.verify === 'none' ? 0 : (m?.verifyFixedMs ?? 0) + (facts.verifyRows / rate) * 1000;
  const reverseMs = opts.reverse ? (m?.reverseConnectMs ?? REVERSE_MS) + 3 * rt : 0;
  const ms = Math.round(fenceMs + drainMs + sequencesMs + verifyMs + reverseMs + rt);
  const applyRate =
    facts.applyRate === null ? 'not measured' : `${formatBytes(Math.round(facts.applyRate))}/s`;
  const basis =
    `fence ${Math.round(fenceMs)} ms (${fenceStatements} statements at a ${rt.toFixed(1)} ms round trip)` +
    ` + drain ${Math.round(drainMs)} ms (${
      m?.drainMs != null
        ? `the subscriber confirmed the flushed WAL in ${m.drainMs} ms`
        : `lag ${formatBytes(lag)}, apply rate ${applyRate}, the subscriber's acknowledgement`
    })` +
    ` + sequences ${Math.round(sequencesMs)} ms` +
    (opts.verify === 'none'
      ? ''
      : ` + verify ${Math.round(verifyMs)} ms (~${facts.verifyRows} rows at ${m?.verifyRowsPerSecond != null ? `a measured ~${Math.round(rate)}` : `~${rate}`}/s${m ? ` + ${m.verifyFixedMs} ms reading both catalogs` : ''})`) +
    (opts.reverse
      ? ` + reverse subscription ~${Math.round(reverseMs)} ms${m?.reverseConnectMs != null ? ` (${m.reverseConnectMs} ms to connect, measured)` : ''}`
      : '') +
    `; a busy session may hold the fence up to the grace (${opts.graceMs / 1000}s)`;
  return { ms, basis };
}

function rollbackCommands(
  facts: SwitchoverFacts,
  opts: SwitchoverOptions,
  p: { roles: string[]; unfence: NodeSql[]; slot: string; reverse: string | null },
): RollbackCommand[] {
  const { subscription: sub, oldNode: old, newNode: neu } = facts;
  const out: RollbackCommand[] = [];
  if (p.reverse) {
    out.push(
      ...p.roles.flatMap((r) => [
        {
          node: neu,
          sql: readOnlySql(r, facts.newDatabase),
          why: `fence ${r} on ${neu} (where it exists): new sessions start read-only`,
        },
        {
          node: neu,
          sql: `ALTER ROLE ${quoteIdent(r)} NOLOGIN`,
          why: `and cannot log in, so no session can turn the read-only default off`,
        },
      ]),
      {
        node: neu,
        sql: terminateSql(p.roles, false).replace('$1', 'now()'),
        why: `end their sessions on ${neu}`,
      },
      {
        node: neu,
        sql: `SELECT pg_catalog.pg_logical_emit_message(true, 'steep', ${quoteLiteral(`rollback of ${sub}: fence`)})`,
        why: `once no session of theirs is left: flush ${neu}'s WAL past every write they committed, asynchronous ones included`,
      },
      {
        node: neu,
        sql: `SELECT confirmed_flush_lsn >= pg_catalog.pg_current_wal_insert_lsn() AS drained FROM pg_catalog.pg_replication_slots WHERE slot_name = ${quoteLiteral(p.reverse)}`,
        why: `repeat until true: ${old} has every write made on ${neu}`,
      },
      { node: old, sql: `ALTER SUBSCRIPTION ${quoteIdent(p.reverse)} DISABLE`, why: 'stop the way back' },
    );
  } else if (opts.keepSlot)
    out.push({
      node: neu,
      sql: `ALTER SUBSCRIPTION ${quoteIdent(sub)} ENABLE`,
      why: `resume ${old} → ${neu} from the kept slot (writes made on ${neu} meanwhile are not carried back)`,
    });
  out.push(
    {
      node: null,
      sql: null,
      command: p.reverse
        ? `steep sequences sync ${p.reverse} --headroom ${opts.sequenceHeadroom}`
        : `steep sequences sync ${sub} --reverse --headroom ${opts.sequenceHeadroom}`,
      why: `set ${old}'s sequences past what ${neu} handed out, before the application writes on ${old} again`,
    },
    ...p.unfence.map((u) => ({ node: u.node, sql: u.sql, why: `make the role writable on ${old} again` })),
    { node: null, sql: null, why: `point the application back at ${old}` },
  );
  if (!p.reverse && !opts.keepSlot)
    out.push({
      node: null,
      sql: null,
      why: `the slot ${p.slot} was dropped: writes made on ${neu} after the release stay there unless copied back by hand`,
    });
  return out;
}
