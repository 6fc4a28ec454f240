import type pg from 'pg';
import { type ContinuityBaseline, GAP_KINDS, type GapKind } from '../model/continuity.js';
import { isoTime } from '../model/sql.js';
import { existing } from './columns.js';
import { StateTable } from './stateTable.js';

/**
 * `stream_continuity` (state schema migration 13), on a subscriber: per subscription and table,
 * the baseline of model/continuity.ts (the publisher's memberships when its stream started, and
 * a gap once found); from migration 16 the publisher's column identity (`columns`) and the kind
 * of a gap (`gap_kind`: `columns`, `positions`, `contents`, or NULL for a membership); from migration 24 the
 * subscription's positions at the last reading that found it paused (`paused`); from migration
 * 25 its slot's count of decoded transactions at a recent reading (`decoded`); from migration 26
 * what the publisher's table held (`contents`: model/treeContents.ts).
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
      paused: ContinuityBaseline['paused'];
      decoded: ContinuityBaseline['decoded'];
      contents: ContinuityBaseline['contents'];
    }>(
      `SELECT subscription, table_name AS "table", subscription_oid::text AS oid, members,
              ${isoTime('since')} AS since, ${isoTime('gap_since')} AS "gapSince", gap_reason AS "gapReason",
              pg_catalog.to_jsonb(t)->'columns' AS columns, pg_catalog.to_jsonb(t)->>'gap_kind' AS "gapKind",
              pg_catalog.to_jsonb(t)->'paused' AS paused, pg_catalog.to_jsonb(t)->'decoded' AS decoded,
              pg_catalog.to_jsonb(t)->'contents' AS contents
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
        paused: r.paused ?? null,
        decoded: r.decoded ?? null,
        contents: r.contents ?? null,
        since: r.since,
        gap:
          r.gapSince !== null
            ? {
                since: r.gapSince,
                reason: r.gapReason ?? '',
                ...(GAP_KINDS.includes(r.gapKind as GapKind) ? { kind: r.gapKind as GapKind } : {}),
              }
            : null,
      });
    }
    return out;
  }

  /** Record these baselines of `subscription` (one statement). */
  async record(client: pg.Client, subscription: string, baselines: ContinuityBaseline[]): Promise<void> {
    if (baselines.length === 0) return;
    // what migrations 16 (the column identity, a gap's kind), 24 (the paused positions), 25
    // (the slot's decoded count) and 26 (the table's contents) added, where applied (an apply
    // migrates): each column and its value from the baseline b
    const [identity, paused, decoded, contents] = await existing(client, [
      [this.table, 'columns'],
      [this.table, 'paused'],
      [this.table, 'decoded'],
      [this.table, 'contents'],
    ]);
    const fields: Array<[string, string]> = [
      ['subscription_oid', 'b."subscriptionOid"'],
      ['members', 'b.members'],
      ['since', 'b.since'],
      ['gap_since', "(b.gap->>'since')::timestamptz"],
      ['gap_reason', "b.gap->>'reason'"],
    ];
    if (identity) fields.push(['columns', 'b.columns'], ['gap_kind', "b.gap->>'kind'"]);
    if (paused) fields.push(['paused', 'b.paused']);
    if (decoded) fields.push(['decoded', 'b.decoded']);
    if (contents) fields.push(['contents', 'b.contents']);
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, table_name, ${fields.map(([c]) => c).join(', ')})
       SELECT $1, $2, b."table", ${fields.map(([, v]) => v).join(', ')}
         FROM jsonb_to_recordset($3::jsonb) AS b("table" text, "subscriptionOid" bigint, members jsonb,
                                                  columns jsonb, since timestamptz, gap jsonb, paused jsonb,
                                                  decoded jsonb, contents jsonb)
       ON CONFLICT (node_name, subscription, table_name) DO UPDATE SET
         ${fields.map(([c]) => `${c} = excluded.${c}`).join(', ')}`,
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
