import type pg from 'pg';
import { connect } from '../db/connect.js';
import type { Statement, Step } from '../model/plan.js';
import type { Topology } from '../model/topology.js';
import { runStep, type StepContext, stepError } from './runStep.js';

/**
 * The I/O of a merge init's step (planner/mergeInit.ts decides every statement): run the
 * statements meant for one node on a session of it, and hold the write locks of the final pass.
 * A statement carries the node it runs on; the step's own node otherwise.
 */

const APPLICATION_NAME = 'steep apply (merge)';

/** The step's statements that run on `node`, of one kind, in plan order. */
export function statementsOn(step: Step, node: string, kind: 'drop' | 'lock' | 'create'): Statement[] {
  return step.statements.filter((s) => (s.node ?? step.node) === node && statementKind(s) === kind);
}

/** What a merge step's statement is for: dropping an interrupted merge's subscription, a write lock, or creating. */
function statementKind(s: Statement): 'drop' | 'lock' | 'create' {
  if (/^LOCK TABLE /.test(s.sql)) return 'lock';
  if (/^(DROP|ALTER) SUBSCRIPTION /.test(s.sql)) return 'drop';
  return 'create';
}

export async function openNodeSession(topology: Topology, node: string): Promise<pg.Client> {
  return connect(topology.nodes[node]!.connection, {
    node,
    connectTimeoutMs: topology.settings.connectTimeout,
    applicationName: APPLICATION_NAME,
  });
}

/** Run statements of one node on a session of it, as a step of that node runs. */
export async function runStatements(
  client: pg.Client,
  step: Step,
  statements: Statement[],
  ctx: StepContext,
): Promise<void> {
  await runStep(client, { ...step, node: statements[0]?.node ?? step.node, statements }, ctx);
}

/**
 * Write locks held on one node: a transaction that took `LOCK … IN EXCLUSIVE MODE` (reads go
 * on, writes wait), waiting at most lock_timeout for it. It never writes: a transaction with a
 * transaction id would keep CREATE SUBSCRIPTION's slot creation on this node waiting for it.
 */
export class WriteLocks {
  private constructor(
    readonly node: string,
    private readonly client: pg.Client,
  ) {}

  static async take(topology: Topology, step: Step, node: string, ctx: StepContext): Promise<WriteLocks> {
    const client = await openNodeSession(topology, node);
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = ${Math.max(0, Math.trunc(ctx.lockTimeoutMs))}`);
      for (const s of statementsOn(step, node, 'lock')) await client.query(s.sql);
      return new WriteLocks(node, client);
    } catch (err) {
      await client.end().catch(() => {});
      throw stepError({ ...step, node }, err);
    }
  }

  /** Let writes go on again (the transaction ends; it changed nothing). */
  async release(): Promise<void> {
    try {
      await this.client.query('ROLLBACK');
    } finally {
      await this.client.end().catch(() => {});
    }
  }
}
