import type pg from 'pg';
import { createSlotSql } from '../planner/sqlBuild.js';

/**
 * A subscription's slot lost on its publisher (a failover to a standby without a synced copy):
 * created again, empty, so the subscription streams once more. It starts at the publisher's WAL
 * position now: the caller copies every table again (a full reinit) to fill what it skips.
 */
export async function recreateLostSlot(
  publisher: pg.Client,
  slot: string,
  publisherVersion: number,
  failover: boolean,
): Promise<void> {
  await publisher.query(createSlotSql(slot, publisherVersion, failover));
}
