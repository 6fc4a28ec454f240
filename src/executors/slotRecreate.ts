import type pg from 'pg';
import { readSlotConfirmed, readSlotHolder } from '../catalog/slotHolder.js';
import { SteepError } from '../model/errors.js';
import { quoteIdent } from '../model/sql.js';
import { createSlotSql, dropSlotSql } from '../planner/sqlBuild.js';
import { sleep } from './sleep.js';

/**
 * `work` on the publisher's slot of a subscription once nothing holds it: the subscription
 * disabled (if it was enabled), its walsender gone — one that has not noticed yet (waiting for
 * WAL past the end, or an invalidated slot's walsender before it errors out) ended after 5 s —
 * and the subscription enabled again afterwards if it was. A worker the launcher started just
 * before the DISABLE still connects once, and its walsender can take the slot between the look
 * and `work`'s drop: refused with object_in_use, the drop (`work`'s first statement, nothing
 * done yet) waits for the slot again, within the same ceiling.
 */
async function withSlotReleased<T>(
  pub: pg.Client,
  sub: pg.Client,
  s: { subscription: string; slot: string; enabled: boolean },
  work: () => Promise<T>,
): Promise<T> {
  const name = quoteIdent(s.subscription);
  if (s.enabled) await sub.query(`ALTER SUBSCRIPTION ${name} DISABLE`);
  const t0 = Date.now();
  for (;;) {
    const holder = await readSlotHolder(pub, s.slot);
    if (!holder?.pid) {
      try {
        const done = await work();
        if (s.enabled) await sub.query(`ALTER SUBSCRIPTION ${name} ENABLE`);
        return done;
      } catch (err) {
        if ((err as { code?: string }).code !== OBJECT_IN_USE || Date.now() - t0 > HELD_CEILING_MS) throw err;
        continue;
      }
    }
    if (Date.now() - t0 > 5_000) await pub.query('SELECT pg_catalog.pg_terminate_backend($1)', [holder.pid]);
    if (Date.now() - t0 > HELD_CEILING_MS)
      throw new SteepError(
        'reinit.slot_held',
        `slot ${s.slot} stays held by process ${holder.pid} 60 s after subscription ${s.subscription} was disabled and that process was ended: find what streams from it (pg_stat_replication), stop it, then run the same reinit again`,
      );
    await sleep(200);
  }
}

const OBJECT_IN_USE = '55006';
const HELD_CEILING_MS = 60_000;

/** The slot to make again, and the subscription whose worker must let go of it first. */
interface SlotToRecreate {
  subscription: string;
  slot: string;
  enabled: boolean;
  failover: boolean;
  publisherVersion: number;
}

/**
 * An invalidated slot dropped and created again, empty, at the publisher's WAL position now, for
 * `steep reinit --full`: its subscription's worker keeps retrying it, and each retry's walsender
 * holds the slot for a moment before it errors out, so the slot is released first.
 */
export async function recreateInvalidatedSlot(
  pub: pg.Client,
  sub: pg.Client,
  s: SlotToRecreate,
): Promise<void> {
  await withSlotReleased(pub, sub, s, () => dropAndCreate(pub, s));
}

async function dropAndCreate(pub: pg.Client, s: SlotToRecreate): Promise<void> {
  await pub.query(dropSlotSql(s.slot));
  await pub.query(createSlotSql(s.slot, s.publisherVersion, s.failover));
}

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
  s: SlotToRecreate,
): Promise<string> {
  return withSlotReleased(pub, sub, s, async () => {
    await dropAndCreate(pub, s);
    const at = (await readSlotConfirmed(pub, s.slot))?.confirmed ?? null;
    if (at === null) throw new Error(`slot ${s.slot} created again shows no confirmed position`);
    await sub.query(
      `SELECT pg_catalog.pg_replication_origin_advance('pg_' || s.oid, $2::pg_lsn)
         FROM pg_catalog.pg_subscription s
        WHERE s.subname = $1 AND s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())`,
      [s.subscription, at],
    );
    return at;
  });
}
