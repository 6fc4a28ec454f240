import type pg from 'pg';
import { isoTime } from '../model/sql.js';
import type { SubscriberTimeline } from '../model/subscriberPromotion.js';
import { StateTable } from './stateTable.js';

/**
 * `subscriber_timelines` (state schema migration 22), on a subscriber: per subscription, the
 * subscriber's system identifier and timeline when steep first read them, and the reading that
 * found it promoted (model/subscriberPromotion.ts).
 */
export class SubscriberTimelineStore extends StateTable {
  protected readonly name = 'subscriber_timelines';

  /** Every subscription's record on this node; null when migration 22 is not applied. */
  async all(client: pg.Client): Promise<Map<string, SubscriberTimeline> | null> {
    if (!(await this.exists(client))) return null;
    const { rows } = await client.query<Omit<SubscriberTimeline, 'subid'> & { subid: string }>(
      `SELECT subscription, subid::text AS subid, system_identifier AS "systemIdentifier", timeline,
              ${isoTime('read_at')} AS "readAt", ${isoTime('promoted_at')} AS "promotedAt",
              promoted_from AS "promotedFrom", ${isoTime('promoted_last_read')} AS "promotedLastRead"
         FROM ${this.table} WHERE node_name = $1`,
      [this.node],
    );
    return new Map(rows.map((r) => [r.subscription, { ...r, subid: Number(r.subid) }]));
  }

  /** Record these (one statement). */
  async record(client: pg.Client, records: readonly SubscriberTimeline[]): Promise<void> {
    if (records.length === 0) return;
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, subid, system_identifier, timeline, read_at,
                                  promoted_at, promoted_from, promoted_last_read)
       SELECT $1, r.subscription, r.subid, r."systemIdentifier", r.timeline, r."readAt", r."promotedAt",
              r."promotedFrom", r."promotedLastRead"
         FROM jsonb_to_recordset($2::jsonb) AS r(subscription text, subid oid, "systemIdentifier" text,
              timeline int, "readAt" timestamptz, "promotedAt" timestamptz, "promotedFrom" int,
              "promotedLastRead" timestamptz)
       ON CONFLICT (node_name, subscription) DO UPDATE SET subid = excluded.subid,
         system_identifier = excluded.system_identifier, timeline = excluded.timeline, read_at = excluded.read_at,
         promoted_at = excluded.promoted_at, promoted_from = excluded.promoted_from,
         promoted_last_read = excluded.promoted_last_read`,
      [this.node, JSON.stringify(records)],
    );
  }
}
