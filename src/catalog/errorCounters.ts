import type pg from 'pg';
import { disabledOnError } from '../model/disableOnError.js';
import { quoteIdent, THIS_DATABASE_OID } from '../model/sql.js';
import { PG15 } from '../model/versions.js';
import { type SteepDisableRow, steepDisablesQuery } from './queries/steepDisables.js';

/**
 * A subscription's error counters (pg_stat_subscription_stats, PostgreSQL 15+) and what steep
 * recorded of them at its own DISABLE: the facts the disable_on_error rule decides on
 * (model/disableOnError.ts `disabledOnError`), and what a verify's re-check watches.
 */

/** 15+: subscription `name` of this database with its counters (null: it is not there). */
async function readCounters(client: pg.Client, name: string) {
  const { rows } = await client.query<{
    subid: number;
    disableOnError: boolean;
    errors: number | null;
    applyErrors: number | null;
    syncErrors: number | null;
    statsReset: string | null;
  }>(
    `SELECT s.oid::int8::float8 AS subid, s.subdisableonerr AS "disableOnError",
            (st.apply_error_count + st.sync_error_count)::float8 AS errors,
            st.apply_error_count::float8 AS "applyErrors", st.sync_error_count::float8 AS "syncErrors",
            st.stats_reset::text AS "statsReset"
       FROM pg_catalog.pg_subscription s
       LEFT JOIN pg_catalog.pg_stat_subscription_stats st ON st.subid = s.oid
      WHERE s.subname = $1 AND s.subdbid = ${THIS_DATABASE_OID}`,
    [name],
  );
  return rows[0] ?? null;
}

/**
 * 15+: whether disable_on_error is set on subscription `name` of this database, the apply and
 * table-sync errors counted, and the errors counted when apply last disabled it (`state`: the
 * state schema and this node, state/disables.ts; none recorded, or no state given: absent);
 * before 15 none of them.
 */
export async function readDisableOnError(
  client: pg.Client,
  version: number,
  name: string,
  state?: { schema: string; node: string },
): Promise<{ options: { disableOnError: boolean }; errorsCounted: number | null; steepDisabledAt?: number }> {
  const none = { options: { disableOnError: false }, errorsCounted: null };
  if (version < PG15) return none;
  const r = await readCounters(client, name);
  if (!r) return none;
  const own = state ? await steepDisabledAt(client, state, name) : undefined;
  return {
    options: { disableOnError: r.disableOnError },
    errorsCounted: r.errors,
    ...(own !== undefined ? { steepDisabledAt: own } : {}),
  };
}

/**
 * Whether PostgreSQL disabled subscription `name` at an error (model/disableOnError.ts
 * `disabledOnError`), read only when a sample shows it disabled (`enabled`): a follow of its
 * copy stops there, since nothing moves until it is enabled again.
 */
export async function readDisabledAtError(
  client: pg.Client,
  version: number,
  name: string,
  enabled: boolean,
  state: { schema: string; node: string },
): Promise<boolean> {
  if (enabled || version < PG15) return false;
  return disabledOnError({ enabled, ...(await readDisableOnError(client, version, name, state)) });
}

/** The errors counted at apply's last DISABLE of `name` (steepDisablesQuery); undefined: none recorded or readable. */
async function steepDisabledAt(
  client: pg.Client,
  state: { schema: string; node: string },
  name: string,
): Promise<number | undefined> {
  const readable = await client.query<{ ok: boolean }>(
    `SELECT coalesce(has_table_privilege(to_regclass($1), 'SELECT'), false) AS ok`,
    [`${quoteIdent(state.schema)}.disables`],
  );
  if (readable.rows[0]?.ok !== true) return undefined;
  const q = steepDisablesQuery(state.schema, state.node);
  const { rows } = await client.query<SteepDisableRow>(q.text, q.values);
  return rows.find((row) => row.subscription === name)?.errors;
}

/**
 * 15+: the apply and table-sync errors PostgreSQL has counted for subscription `name` of this
 * database (pg_stat_subscription_stats) on a server of `version`; null before 15, or when it is
 * not there.
 */
export async function subscriptionErrorCount(
  client: pg.Client,
  version: number,
  name: string,
): Promise<number | null> {
  if (version < PG15) return null;
  return (await readCounters(client, name))?.errors ?? null;
}

/** 15+: the apply and table-sync errors counted for subscription `name` of this database, apart; null before 15 or when it is not there. */
export async function readErrorCounts(
  client: pg.Client,
  version: number,
  name: string,
): Promise<{ applyErrors: number; syncErrors: number } | null> {
  if (version < PG15) return null;
  const r = await readCounters(client, name);
  return r?.applyErrors != null && r.syncErrors != null
    ? { applyErrors: r.applyErrors, syncErrors: r.syncErrors }
    : null;
}

/**
 * 15+: subscription `name`'s oid, the apply and table-sync errors counted and when its statistics
 * were last reset (as PostgreSQL prints a timestamptz, which reads back exactly): what apply
 * records at its own DISABLE (state/disables.ts); null before 15 or when it is not there.
 */
export async function readErrorCounters(
  client: pg.Client,
  version: number,
  name: string,
): Promise<{ subid: number; errors: number; statsReset: string | null } | null> {
  if (version < PG15) return null;
  const r = await readCounters(client, name);
  return r && r.errors !== null ? { subid: r.subid, errors: r.errors, statsReset: r.statsReset } : null;
}
