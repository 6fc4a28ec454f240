import type {
  ObservedSubscription,
  ObservedSubscriptionTable,
  SubscriptionRelState,
  Unknown,
} from '../../model/cluster.js';
import { UNKNOWN } from '../../model/cluster.js';
import { compareTableNames, compareText, sortedText } from '../../model/order.js';
import { parseOwnership } from '../../model/ownership.js';
import { THIS_DATABASE_OID } from '../../model/sql.js';
import type { Origin, Streaming, SubscriptionOptions } from '../../model/topology.js';
import { PG15, PG16, PG17 } from '../../model/versions.js';
import { type CatalogQuery, jsonArrayQuery } from './catalogQuery.js';

/*
 * Subscriptions of the current database only (pg_subscription is shared by the cluster).
 * Every option the server version has is a column; an option it lacks is not selected, so it
 * is absent from the row and from `options`. Although subscriptions are shared objects, COMMENT
 * ON SUBSCRIPTION stores the comment in pg_description (checked on 14 and 18), hence
 * obj_description, not shobj_description.
 *
 * subconninfo is revoked from PUBLIC: it is read by its own query, sent only when
 * has_column_privilege says the role may (else the whole snapshot transaction would abort).
 */

const CURRENT_DATABASE = `s.subdbid = ${THIS_DATABASE_OID}`;

const SUBSCRIPTION_COLUMNS_14 = `s.oid,
       s.subname::text as name,
       pg_catalog.pg_get_userbyid(s.subowner)::text as owner,
       pg_catalog.obj_description(s.oid, 'pg_subscription') as comment,
       s.subenabled as enabled,
       s.subslotname::text as slot,
       s.subpublications::text[] as publications,
       s.subbinary as binary,
       s.substream::text as streaming,
       s.subsynccommit as synchronous_commit`;

const SUBSCRIPTION_COLUMNS_15 = `${SUBSCRIPTION_COLUMNS_14},
       s.subtwophasestate <> 'd' as two_phase,
       s.subdisableonerr as disable_on_error`;

const SUBSCRIPTION_COLUMNS_16 = `${SUBSCRIPTION_COLUMNS_15},
       s.suborigin as origin,
       s.subpasswordrequired as password_required,
       s.subrunasowner as run_as_owner`;

const SUBSCRIPTION_COLUMNS_17 = `${SUBSCRIPTION_COLUMNS_16},
       s.subfailover as failover`;

function subscriptions(columns: string): CatalogQuery {
  return {
    name: 'subscriptions',
    text: `select ${columns}
  from pg_catalog.pg_subscription s
 where ${CURRENT_DATABASE}`,
  };
}

/** PostgreSQL 14: binary, streaming (boolean), synchronous_commit. */
export const SUBSCRIPTIONS_14 = subscriptions(SUBSCRIPTION_COLUMNS_14);
/** PostgreSQL 15: + two_phase (subtwophasestate), disable_on_error. */
export const SUBSCRIPTIONS_15 = subscriptions(SUBSCRIPTION_COLUMNS_15);
/** PostgreSQL 16: streaming becomes 'f'/'t'/'p'; + origin, password_required, run_as_owner. */
export const SUBSCRIPTIONS_16 = subscriptions(SUBSCRIPTION_COLUMNS_16);
/** PostgreSQL 17+: + failover. (18 adds no option steep manages.) */
export const SUBSCRIPTIONS_17 = subscriptions(SUBSCRIPTION_COLUMNS_17);

export function subscriptionsQuery(serverVersion: number): CatalogQuery {
  if (serverVersion >= PG17) return SUBSCRIPTIONS_17;
  if (serverVersion >= PG16) return SUBSCRIPTIONS_16;
  if (serverVersion >= PG15) return SUBSCRIPTIONS_15;
  return SUBSCRIPTIONS_14;
}

/** The connection strings. PostgreSQL 14+; only for a role with SELECT on subconninfo. */
export const SUBSCRIPTION_CONNINFO: CatalogQuery = {
  name: 'subscription-conninfo',
  text: `select s.oid, s.subconninfo as conninfo
  from pg_catalog.pg_subscription s
 where ${CURRENT_DATABASE}`,
};

/** Per-table synchronisation state of every subscription, as one JSON array. PostgreSQL 14+. */
export const SUBSCRIPTION_TABLES: CatalogQuery = jsonArrayQuery(
  'subscription-tables',
  `select sr.srsubid::int8 as subid,
       n.nspname::text as schema,
       c.relname::text as name,
       sr.srsubstate::text as state,
       sr.srsublsn::text as lsn
  from pg_catalog.pg_subscription_rel sr
  join pg_catalog.pg_class c on c.oid = sr.srrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace`,
);

export interface SubscriptionRow {
  oid: number;
  name: string;
  owner: string;
  comment: string | null;
  enabled: boolean;
  slot: string | null;
  publications: string[];
  binary: boolean;
  /** 'true'/'false' on 14–15 (boolean), 'f'/'t'/'p' on 16+ */
  streaming: string;
  synchronous_commit: string;
  two_phase?: boolean;
  disable_on_error?: boolean;
  origin?: string;
  password_required?: boolean;
  run_as_owner?: boolean;
  failover?: boolean;
}

export interface SubscriptionConninfoRow {
  oid: number;
  conninfo: string;
}

export interface SubscriptionTableRow {
  subid: number;
  schema: string;
  name: string;
  state: string;
  lsn: string | null;
}

function streaming(value: string): Streaming {
  switch (value) {
    case 'p':
      return 'parallel';
    case 't':
    case 'true':
      return 'on';
    default:
      return 'off';
  }
}

/** Only the options the row carries, i.e. the ones the server version has. */
export function toSubscriptionOptions(row: SubscriptionRow): Partial<SubscriptionOptions> {
  const o: Partial<SubscriptionOptions> = {
    binary: row.binary,
    streaming: streaming(row.streaming),
    synchronousCommit: row.synchronous_commit,
  };
  if (row.two_phase !== undefined) o.twoPhase = row.two_phase;
  if (row.disable_on_error !== undefined) o.disableOnError = row.disable_on_error;
  if (row.origin !== undefined) o.origin = row.origin as Origin;
  if (row.password_required !== undefined) o.passwordRequired = row.password_required;
  if (row.run_as_owner !== undefined) o.runAsOwner = row.run_as_owner;
  if (row.failover !== undefined) o.failover = row.failover;
  return o;
}

/**
 * Assemble subscriptions, keyed by name. `conninfo` is null when the role may not read it
 * (→ UNKNOWN); `originLsn` looks up the origin `pg_<oid>` PostgreSQL keeps for each.
 * `from` (the publisher) cannot be known from one node: it is '' here and resolved by
 * readCluster from the connection string.
 */
export function toSubscriptions(
  node: string,
  subs: SubscriptionRow[],
  conninfo: SubscriptionConninfoRow[] | null,
  tables: SubscriptionTableRow[],
  originLsn: (origin: string) => string | null,
): Record<string, ObservedSubscription> {
  const conninfoOf = new Map((conninfo ?? []).map((r) => [r.oid, r.conninfo]));
  const tablesOf = new Map<number, ObservedSubscriptionTable[]>();
  for (const t of tables) {
    const list = tablesOf.get(t.subid) ?? [];
    list.push({ schema: t.schema, name: t.name, state: t.state as SubscriptionRelState, lsn: t.lsn });
    tablesOf.set(t.subid, list);
  }
  const out: Record<string, ObservedSubscription> = {};
  for (const s of [...subs].sort((a, b) => compareText(a.name, b.name))) {
    const info: string | Unknown = conninfo === null ? UNKNOWN : (conninfoOf.get(s.oid) ?? UNKNOWN);
    out[s.name] = {
      name: s.name,
      node,
      from: '',
      publications: sortedText(s.publications),
      slot: s.slot ?? '',
      enabled: s.enabled,
      oid: s.oid,
      owner: s.owner,
      conninfo: info,
      options: toSubscriptionOptions(s),
      slotNone: s.slot === null,
      comment: s.comment,
      managedBy: parseOwnership(s.comment),
      tables: (tablesOf.get(s.oid) ?? []).sort(compareTableNames),
      originLsn: originLsn(`pg_${s.oid}`),
    };
  }
  return out;
}

/**
 * Subscriptions of the server's other databases (pg_subscription is shared; every column but
 * subconninfo is readable by all): whose slots they are, so a slot on a publisher that a
 * subscription of a database outside the file uses is never taken for an orphan.
 */
export const OTHER_DATABASE_SUBSCRIPTIONS: CatalogQuery = {
  name: 'other-database-subscriptions',
  text: `select d.datname::text as database,
       s.subname::text as name,
       s.subslotname::text as slot,
       s.subenabled as enabled
  from pg_catalog.pg_subscription s
  join pg_catalog.pg_database d on d.oid = s.subdbid
 where s.subdbid <> ${THIS_DATABASE_OID} and s.subslotname is not null
 order by 1, 2`,
};
