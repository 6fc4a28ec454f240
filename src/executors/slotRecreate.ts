import type pg from 'pg';
import { readSlotConfirmed, readSlotHolder } from '../catalog/slotHolder.js';
import { quoteIdent } from '../model/sql.js';
import { createSlotSql, dropSlotSql } from '../planner/sqlBuild.js';
import { sleep } from './sleep.js';

/**
 * A slot whose confirmed position lies beyond its publisher's own WAL (after a diverged failover)
 * made again for `steep reinit --full`: the subscription disabled, its walsender gone (ended
 * after a wait), the slot dropped and created at the publisher's WAL position now, the
 * subscriber's replication origin set back to that position (it stood beyond it too, and would
 * skip everything up to there), and the subscription enabled again if it was. The full copy that
 * follows fills what the new slot does not replay. Returns the new slot's position.
 */
export async function recreateSlotBeyondWal(
  pub: pg.Client,
  sub: pg.Client,
  s: { subscription: string; slot: string; enabled: boolean; failover: boolean; publisherVersion: number },
): Promise<string> {
  const name = quoteIdent(s.subscription);
  if (s.enabled) await sub.query(`ALTER SUBSCRIPTION ${name} DISABLE`);
  const t0 = Date.now();
  for (;;) {
    const holder = await readSlotHolder(pub, s.slot);
    if (!holder?.pid) break;
    // the walsender of the stopped worker exits by itself once it notices; one waiting for WAL
    // past the end may not for a while: ended after 5 s
    if (Date.now() - t0 > 5_000) await pub.query('SELECT pg_catalog.pg_terminate_backend($1)', [holder.pid]);
    if (Date.now() - t0 > 60_000) throw new Error(`slot ${s.slot} stays held by process ${holder.pid}`);
    await sleep(200);
  }
  await pub.query(dropSlotSql(s.slot));
  await pub.query(createSlotSql(s.slot, s.publisherVersion, s.failover));
  const at = (await readSlotConfirmed(pub, s.slot))?.confirmed ?? null;
  if (at === null) throw new Error(`slot ${s.slot} created again shows no confirmed position`);
  await sub.query(
    `SELECT pg_catalog.pg_replication_origin_advance('pg_' || s.oid, $2::pg_lsn)
       FROM pg_catalog.pg_subscription s
      WHERE s.subname = $1 AND s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())`,
    [s.subscription, at],
  );
  if (s.enabled) await sub.query(`ALTER SUBSCRIPTION ${name} ENABLE`);
  return at;
}
