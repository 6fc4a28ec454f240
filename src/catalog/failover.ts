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
  text: `select pg_catalog.pg_is_in_recovery() as in_recovery,
       pg_catalog.current_setting('server_version_num')::int as server_version,
       (select setting from pg_catalog.pg_settings where name = 'sync_replication_slots') as sync_replication_slots,
       (select setting from pg_catalog.pg_settings where name = 'hot_standby_feedback') as hot_standby_feedback,
       (select setting from pg_catalog.pg_settings where name = 'primary_slot_name') as primary_slot_name,
       (select setting from pg_catalog.pg_settings where name = 'primary_conninfo') as primary_conninfo,
       (select setting from pg_catalog.pg_settings where name = 'synchronized_standby_slots') as synchronized_standby_slots`,
};

const SLOTS_17 = jsonArrayQuery(
  'failover_slots',
  `select s.slot_name::text as name, s.synced, s.invalidation_reason::text as invalidated,
          s.confirmed_flush_lsn::text as "confirmedFlushLsn", s.active, s.temporary
     from pg_catalog.pg_replication_slots s where s.slot_type = 'logical'`,
);

const SLOTS_14 = jsonArrayQuery(
  'failover_slots',
  `select s.slot_name::text as name, false as synced,
          case when s.wal_status = 'lost' then 'wal_removed' end as invalidated,
          s.confirmed_flush_lsn::text as "confirmedFlushLsn", s.active, s.temporary
     from pg_catalog.pg_replication_slots s where s.slot_type = 'logical'`,
);

interface SettingsRow {
  in_recovery: boolean;
  server_version: number;
  sync_replication_slots: string | null;
  hot_standby_feedback: string | null;
  primary_slot_name: string | null;
  primary_conninfo: string | null;
  synchronized_standby_slots: string | null;
}

const on = (v: string | null): boolean | null => (v === null ? null : v === 'on');

async function readServer(
  spec: ConnectionSpec,
  opts: { node: string; connectTimeoutMs?: number; statementTimeoutMs?: number },
): Promise<FailoverServer> {
  return withSession(openCatalogSession(spec, opts), async (client) => {
    const r = (await rows<SettingsRow>(client, SETTINGS))[0]!;
    const slotRows = await rows<JsonArrayRow>(client, r.server_version >= PG17 ? SLOTS_17 : SLOTS_14);
    const slots: Record<string, FailoverSlot> = {};
    for (const s of jsonRows<FailoverSlot>(slotRows)) slots[s.name] = s;
    const conninfo = r.primary_conninfo;
    return {
      inRecovery: r.in_recovery,
      serverVersion: r.server_version,
      syncReplicationSlots: on(r.sync_replication_slots),
      hotStandbyFeedback: on(r.hot_standby_feedback),
      primarySlotName:
        r.primary_slot_name === null || r.primary_slot_name === '' ? null : r.primary_slot_name,
      primaryConninfoHasDbname: conninfo === null ? null : (parseConninfo(conninfo).dbname ?? '') !== '',
      synchronizedStandbySlots:
        r.synchronized_standby_slots === null
          ? null
          : r.synchronized_standby_slots
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
        const id = (await client.query<{ systemid: string; timeline: number }>('IDENTIFY_SYSTEM')).rows[0]!;
        const timeline = Number(id.timeline);
        if (timeline <= 1) return { read: true, systemIdentifier: id.systemid, timeline, forks: [] };
        const h = await client.query<{ content: string }>({
          text: `TIMELINE_HISTORY ${timeline}`,
          types: RAW_TEXT,
        });
        const forks = parseTimelineHistory(h.rows[0]?.content ?? '');
        return { read: true, systemIdentifier: id.systemid, timeline, forks };
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

/** Each declared standby of `node`: what failover needs of it, or one sentence on why it cannot be read. */
export function readStandbys(
  node: string,
  standbys: readonly ConnectionSpec[],
  opts: { connectTimeoutMs?: number; statementTimeoutMs?: number } = {},
): Promise<ObservedStandby[]> {
  return Promise.all(
    standbys.map((spec) =>
      readServer(spec, { ...opts, node: `${node} (standby ${standbyAddress(spec)})` }).then(
        (server): ObservedStandby => ({ address: standbyAddress(spec), reachable: true, ...server }),
        (err: unknown): ObservedStandby => ({
          address: standbyAddress(spec),
          reachable: false,
          error: postgresMessage(err),
        }),
      ),
    ),
  );
}
