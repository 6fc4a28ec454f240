import { connect, withSession } from '../db/connect.js';
import type {
  FailoverServer,
  FailoverSlot,
  ObservedFailover,
  ObservedStandby,
  TimelineHistory,
} from '../model/cluster.js';
import { parseConninfo } from '../model/conninfo.js';
import type { ConnectionSpec } from '../model/topology.js';
import { PG17 } from '../model/versions.js';
import { type JsonArrayRow, jsonArrayQuery, jsonRows } from './queries/catalogQuery.js';
import { openCatalogSession, postgresMessage, rows } from './session.js';

/*
 * What a failover of a node depends on, read from the node and from each standby it declares:
 * recovery state, the settings of slot synchronisation (17+), and the logical slots with their
 * `synced` and invalidation. Settings a role may not read (primary_conninfo) come back null.
 * A primary's place in its WAL history is read on a replication connection (IDENTIFY_SYSTEM,
 * TIMELINE_HISTORY: what a role with REPLICATION may run, no superuser needed).
 */

const SETTINGS = {
  name: 'failover_settings',
  text: `select pg_catalog.pg_is_in_recovery() as "inRecovery",
       pg_catalog.current_setting('server_version_num')::int as "serverVersion",
       (select setting = 'on' from pg_catalog.pg_settings where name = 'sync_replication_slots') as "syncReplicationSlots",
       (select setting = 'on' from pg_catalog.pg_settings where name = 'hot_standby_feedback') as "hotStandbyFeedback",
       (select nullif(setting, '') from pg_catalog.pg_settings where name = 'primary_slot_name') as "primarySlotName",
       (select setting from pg_catalog.pg_settings where name = 'primary_conninfo') as "primaryConninfo",
       (select setting from pg_catalog.pg_settings where name = 'synchronized_standby_slots') as "synchronizedStandbySlots"`,
};

/**
 * How far the node's own WAL reaches, read after its slots: a slot that streams confirms only what
 * the node has written, so one confirming past this position confirms WAL the node never wrote
 * (planner/failover/failoverPromotion.ts). Read before them, a slot streaming meanwhile passed it
 * by a commit and read as beyond (torture seed 180087: 360 B, a plan refused).
 */
const WAL = {
  name: 'failover_wal',
  text: `select (case when pg_catalog.pg_is_in_recovery() then pg_catalog.pg_last_wal_replay_lsn() else pg_catalog.pg_current_wal_lsn() end)::text as "walLsn"`,
};

/** The logical slots: 17+ says whether each is synced and why it was invalidated; before, only a lost one is. */
function slotsQuery(serverVersion: number) {
  const v17 = serverVersion >= PG17;
  return jsonArrayQuery(
    `select s.slot_name::text as name, ${v17 ? 's.synced' : 'false as synced'},
          ${v17 ? 's.invalidation_reason::text' : "case when s.wal_status = 'lost' then 'wal_removed' end"} as invalidated,
          s.confirmed_flush_lsn::text as "confirmedFlushLsn", s.active, s.temporary
     from pg_catalog.pg_replication_slots s where s.slot_type = 'logical'`,
  );
}

/** SETTINGS' row: the FailoverServer's settings, two of them as the server's text. */
type SettingsRow = Omit<
  FailoverServer,
  'primaryConninfoHasDbname' | 'synchronizedStandbySlots' | 'slots' | 'walLsn'
> & {
  primaryConninfo: string | null;
  synchronizedStandbySlots: string | null;
};

async function readServer(
  spec: ConnectionSpec,
  opts: { node: string; connectTimeoutMs?: number; statementTimeoutMs?: number },
): Promise<FailoverServer> {
  return withSession(openCatalogSession(spec, opts), async (client) => {
    const { primaryConninfo, synchronizedStandbySlots, ...r } = (
      await rows<SettingsRow>(client, SETTINGS)
    )[0]!;
    const slotRows = await rows<JsonArrayRow>(client, slotsQuery(r.serverVersion));
    const slots = Object.fromEntries(jsonRows<FailoverSlot>(slotRows).map((s) => [s.name, s]));
    const { walLsn } = (await rows<Pick<FailoverServer, 'walLsn'>>(client, WAL))[0]!;
    return {
      ...r,
      walLsn,
      primaryConninfoHasDbname:
        primaryConninfo === null ? null : (parseConninfo(primaryConninfo).dbname ?? '') !== '',
      synchronizedStandbySlots:
        synchronizedStandbySlots === null
          ? null
          : synchronizedStandbySlots
              .split(',')
              .map((x) => x.trim())
              .filter((x) => x !== ''),
      slots,
    };
  });
}

/**
 * A timeline history file's lines, `<parent timeline>\t<switch point>\t<reason>`: the timeline
 * each fork left and the LSN where it did, oldest first (comments and blank lines skipped).
 */
export function parseTimelineHistory(content: string): { timeline: number; switchLsn: string }[] {
  const forks: { timeline: number; switchLsn: string }[] = [];
  for (const line of content.split('\n')) {
    const m = /^\s*(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(line);
    if (m) forks.push({ timeline: Number(m[1]), switchLsn: m[2]!.toUpperCase() });
  }
  return forks;
}

/** TIMELINE_HISTORY's `content` as the server sent it (bytea in name only: the file's text). */
const RAW_TEXT = { getTypeParser: () => (v: string) => v };

/** IDENTIFY_SYSTEM and TIMELINE_HISTORY on a replication connection; `read: false` with the reason when refused. */
export async function readHistory(
  spec: ConnectionSpec,
  opts: { node: string; connectTimeoutMs?: number },
): Promise<TimelineHistory> {
  try {
    return await withSession(
      connect(spec, { node: opts.node, connectTimeoutMs: opts.connectTimeoutMs, replication: 'database' }),
      async (client): Promise<TimelineHistory> => {
        const id = (
          await client.query<{ systemid: string; timeline: number; xlogpos: string }>('IDENTIFY_SYSTEM')
        ).rows[0]!;
        const timeline = Number(id.timeline);
        // a standby's xlogpos is what it received or replayed, which a copy of it may pass
        const standby = (await client.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r'))
          .rows[0]!.r;
        const read = {
          read: true as const,
          systemIdentifier: id.systemid,
          timeline,
          ...(standby ? {} : { flushLsn: id.xlogpos }),
        };
        if (timeline <= 1) return { ...read, forks: [] };
        const h = await client.query<{ content: string }>({
          text: `TIMELINE_HISTORY ${timeline}`,
          types: RAW_TEXT,
        });
        return { ...read, forks: parseTimelineHistory(h.rows[0]?.content ?? '') };
      },
    );
  } catch (err) {
    return { read: false, error: postgresMessage(err) };
  }
}

/** `host:port` of a standby, as messages name it. */
export function standbyAddress(spec: ConnectionSpec): string {
  return `${spec.host}:${spec.port}`;
}

/**
 * The node's and its standbys' part in a failover. A standby that cannot be read is recorded so
 * (one sentence, no secrets); the node's own read failing throws (its catalog read reports it).
 */
export async function readFailover(
  node: string,
  own: ConnectionSpec,
  standbys: readonly ConnectionSpec[],
  opts: { connectTimeoutMs?: number; statementTimeoutMs?: number } = {},
): Promise<ObservedFailover> {
  const [self, others] = await Promise.all([
    readServer(own, { ...opts, node }).then(async (server) =>
      server.inRecovery ? server : { ...server, history: await readHistory(own, { ...opts, node }) },
    ),
    readStandbys(node, standbys, opts),
  ]);
  return { self, standbys: others };
}

/**
 * Each declared standby of `node`: what failover needs of it (one out of recovery: its place in
 * its WAL history too), or one sentence on why it cannot be read.
 */
export function readStandbys(
  node: string,
  standbys: readonly ConnectionSpec[],
  opts: { connectTimeoutMs?: number; statementTimeoutMs?: number } = {},
): Promise<ObservedStandby[]> {
  return Promise.all(
    standbys.map((spec) =>
      readServer(spec, { ...opts, node: `${node} (standby ${standbyAddress(spec)})` }).then(
        async (server): Promise<ObservedStandby> => ({
          address: standbyAddress(spec),
          reachable: true,
          ...server,
          // out of recovery, a primary: its identity is read, never assumed from its address (a
          // promoted standby, or the old primary started again on an older branch)
          ...(server.inRecovery
            ? {}
            : {
                history: await readHistory(spec, {
                  ...opts,
                  node: `${node} (standby ${standbyAddress(spec)})`,
                }),
              }),
        }),
        (err: unknown): ObservedStandby => ({
          address: standbyAddress(spec),
          reachable: false,
          error: postgresMessage(err),
        }),
      ),
    ),
  );
}
