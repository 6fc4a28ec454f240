import { adviceText } from '../../model/advice.js';
import type { InitState } from '../../model/initState.js';
import { type MergeStrategy, parseStrategy, resolveStrategy } from '../../model/mergeStrategy.js';
import { quoteIdent, quoteLiteral } from '../../model/sql.js';
import type { SlotTrouble } from '../../model/syncVerdict.js';
import { quoteQualified, type SubscriptionSpec } from '../../model/topology.js';
import { originSetupSql } from './mergeInit.js';
import { refuse } from './reinitRefusals.js';

/**
 * A reinit of tables that the subscriber publishes back to the publisher (a link, a pair of
 * `origin = none` subscriptions). The truncate-and-copy recipe (planner/init/reinit.ts) would empty
 * both nodes there: the subscriber's TRUNCATE is its own change, which the way back publishes
 * and applies on the publisher (session_replication_role does not stop a TRUNCATE or DELETE from
 * being published), and the copy then brings nothing. So those tables are reconciled in place,
 * as a merge does, while both subscriptions keep running:
 *
 * 1. on both nodes a session that carries a steep replication origin (its writes are skipped by
 *    `origin = none` subscriptions, so nothing is sent back) puts a statement trigger on each
 *    table (one transaction each, replacing one a stopped reinit left) that takes the shared form
 *    of an advisory lock, then takes that lock itself: once it holds it, the application's writes
 *    to them wait, the subscriptions' apply workers (session_replication_role = replica, which
 *    fires no ordinary trigger) go on; CREATE TRIGGER waits for writers already under way, the
 *    lock for those that passed a trigger before it, each wait holding nothing else (no deadlock);
 * 2. once each subscription has applied everything its publisher committed before the triggers,
 *    nothing of these tables is in flight either way;
 * 3. the merge's reconcile copies each node's one-sided rows to the other and resolves the keys
 *    that differ (the link's strategy, else the publisher's row), in those sessions;
 * 4. the lock is let go (the waiting writes go on and stream as before), then the triggers, which
 *    wait for nothing any more, are dropped.
 *
 * Every row committed on either node is on both afterwards; nothing is emptied.
 */

export interface LoopInput {
  /** the subscription reinitialised */
  subscription: SubscriptionSpec;
  /** the declared subscriptions on its publisher that receive from its subscriber */
  back: SubscriptionSpec[];
  /** per subscription of `back`, the tables its publications publish on the subscriber (`schema.table`) */
  publishedBack: Map<string, Set<string>>;
  /** the tables the reinit copies, `schema.table` */
  tables: string[];
  enabled: boolean;
  recorded: InitState | null;
  /** a reinit's temporary publications are on the publisher: a recorded `copying` is that reinit's */
  underWay: boolean;
  /** the state schema: the trigger function lives there */
  stateSchema: string;
}

export interface NodeStatements {
  /** the fence, in order, on one session (it keeps the advisory lock and the origin) */
  take: string[];
  /** lets go, in order, on the same session */
  release: string[];
}

export interface LoopPlan {
  /** tables published back: reconciled in place */
  looped: string[];
  /** the others: the truncate-and-copy recipe */
  rest: string[];
  /** the subscriptions on the way back, for the catch-up wait (name, slot on the subscriber) */
  back: Array<{ name: string; slot: string }>;
  strategy: MergeStrategy;
  /** by node: the publisher's and the subscriber's */
  publisher: NodeStatements;
  subscriber: NodeStatements;
}

const TRIGGER = 'steep_reinit_fence';

/** The replication origin a reinit's writes carry on `node` (origins are per server). */
export function reinitOriginName(subscription: string, node: string): string {
  return `steep_reinit_${subscription}_${node}`;
}

/** The conflict rule: the link's (or merge's) strategy where it decides one, else the publisher's row. */
function strategyOf(d: SubscriptionSpec): MergeStrategy {
  const parsed = d.init.strategy ? parseStrategy(d.init.strategy) : undefined;
  if (!parsed || parsed.kind === 'manual') return { kind: 'prefer', node: d.from };
  return resolveStrategy(parsed, { source: d.from, target: d.node, first: d.from });
}

function fence(
  subscription: string,
  node: string,
  tables: string[],
  stateSchema: string,
  lockTimeoutMs: number,
): NodeStatements {
  const origin = quoteLiteral(reinitOriginName(subscription, node));
  const fn = `${quoteIdent(stateSchema)}.${quoteIdent(TRIGGER)}`;
  // the advisory lock's name (hashed by PostgreSQL to its key) the triggers wait for
  const lock = quoteLiteral(`steep reinit fence ${subscription}`);
  const timeout = `SET LOCAL lock_timeout = ${Math.max(0, Math.trunc(lockTimeoutMs))}`;
  // each table in a transaction of its own (it holds no other lock while it waits for one), and the
  // lock once every trigger is there: the fence is never one side of a deadlock with a writer
  // that writes these tables in another order, or waits in a trigger (a stopped reinit's too)
  const eachTable = (sql: (t: string) => string[]) =>
    tables.flatMap((t) => ['BEGIN', timeout, ...sql(quoteQualified(t)), 'COMMIT']);
  const drop = (t: string) => `DROP TRIGGER IF EXISTS ${quoteIdent(TRIGGER)} ON ${t}`;
  return {
    take: [
      ...originSetupSql(reinitOriginName(subscription, node)),
      'BEGIN',
      timeout,
      `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fence$ ` +
        'BEGIN PERFORM pg_catalog.pg_advisory_xact_lock_shared(pg_catalog.hashtextextended(TG_ARGV[0], 0)); RETURN NULL; END $fence$',
      'COMMIT',
      ...eachTable((t) => [
        drop(t),
        `CREATE TRIGGER ${quoteIdent(TRIGGER)} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${t} ` +
          `FOR EACH STATEMENT EXECUTE FUNCTION ${fn}(${lock})`,
      ]),
      // waits for the writers that passed a trigger before it: their transactions hold its shared form
      'BEGIN',
      timeout,
      `SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtextextended(${lock}, 0))`,
      'COMMIT',
    ],
    // the lock first: a writer waiting in the trigger holds its table's lock, which DROP TRIGGER waits for
    release: [
      `SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtextextended(${lock}, 0))`,
      'SELECT pg_catalog.pg_replication_origin_session_reset() WHERE pg_catalog.pg_replication_origin_session_is_setup()',
      `SELECT pg_catalog.pg_replication_origin_drop(${origin}) WHERE EXISTS (SELECT FROM pg_catalog.pg_replication_origin WHERE roname = ${origin})`,
      ...eachTable((t) => [drop(t)]),
    ],
  };
}

/**
 * The recorded states a reinit starts from: initialised, or a reinit stopped part way (only a
 * reinit records `reinitializing`; `copying` is one's while its temporary publications are there,
 * else an init's): the in-place reconcile, run again from its start, finishes it.
 */
function reinitFrom(recorded: InitState, underWay: boolean): boolean {
  return (
    ['synchronized', 'diverged', 'reinitializing'].includes(recorded) || (recorded === 'copying' && underWay)
  );
}

/** Which tables are published back, and how a reinit reconciles them; null when none is. */
export function planLoopedReinit(input: LoopInput, lockTimeoutMs: number): LoopPlan | null {
  const d = input.subscription;
  const backs = input.back.filter((b) => input.tables.some((t) => input.publishedBack.get(b.name)?.has(t)));
  if (backs.length === 0) return null;
  const looped = input.tables.filter((t) => backs.some((b) => input.publishedBack.get(b.name)!.has(t)));
  const rest = input.tables.filter((t) => !looped.includes(t));
  const any = [d, ...backs].find((s) => s.options.origin !== 'none');
  if (any)
    refuse(
      `${looped.join(', ')} ${looped.length === 1 ? 'is' : 'are'} replicated both ways between ${d.from} and ${d.node} (subscriptions ${d.name} and ${backs.map((b) => b.name).join(', ')}), ` +
        `and ${any.name} has origin = ${any.options.origin ?? 'any'}: reinit reconciles such tables with writes the other way must not send back; set origin: none on both (steep apply) and run reinit again`,
    );
  if (input.recorded !== null && !reinitFrom(input.recorded, input.underWay))
    refuse(
      `subscription ${d.name} on ${d.node} is ${input.recorded}, not initialised: reinit repairs a synchronized or diverged subscription; finish its init with steep apply (or ${adviceText('initCancel', d.name)})`,
    );
  if (!input.enabled)
    refuse(
      `subscription ${d.name} on ${d.node} is disabled: reinit of tables replicated both ways waits for it to catch up; enable it (steep apply) and run reinit again`,
    );
  return {
    looped,
    rest,
    back: backs.map((b) => ({ name: b.name, slot: b.slot })),
    strategy: strategyOf(d),
    publisher: fence(d.name, d.from, looped, input.stateSchema, lockTimeoutMs),
    subscriber: fence(d.name, d.node, looped, input.stateSchema, lockTimeoutMs),
  };
}

/** What the rows only on the subscriber are, where its inbound stream is known to have broken. */
export interface MissedDeletes {
  /** they are deletes it missed, and are deleted there */
  deleted: boolean;
  /** why, one sentence */
  why: string;
}

/** What says the subscription's own stream broke, or may have. */
export interface BrokenStream {
  /** its slot on the publisher, where a reinit --full must repair it */
  slot: SlotTrouble | null;
  /** status calls it a gap */
  gap: boolean;
  /** the last failover of its publisher left it diverged: it skipped changes or applied ones the new primary never had */
  failoverDiverged: boolean;
  /** the subscriber may hold rows past that failover's fork (a diverged or unknown verdict) */
  pastFork: boolean;
}

/**
 * A reinit of tables replicated both ways whose own stream broke (its slot gone or invalidated,
 * a gap, or a failover that skipped changes or may have) missed the publisher's deletes as well
 * as its inserts, and a row only on the subscriber is either such a delete or a write of the
 * subscriber the way back has not brought. Where every way back (`back`, with its status
 * verdict) is `synchronized` (streaming with no known hole, compared within its window) and the
 * subscriber holds no rows past a failover's fork, the publisher holds everything the subscriber
 * wrote (the fence's catch-up brings the rest), so such a row is a delete it missed: deleted,
 * kept in merge_log. Otherwise it is copied to the publisher, as any one-sided row, kept in
 * merge_log too (`copied-back`), and the reason is said (no verify can decide it afterwards: the
 * way back's comparison counts those same rows as missing on the publisher). Null: the stream
 * is not known to have broken. Pure.
 */
export function missedDeletesRule(
  d: SubscriptionSpec,
  broke: BrokenStream,
  back: ReadonlyArray<{ name: string; verdict: string | null }>,
): MissedDeletes | null {
  const slot = broke.slot?.kind === 'absent' || broke.slot?.kind === 'lost';
  if (!slot && !broke.gap && !broke.failoverDiverged && !broke.pastFork) return null;
  const how = slot
    ? `its slot on ${d.from} is ${broke.slot!.kind === 'absent' ? 'gone' : 'invalidated'}`
    : broke.gap
      ? 'its stream has a gap'
      : `the last failover of ${d.from} ${broke.failoverDiverged ? 'skipped' : 'may have skipped'} them`;
  const kept = `rows only on ${d.node} are copied to ${d.from}, deletes it missed with them (each kept in merge_log on both nodes, strategy copied-back: those to delete again are among them)`;
  if (broke.pastFork)
    return {
      deleted: false,
      why: `${d.name} missed changes of ${d.from} (${how}), and ${d.node} may hold rows past ${d.from}'s failover: ${kept}`,
    };
  const unproven = back.filter((b) => b.verdict !== 'synchronized');
  if (unproven.length > 0)
    return {
      deleted: false,
      why:
        `${d.name} missed changes of ${d.from} (${how}), and ${unproven.map((b) => `${b.name} is ${b.verdict ?? 'not read'}`).join(', ')}: ` +
        `what ${d.node} wrote may not all be on ${d.from}, so ${kept} (docs/repair.md)`,
    };
  return {
    deleted: true,
    why: `${d.name} missed changes of ${d.from} (${how}) and ${back.map((b) => b.name).join(', ')} brought ${d.from} everything ${d.node} wrote (synchronized): rows only on ${d.node} are deletes it missed, deleted there and each kept in merge_log`,
  };
}
