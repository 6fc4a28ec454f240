import type pg from 'pg';

/** PostgreSQL's lock_not_available: a lock not granted within lock_timeout. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * `LOCK TABLE a, b, …` (in a transaction) without being one side of a deadlock. PostgreSQL takes
 * the tables one by one: a writer that holds b and then asks for a, while the LOCK holds a and
 * waits for b, closes a cycle, and after deadlock_timeout the detector aborts one of the two,
 * maybe the application's transaction. So each attempt waits at most half of deadlock_timeout
 * inside a savepoint that gives back what it took (the writer goes on, no detector runs), and the
 * attempts repeat until `lockTimeoutMs` (0: none), whose lock_not_available ends the last.
 */
export async function lockTables(client: pg.Client, sql: string, lockTimeoutMs: number): Promise<void> {
  const deadline = lockTimeoutMs > 0 ? Date.now() + lockTimeoutMs : Number.POSITIVE_INFINITY;
  const { rows } = await client.query<{ ms: string }>(
    "SELECT (extract(epoch FROM pg_catalog.current_setting('deadlock_timeout')::interval) * 1000)::text AS ms",
  );
  const attempt = Math.max(10, Math.floor(Number(rows[0]!.ms) / 2));
  for (;;) {
    await client.query('SAVEPOINT steep_lock');
    await client.query(
      `SET LOCAL lock_timeout = ${Math.max(1, Math.min(attempt, Math.ceil(deadline - Date.now())))}`,
    );
    try {
      await client.query(sql);
      await client.query('RELEASE SAVEPOINT steep_lock');
      break;
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT steep_lock');
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE || Date.now() >= deadline) throw err;
    }
  }
  await client.query(`SET LOCAL lock_timeout = ${Math.max(0, Math.trunc(lockTimeoutMs))}`);
}
