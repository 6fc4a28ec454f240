/** The role fence's SQL (pure), shared by the switchover's fence and the rollback it prints. */
import { quoteIdent, quoteLiteral } from '../../model/sql.js';

/**
 * The fence's terminations of sessions that started before it (`$1`, the time it took effect;
 * later ones started read-only). While the grace runs, `finishedOnly`: a session whose
 * transaction of the fence's time has ended (it is idle, or in a transaction begun after the
 * fence) — a transaction under way at the fence gets the grace to commit; after it, every one.
 */
export function terminateSql(roles: readonly string[], finishedOnly: boolean): string {
  const list = roles.map(quoteLiteral).join(', ');
  return `SELECT pid, pg_catalog.pg_terminate_backend(pid) AS signalled FROM pg_catalog.pg_stat_activity WHERE datname = current_database() AND usename IN (${list}) AND backend_start <= $1 AND pid <> pg_catalog.pg_backend_pid()${finishedOnly ? ' AND (xact_start IS NULL OR xact_start > $1)' : ''}`;
}

/** The prepared transactions of this database: read again on the old primary once its data fence stands, checked on the new one by the rollback. */
export const PREPARED_SQL =
  'SELECT gid, owner, prepared FROM pg_catalog.pg_prepared_xacts WHERE database = current_database()';

export function readOnlySql(role: string, database: string): string {
  return `ALTER ROLE ${quoteIdent(role)} IN DATABASE ${quoteIdent(database)} SET default_transaction_read_only = on`;
}

/** What gives a fenced role its login back (the undo, a rollback's fence lifted, a fence left behind). */
export function loginSql(role: string): string {
  return `ALTER ROLE ${quoteIdent(role)} LOGIN`;
}

/** What takes readOnlySql back where the role had no setting of its own before. */
export function writableSql(role: string, database: string): string {
  return `ALTER ROLE ${quoteIdent(role)} IN DATABASE ${quoteIdent(database)} RESET default_transaction_read_only`;
}
