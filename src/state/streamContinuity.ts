import type pg from 'pg';
import type { ContinuityBaseline } from '../model/continuity.js';
import { isoTime } from '../model/sql.js';
import { hasColumn } from './columns.js';
import { StateTable } from './stateTable.js';

/**
 * `stream_continuity` (state schema migration 13), on a subscriber: per subscription and table,
 * the baseline of model/continuity.ts (the publisher's memberships when its stream started, and
 * a gap once found); from migration 16 the publisher's column identity (`columns`) and the kind
 * of a gap (`gap_kind`: `columns`, or NULL for a membership).
 */
export class StreamContinuityStore extends StateTable {
  protected readonly name = 'stream_continuity';

  /** Every baseline on this node, by subscription then table; null when migration 13 is not applied. */
  async all(client: pg.Client): Promise<Map<string, Map<string, ContinuityBaseline>> | null> {
    if (!(await this.exists(client))) return null;
    const { rows } = await client.query<{
      subscription: string;
      table: string;
      oid: string;
      members: ContinuityBaseline['members'];
      since: string;
      gapSince: string | null;
      gapReason: string | null;
      columns: ContinuityBaseline['columns'];
      gapKind: string | null;
    }>(
      `SELECT subscription, table_name AS "table", subscription_oid::text AS oid, members,
              ${isoTime('since')} AS since, ${isoTime('gap_since')} AS "gapSince", gap_reason AS "gapReason",
              pg_catalog.to_jsonb(t)->'columns' AS columns, pg_catalog.to_jsonb(t)->>'gap_kind' AS "gapKind"
         FROM ${this.table} t WHERE node_name = $1`,
      [this.node],
    );
    const out = new Map<string, Map<string, ContinuityBaseline>>();
    for (const r of rows) {
      const of = out.get(r.subscription) ?? new Map<string, ContinuityBaseline>();
      out.set(r.subscription, of);
      of.set(r.table, {
        table: r.table,
        subscriptionOid: Number(r.oid),
        members: r.members,
        columns: r.columns ?? null,
        since: r.since,
        gap:
          r.gapSince !== null
            ? {
                since: r.gapSince,
                reason: r.gapReason ?? '',
                ...(r.gapKind === 'columns' ? { kind: 'columns' } : {}),
              }
            : null,
      });
    }
    return out;
  }

  /** Record these baselines of `subscription` (one statement). */
  async record(client: pg.Client, subscription: string, baselines: ContinuityBaseline[]): Promise<void> {
    if (baselines.length === 0) return;
    // before migration 16 (an apply migrates): the memberships only
    if (await hasColumn(client, this.table, 'columns')) {
      await client.query(
        `INSERT INTO ${this.table} (node_name, subscription, table_name, subscription_oid, members, columns, since, gap_since, gap_reason, gap_kind)
         SELECT $1, $2, b."table", b."subscriptionOid", b.members, b.columns, b.since, (b.gap->>'since')::timestamptz, b.gap->>'reason', b.gap->>'kind'
           FROM jsonb_to_recordset($3::jsonb)
             AS b("table" text, "subscriptionOid" bigint, members jsonb, columns jsonb, since timestamptz, gap jsonb)
         ON CONFLICT (node_name, subscription, table_name) DO UPDATE SET subscription_oid = excluded.subscription_oid,
           members = excluded.members, columns = excluded.columns, since = excluded.since, gap_since = excluded.gap_since,
           gap_reason = excluded.gap_reason, gap_kind = excluded.gap_kind`,
        [this.node, subscription, JSON.stringify(baselines)],
      );
      return;
    }
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, table_name, subscription_oid, members, since, gap_since, gap_reason)
       SELECT $1, $2, b."table", b."subscriptionOid", b.members, b.since, (b.gap->>'since')::timestamptz, b.gap->>'reason'
         FROM jsonb_to_recordset($3::jsonb)
           AS b("table" text, "subscriptionOid" bigint, members jsonb, since timestamptz, gap jsonb)
       ON CONFLICT (node_name, subscription, table_name) DO UPDATE SET subscription_oid = excluded.subscription_oid,
         members = excluded.members, since = excluded.since, gap_since = excluded.gap_since, gap_reason = excluded.gap_reason`,
      [this.node, subscription, JSON.stringify(baselines)],
    );
  }

  /**
   * Forget the baselines of `tables` of `subscription` (all of its tables when null): a copy made
   * them whole, or they left it; `gapBefore`: only gaps found before then (a verify that began
   * then found them equal). The next reading takes a new baseline from the facts then.
   */
  async forget(
    client: pg.Client,
    subscription: string,
    tables: readonly string[] | null,
    gapBefore?: string,
  ): Promise<void> {
    if (!(await this.exists(client))) return;
    await client.query(
      `DELETE FROM ${this.table} WHERE node_name = $1 AND subscription = $2
          AND ($3::text[] IS NULL OR table_name = ANY ($3::text[]))
          AND ($4::timestamptz IS NULL OR gap_since < $4::timestamptz)`,
      [this.node, subscription, tables, gapBefore ?? null],
    );
  }
}
