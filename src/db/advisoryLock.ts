import type pg from 'pg';
import { SteepError } from '../model/errors.js';
import { type LockHolder, lockHeldMessage } from '../model/lockHolder.js';
import { isoTime, THIS_DATABASE_OID } from '../model/sql.js';

/** One key for every steep apply: 'steep' as a 64-bit number. */
export const APPLY_LOCK_KEY = '495474672';

/**
 * The session holding steep's advisory lock on this node's database, if any: another steep
 * command at work there (or a killed one whose last statement still runs server-side).
 */
export const LOCK_HOLDER_SQL = `SELECT a.application_name AS "applicationName", a.pid, ${isoTime('a.backend_start')} AS since
  FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = ${APPLY_LOCK_KEY}::bigint::oid AND l.objsubid = 1
   AND l.database = ${THIS_DATABASE_OID}
 LIMIT 1`;

/**
 * Take steep's session advisory lock on a node, or fail at once naming who holds it. A holder
 * gone by the time it is read (it released the lock in between) is no holder: the lock is tried
 * again (three times at most). The lock lives as long as the client's session.
 */
export async function acquireApplyLock(client: pg.Client, node: string): Promise<void> {
  let h: LockHolder | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [
      APPLY_LOCK_KEY,
    ]);
    if (rows[0]?.ok) return;
    h = (await client.query<LockHolder>(LOCK_HOLDER_SQL)).rows[0];
    if (h) break;
  }
  throw new SteepError('apply.locked', lockHeldMessage(node, h ?? null), { node });
}
