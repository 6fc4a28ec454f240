import { withSession } from '../db/connect.js';
import type { FailoverServer, FailoverSlot, ObservedFailover, ObservedStandby } from '../model/cluster.js';
import { parseConninfo } from '../model/conninfo.js';
import type { ConnectionSpec } from '../model/topology.js';
import { PG17 } from '../model/versions.js';
import { type JsonArrayRow, jsonArrayQuery, jsonRows } from './queries/catalogQuery.js';
import { openCatalogSession, postgresMessage, rows } from './session.js';

/*
 * What a failover of a node depends on, read from the node and from each standby it declares:
 * recovery state, the settings of slot synchronisation (17+), and the logical slots with their
 * `synced` and invalidation. Settings a role may not read (primary_conninfo) come back null.
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
  const [self, ...others] = await Promise.all([
    readServer(own, { ...opts, node }),
    ...standbys.map((spec) =>
      readServer(spec, { ...opts, node: `${node} (standby ${standbyAddress(spec)})` }).then(
        (server): ObservedStandby => ({ address: standbyAddress(spec), reachable: true, ...server }),
        (err: unknown): ObservedStandby => ({
          address: standbyAddress(spec),
          reachable: false,
          error: postgresMessage(err),
        }),
      ),
    ),
  ]);
  return { self: self as FailoverServer, standbys: others as ObservedStandby[] };
}
