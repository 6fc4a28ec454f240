import type pg from 'pg';
import { readSlotHolder } from '../catalog/slotHolder.js';
import { nodeSession } from '../db/connect.js';
import { printAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import type { Statement, Step } from '../model/plan.js';
import type { Topology } from '../model/topology.js';
import { dropSlotSql } from '../planner/sqlBuild.js';
import { oneLine, runStep, type StepContext, stepError } from './runStep.js';
import { lockTables } from './tableLocks.js';

/**
 * The I/O of a merge init's step (planner/init/mergeInit.ts decides every statement): run the
 * statements meant for one node on a session of it, and hold the write locks of the final pass.
 * A statement carries the node it runs on; the step's own node otherwise.
 */

export const MERGE_APPLICATION_NAME = 'steep apply (merge)';

/** What a merge step's statement is for (planner/init/mergeInit.ts gives them in this order). */
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
 * Write locks held on one node: set up the merge's replication origin on a session when the step
 * has one, then a transaction that took `LOCK … IN EXCLUSIVE MODE` (reads go on, writes wait),
 * waiting at most lock_timeout for it, and read the node's WAL insert position (every write
 * committed to the locked tables is before it). The merge's remainder is written in this
 * transaction (`client`); commit() makes it visible and lets writes go on, release() undoes it.
 * Nothing waits for this transaction's id: the slots were made before it began.
 */
export class WriteLocks {
  private constructor(
    readonly node: string,
    readonly client: pg.Client,
    /** pg_current_wal_insert_lsn() under the locks */
    readonly lsn: string,
    /** when its LOCK was asked for (Date.now()): writes queue behind it from then on */
    readonly blockingSince: number,
    private readonly step: Step,
  ) {}

  private ended = false;

  static async take(
    topology: Topology,
    step: Step,
    node: string,
    ctx: StepContext,
    onWaiting: (message: string) => void,
  ): Promise<WriteLocks> {
    const client = await nodeSession(topology, node, MERGE_APPLICATION_NAME);
    try {
      await setUpOrigin(client, step, node, ctx.lockTimeoutMs, onWaiting);
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = ${Math.max(0, Math.trunc(ctx.lockTimeoutMs))}`);
      const blockingSince = Date.now();
      for (const s of statementsOn(step, node, 'lock')) await lockTables(client, s.sql, ctx.lockTimeoutMs);
      let lsn = '';
      for (const s of statementsOn(step, node, 'position'))
        lsn = (await client.query<{ lsn: string }>(s.sql)).rows[0]!.lsn;
      return new WriteLocks(node, client, lsn, blockingSince, step);
    } catch (err) {
      await client
        .query('ROLLBACK')
        .then(() => dropOrigin(client, step, node))
        .catch(() => {});
      await client.end().catch(() => {});
      throw err instanceof SteepError ? err : stepError({ ...step, node }, err);
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
      await dropOrigin(this.client, this.step, this.node);
    } catch (err) {
      throw stepError({ ...this.step, node: this.node }, err);
    } finally {
      await this.client.end().catch(() => {});
    }
  }

  /** Let writes go on again, undoing anything written under the locks; the merge's origin goes too. */
  async release(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      await this.client.query('ROLLBACK');
      await dropOrigin(this.client, this.step, this.node);
    } finally {
      await this.client.end().catch(() => {});
    }
  }
}

/** PostgreSQL's object_in_use: the replication origin is set up on another session. */
const OBJECT_IN_USE = '55006';

/**
 * Create the merge's replication origin on `node` unless an interrupted merge left it, and set it
 * up on `client`'s session, before any lock: the writes under the locks carry it. A killed run's
 * backend lets go of its origin only after its locks as it exits, so the origin can still be held
 * for a moment: wait for it at most lock_timeout, saying so, then give up naming it.
 */
async function setUpOrigin(
  client: pg.Client,
  step: Step,
  node: string,
  lockTimeoutMs: number,
  onWaiting: (message: string) => void,
): Promise<void> {
  const statements = statementsOn(step, node, 'origin');
  const setup = statements.at(-1);
  if (!setup) return;
  for (const s of statements.slice(0, -1)) await client.query(s.sql);
  const held = `replication origin ${originOf(setup)} is still held by another session`;
  const seconds = `${Math.round(lockTimeoutMs / 100) / 10} s`;
  const deadline = Date.now() + lockTimeoutMs;
  for (let pause = 100, told = false; ; pause = Math.min(pause * 2, 1000)) {
    try {
      await client.query(setup.sql);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== OBJECT_IN_USE) throw err;
      const because = oneLine((err as Error).message);
      if (Date.now() + pause > deadline)
        throw new SteepError(
          'apply.step_failed',
          `${printAddress(step.address)} on ${node}: ${held} after lock_timeout (${seconds}): ${because}; a killed steep run's session lets go of it ` +
            'as it ends: apply again, or end that session (pg_terminate_backend) if it is not one',
          { node, address: step.address, cause: err },
        );
      if (!told) onWaiting(`${node}: ${held} (${because}); waiting up to ${seconds} for it to let go`);
      told = true;
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

/** The origin a `pg_replication_origin_session_setup('…')` statement sets up. */
function originOf(setup: Statement): string {
  const literal = /\('((?:[^']|'')*)'\)/.exec(setup.sql)?.[1] ?? '';
  return literal.replaceAll("''", "'");
}

/** The session lets go of the merge's origin (set up or not), which is dropped. */
async function dropOrigin(client: pg.Client, step: Step, node: string): Promise<void> {
  for (const s of statementsOn(step, node, 'origin-drop')) await client.query(s.sql);
}
