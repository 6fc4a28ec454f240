import type pg from 'pg';
import { readSlotConfirmed, readSlotHolder, readSlotSessions } from '../catalog/slotHolder.js';
import { connect } from '../db/connect.js';
import { mask } from '../db/mask.js';
import { SteepError } from '../model/errors.js';
import type { Step } from '../model/plan.js';
import type { ConnectionSpec } from '../model/topology.js';
import { runStep, type StepContext } from './runStep.js';

/**
 * The slot of a manual init (docs/steep-yaml.md): made by `steep init prepare` over a replication
 * connection, which holds its exported snapshot for as long as it stays open; dropped by
 * `steep init cancel`, which first ends a `steep init prepare --hold` still holding it. The
 * planner (planner/init/initPrepare.ts, planner/init/initCancel.ts) gives the statements; this only runs them.
 */

/** How steep init prepare's sessions name themselves: cancel ends only a session of this name. */
export const PREPARE_APPLICATION_NAME = 'steep init prepare';
/** … and the process that holds the exported snapshot of steep's own copy (copy/holderMain.ts). */
export const SNAPSHOT_HOLDER_APPLICATION_NAME = 'steep snapshot holder';

export interface MadeSlot {
  /** the replication connection: the exported snapshot lives as long as it stays open */
  repl: pg.Client;
  lsn: string;
  snapshotName: string | null;
}

/**
 * Run `CREATE_REPLICATION_SLOT …` (the planner's text) over a new replication connection to `node`.
 * The command waits for every transaction open on the publisher to end; `stop` aborted while it
 * waits cancels it through `canceller` (a session on the same node), which is safe: a slot not yet
 * consistent is dropped by PostgreSQL, so either the slot is whole or there is none
 * (`init.prepare_interrupted`).
 */
export async function createPreparedSlot(
  target: {
    node: string;
    connection: ConnectionSpec;
    connectTimeoutMs: number;
    slot: string;
    address: string;
  },
  command: string,
  subscriber: string,
  stop?: { signal: AbortSignal; canceller: pg.Client },
): Promise<MadeSlot> {
  const repl = await connect(target.connection, {
    node: target.node,
    applicationName: PREPARE_APPLICATION_NAME,
    replication: 'database',
    connectTimeoutMs: target.connectTimeoutMs,
  });
  let running = true;
  const cancel = () => {
    if (running)
      void stop?.canceller
        .query('SELECT pg_catalog.pg_cancel_backend($1)', [
          (repl as unknown as { processID: number }).processID,
        ])
        .catch(() => {});
  };
  stop?.signal.addEventListener('abort', cancel, { once: true });
  try {
    const { rows } = await repl.query<{ consistent_point: string; snapshot_name: string | null }>(command);
    return { repl, lsn: rows[0]!.consistent_point, snapshotName: rows[0]!.snapshot_name ?? null };
  } catch (err) {
    await repl.end().catch(() => {});
    if (stop?.signal.aborted && (err as { code?: string }).code === '57014')
      throw new SteepError(
        'init.prepare_interrupted',
        `init prepare of slot ${target.slot} on ${target.node} stopped while it waited for the transactions open there to end: no slot was made, nothing was changed`,
        { address: target.address, node: subscriber },
      );
    throw new SteepError(
      'init.prepare_failed',
      `cannot create slot ${target.slot} on ${target.node}: ${mask((err as Error).message)}`,
      { address: target.address, node: subscriber, cause: err },
    );
  } finally {
    running = false;
    stop?.signal.removeEventListener('abort', cancel);
  }
}

/**
 * Run a slot-drop step on the publisher, ending first the `steep init prepare --hold` that holds
 * the slot (any other holder: refused, naming it). False when there is no such slot.
 */
export async function dropPreparedSlot(
  client: pg.Client,
  step: Step,
  slot: string,
  ctx: StepContext,
): Promise<boolean> {
  const holder = await readSlotHolder(client, slot);
  if (!holder) return false;
  if (!(await endSteepHolder(client, slot))) {
    throw new SteepError(
      'init.slot_in_use',
      `slot ${slot} is in use by pid ${holder.pid} (${holder.applicationName || 'no application_name'}), not by steep; stop that consumer and cancel again`,
    );
  }
  await runStep(client, step, ctx);
  return true;
}

/**
 * End the session holding `slot` (and with it the exported snapshot it keeps) when it is one
 * of steep's own holders (`init prepare --hold`, the snapshot holder of steep's copy), so the
 * slot can be dropped. False when another process holds it (left alone).
 */
export async function endSteepHolder(client: pg.Client, slot: string): Promise<boolean> {
  const names = [PREPARE_APPLICATION_NAME, SNAPSHOT_HOLDER_APPLICATION_NAME];
  const holder = await readSlotHolder(client, slot);
  if (holder?.pid != null && !names.includes(holder.applicationName ?? '')) return false;
  const pids = await readSlotSessions(client, slot, names);
  if (pids.length === 0) return true;
  for (const pid of pids) await client.query('SELECT pg_catalog.pg_terminate_backend($1)', [pid]);
  for (let i = 0; i < 50; i++) {
    if (
      (await readSlotConfirmed(client, slot))?.active !== true &&
      (await readSlotSessions(client, slot, names)).length === 0
    )
      break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return true;
}
