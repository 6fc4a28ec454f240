import type pg from 'pg';
import { mask } from '../db/mask.js';
import { quoteIdent } from '../model/sql.js';
import { hasTable } from './columns.js';

/** `apply_log` rows: one per step, SQL with secrets masked. Best effort until the state schema exists. */
export class ApplyLog {
  constructor(
    private readonly schema: string,
    private readonly node: string,
    private readonly runId: string,
  ) {}

  private get table(): string {
    return `${quoteIdent(this.schema)}.apply_log`;
  }

  async started(
    client: pg.Client,
    step: { id: string; address: string; action: string; sql: string[] },
  ): Promise<void> {
    await client.query(
      `INSERT INTO ${this.table} (node_name, run_id, step_id, address, action, sql, status)
       VALUES ($1, $2, $3, $4, $5, $6, 'running')
       ON CONFLICT (node_name, run_id, step_id) DO UPDATE SET status = 'running', started_at = now(), finished_at = NULL, error = NULL`,
      [this.node, this.runId, step.id, step.address, step.action, mask(step.sql.join(';\n'))],
    );
  }

  /** `error` null: completed; else failed (or `status`) with that message. */
  async finished(
    client: pg.Client,
    stepId: string,
    error: string | null,
    status: 'failed' | 'interrupted' = 'failed',
  ): Promise<void> {
    await client.query(
      `UPDATE ${this.table} SET status = $4, finished_at = now(), error = $5
        WHERE node_name = $1 AND run_id = $2 AND step_id = $3`,
      [
        this.node,
        this.runId,
        stepId,
        error === null ? 'completed' : status,
        error === null ? null : mask(error),
      ],
    );
  }
}

/** PostgreSQL's check_violation: a state schema older than the `interrupted` status. */
const CHECK_VIOLATION = '23514';

/**
 * The step's apply was stopped by a signal while its work goes on server-side (an init's copy).
 * On a state schema that predates the status, recorded as failed with the same words.
 */
export async function recordInterrupted(
  log: ApplyLog,
  client: pg.Client,
  stepId: string,
  message: string,
): Promise<void> {
  try {
    await log.finished(client, stepId, message, 'interrupted');
  } catch (err) {
    if ((err as { code?: string }).code !== CHECK_VIOLATION) throw err;
    await log.finished(client, stepId, `interrupted: ${message}`);
  }
}

/**
 * Rows of earlier runs still `running` belong to an apply that died mid-step (killed, host
 * lost): the caller holds the node's apply lock, so no other apply is running there. Marks
 * them failed, saying so; whether the step took effect is read from the catalog by the plan.
 */
export async function closeInterruptedSteps(
  client: pg.Client,
  schema: string,
  node: string,
  runId: string,
): Promise<void> {
  if (!(await hasApplyLog(client, schema))) return;
  await client.query(
    `UPDATE ${quoteIdent(schema)}.apply_log SET status = 'failed', finished_at = now(), error = $3
      WHERE node_name = $1 AND run_id <> $2 AND status = 'running'`,
    [
      node,
      runId,
      'interrupted: the apply that ran this step ended before recording its outcome; a later plan reads from the catalog whether it took effect',
    ],
  );
}

/** Does the state schema's apply_log exist on this connection's node? */
export async function hasApplyLog(client: pg.Client, schema: string): Promise<boolean> {
  return hasTable(client, `${quoteIdent(schema)}.apply_log`);
}
