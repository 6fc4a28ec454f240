import type pg from 'pg';
import { PG15 } from '../model/versions.js';

/**
 * A statement carrying a password (CREATE SUBSCRIPTION, ALTER SUBSCRIPTION … CONNECTION) that
 * fails is logged by the server with its text at the default log_min_error_statement (error):
 * where the role may set it (a superuser; 15+ also GRANT SET ON PARAMETER), it is set to panic
 * for the session until the statement is done. Asked first, so no refused SET fills the log.
 */
async function quietErrorStatements(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ su: boolean; v: number }>(
    `select coalesce((select rolsuper from pg_catalog.pg_roles where rolname = current_user), false) as su,
            current_setting('server_version_num')::int as v`,
  );
  let may = rows[0]?.su === true;
  if (!may && (rows[0]?.v ?? 0) >= PG15) {
    const granted = await client.query<{ ok: boolean }>(
      `select pg_catalog.has_parameter_privilege('log_min_error_statement', 'SET') as ok`,
    );
    may = granted.rows[0]?.ok === true;
  }
  if (may) await client.query('SET log_min_error_statement = panic');
  return may;
}

/** `fn` with failed statements kept out of the server log where the role may (above); reset after. */
export async function quietly<T>(client: pg.Client, fn: () => Promise<T>): Promise<T> {
  const quiet = await quietErrorStatements(client);
  try {
    return await fn();
  } finally {
    if (quiet) await client.query('RESET log_min_error_statement').catch(() => {});
  }
}
