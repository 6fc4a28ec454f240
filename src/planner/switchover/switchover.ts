/**
 * `steep switchover` decided (pure): the steps with the SQL they run and the SQL that undoes
 * them, the expected write blackout, and the way back after the release (the preflight is
 * `switchoverChecks.ts`).
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
import { formatBytes } from '../../model/bytes.js';
import { quoteIdent, quoteLiteral } from '../../model/sql.js';
import {
  type NodeSql,
  reverseComment,
  type SwitchoverFacts,
  type SwitchoverOptions,
  type SwitchoverPlan,
  type SwitchoverStep,
} from '../../model/switchover.js';
import { flushedMarkSql } from '../walMark.js';
import { dataFence, newPrimaryUnfence } from './dataFence.js';
import { reverseName, reverseSlotName } from './reverseChecks.js';
import { loginSql, PREPARED_SQL, readOnlySql, terminateSql, writableSql } from './roleFence.js';
import { rollbackCommands } from './rollback.js';
import { fenceRoles } from './switchoverChecks.js';

/** The verify engine's rough pace on a drained pair, for the expected blackout (bench/switchover). */
const VERIFY_ROWS_PER_SECOND = 200_000;
/** The subscriber's acknowledgement of the fence LSN, a guess above what bench/switchover sees: the drain's floor. */
const FEEDBACK_MS = 200;
/** How often the fence polls for the ended sessions to leave (executors/switchover.ts). */
const EXIT_POLL_MS = 20;
/** CREATE SUBSCRIPTION of the reverse direction (it creates a slot on the new primary). */
const REVERSE_MS = 500;

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
  const { fence, unfence } = roleFenceSql(facts, roles);
  const data = dataFence(facts);
  const terminateFinishedSql = terminateSql(roles, true);
  const terminateAllSql = terminateSql(roles, false);
  const rev = opts.reverse ? reverseName(sub) : null;
  // the fence LSN, on one session: its last SELECT returns it, its COMMIT flushed the WAL up to it
  const fenceLsnSql = flushedMarkSql(`switchover ${sub}: fence`);
  const steps: SwitchoverStep[] = [
    {
      id: 'fence',
      title: `fence ${roles.join(', ')} on ${old} (read-only in database ${facts.database}; no login, which holds in every database of ${old}'s server), end their sessions (grace ${opts.graceMs / 1000}s), fence ${data.fence.length - 1} table(s) against every other writer (a trigger), record the fence LSN (flushed)`,
      statements: [
        ...fence,
        { node: old, sql: 'SELECT now() -- $1: the time the fence took effect' },
        { node: old, sql: terminateFinishedSql },
        { node: old, sql: terminateAllSql },
        ...data.fence,
        { node: old, sql: `${PREPARED_SQL} -- none, or the fence is undone` },
        ...fenceLsnSql.map((sql) => ({ node: old, sql })),
      ],
      undo: [...data.unfence, ...unfence],
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
  if (rev) steps.push(reverseStep(facts, rev, inputs.reverseConninfo));
  steps.push(releaseStep(facts, opts, slot, rev !== null));
  const { ms, basis } = expectedBlackout(facts, opts, steps[0]!.statements.length);
  return {
    subscription: sub,
    oldNode: old,
    newNode: neu,
    database: facts.database,
    forwardOrigin: facts.forwardOrigin ?? null,
    roles,
    slot,
    reverseName: rev,
    steps,
    roleFence: { fence, unfence },
    dataFence: data,
    newPrimaryUnfence: newPrimaryUnfence(facts),
    terminateFinishedSql,
    terminateAllSql,
    fenceLsnSql,
    expectedBlackoutMs: ms,
    blackoutBasis: basis,
    rollback: rollbackCommands(facts, opts, {
      roles,
      fenceNew: dataFence(facts, 'new').fence,
      unfence: [...data.unfence, ...unfence],
      slot,
      reverse: rev,
      reverseSlot: rev ? reverseSlotName(sub, facts.newDatabase) : null,
    }),
  };
}

/** Per role: the read-only default, then NOLOGIN for a role that can log in; unfence[i] undoes fence[i]. */
function roleFenceSql(facts: SwitchoverFacts, roles: string[]): { fence: NodeSql[]; unfence: NodeSql[] } {
  const old = facts.oldNode;
  const db = quoteIdent(facts.database);
  const fence: NodeSql[] = [];
  const unfence: NodeSql[] = [];
  for (const r of roles) {
    const role = facts.roles.find((x) => x.name === r);
    const before = role?.databaseSetting ?? null;
    fence.push({ node: old, sql: readOnlySql(r, facts.database) });
    unfence.push({
      node: old,
      sql:
        before === null
          ? writableSql(r, facts.database)
          : `ALTER ROLE ${quoteIdent(r)} IN DATABASE ${db} SET default_transaction_read_only = ${quoteLiteral(before)}`,
    });
    if (role?.login) {
      fence.push({ node: old, sql: `ALTER ROLE ${quoteIdent(r)} NOLOGIN` });
      unfence.push({ node: old, sql: loginSql(r) });
    }
  }
  return { fence, unfence };
}

/** The way back (`--reverse`): the new primary publishes every table to the old one, which subscribes without a copy. */
function reverseStep(facts: SwitchoverFacts, rev: string, reverseConninfo: string): SwitchoverStep {
  const { oldNode: old, newNode: neu } = facts;
  const slot = reverseSlotName(facts.subscription, facts.newDatabase);
  return {
    id: 'reverse',
    title: `way back: publication ${rev} on ${neu}, subscription ${rev} on ${old} (copy_data = false, origin = none)`,
    // the slot is made on its own first, as PostgreSQL asks when both are databases of one
    // server: CREATE SUBSCRIPTION making it there would wait for its own transaction for ever
    statements: [
      // every column: the old primary's tables hold all the columns the new one's do; via root,
      // as the way there may be: a partitioned table's changes under its own name, which both
      // sides have, not its partitions', which the old primary may name otherwise
      {
        node: neu,
        sql: `CREATE PUBLICATION ${quoteIdent(rev)} FOR TABLE ${facts.tables.join(', ')} WITH (publish_via_partition_root = true)`,
      },
      {
        node: neu,
        sql: `COMMENT ON PUBLICATION ${quoteIdent(rev)} IS ${quoteLiteral(reverseComment(facts.subscription))}`,
      },
      {
        node: neu,
        sql: `SELECT pg_catalog.pg_create_logical_replication_slot(${quoteLiteral(slot)}, 'pgoutput')`,
      },
      {
        node: old,
        sql: `CREATE SUBSCRIPTION ${quoteIdent(rev)} CONNECTION ${quoteLiteral(reverseConninfo)} PUBLICATION ${quoteIdent(rev)} WITH (copy_data = false, origin = none, create_slot = false, slot_name = ${quoteLiteral(slot)})`,
      },
      {
        node: old,
        sql: `COMMENT ON SUBSCRIPTION ${quoteIdent(rev)} IS ${quoteLiteral(reverseComment(facts.subscription))}`,
      },
    ],
    undo: [
      { node: old, sql: `DROP SUBSCRIPTION IF EXISTS ${quoteIdent(rev)}` },
      {
        node: neu,
        sql: `SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = ${quoteLiteral(slot)} AND database = current_database()`,
      },
      { node: neu, sql: `DROP PUBLICATION IF EXISTS ${quoteIdent(rev)}` },
    ],
  };
}

/**
 * The changes to the subscribed tables that the slot still holds past what the subscriber
 * confirmed, read once the subscription is disabled (a peek consumes nothing), whatever their
 * origin, per origin with the tables they touched: a transaction committed on the old primary
 * after the drain by something the fence did not stop. pgoutput's first byte names the message:
 * I(73)nsert, U(85)pdate, D(68)elete, T(84)runcate (I, U and D name the table's oid in the next
 * four bytes), O(79)rigin (after the LSN's eight bytes, the origin's name: sent for a
 * transaction applied by a subscription). Only the way back's own changes (`reverse`, its
 * subscription's origin `pg_<oid>`) are not counted: they came from the new primary.
 */
export function unsentChangesSql(
  slot: string,
  publications: readonly string[],
  reverse: string | null,
): string {
  const names = quoteLiteral(publications.map(quoteIdent).join(','));
  const way = reverse
    ? `(SELECT 'pg_' || s.oid FROM pg_catalog.pg_subscription s WHERE s.subname = ${quoteLiteral(reverse)} AND s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))`
    : 'NULL';
  const byte = (i: number) => `pg_catalog.get_byte(c.data, ${i})::bigint`;
  return [
    `WITH c AS (SELECT xid::text AS xid, pg_catalog.get_byte(data, 0) AS t, data FROM pg_catalog.pg_logical_slot_peek_binary_changes(${slot}, NULL, NULL, 'proto_version', '1', 'publication_names', ${names})),`,
    ` o AS (SELECT xid, pg_catalog.convert_from(substring(data FROM 10 FOR length(data) - 10), 'UTF8') AS origin FROM c WHERE t = 79),`,
    ` w AS (SELECT c.xid, o.origin, CASE WHEN c.t = 84 THEN NULL ELSE pg_catalog.oid((${byte(1)} << 24) + (${byte(2)} << 16) + (${byte(3)} << 8) + ${byte(4)}) END AS relid`,
    `   FROM c LEFT JOIN o USING (xid) WHERE c.t IN (73, 85, 68, 84) AND (o.origin IS NULL OR o.origin IS DISTINCT FROM ${way}))`,
    `SELECT w.origin, (SELECT s.subname FROM pg_catalog.pg_subscription s WHERE 'pg_' || s.oid = w.origin) AS subscription,`,
    ` coalesce(array_agg(DISTINCT (SELECT pg_catalog.format('%I.%I', n.nspname, r.relname) FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace WHERE r.oid = w.relid)) FILTER (WHERE w.relid IS NOT NULL), '{}') AS tables,`,
    ` count(*)::int AS changes, count(DISTINCT w.xid)::int AS transactions FROM w GROUP BY w.origin ORDER BY 1 NULLS FIRST`,
  ].join('\n');
}

/** The release's copy of the slot: temporary, this session's (its name made of the session's pid). */
const CHECK_SLOT = `'steep_release_' || pg_catalog.pg_backend_pid()`;

/**
 * The subscription disabled on the new primary, and its slot dropped on the old one unless kept.
 * A peek before the drop would miss what a writer the fence does not stop commits between the
 * two, so the slot is copied first (the copy starts where the slot stands), dropped, the WAL
 * flushed past every commit made before the drop (asynchronous ones included), and the copy is
 * read: none, the copy is dropped; some, `undo` puts the slot back from the copy, at the same
 * position, named as before, the subscription pointing at it again. Kept (`--keep-slot`): the
 * slot itself is read, after the same flush.
 */
function releaseStep(
  facts: SwitchoverFacts,
  opts: SwitchoverOptions,
  slot: string,
  reverse: boolean,
): SwitchoverStep {
  const { subscription: sub, oldNode: old, newNode: neu } = facts;
  const mark = flushedMarkSql(`switchover ${sub}: release`).map((sql) => ({ node: old, sql }));
  const rev = reverse ? reverseName(sub) : null;
  const peek = (s: string) => ({ node: old, sql: unsentChangesSql(s, facts.publications, rev) });
  const dropCheck = { node: old, sql: `SELECT pg_catalog.pg_drop_replication_slot(${CHECK_SLOT})` };
  const disable = { node: neu, sql: `ALTER SUBSCRIPTION ${quoteIdent(sub)} DISABLE` };
  // the writes move to the new primary with the DISABLE: a fence a rollback left there goes with it
  const unfenceNew = newPrimaryUnfence(facts);
  return {
    id: 'release',
    title: `disable ${sub} on ${neu}, check that slot ${slot} holds no change ${neu} did not confirm${opts.keepSlot ? `, keep the slot` : ` (else keep it), drop it`}; ${old} stays read-only`,
    statements: opts.keepSlot
      ? [disable, ...unfenceNew, ...mark, peek(quoteLiteral(slot))]
      : [
          disable,
          ...unfenceNew,
          {
            node: old,
            sql: `SELECT pg_catalog.pg_copy_logical_replication_slot(${quoteLiteral(slot)}, ${CHECK_SLOT}, true)`,
          },
          { node: neu, sql: `ALTER SUBSCRIPTION ${quoteIdent(sub)} SET (slot_name = NONE)` },
          { node: old, sql: `SELECT pg_catalog.pg_drop_replication_slot(${quoteLiteral(slot)})` },
          ...mark,
          peek(CHECK_SLOT),
          dropCheck,
        ],
    undo: opts.keepSlot
      ? []
      : [
          {
            node: old,
            sql: `SELECT pg_catalog.pg_copy_logical_replication_slot(${CHECK_SLOT}, ${quoteLiteral(slot)}, false)`,
          },
          dropCheck,
          { node: neu, sql: `ALTER SUBSCRIPTION ${quoteIdent(sub)} SET (slot_name = ${quoteLiteral(slot)})` },
        ],
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
