import type { ObservedSubscription, ObservedSubscriptionTable } from '../../model/cluster.js';
import { UNKNOWN } from '../../model/cluster.js';
import { compareTableNames, sortedText } from '../../model/order.js';
import { parseOwnership } from '../../model/ownership.js';
import { THIS_DATABASE_OID } from '../../model/sql.js';
import type { SubscriptionOptionName, SubscriptionOptions } from '../../model/topology.js';
import { PG15, supportsOption } from '../../model/versions.js';
import { byName, type CatalogQuery, grouped, jsonArrayQuery } from './catalogQuery.js';
import { type OwnerToRoleRow, ownerToRoleColumns, toOwnerToRole } from './role.js';

/*
 * Subscriptions of the current database only (pg_subscription is shared by the cluster).
 * Every option the server version has is a key of `options`; an option it lacks is not
 * selected, so it is absent. Although subscriptions are shared objects, COMMENT
 * ON SUBSCRIPTION stores the comment in pg_description (checked on 14 and 18), hence
 * obj_description, not shobj_description.
 *
 * subconninfo is revoked from PUBLIC: it is read by its own query, sent only when
 * has_column_privilege says the role may (else the whole snapshot transaction would abort).
 */

const CURRENT_DATABASE = `s.subdbid = ${THIS_DATABASE_OID}`;

/**
 * Each option's catalog column, keyed and valued as in steep.yaml, in the order the options
 * arrive; which versions have it is model/versions.ts's. substream is a boolean on 14–15
 * ('true'/'false' as text) and 'f'/'t'/'p' on 16+.
 */
const OPTION_COLUMNS: Record<SubscriptionOptionName, string> = {
  binary: 's.subbinary',
  streaming: `case s.substream::text when 'p' then 'parallel' when 't' then 'on' when 'true' then 'on' else 'off' end`,
  synchronousCommit: 's.subsynccommit',
  twoPhase: `s.subtwophasestate <> 'd'`,
  disableOnError: 's.subdisableonerr',
  origin: 's.suborigin',
  passwordRequired: 's.subpasswordrequired',
  runAsOwner: 's.subrunasowner',
  failover: 's.subfailover',
};

/** The options the version has, as one JSON object. */
export function subscriptionOptions(serverVersion: number): string {
  const options = Object.entries(OPTION_COLUMNS)
    .filter(([name]) => supportsOption(name as SubscriptionOptionName, serverVersion))
    .map(([name, column]) => `'${name}', ${column}`);
  return `pg_catalog.json_build_object(${options.join(',\n         ')})`;
}

/** `rowVersion`: the role may read pg_subscription.xmin (PUBLIC may not: null for it). */
export function subscriptionsQuery(serverVersion: number, rowVersion = false): CatalogQuery {
  return {
    text: `select s.oid,
       s.subname::text as name,
       pg_catalog.pg_get_userbyid(s.subowner)::text as owner,
       ${ownerToRoleColumns('s.subowner', serverVersion)},
       pg_catalog.obj_description(s.oid, 'pg_subscription') as comment,
       s.subenabled as enabled,
       ${rowVersion ? 's.xmin::text' : 'null::text'} as "rowVersion",
       exists (select 1 from pg_catalog.pg_stat_subscription st where st.subid = s.oid and st.pid is not null) as "workerRunning",
       ${serverVersion >= PG15 ? "nullif(s.subskiplsn, '0/0')::text" : 'null::text'} as "skipLsn",
       s.subslotname::text as slot,
       s.subpublications::text[] as publications,
       ${subscriptionOptions(serverVersion)} as options,
       ${
         serverVersion >= PG15
           ? '(select (st.apply_error_count + st.sync_error_count)::int from pg_catalog.pg_stat_subscription_stats st where st.subid = s.oid)'
           : 'null::int'
       } as "errorsCounted"
  from pg_catalog.pg_subscription s
 where ${CURRENT_DATABASE}`,
  };
}

/** The connection strings. PostgreSQL 14+; only for a role with SELECT on subconninfo. */
export const SUBSCRIPTION_CONNINFO: CatalogQuery = {
  text: `select s.oid, s.subconninfo as conninfo
  from pg_catalog.pg_subscription s
 where ${CURRENT_DATABASE}`,
};

/** Per-table synchronisation state of every subscription, as one JSON array. PostgreSQL 14+. */
export const SUBSCRIPTION_TABLES: CatalogQuery = jsonArrayQuery(
  `select sr.srsubid::int8 as subid,
       n.nspname::text as schema,
       c.relname::text as name,
       sr.srsubstate::text as state,
       sr.srsublsn::text as lsn
  from pg_catalog.pg_subscription_rel sr
  join pg_catalog.pg_class c on c.oid = sr.srrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace`,
);

export interface SubscriptionRow extends OwnerToRoleRow {
  oid: number;
  name: string;
  owner: string;
  comment: string | null;
  enabled: boolean;
  /** pg_subscription's xmin; null: the role may not read it */
  rowVersion: string | null;
  /** a worker of it runs (pg_stat_subscription) */
  workerRunning: boolean;
  /** 15+: ALTER SUBSCRIPTION … SKIP's position, not yet used; null: none */
  skipLsn: string | null;
  slot: string | null;
  publications: string[];
  /** only the options the server version has */
  options: Partial<SubscriptionOptions>;
  /** 15+: apply + sync errors counted (pg_stat_subscription_stats); null before */
  errorsCounted: number | null;
}

export interface SubscriptionConninfoRow {
  oid: number;
  conninfo: string;
}

export type SubscriptionTableRow = { subid: number } & ObservedSubscriptionTable;

/**
 * Assemble subscriptions, keyed by name. `conninfo` is null when the role may not read it
 * (→ UNKNOWN); `originLsn` looks up the origin `pg_<oid>` PostgreSQL keeps for each;
 * `steepDisabledAt`: the errors counted at apply's own DISABLE, by name (steepDisablesQuery).
 * `from` (the publisher) cannot be known from one node: it is '' here and resolved by
 * readCluster from the connection string.
 */
export function toSubscriptions(
  node: string,
  subs: SubscriptionRow[],
  conninfo: SubscriptionConninfoRow[] | null,
  tables: SubscriptionTableRow[],
  originLsn: (origin: string) => string | null,
  steepDisabledAt: ReadonlyMap<string, number> = new Map(),
): Record<string, ObservedSubscription> {
  const conninfoOf = new Map((conninfo ?? []).map((r) => [r.oid, r.conninfo]));
  const tablesOf = grouped(tables.map(({ subid, ...t }) => [subid, t] as const));
  return byName(
    subs.map((s) => ({
      name: s.name,
      node,
      from: '',
      publications: sortedText(s.publications),
      slot: s.slot ?? '',
      enabled: s.enabled,
      oid: s.oid,
      ...(s.rowVersion !== null ? { rowVersion: s.rowVersion } : {}),
      workerRunning: s.workerRunning,
      skipLsn: s.skipLsn,
      owner: s.owner,
      ...toOwnerToRole(s),
      conninfo: conninfo === null ? UNKNOWN : (conninfoOf.get(s.oid) ?? UNKNOWN),
      options: s.options,
      slotNone: s.slot === null,
      comment: s.comment,
      managedBy: parseOwnership(s.comment),
      tables: (tablesOf.get(s.oid) ?? []).sort(compareTableNames),
      originLsn: originLsn(`pg_${s.oid}`),
      errorsCounted: s.errorsCounted,
      ...(steepDisabledAt.has(s.name) ? { steepDisabledAt: steepDisabledAt.get(s.name)! } : {}),
    })),
  );
}

/**
 * Subscriptions of the server's other databases (pg_subscription is shared; every column but
 * subconninfo is readable by all): whose slots they are, so a slot on a publisher that a
 * subscription of a database outside the file uses is never taken for an orphan.
 */
export const OTHER_DATABASE_SUBSCRIPTIONS: CatalogQuery = {
  text: `select d.datname::text as database,
       s.subname::text as name,
       s.subslotname::text as slot,
       s.subenabled as enabled
  from pg_catalog.pg_subscription s
  join pg_catalog.pg_database d on d.oid = s.subdbid
 where s.subdbid <> ${THIS_DATABASE_OID} and s.subslotname is not null
 order by 1, 2`,
};
