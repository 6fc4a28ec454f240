import type pg from 'pg';
import { mask } from '../db/mask.js';
import { quietly } from '../db/quietErrors.js';
import { setSession } from '../db/session.js';
import { describeSessionLost, isSessionLost } from '../db/sessionLost.js';
import { printAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import type { Statement, Step } from '../model/plan.js';
import { sleep } from './sleep.js';

export interface StepContext {
  node: string;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /** puts real secrets back into SQL the plan shows masked */
  fillSecrets: (sql: string) => string;
}

/** Consecutive transactional statements run in one transaction; the others alone. */
export function transactionGroups(statements: Statement[]): Statement[][] {
  const groups: Statement[][] = [];
  for (const s of statements) {
    const last = groups.at(-1);
    if (s.transactional && last?.[0]?.transactional) last.push(s);
    else groups.push([s]);
  }
  return groups;
}

/** One line: PostgreSQL's messages about a connection of its own span several. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * PostgreSQL's message and hint, masked, naming the step. A session lost under the step (the
 * node restarted or stopped) says so, and what to do: the step may or may not have taken effect.
 */
export function stepError(step: Step, err: unknown): SteepError {
  if (isSessionLost(err)) {
    return new SteepError(
      'apply.connection_lost',
      `${printAddress(step.address)} on ${step.node}: ${describeSessionLost(step.node, err)}, and apply's lock there with it; ` +
        `once ${step.node} accepts connections again, run steep apply again: its plan reads from the catalog whether this step took effect`,
      { node: step.node, address: step.address, cause: err },
    );
  }
  const e = err as { message?: string; hint?: string; detail?: string; code?: string };
  const detail = e.detail ? ` (${oneLine(mask(e.detail))})` : '';
  return new SteepError(
    'apply.step_failed',
    `${printAddress(step.address)} on ${step.node}: ${oneLine(mask(e.message ?? String(err)))}${detail}`,
    {
      node: step.node,
      address: step.address,
      hint: e.hint ? mask(e.hint) : undefined,
      cause: err,
    },
  );
}

/**
 * Run one step's statements with its own timeouts (the plan's; a command's own step: `ctx`'s).
 * Never decides anything: the plan did.
 */
export async function runStep(client: pg.Client, step: Step, ctx: StepContext): Promise<void> {
  // A server with client_connection_check_interval cancels a statement whose client died. Had
  // steep died during CREATE SUBSCRIPTION, that could cancel it after the slot was made on the
  // publisher: a leftover slot whose drop needs --allow-destroy. Let a started step finish.
  await setSession(client, {
    lockTimeoutMs: step.timeouts?.lockMs ?? ctx.lockTimeoutMs,
    statementTimeoutMs: step.timeouts?.statementMs ?? ctx.statementTimeoutMs,
    other: { client_connection_check_interval: '0' },
  });
  for (const group of transactionGroups(step.statements)) {
    const inTransaction = group.length > 1 || group[0]?.transactional === true;
    const secret = group.some((s) => ctx.fillSecrets(s.sql) !== s.sql);
    const run = async () => {
      try {
        if (inTransaction) await client.query('BEGIN');
        for (const s of group) await client.query(ctx.fillSecrets(s.sql));
        if (inTransaction) await client.query('COMMIT');
      } catch (err) {
        if (inTransaction) await client.query('ROLLBACK').catch(() => {});
        throw stepError(step, err);
      }
    };
    // after the step's DISABLE, PostgreSQL's workers exit by themselves, moments later: until
    // then it refuses to alter two_phase (55000, "Try again after some time"). Tried
    // again for as long as the step's lock timeout (at most WORKER_EXIT_MS), a wait as short as a lock's
    const lockMs = step.timeouts?.lockMs ?? ctx.lockTimeoutMs;
    const until = Date.now() + (lockMs > 0 ? Math.min(lockMs, WORKER_EXIT_MS) : WORKER_EXIT_MS);
    for (;;) {
      try {
        await (secret ? quietly(client, run) : run());
        break;
      } catch (err) {
        if (inTransaction || !workerStillRunning(err) || Date.now() >= until) throw err;
        await sleep(100);
      }
    }
  }
}

/** At most this long (within SAY_EVERY_MS: a wait this short says nothing) for a worker to exit after DISABLE. */
const WORKER_EXIT_MS = 5_000;

/** PostgreSQL refused an ALTER SUBSCRIPTION because the subscription's worker has not exited yet. */
function workerStillRunning(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code === '55000' && /logical replication worker is still running/.test(cause.message ?? '');
}
