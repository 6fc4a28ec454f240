import type pg from 'pg';
import { readSlotHolder } from '../catalog/slotHolder.js';
import { connect } from '../db/connect.js';
import type { Statement, Step } from '../model/plan.js';
import type { Topology } from '../model/topology.js';
import { dropSlotSql } from '../planner/sqlBuild.js';
import { runStep, type StepContext, stepError } from './runStep.js';

/**
 * The I/O of a merge init's step (planner/mergeInit.ts decides every statement): run the
 * statements meant for one node on a session of it, and hold the write locks of the final pass.
 * A statement carries the node it runs on; the step's own node otherwise.
 */

const APPLICATION_NAME = 'steep apply (merge)';

/** What a merge step's statement is for (planner/mergeInit.ts gives them in this order). */
export type MergeStatementKind = 'drop' | 'slot' | 'lock' | 'position' | 'origin' | 'create' | 'origin-drop';

/** The step's statements that run on `node`, of one kind, in plan order. */
export function statementsOn(step: Step, node: string, kind: MergeStatementKind): Statement[] {
  return step.statements.filter((s) => (s.node ?? step.node) === node && statementKind(s) === kind);
}

function statementKind(s: Statement): MergeStatementKind {
  if (/^LOCK TABLE /.test(s.sql)) return 'lock';
  if (/^(DROP|ALTER) SUBSCRIPTION /.test(s.sql)) return 'drop';
  if (/pg_create_logical_replication_slot\(/.test(s.sql)) return 'slot';
  if (/pg_current_wal_insert_lsn\(/.test(s.sql)) return 'position';
  if (/pg_replication_origin_(create|session_setup)\(/.test(s.sql)) return 'origin';
  if (/pg_replication_origin_(session_reset|drop)\(/.test(s.sql)) return 'origin-drop';
  return 'create';
}

/** Drop a slot the merge made on `client`'s node, if it is still there and unused (a failed merge's). */
export async function dropMergeSlot(client: pg.Client, slot: string): Promise<void> {
  const holder = await readSlotHolder(client, slot);
  if (holder && holder.pid == null) await client.query(dropSlotSql(slot));
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
 * on, writes wait), waiting at most lock_timeout for it, then read the node's WAL insert
 * position (every write committed to the locked tables is before it) and set up the merge's
 * replication origin on the session when the step has one. The merge's remainder is written in
 * this transaction (`client`); commit() makes it visible and lets writes go on, release() undoes
 * it. Nothing waits for this transaction's id: the slots were made before it began.
 */
export class WriteLocks {
  private constructor(
    readonly node: string,
    readonly client: pg.Client,
    /** pg_current_wal_insert_lsn() under the locks */
    readonly lsn: string,
    private readonly step: Step,
  ) {}

  private ended = false;

  static async take(topology: Topology, step: Step, node: string, ctx: StepContext): Promise<WriteLocks> {
    const client = await openNodeSession(topology, node);
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = ${Math.max(0, Math.trunc(ctx.lockTimeoutMs))}`);
      for (const s of statementsOn(step, node, 'lock')) await client.query(s.sql);
      let lsn = '';
      for (const s of statementsOn(step, node, 'position'))
        lsn = (await client.query<{ lsn: string }>(s.sql)).rows[0]!.lsn;
      for (const s of statementsOn(step, node, 'origin')) await client.query(s.sql);
      return new WriteLocks(node, client, lsn, step);
    } catch (err) {
      await client.end().catch(() => {});
      throw stepError({ ...step, node }, err);
    }
  }

  /** Whether the step writes under these locks (it set up a replication origin for them). */
  get writes(): boolean {
    return statementsOn(this.step, this.node, 'origin').length > 0;
  }

  /** Commit what was written under the locks (writes go on again), then drop the merge's origin. */
  async commit(): Promise<void> {
    this.ended = true;
    try {
      await this.client.query('COMMIT');
      for (const s of statementsOn(this.step, this.node, 'origin-drop')) await this.client.query(s.sql);
    } catch (err) {
      throw stepError({ ...this.step, node: this.node }, err);
    } finally {
      await this.client.end().catch(() => {});
    }
  }

  /** Let writes go on again, undoing anything written under the locks. */
  async release(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      await this.client.query('ROLLBACK');
    } finally {
      await this.client.end().catch(() => {});
    }
  }
}
