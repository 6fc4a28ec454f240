import type pg from 'pg';
import { StateTable } from './stateTable.js';

/** A subscription's error counters as read right after a DISABLE (catalog/compareScope.ts `readErrorCounters`). */
export interface ErrorCounters {
  /** the subscription's oid: a subscription made again under its name is another */
  subid: number;
  /** apply + sync errors counted (pg_stat_subscription_stats) */
  errors: number;
  /** when those statistics were last reset, as PostgreSQL prints it; null: never */
  statsReset: string | null;
}

/**
 * `disables` (state schema migration 18): the DISABLE apply ran last on each subscription of this
 * node, with the errors counted then. The snapshot reads it back (catalog/queries/steepDisables.ts)
 * for the disable_on_error rule (model/disableOnError.ts `disabledOnError`).
 */
export class DisableStore extends StateTable {
  protected readonly name = 'disables';

  async record(client: pg.Client, subscription: string, c: ErrorCounters): Promise<void> {
    await client.query(
      `INSERT INTO ${this.table} (node_name, subscription, subid, errors, stats_reset)
       VALUES ($1, $2, $3, $4, $5::timestamptz)
       ON CONFLICT (node_name, subscription) DO UPDATE SET subid = excluded.subid, errors = excluded.errors,
         stats_reset = excluded.stats_reset, disabled_at = now()`,
      [this.node, subscription, c.subid, c.errors, c.statsReset],
    );
  }
}
