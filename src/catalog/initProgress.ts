import type pg from 'pg';
import type {
  PublishedTableSize,
  SlotLag,
  SubscriberSample,
  SubscriptionActivity,
  SubscriptionTableSample,
  WorkerUse,
} from '../model/initState.js';
import { isoTime, THIS_DATABASE_OID } from '../model/sql.js';
import type { TableName } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import { PG15, PG16, PG17, PG18 } from '../model/versions.js';
import { grouped } from './queries/catalogQuery.js';

/**
 * Samples of an init's live figures (docs/steep-yaml.md), one round trip per node: per-table
 * sync states from pg_subscription_rel and the table-sync workers' COPY progress from
 * pg_stat_progress_copy (PostgreSQL 14+) on the subscriber; table sizes and the slot's lag on the
 * publisher. A table-sync worker copies into the subscriber's table with `COPY … FROM` (type
 * CALLBACK), so its bytes_total is unknown: the publisher's statistics say how much there is to
 * copy. Pure reads; the caller owns the sessions.
 */

const CURRENT_DATABASE = `s.subdbid = ${THIS_DATABASE_OID}`;

/** The apply worker (not a table-sync or parallel apply worker): no relid, and from 16 no leader. */
function applyWorker(version: number): string {
  if (version >= PG17) return `w.worker_type = 'apply'`;
  if (version >= PG16) return 'w.relid is null and w.leader_pid is null';
  return 'w.relid is null';
}

const ERROR_COUNTS_15 = `,
       st.apply_error_count::float8 as "applyErrorCount",
       st.sync_error_count::float8 as "syncErrorCount"`;

/** Before 15 there is no pg_stat_subscription_stats: no counts. */
const NO_ERROR_COUNTS = `,
       null::float8 as "applyErrorCount",
       null::float8 as "syncErrorCount"`;

const CONFLICTS_18 = `,
       (st.confl_insert_exists + st.confl_update_origin_differs + st.confl_update_exists + st.confl_update_missing
        + st.confl_delete_origin_differs + st.confl_delete_missing + st.confl_multiple_unique_conflicts)::float8 as "conflictCount",
       json_build_object('insert_exists', st.confl_insert_exists, 'update_origin_differs', st.confl_update_origin_differs,
                         'update_exists', st.confl_update_exists, 'update_missing', st.confl_update_missing,
                         'delete_origin_differs', st.confl_delete_origin_differs, 'delete_missing', st.confl_delete_missing,
                         'multiple_unique_conflicts', st.confl_multiple_unique_conflicts) as conflicts`;

/** Before 18 there are no conflict counters. */
const NO_CONFLICTS = `,
       null::float8 as "conflictCount",
       null::json as conflicts`;

/**
 * Every subscription of the current database: enabled, its workers, and (15+) its error counts,
 * (18+) its conflict counters. `$1` is null for all, or one name.
 */
function subscriptionActivityQuery(version: number): string {
  const stats = version >= PG15;
  return `select s.oid::int8::float8 as oid,
       s.subname::text as name,
       s.subslotname::text as slot,
       s.subenabled as enabled,
       exists (select 1 from pg_catalog.pg_stat_subscription w
                where w.subid = s.oid and w.pid is not null and ${applyWorker(version)}) as "applyRunning",
       (select count(*) from pg_catalog.pg_stat_subscription w
         where w.subid = s.oid and w.pid is not null and w.relid is not null)::int as "syncWorkers",
       ${isoTime('(select max(w.last_msg_receipt_time) from pg_catalog.pg_stat_subscription w where w.subid = s.oid)')} as "lastMessageAt"${stats ? ERROR_COUNTS_15 : NO_ERROR_COUNTS}${version >= PG18 ? CONFLICTS_18 : NO_CONFLICTS}
  from pg_catalog.pg_subscription s${stats ? '\n  left join pg_catalog.pg_stat_subscription_stats st on st.subid = s.oid' : ''}
 where ${CURRENT_DATABASE} and ($1::text is null or s.subname = $1)
 order by s.subname`;
}

/** wal_retrieve_retry_interval in ms: how long the launcher waits before it starts a failed worker again. */
export async function readRetryIntervalMs(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ ms: number }>(
    `select setting::int as ms from pg_catalog.pg_settings where name = 'wal_retrieve_retry_interval'`,
  );
  return rows[0]!.ms;
}

/** Every subscription's activity on the node (or one). */
export async function readSubscriptionActivity(
  client: pg.Client,
  version: number,
  subscription: string | null = null,
): Promise<SubscriptionActivity[]> {
  return (await client.query<SubscriptionActivity>(subscriptionActivityQuery(version), [subscription])).rows;
}

/**
 * One subscription on its subscriber: activity and per-table progress (pipelined): per table its
 * sync state and, while a worker copies it, the rows and bytes so far.
 */
export async function sampleSubscriber(
  client: pg.Client,
  version: number,
  subscription: string,
): Promise<SubscriberSample> {
  const [activity, tables] = await Promise.all([
    readSubscriptionActivity(client, version, subscription),
    client.query<SubscriptionTableSample>(
      `select n.nspname::text as schema,
       c.relname::text as name,
       sr.srsubstate::text as state,
       p.tuples_processed::float8 as "tuplesProcessed",
       p.bytes_processed::float8 as "bytesProcessed"
  from pg_catalog.pg_subscription s
  join pg_catalog.pg_subscription_rel sr on sr.srsubid = s.oid
  join pg_catalog.pg_class c on c.oid = sr.srrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  left join pg_catalog.pg_stat_subscription w on w.subid = s.oid and w.relid = sr.srrelid and w.pid is not null
  left join pg_catalog.pg_stat_progress_copy p on p.pid = w.pid and p.relid = sr.srrelid
 where s.subname = $1 and ${CURRENT_DATABASE}
 order by 1, 2`,
      [subscription],
    ),
  ]);
  return { activity: activity[0] ?? null, tables: tables.rows };
}

/**
 * The server's logical replication workers: max_logical_replication_workers, the workers running
 * (apply, table sync and parallel apply, pg_stat_subscription over every database: pg_subscription
 * is a shared catalog) and whose they are, most first. Read while a copy waits for a worker.
 */
export async function readWorkerUse(client: pg.Client): Promise<WorkerUse> {
  const { rows } = await client.query<WorkerUse>(
    `select current_setting('max_logical_replication_workers')::int as max,
       (select count(*) from pg_catalog.pg_stat_subscription where pid is not null)::int as running,
       coalesce((select json_agg(json_build_object('database', d.datname::text, 'subscription', s.subname::text,
                                                   'workers', w.n) order by w.n desc, d.datname, s.subname)
                   from (select subid, count(*)::int as n from pg_catalog.pg_stat_subscription
                          where pid is not null group by subid) w
                   join pg_catalog.pg_subscription s on s.oid = w.subid
                   join pg_catalog.pg_database d on d.oid = s.subdbid), '[]'::json) as users`,
  );
  return rows[0]!;
}

/**
 * readWorkerUse, when `sample` shows a table waiting for its copy with no table-sync worker running
 * on an enabled subscription (else undefined: nothing waits for a worker).
 */
export async function readWorkerUseIfWaiting(
  client: pg.Client,
  sample: SubscriberSample,
): Promise<WorkerUse | undefined> {
  const a = sample.activity;
  const waits = sample.tables.some((x) => x.state === 'i' || x.state === 'd');
  return a?.enabled && a.syncWorkers === 0 && waits ? readWorkerUse(client) : undefined;
}

/** Sizes and estimated rows of the given tables on the publisher, by `schema.name`. */
export async function readPublishedTableSizes(
  client: pg.Client,
  tables: readonly TableName[],
): Promise<Map<string, PublishedTableSize>> {
  const { rows } = await client.query<TableName & PublishedTableSize>(
    `select n.nspname::text as schema,
       c.relname::text as name,
       pg_catalog.pg_table_size(c.oid)::float8 as "sizeBytes",
       greatest(greatest(c.reltuples, 0)::float8, coalesce(st.n_live_tup, 0)::float8) as "estimatedRows"
  from unnest($1::text[], $2::text[]) as t(schema, name)
  join pg_catalog.pg_namespace n on n.nspname = t.schema
  join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = t.name
  left join pg_catalog.pg_stat_all_tables st on st.relid = c.oid`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  return new Map(rows.map(({ schema, name, ...size }) => [qualifiedName({ schema, name }), size]));
}

/**
 * Logical slots on the publisher with their lag: how much WAL the consumer has not confirmed
 * (current WAL position − confirmed_flush_lsn), how much WAL the slot retains, the lag in
 * seconds: 0 when the slot has confirmed all the WAL there is, else the walsender's replay_lag.
 * PostgreSQL clears replay_lag (null) once the consumer has applied all it was sent, so an idle
 * caught-up pair has none; it is null too with no walsender on the slot, and for a role without
 * pg_read_all_stats (pg_stat_replication then shows only the pid). Null: not known. And the
 * walsender: none, hidden (the role may not read it) or streaming.
 * `slot` null for every slot, or one name. PostgreSQL 14+ (on a primary).
 */
export async function readSlotLag(client: pg.Client, slot: string | null = null): Promise<SlotLag[]> {
  const { rows } = await client.query<SlotLag>(
    `select s.slot_name::text as slot,
       s.active,
       s.active_pid as "activePid",
       s.wal_status as "walStatus",
       s.confirmed_flush_lsn::text as "confirmedFlushLsn",
       pg_catalog.pg_current_wal_lsn()::text as "currentLsn",
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn)::float8 as "lagBytes",
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::float8 as "retainedWalBytes",
       case when s.confirmed_flush_lsn >= pg_catalog.pg_current_wal_lsn() then 0::float8
            else extract(epoch from r.replay_lag)::float8 end as "lagSeconds",
       case when r.pid is null then 'none' when r.state is null then 'hidden' else 'streaming' end as walsender
  from pg_catalog.pg_replication_slots s
  left join pg_catalog.pg_stat_replication r on r.pid = s.active_pid
 where s.slot_type = 'logical' and ($1::text is null or s.slot_name = $1)
 order by s.slot_name`,
    [slot],
  );
  return rows;
}

/** The server's log file when the role may ask (superuser or pg_monitor); null otherwise (or when logging goes to stderr). */
export async function readServerLog(client: pg.Client): Promise<string | null> {
  try {
    const { rows } = await client.query<{ logfile: string | null }>(
      `select case when pg_catalog.has_function_privilege('pg_catalog.pg_current_logfile()', 'execute')
                 then pg_catalog.pg_current_logfile() end as logfile`,
    );
    return rows[0]?.logfile ?? null;
  } catch {
    return null;
  }
}

/** A table whose copy PostgreSQL finished (`f`), and how its table-sync slot's name begins. */
export interface FinishedCopy {
  table: string;
  slotPrefix: string;
}

/** The subscription's tables in FINISHEDCOPY (`f`) on its subscriber. */
export async function readFinishedCopies(client: pg.Client, subscription: string): Promise<FinishedCopy[]> {
  return (await readAllFinishedCopies(client, subscription)).get(subscription) ?? [];
}

/**
 * By subscription, the tables of `subscription` (every subscription of this database when null)
 * whose copy PostgreSQL finished (`f`, FINISHEDCOPY) and the prefix of their table-sync slot's
 * name on the publisher, `pg_<subscription oid>_sync_<table oid>_` (the subscriber's system
 * identifier follows). PostgreSQL 14+.
 */
export async function readAllFinishedCopies(
  client: pg.Client,
  subscription: string | null = null,
): Promise<Map<string, FinishedCopy[]>> {
  const { rows } = await client.query<{ subscription: string } & FinishedCopy>(
    `select s.subname::text as subscription,
       n.nspname::text || '.' || c.relname::text as "table",
       'pg_' || s.oid || '_sync_' || sr.srrelid || '_' as "slotPrefix"
  from pg_catalog.pg_subscription s
  join pg_catalog.pg_subscription_rel sr on sr.srsubid = s.oid
  join pg_catalog.pg_class c on c.oid = sr.srrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where ($1::text is null or s.subname = $1) and ${CURRENT_DATABASE} and sr.srsubstate = 'f'
 order by 1, n.nspname, c.relname`,
    [subscription],
  );
  return grouped(rows.map(({ subscription: sub, ...copy }) => [sub, copy] as const));
}

/**
 * The tables of `finished` whose table-sync slot is gone from the publisher (`client`). The
 * slot outlives the `f` state: PostgreSQL drops it in the transaction that records the table's
 * sync done, so a table in `f` without one lost it (see model/initFailure.ts, lostSyncSlots).
 */
export async function withoutSyncSlot(
  client: pg.Client,
  finished: readonly FinishedCopy[],
): Promise<string[]> {
  if (finished.length === 0) return [];
  const { rows } = await client.query<{ slot_name: string }>(
    `select s.slot_name::text as slot_name
  from pg_catalog.pg_replication_slots s
 where exists (select 1 from unnest($1::text[]) as p(prefix) where starts_with(s.slot_name::text, p.prefix))`,
    [finished.map((f) => f.slotPrefix)],
  );
  return withoutSyncSlotAmong(
    finished,
    rows.map((r) => r.slot_name),
  );
}

/** withoutSyncSlot, from the publisher's slot names already read. */
export function withoutSyncSlotAmong(
  finished: readonly FinishedCopy[],
  slotNames: readonly string[],
): string[] {
  return finished.filter((f) => !slotNames.some((n) => n.startsWith(f.slotPrefix))).map((f) => f.table);
}

/** An index build under way on a table: its phase, and how far that phase is when it says. */
export interface IndexBuild {
  phase: string;
  percent: number | null;
}

/**
 * The index builds running in this database (`CREATE INDEX`, and `ALTER TABLE … ADD CONSTRAINT`
 * of a primary key or unique constraint), by table (`schema.name`). The percent is of the
 * phase: the table's blocks while it is scanned, else the tuples while they are loaded (a sort
 * reports neither). The index itself is not named: a build that is not concurrent reports
 * `index_relid` 0.
 */
export async function readIndexBuilds(client: pg.Client): Promise<Map<string, IndexBuild>> {
  const { rows } = await client.query<TableName & IndexBuild>(
    `select n.nspname::text as schema,
       c.relname::text as name,
       p.phase::text as phase,
       case when p.blocks_total > 0 then 100 * p.blocks_done::float8 / p.blocks_total::float8
            when p.tuples_total > 0 then 100 * p.tuples_done::float8 / p.tuples_total::float8 end as percent
  from pg_catalog.pg_stat_progress_create_index p
  join pg_catalog.pg_class c on c.oid = p.relid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where p.datid = ${THIS_DATABASE_OID}`,
  );
  return new Map(rows.map(({ schema, name, ...build }) => [qualifiedName({ schema, name }), build]));
}
