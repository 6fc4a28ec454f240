import type pg from 'pg';
import { countRoleSessions, readOriginProgress, readSlotPosition, serverNow } from '../catalog/switchover.js';
import { subscriptionAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import { lsnValue } from '../model/lsn.js';
import {
  drainProven,
  type NodeSql,
  type SwitchoverPlan,
  type UnsentChanges,
  type UnsentWriter,
} from '../model/switchover.js';
import { SAY_EVERY_MS, waitedText } from '../model/waits.js';
import { ApplyLog, hasApplyLog } from '../state/applyLog.js';
import { sleep } from './sleep.js';

/**
 * The I/O of `steep switchover`'s steps: run a step's statements on their nodes (each recorded
 * in that node's `apply_log`), end the fenced roles' sessions, wait for the proven drain.
 * What runs and in what order is planner/switchover/switchover.ts's; the workflow sequences the steps.
 */

const POLL_MS = 20;
/** How long terminated sessions may take to exit. */
const EXIT_WAIT_MS = 5_000;

/** A session per node, steep's advisory lock held. */
export type NodeClients = Map<string, pg.Client>;

/** Each step's `apply_log` row on every node it touches that has steep's state schema. */
export class SwitchoverLog {
  private readonly logs = new Map<string, ApplyLog | null>();

  constructor(
    private readonly clients: NodeClients,
    private readonly schema: string,
    private readonly runId: string,
    private readonly address: string,
  ) {}

  private async log(node: string): Promise<ApplyLog | null> {
    if (!this.logs.has(node)) {
      const has = await hasApplyLog(this.clients.get(node)!, this.schema).catch(() => false);
      this.logs.set(node, has ? new ApplyLog(this.schema, node, this.runId) : null);
    }
    return this.logs.get(node)!;
  }

  async started(stepId: string, nodes: string[], statements: NodeSql[]): Promise<void> {
    for (const node of nodes)
      await (await this.log(node))?.started(this.clients.get(node)!, {
        id: stepId,
        address: this.address,
        action: `switchover.${stepId}`,
        sql: statements.filter((s) => s.node === node).map((s) => s.sql),
      });
  }

  /** Best effort: a node lost under a failed step must not hide the step's own error. */
  async finished(stepId: string, nodes: string[], error: string | null): Promise<void> {
    for (const node of nodes)
      await (await this.log(node))?.finished(this.clients.get(node)!, stepId, error).catch(() => {});
  }
}

/** Run statements in order, each on its node's session, each its own transaction. */
export async function runStatements(
  clients: NodeClients,
  statements: readonly NodeSql[],
  fillSecrets: (sql: string) => string = (s) => s,
): Promise<void> {
  for (const s of statements) {
    try {
      await clients.get(s.node)!.query(fillSecrets(s.sql));
    } catch (err) {
      const e = err as { message?: string };
      throw new SteepError('switchover.statement_failed', `on ${s.node}: ${e.message ?? String(err)}`, {
        node: s.node,
        cause: err,
      });
    }
  }
}

/**
 * End the fenced roles' sessions on the old primary: those between transactions at once, again
 * and again while the grace runs (once the transaction each ran at the fence has ended), then every
 * one left — only sessions that started before now, the fence having taken effect (later ones
 * started read-only). Returns how many it ended; the fence LSN is read once no such session is
 * left and the data fence stands (workflows/switchoverRun.ts): every write they made lies before it.
 */
export async function endFencedSessions(
  old: pg.Client,
  plan: SwitchoverPlan,
  graceMs: number,
  signal?: AbortSignal,
  say: (text: string) => void = () => {},
): Promise<number> {
  const started = Date.now();
  const until = started + graceMs;
  const since = await serverNow(old);
  const ended = new Set<number>();
  const run = async (sql: string) => {
    const { rows } = await old.query<{ pid: number }>(sql, [since]);
    for (const r of rows) ended.add(r.pid);
  };
  let said = started;
  for (;;) {
    await run(plan.terminateFinishedSql);
    const busy = await countRoleSessions(old, plan.roles, since);
    if (busy === 0 || Date.now() >= until || signal?.aborted) break;
    if (Date.now() - said >= SAY_EVERY_MS) {
      said = Date.now();
      say(
        `waiting for ${busy} session(s) of ${plan.roles.join(', ')} on ${plan.oldNode} to end the transaction each had open at the fence (${waitedText(started, said, graceMs)}, --grace; then every one is ended)`,
      );
    }
    await sleep(POLL_MS, signal);
  }
  if (signal?.aborted)
    throw new SteepError('switchover.interrupted', 'interrupted while ending the fenced sessions');
  await run(plan.terminateAllSql);
  // pg_terminate_backend only signals; a backend leaves pg_stat_activity as it exits
  const gone = Date.now() + EXIT_WAIT_MS;
  let left = await countRoleSessions(old, plan.roles, since);
  while (left > 0 && Date.now() < gone) {
    await sleep(10);
    left = await countRoleSessions(old, plan.roles, since);
  }
  if (left > 0)
    throw new SteepError(
      'switchover.sessions_left',
      `${left} session(s) of ${plan.roles.join(', ')} on ${plan.oldNode} did not end within ${EXIT_WAIT_MS / 1000} s of being terminated`,
      { node: plan.oldNode },
    );
  return ended.size;
}

export interface DrainResult {
  /** the origin's position after the drain: the last transaction the subscription applied */
  originLsn: string | null;
  confirmedLsn: string | null;
  by: 'origin' | 'acknowledged';
}

/**
 * Wait until the new primary has replayed past the fence LSN (model/switchover.ts drainProven),
 * at most `timeoutMs`; an error naming both positions when it does not.
 */
export async function waitDrained(
  old: pg.Client,
  neu: pg.Client,
  plan: SwitchoverPlan,
  fenceLsn: string,
  timeoutMs: number,
  signal?: AbortSignal,
  say: (text: string) => void = () => {},
): Promise<DrainResult> {
  const fence = lsnValue(fenceLsn);
  const started = Date.now();
  const deadline = started + timeoutMs;
  let said = started;
  for (;;) {
    const [origin, slot] = await Promise.all([
      readOriginProgress(neu, plan.subscription),
      readSlotPosition(old, plan.slot),
    ]);
    const confirmed = slot?.confirmed ?? null;
    const by = drainProven(fence, origin ? lsnValue(origin) : null, confirmed ? lsnValue(confirmed) : null);
    if (by) return { originLsn: origin, confirmedLsn: confirmed, by };
    if (signal?.aborted)
      throw new SteepError('switchover.interrupted', 'interrupted while waiting for the drain');
    if (Date.now() >= deadline)
      throw new SteepError(
        'switchover.drain_timeout',
        `${plan.newNode} did not replay past the fence LSN ${fenceLsn} within --fence-timeout ${timeoutMs / 1000}s (origin at ${origin ?? 'none'}, slot ${plan.slot} confirmed ${confirmed ?? 'nothing'}${slot && !slot.active ? ', not streaming' : ''}): check subscription ${plan.subscription} on ${plan.newNode} (steep status)`,
        { node: plan.newNode, address: subscriptionAddress(plan.subscription) },
      );
    if (Date.now() - said >= SAY_EVERY_MS) {
      said = Date.now();
      say(
        `waiting for ${plan.newNode} to replay past the fence LSN ${fenceLsn} (origin at ${origin ?? 'none'}, slot ${plan.slot} confirmed ${confirmed ?? 'nothing'}; ${waitedText(started, said, timeoutMs)}, --fence-timeout)`,
      );
    }
    await sleep(POLL_MS, signal);
  }
}

/**
 * Preflight's wait for the lag to drop to `maxLagBytes` (at most `timeoutMs`): under steady
 * writes the slot's confirmed position moves in steps, as the subscriber's feedback arrives, so
 * the lag read once may be far above what the drain will take. A slot no walsender holds does
 * not drain (its worker is starting again, or its walsender timed out behind a blocked apply):
 * the wait ends early only on a reading both streaming and within the bound. Returns that
 * reading, else the least lag seen and whether the last reading streamed (the caller refuses);
 * lag null when the slot is gone or has confirmed nothing.
 */
export async function waitLagUnder(
  old: pg.Client,
  slot: string,
  maxLagBytes: number,
  timeoutMs: number,
  signal?: AbortSignal,
  say: (text: string) => void = () => {},
): Promise<{ lagBytes: number | null; active: boolean; waitedMs: number }> {
  const t0 = Date.now();
  let said = t0;
  let least: number | null = null;
  for (;;) {
    const s = await readSlotPosition(old, slot);
    if (!s || s.lagBytes === null)
      return { lagBytes: null, active: s?.active ?? false, waitedMs: Date.now() - t0 };
    least = least === null ? s.lagBytes : Math.min(least, s.lagBytes);
    if ((s.lagBytes <= maxLagBytes && s.active) || Date.now() - t0 >= timeoutMs || signal?.aborted)
      return { lagBytes: least, active: s.active, waitedMs: Date.now() - t0 };
    if (Date.now() - said >= SAY_EVERY_MS) {
      said = Date.now();
      say(
        `waiting for slot ${slot}'s lag to drop under --max-lag ${maxLagBytes} bytes: ${s.lagBytes} bytes now${s.active ? '' : ', no walsender holds it'} (${waitedText(t0, said, timeoutMs)}, --lag-timeout)`,
      );
    }
    await sleep(POLL_MS, signal);
  }
}

/** Wait (at most `timeoutMs`) until no walsender holds the slot, so it can be dropped. */
export async function waitSlotReleased(old: pg.Client, slot: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await readSlotPosition(old, slot);
    if (!s?.active) return;
    await sleep(POLL_MS);
  }
}

/** Run the release step's peek (planner/switchover/switchover.ts unsentChangesSql) on the old primary. */
export async function readUnsentChanges(old: pg.Client, sql: string): Promise<UnsentChanges> {
  try {
    const { rows } = await old.query<UnsentWriter>(sql);
    const changes = rows.reduce((n, r) => n + r.changes, 0);
    const transactions = rows.reduce((n, r) => n + r.transactions, 0);
    return changes === 0 ? { changes, transactions } : { changes, transactions, writers: rows };
  } catch (err) {
    return { unknown: (err as Error).message };
  }
}
