import type pg from 'pg';
import { IN_PROGRESS, transitionPath } from '../model/initLifecycle.js';
import type { InitState, ObservedSubscriptionState } from '../model/initState.js';
import { SUBSCRIPTION_STATE_COLUMNS } from '../model/initStateRows.js';
import { quoteIdent } from '../model/sql.js';
import { InitProgressStore } from './initProgress.js';
import { StateTable } from './stateTable.js';

/** One recorded transition: what `init.state_change` reports. */
export interface StateChange {
  node: string;
  subscription: string;
  from: InitState;
  to: InitState;
  at: string;
  error: string | null;
}

/**
 * `subscription_state` rows of one node (docs/steep-yaml.md, On every node: keyed by the node's own name). Every write
 * goes through `transition`, which takes only the legal moves of the init lifecycle
 * (`model/initLifecycle.ts`) and returns the changes it recorded, for the caller to log.
 */
export class SubscriptionStateStore extends StateTable {
  protected readonly name = 'subscription_state';

  async get(client: pg.Client, subscription: string): Promise<ObservedSubscriptionState | null> {
    const { rows } = await client.query<ObservedSubscriptionState>(
      `SELECT ${SUBSCRIPTION_STATE_COLUMNS} FROM ${this.table} WHERE node_name = $1 AND subscription = $2`,
      [this.node, subscription],
    );
    return rows[0] ?? null;
  }

  /**
   * Move the subscription to `to` through the legal states in between, recording each; a
   * missing row counts as `uninitialized`. Returns the changes made ([] when already in `to`).
   */
  async transition(
    client: pg.Client,
    subscription: string,
    to: InitState,
    details: { method: string; source: string; error?: string | null },
  ): Promise<StateChange[]> {
    const current = (await this.get(client, subscription))?.state ?? 'uninitialized';
    const changes: StateChange[] = [];
    for (const next of transitionPath(current, to)) {
      // why it failed, or why it diverged when the caller knows (a failover's gap)
      const error =
        next === 'failed'
          ? (details.error ?? 'failed')
          : next === 'diverged'
            ? (details.error ?? null)
            : null;
      const { rows } = await client.query<{ at: Date }>(
        `INSERT INTO ${this.table} AS s (node_name, subscription, init_method, state, source_node, started_at, completed_at, updated_at, error)
         VALUES ($1, $2, $3, $4, $5,
                 CASE WHEN $4 = ANY($7::text[]) THEN now() END,
                 CASE WHEN $4 = 'synchronized' THEN now() END,
                 now(), $6)
         ON CONFLICT (node_name, subscription) DO UPDATE SET
           init_method = EXCLUDED.init_method,
           state = EXCLUDED.state,
           source_node = EXCLUDED.source_node,
           started_at = CASE
             WHEN EXCLUDED.state = 'uninitialized' THEN NULL
             WHEN EXCLUDED.state = ANY($7::text[]) AND (s.started_at IS NULL OR s.state IN ('uninitialized', 'synchronized', 'diverged'))
               THEN now()
             ELSE s.started_at END,
           completed_at = CASE WHEN EXCLUDED.state = 'synchronized' THEN now()
                               WHEN EXCLUDED.state IN ('diverged', 'failed') THEN s.completed_at END,
           updated_at = now(),
           error = EXCLUDED.error
         RETURNING updated_at AS at`,
        [this.node, subscription, details.method, next, details.source, error, IN_PROGRESS],
      );
      changes.push({
        node: this.node,
        subscription,
        from: changes.at(-1)?.to ?? current,
        to: next,
        at: rows[0]!.at.toISOString(),
        error,
      });
    }
    return changes;
  }

  /** Forget the subscription (it was dropped): its state, progress and prepared slot rows. */
  async remove(client: pg.Client, subscription: string): Promise<void> {
    await this.clear(client, subscription);
    await new InitProgressStore(this.schema, this.node).clear(client, subscription);
  }
}

/**
 * Whether the session's role may use steep's state schema (USAGE): null when it does not exist.
 * Without it every read of steep's state is "permission denied for schema".
 */
export async function stateSchemaUsable(
  client: pg.Client,
  schema: string,
): Promise<{ role: string; owner: string; usable: boolean } | null> {
  const { rows } = await client.query<{ role: string; owner: string; usable: boolean }>(
    `SELECT current_user::text AS role, nspowner::regrole::text AS owner,
            pg_catalog.has_schema_privilege(oid, 'USAGE') AS usable
       FROM pg_catalog.pg_namespace WHERE nspname = $1`,
    [schema],
  );
  return rows[0] ?? null;
}

/** Does this node have steep's init tables (state schema migrated)? */
export async function hasInitTables(client: pg.Client, schema: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL AS ok`,
    [
      `${quoteIdent(schema)}.subscription_state`,
      `${quoteIdent(schema)}.init_progress`,
      `${quoteIdent(schema)}.init_slots`,
    ],
  );
  return rows[0]?.ok === true;
}
