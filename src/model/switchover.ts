/**
 * `steep switchover SUBSCRIPTION` (docs/switchover.md): move writes from a subscription's publisher (the
 * old primary) to its subscriber (the new primary). The observed facts the planner decides
 * from, the plan it makes (steps with the SQL they run and the SQL that undoes them), and the
 * cutover report. LSNs are PostgreSQL's text form (`0/16B3748`).
 */

import type { ObservedRole } from './cluster.js';
import type { Inbound } from './inboundSubscriptions.js';
import type { InitMethod } from './initMethods.js';
import { lsnValue } from './lsn.js';
import { type ReplicaModeGrant, replicaModeWriters } from './replicaModeGrant.js';
import type { SequenceAccess, SequenceOutcome, SequenceSyncReport } from './sequences.js';
import { quoteIdent } from './sql.js';
import type { TableObject } from './tableObjects.js';
import type { VerifyReport } from './verify.js';

/** A fenced role on the new primary: an earlier rollback leaves it NOLOGIN and read-only there. */
export interface NewLogin {
  name: string;
  exists: boolean;
  login: boolean;
  connect: boolean;
  /** default_transaction_read_only = on for it in this database (optional: older readings lack it) */
  readOnly?: boolean;
}

export interface SwitchoverOptions {
  /** bytes: the most replication lag preflight accepts */
  maxLagBytes: number;
  /** ms: how long preflight waits for the lag to drop under maxLagBytes before it refuses */
  lagTimeoutMs: number;
  /** ms: the longest the drain may take once the roles are fenced */
  fenceTimeoutMs: number;
  /** ms: how long the fenced roles' busy sessions may finish their transactions */
  graceMs: number;
  /** `all`, `none`, or the tables to compare (`schema.table`) */
  verify: 'all' | 'none' | string[];
  reverse: boolean;
  keepSlot: boolean;
  /** the roles to fence; absent: every application role that writes the subscribed tables */
  roles?: string[];
  /** added to each publisher sequence value */
  sequenceHeadroom: bigint;
  /** only these sequences */
  sequences?: string[];
  dryRun: boolean;
  /** ms preflight waits for the database's prepared transactions to end (`--wait-prepared`); 0: refuse at once */
  waitPreparedMs?: number;
  /** switch over although the new primary lacks a constraint of the old one (`--accept-missing-constraints`) */
  acceptMissingConstraints?: boolean;
}

/** A login role on the old primary, as the fence selection needs it. */
export interface RoleFacts extends Pick<ObservedRole, 'name' | 'superuser' | 'replication'> {
  login: boolean;
  /** may write a subscribed table: its own privileges, inherited ones, or those of a role it may SET ROLE to */
  writes: boolean;
  /** its `default_transaction_read_only` for this database (`ALTER ROLE … IN DATABASE … SET`), null when unset */
  databaseSetting: string | null;
  /** steep's role may ALTER it (superuser; CREATEROLE, and from PostgreSQL 16 ADMIN OPTION on it); absent: not read */
  alterable?: boolean;
  /** steep's role holds a membership in it already (any options, any grantor); absent: not read */
  steepMember?: boolean;
  /** steep's role may end its sessions (superuser, its privileges by INHERIT, or pg_signal_backend's); absent: not read */
  steepCanSignal?: boolean;
}

/** What a node has left of each resource the switchover uses there (catalog/switchover.ts readCapacity). */
export interface Capacity {
  slots: number;
  origins: number;
  workers: number;
  walsenders: number;
}

/** What preflight reads from both nodes. */
export interface SwitchoverFacts {
  subscription: string;
  /** the old primary (the publisher) and the new one (the subscriber) */
  oldNode: string;
  newNode: string;
  oldVersion: number;
  newVersion: number;
  /** the old primary's database, where the roles are fenced */
  database: string;
  /** the new primary's database (where the rollback fences them) */
  newDatabase: string;
  /** the role steep connects as on the old primary (never fenced) */
  steepRole: string;
  steepCanFence: boolean;
  /** steep's role may run pg_logical_emit_message on the old primary (the fence's LSN) */
  steepCanEmit?: boolean;
  /**
   * The data fence on the old primary (planner/switchover/switchover.ts dataFence): the tables
   * its triggers go on, each with whether steep's role holds TRIGGER there, and steep's state
   * schema, where its function goes (absent: not read, as in a unit test that needs none).
   */
  fence?: {
    schema: string;
    schemaExists: boolean;
    schemaCreate: boolean;
    tables: Array<{ table: string; trigger: boolean }>;
    /**
     * the same scope on the new primary, where the rollback fences (its partitions may be named
     * otherwise); absent: the old primary's names
     */
    newTables?: string[];
  };
  /** prepared transactions of the old primary's database, still open at preflight */
  prepared?: Array<{ gid: string; owner: string; prepared: string }>;
  /** who holds SET on session_replication_role on the old primary, and which of `roles` through each grant (15+; absent: not read) */
  replicaModeGrants?: ReplicaModeGrant[];
  /** enabled subscriptions on the old primary writing into the subscribed tables, or firing triggers as they apply (steep's way back excepted) */
  inbound?: Inbound[];
  /** the new primary's tables still carrying the data fence an earlier rollback of this subscription put there */
  newFenced?: string[];
  /** whether each fenced role can log in to the new primary's database, and write there */
  newLogins?: NewLogin[];
  /** what each node has left of the slots, origins, workers and walsenders the switchover uses */
  capacity?: { old: Capacity; new: Capacity };
  /** the forward subscription's origin (16+: none or any; null before 16) */
  forwardOrigin?: string | null;
  /** null: the subscription does not exist on the new primary */
  live: {
    enabled: boolean;
    slot: string | null;
    /** `schema.table` → pg_subscription_rel state */
    tables: Record<string, string>;
    /** disabled: disable_on_error and the errors counted (model/disableOnError.ts); absent: not read */
    errors?: { options: { disableOnError: boolean }; errorsCounted: number | null; steepDisabledAt?: number };
  } | null;
  /** the file's `enabled` of the subscription (absent: true) */
  declaredEnabled?: boolean;
  /** the file's init method of the subscription (absent: not told): what finishes an unfinished init */
  initMethod?: InitMethod;
  /** the reasons of the failover verdict that left it diverged (planner/failover/failoverPromotion.ts); absent: none */
  failoverDiverged?: string[];
  /** steep's recorded init state, null without a state schema */
  state: string | null;
  /** tables whose stream steep recorded a gap in since their copy (model/continuity.ts) */
  gaps?: Array<{ table: string; reason: string }>;
  slot: { name: string; active: boolean; lagBytes: number | null } | null;
  /** bytes per second the subscription confirmed while preflight watched (null: not measured) */
  applyRate: number | null;
  /**
   * What preflight measured for the expected blackout (null: not measured, a fixed guess is
   * used): how long the subscriber took to confirm the old primary's flushed WAL position of
   * that moment (the drain's own wait), the verify engine's pace on a sample of the largest
   * table compared and its fixed cost (reading both catalogs), the time the old primary took to
   * connect to the new one (the reverse subscription), and one statement's round trip on each
   * node (the fence's and the sequences' statements).
   */
  measured?: {
    drainMs: number | null;
    verifyRowsPerSecond: number | null;
    verifyFixedMs: number;
    reverseConnectMs: number | null;
    roundTripMs: number;
  };
  /**
   * the indexes and constraints of the published tables on the old primary and the new one, by
   * `schema.table`, and the subscription's schemaSync (absent: not read, as in a unit test that needs none)
   */
  objects?: { schemaSync: string; old: Record<string, TableObject[]>; new: Record<string, TableObject[]> };
  /** the publications the subscription streams (the live subscription's, else the file's) */
  publications: string[];
  /** `schema.table` of every table the publications carry */
  tables: string[];
  /** tables that cannot be compared or replayed safely, with the reason (no key, …) */
  unkeyed: Array<{ table: string; reason: string }>;
  /** estimated rows of the tables to verify */
  verifyRows: number;
  roles: RoleFacts[];
  /** sequences of the subscribed tables, the publisher's last value and the subscriber's */
  sequences: Array<Pick<SequenceOutcome, 'sequence' | 'schema' | 'name' | 'source'> & { present: boolean }>;
  /** what steep's role may do with those sequences on the old primary (source) and the new one (target) */
  sequenceAccess: { source: SequenceAccess; target: SequenceAccess };
  /** the reverse direction, read only with --reverse */
  reverse: {
    publicationExists: boolean;
    subscriptionExists: boolean;
    /** each, when it exists, carries the comment steep gives the way back it makes (reverseComment) */
    publicationMarked?: boolean;
    subscriptionMarked?: boolean;
    slotExists: boolean;
    /** the slot of the reverse name on the new primary's server, when it exists: whose it is (slots are the server's) */
    slot?: { database: string | null; here: boolean; active: boolean; streamedBy: string | null } | null;
    oldCanSubscribe: boolean;
    /** the server's error when the old primary could not connect to the new one, null when it did */
    unreachable: string | null;
    /** the role the reverse subscription connects to the new primary as (its connection in steep.yaml) */
    reverseUser?: string;
  } | null;
}

export type SwitchoverStepId =
  | 'preflight'
  | 'fence'
  | 'drain'
  | 'sequences'
  | 'verify'
  | 'reverse'
  | 'release';

/** One statement and the node it runs on. */
export interface NodeSql {
  node: string;
  sql: string;
}

/** One step as the dry run shows it and the workflow runs it. */
export interface SwitchoverStep {
  id: SwitchoverStepId;
  title: string;
  /** what runs, exactly (passwords as ****), in order */
  statements: NodeSql[];
  /** what undoes it before release (empty: nothing to undo) */
  undo: NodeSql[];
}

export interface SwitchoverPlan
  extends Pick<SwitchoverFacts, 'subscription' | 'oldNode' | 'newNode' | 'database'> {
  /** the forward subscription's origin setting (null: before 16, or not read) */
  forwardOrigin: string | null;
  /** the roles fenced, and those left alone with the reason */
  roles: string[];
  slot: string;
  /** the reverse publication and subscription (same name), null without --reverse */
  reverseName: string | null;
  steps: SwitchoverStep[];
  /** the fenced roles' statements, each with its undo (fence[i] undone by unfence[i]) */
  roleFence: { fence: NodeSql[]; unfence: NodeSql[] };
  /** the data fence: its function and triggers on the old primary, and the statements that remove it */
  dataFence: { fence: NodeSql[]; unfence: NodeSql[] };
  /** what removes the fence an earlier rollback left on the new primary: run right after the release's DISABLE */
  newPrimaryUnfence: NodeSql[];
  /** SQL of the fence's session terminations: those whose fence-time transaction ended during the grace, then every one */
  terminateFinishedSql: string;
  terminateAllSql: string;
  /** the statements that record the fence LSN on the old primary, flushed: the SELECT's `lsn` */
  fenceLsnSql: string[];
  /** expected write blackout in ms (drain from lag and apply rate, plus the checks) */
  expectedBlackoutMs: number;
  blackoutBasis: string;
  /** what to run to go back after the release */
  rollback: RollbackCommand[];
}

export interface RollbackCommand {
  /** null: not SQL (a steep command, or a sentence of what to do) */
  node: string | null;
  sql: string | null;
  /** a steep command to run (`steep sequences sync …`), with the file's -c when it is not ./steep.yaml */
  command?: string;
  why: string;
}

export interface StepTiming extends Pick<SwitchoverStep, 'id' | 'title'> {
  status: 'completed' | 'failed' | 'skipped' | 'undone' | 'interrupted';
  durationMs: number;
  detail: string | null;
}

/**
 * What the forward slot still holds for the subscriber after the release: counted, or why it
 * could not be. `writers`, when some are held: per origin (null: local sessions), the
 * subscription that origin is, the tables and the counts.
 */
export type UnsentChanges =
  | { changes: number; transactions: number; writers?: UnsentWriter[] }
  | { unknown: string };

export interface UnsentWriter {
  origin: string | null;
  subscription: string | null;
  tables: string[];
  changes: number;
  transactions: number;
}

/**
 * Who wrote the held changes, as far as PostgreSQL tells (the WAL records an origin, never a
 * role); `grantees`: the roles granted SET on session_replication_role, when read.
 */
export function unsentWriters(writers: readonly UnsentWriter[], grantees?: readonly string[]): string {
  return writers
    .map(
      (w) =>
        `${w.changes} in ${w.transactions} transaction(s) to ${w.tables.join(', ') || 'a truncated table'} ` +
        (w.origin === null
          ? `by local sessions (no replication origin; the WAL names no role: ${replicaModeWriters(grantees)}, or someone who removed the fence)`
          : `by ${w.subscription ? `subscription ${w.subscription}` : 'a replication origin'} (origin ${w.origin})`),
    )
    .join('; ');
}

/** What went wrong after the release, said once: `released, but …` (a message may already say so). */
export function afterRelease(message: string): string {
  return message.startsWith('released, but ') ? message : `released, but ${message}`;
}

/**
 * The release's proof that no write after the fence was left behind failed: something the
 * fence does not stop committed on the old primary after the drain, or the slot could not be
 * read. The slot is kept, so nothing is lost. With the way back in place the subscription must
 * not carry the way back's own changes to the new primary again: it is set to `origin = none`
 * for the catch-up when it is not already, and set back after it (`origin`: its setting, 16+).
 */
export function unsentMessage(
  p: Pick<SwitchoverPlan, 'subscription' | 'oldNode' | 'newNode' | 'slot'> & {
    reverse: boolean;
    origin?: string | null;
    /** the roles granted SET on session_replication_role on the old primary, when read */
    replicaModeGrantees?: readonly string[];
  },
  unsent: UnsentChanges,
): string {
  const { subscription: sub, oldNode: old, newNode: neu, slot } = p;
  if ('unknown' in unsent)
    return `released, but whether slot ${slot} on ${old} holds changes ${neu} never received is unknown (${unsent.unknown}); the slot is kept: read it with pg_logical_slot_peek_binary_changes as a role with REPLICATION before you drop it`;
  const q = quoteIdent(sub);
  const setNone = p.reverse && p.origin != null && p.origin !== 'none';
  const enable = setNone
    ? `ALTER SUBSCRIPTION ${q} SET (origin = none); ALTER SUBSCRIPTION ${q} ENABLE on ${neu} deliver exactly them without the way back's own changes`
    : `ALTER SUBSCRIPTION ${q} ENABLE on ${neu} delivers exactly them${p.reverse ? ` (its origin is none: the way back's own changes stay out)` : ''}`;
  const withOrigin = (unsent.writers ?? []).filter((w) => w.origin !== null);
  return (
    `released, but slot ${slot} on ${old} holds ${unsent.changes} row change(s) in ${unsent.transactions} transaction(s) committed after the fence that ${neu} never received` +
    `${unsent.writers?.length ? ` (${unsentWriters(unsent.writers, p.replicaModeGrantees)})` : ''}; the slot is kept: stop that writer, then ${enable}` +
    `${p.reverse && withOrigin.length > 0 ? ` (origin = none leaves out the ${withOrigin.reduce((n, w) => n + w.changes, 0)} change(s) that came with an origin: copy those by hand)` : ''}` +
    `; once steep status shows ${sub} caught up, ALTER SUBSCRIPTION ${q} DISABLE${setNone ? `; ALTER SUBSCRIPTION ${q} SET (origin = ${p.origin})` : ''} on ${neu}`
  );
}

/** The cutover report (also the `--json` document). */
export interface SwitchoverReport
  extends Pick<
    SwitchoverPlan,
    'subscription' | 'oldNode' | 'newNode' | 'roles' | 'expectedBlackoutMs' | 'rollback'
  > {
  outcome: 'released' | 'dry-run' | 'failed' | 'interrupted';
  /** the failure (or interruption) in one sentence, null when released */
  error: string | null;
  /** the fence was undone after a failure or interruption: the roles can write again */
  fenceUndone: boolean;
  fenceLsn: string | null;
  /** the subscription's replication origin after the drain: the last transaction it applied */
  drainedLsn: string | null;
  /** the slot's confirmed position after the drain (≥ fence LSN: everything before it acknowledged) */
  confirmedLsn: string | null;
  /** ms from the fence to the release (null when it did not get there) */
  blackoutMs: number | null;
  sequences: SequenceSyncReport | null;
  verify: VerifyReport | null;
  reverse: { publication: string; subscription: string; node: string; from: string } | null;
  slotKept: boolean;
  /** after the release: the changes the forward slot still held past what the new primary confirmed (absent: not reached) */
  unsent?: UnsentChanges;
  steps: StepTiming[];
  plan: SwitchoverPlan;
  durationMs: number;
}

/**
 * The drain is proven once the new primary's replication origin has replayed past the fence
 * LSN, or once the subscriber has acknowledged the fence LSN through the slot. PostgreSQL moves
 * an origin only when it applies a transaction; the fence LSN lies past the last transaction the
 * subscription carries (it is read after the fenced sessions ended, and WAL that no subscription
 * carries follows), so the origin alone reaches it only if something commits later. The apply
 * worker reports a position to the slot as flushed only after everything before it was applied
 * and flushed: confirmed_flush_lsn ≥ fence LSN means no transaction before the fence is left.
 */
export function drainProven(
  fenceLsn: bigint,
  origin: bigint | null,
  confirmed: bigint | null,
): 'origin' | 'acknowledged' | null {
  if (origin !== null && origin >= fenceLsn) return 'origin';
  if (confirmed !== null && confirmed >= fenceLsn) return 'acknowledged';
  return null;
}

/**
 * The drain step's line: each position against the fence with the relation that holds,
 * compared as numbers (`0/863A3ED8` < `0/863A4000` although text order says otherwise), so it
 * never prints a comparison that is false.
 */
export function drainDetail(
  fenceLsn: string,
  origin: string | null,
  confirmed: string | null,
  by: 'origin' | 'acknowledged',
): string {
  const fence = lsnValue(fenceLsn);
  const against = (what: string, lsn: string | null) =>
    lsn === null ? `${what} none` : `${what} ${lsn} ${lsnValue(lsn) >= fence ? '≥' : '<'} fence ${fenceLsn}`;
  return `${against('origin', origin)}, ${against('slot confirmed', confirmed)} (${by === 'origin' ? 'origin past the fence' : 'acknowledged by the subscriber'})`;
}

/** The cutover report before any step ran (outcome `failed` until a step says otherwise). */
export function emptyReport(plan: SwitchoverPlan, keepSlot: boolean): SwitchoverReport {
  return {
    subscription: plan.subscription,
    oldNode: plan.oldNode,
    newNode: plan.newNode,
    outcome: 'failed',
    error: null,
    fenceUndone: false,
    roles: plan.roles,
    fenceLsn: null,
    drainedLsn: null,
    confirmedLsn: null,
    blackoutMs: null,
    expectedBlackoutMs: plan.expectedBlackoutMs,
    sequences: null,
    verify: null,
    reverse: null,
    slotKept: keepSlot,
    steps: [],
    plan,
    rollback: plan.rollback,
    durationMs: 0,
  };
}

/**
 * The comment steep puts on the way back's publication and subscription it makes: what lets a
 * later switchover show they are steep's before it advises dropping them.
 */
export function reverseComment(subscription: string): string {
  return `managed by steep: the way back of subscription ${subscription}`;
}
