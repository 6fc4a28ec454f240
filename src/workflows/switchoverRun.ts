/**
 * The changing half of `steep switchover` (docs/switchover.md), after preflight: fence → drain → sequences
 * → verify → reverse → release, each a timed step with an event and an `apply_log` row, and the
 * undo (reverse objects dropped, roles writable again) when a step fails or a signal arrives
 * before the release. Preflight and the plan are `workflows/switchover.ts`.
 */

import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { readReplicaModeGrants } from '../catalog/replicaModeGrants.js';
import { serverVersionOf } from '../catalog/session.js';
import { readPreparedXacts } from '../catalog/switchover.js';
import type { EventSink } from '../executors/events.js';
import { secretFiller } from '../executors/secrets.js';
import {
  endFencedSessions,
  type NodeClients,
  readUnsentChanges,
  runStatements,
  SwitchoverLog,
  waitDrained,
  waitSlotReleased,
} from '../executors/switchover.js';
import { runWalMark } from '../executors/walMark.js';
import { subscriptionAddress } from '../model/address.js';
import { adviceText } from '../model/advice.js';
import { SteepError } from '../model/errors.js';
import {
  afterRelease,
  drainDetail,
  type NodeSql,
  type StepTiming,
  type SwitchoverOptions,
  type SwitchoverPlan,
  type SwitchoverReport,
  type SwitchoverStep,
  type SwitchoverStepId,
  unsentMessage,
} from '../model/switchover.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { preparedProblem } from '../planner/switchover/switchoverChecks.js';
import { syncSubscriptionSequences } from './sequences.js';
import { verifyLoaded } from './verify.js';

export interface SwitchoverRunOptions extends SwitchoverOptions {
  onEvent: EventSink;
  /** a step starts / ends (the progress lines) */
  onStepStart?: (id: SwitchoverStepId, title: string) => void;
  onStep?: (t: StepTiming) => void;
  /** called just before the first change, with the plan: from here on a signal must stop the run gracefully */
  onChanging?: (plan: SwitchoverPlan) => void;
  signal?: AbortSignal;
}

/**
 * The roles granted SET on session_replication_role on the old primary now, to name who may
 * have written past the data fence; undefined when that cannot be read.
 */
async function replicaModeGrantees(old: pg.Client): Promise<string[] | undefined> {
  try {
    return (await readReplicaModeGrants(old, await serverVersionOf(old), [])).map((g) => g.grantee);
  } catch {
    return undefined;
  }
}

/** How long the dropped slot's walsender may take to let go of it after the release. */
const SLOT_RELEASE_MS = 10_000;

/** One switchover after preflight: the steps in order, the undo on failure. */
export class SwitchoverRun {
  private readonly log: SwitchoverLog;
  /** what to undo, most recent first */
  private readonly undo: Array<{ step: SwitchoverStepId; sql: NodeSql[] }> = [];

  constructor(
    private readonly topology: Topology,
    private readonly d: SubscriptionSpec,
    private readonly clients: NodeClients,
    private readonly plan: SwitchoverPlan,
    private readonly opts: SwitchoverRunOptions,
    private readonly report: SwitchoverReport,
  ) {
    this.log = new SwitchoverLog(
      clients,
      topology.settings.stateSchema,
      randomUUID(),
      subscriptionAddress(d.name),
    );
  }

  /** Run one step: event, apply_log, progress line, timing; `work` returns its detail line. */
  private async run(
    id: SwitchoverStepId,
    work: (s: SwitchoverStep) => Promise<string | null>,
  ): Promise<void> {
    const s = this.plan.steps.find((x) => x.id === id);
    if (!s) return;
    if (this.opts.signal?.aborted)
      throw new SteepError('switchover.interrupted', 'interrupted before the release');
    const nodes = [...new Set(s.statements.map((x) => x.node))];
    const logNodes = nodes.length > 0 ? nodes : [this.d.node];
    const t = Date.now();
    this.opts.onStepStart?.(id, s.title);
    this.opts.onEvent({
      event: 'switchover.step_started',
      level: 'info',
      subscription: this.d.name,
      step: id,
      message: s.title,
    });
    await this.log.started(id, logNodes, s.statements);
    const finish = async (
      status: StepTiming['status'],
      detail: string | null,
      error: string | null,
    ): Promise<void> => {
      const timing: StepTiming = { id, title: s.title, status, durationMs: Date.now() - t, detail };
      this.report.steps.push(timing);
      await this.log.finished(id, logNodes, error);
      this.opts.onStep?.(timing);
      this.opts.onEvent({
        event: error === null ? 'switchover.step_completed' : 'switchover.step_failed',
        level: error === null ? 'info' : 'error',
        subscription: this.d.name,
        step: id,
        duration_ms: timing.durationMs,
        message: error ?? detail ?? s.title,
      });
    };
    try {
      await finish('completed', await work(s), null);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await finish(this.opts.signal?.aborted === true ? 'interrupted' : 'failed', message, message);
      throw err;
    }
  }

  /** A step that waits says so, what for and how long, every few seconds (model/waits.ts). */
  private waiting(step: string, message: string): void {
    this.opts.onEvent({
      event: 'switchover.waiting',
      level: 'info',
      subscription: this.d.name,
      step,
      message,
    });
  }

  async execute(): Promise<void> {
    const { plan, opts, clients, d } = this;
    const old = clients.get(d.from)!;
    const neu = clients.get(d.node)!;
    let fencedAt = 0;
    try {
      opts.onChanging?.(plan);
      await this.run('fence', async () => {
        // each statement's undo is due once it ran: a role that could not be fenced (its
        // setting locked by another session) is not touched again
        const undo: NodeSql[] = [];
        this.undo.unshift({ step: 'fence', sql: undo });
        fencedAt = Date.now();
        const roles = plan.roleFence;
        for (let i = 0; i < roles.fence.length; i++) {
          await runStatements(clients, [roles.fence[i]!]);
          undo.push(roles.unfence[i]!);
        }
        const terminated = await endFencedSessions(old, plan, opts.graceMs, opts.signal, (text) =>
          this.waiting('fence', text),
        );
        // the data fence once the roles' sessions are gone: each CREATE TRIGGER waits for the
        // transactions writing its table, so every write before it has committed (or failed)
        if (plan.dataFence.fence.length > 0) undo.unshift(...plan.dataFence.unfence);
        await runStatements(clients, plan.dataFence.fence);
        const prepared = await readPreparedXacts(old);
        if (prepared.length > 0)
          throw new SteepError(
            'switchover.prepared',
            preparedProblem(d.from, this.plan.database, prepared, false),
            {
              node: d.from,
            },
          );
        // the plan's flushed WAL mark (planner/walMark.ts): past every commit made before the fence
        this.report.fenceLsn = await runWalMark(old, plan.fenceLsnSql);
        const tables = Math.max(plan.dataFence.fence.length - 1, 0);
        return `${plan.roles.join(', ')} read-only and without login on ${d.from}, ${terminated} session(s) ended, ${tables} table(s) fenced against every writer, fence LSN ${this.report.fenceLsn} (flushed)`;
      });
      await this.run('drain', async () => {
        const r = await waitDrained(
          old,
          neu,
          plan,
          this.report.fenceLsn!,
          opts.fenceTimeoutMs,
          opts.signal,
          (text) => this.waiting('drain', text),
        );
        this.report.drainedLsn = r.originLsn;
        this.report.confirmedLsn = r.confirmedLsn;
        return drainDetail(this.report.fenceLsn!, r.originLsn, r.confirmedLsn, r.by);
      });
      await this.run('sequences', async () => {
        const r = await syncSubscriptionSequences(
          this.topology,
          d,
          { headroom: opts.sequenceHeadroom, only: opts.sequences },
          { pub: old, sub: neu },
        );
        this.report.sequences = r;
        if (r.problems > 0)
          throw new SteepError(
            'switchover.sequences',
            `${r.problems} sequence(s) could not be set on ${d.node}: ${r.sequences
              .filter((x) => x.skip === 'absent' || x.skip === 'out-of-range')
              .map((x) => `${x.sequence} (${x.reason})`)
              .join('; ')}`,
            { node: d.node },
          );
        return `${r.set} set, ${r.unchanged} unchanged, ${r.skipped} skipped (headroom ${r.headroom})`;
      });
      await this.run('verify', async () => {
        const tables = opts.verify === 'all' || opts.verify === 'none' ? undefined : opts.verify;
        const v = await verifyLoaded(this.topology, d, {
          tables,
          parallel: 2,
          examples: 5,
          onEvent: opts.onEvent,
        });
        this.report.verify = v;
        const diverged = v.tables.filter((t) => t.status === 'diverged').map((t) => t.table);
        if (diverged.length > 0)
          throw new SteepError(
            'switchover.diverged',
            `${diverged.join(', ')} differ between ${d.from} and ${d.node}; repair with ${adviceText('verifyRepair', d.name)}, then switch over again`,
            { address: subscriptionAddress(d.name) },
          );
        const rows = v.tables.reduce((n, t) => n + t.rows, 0);
        return `${v.tables.length} table(s) equal, ${rows} rows compared`;
      });
      await this.run('reverse', async (s) => {
        this.undo.unshift({ step: 'reverse', sql: s.undo });
        await runStatements(clients, s.statements, secretFiller(this.topology));
        const name = plan.reverseName!;
        this.report.reverse = { publication: name, subscription: name, node: d.from, from: d.node };
        return `${name}: ${d.node} → ${d.from}, enabled, copy_data = false, origin = none`;
      });
    } catch (err) {
      await this.rollBack(err);
      return;
    }
    await this.release(fencedAt);
  }

  /** Disable the forward subscription (the blackout ends), then drop its slot unless kept. */
  private async release(fencedAt: number): Promise<void> {
    const { clients, d, plan } = this;
    try {
      await this.run('release', async (s) => {
        // planner/switchover/switchover.ts releaseStep: the DISABLE, what removes a rollback's
        // fence from the new primary, then the slot's copy and check
        const lead = 1 + plan.newPrimaryUnfence.length;
        const rest = s.statements.slice(lead);
        const at = rest.findIndex((x) => x.sql.includes('pg_logical_slot_peek_binary_changes'));
        const old = clients.get(d.from)!;
        await runStatements(clients, s.statements.slice(0, 1));
        this.report.blackoutMs = Date.now() - fencedAt;
        this.report.outcome = 'released';
        await runStatements(clients, s.statements.slice(1, lead));
        await waitSlotReleased(old, plan.slot, SLOT_RELEASE_MS);
        // planner/switchover/switchover.ts releaseStep: the slot copied and dropped, then the copy
        // read; a copy that fails (no free slot) leaves the slot as it was
        this.report.slotKept = true;
        await runStatements(clients, rest.slice(0, at));
        const unsent = await readUnsentChanges(old, rest[at]!.sql);
        this.report.unsent = unsent;
        if ('unknown' in unsent || unsent.changes > 0) {
          await runStatements(clients, s.undo);
          const local = !('unknown' in unsent) && (unsent.writers ?? []).some((w) => w.origin === null);
          throw new SteepError(
            'switchover.unsent',
            unsentMessage(
              {
                ...plan,
                reverse: plan.reverseName !== null,
                origin: plan.forwardOrigin,
                replicaModeGrantees: local ? await replicaModeGrantees(old) : undefined,
              },
              unsent,
            ),
            { node: d.from },
          );
        }
        await runStatements(clients, rest.slice(at + 1));
        this.report.slotKept = this.opts.keepSlot;
        return `${d.name} disabled on ${d.node}, no change left in slot ${plan.slot} after the fence${this.opts.keepSlot ? `, slot kept` : `, slot dropped`}; write blackout ${this.report.blackoutMs} ms`;
      });
    } catch (err) {
      // after the DISABLE the writes have moved: nothing is undone, the report says what is left
      if (this.report.outcome !== 'released') {
        await this.rollBack(err);
        return;
      }
      this.report.error = afterRelease(err instanceof Error ? err.message : String(err));
    }
    this.opts.onEvent({
      event: 'switchover.completed',
      level: this.report.error === null ? 'info' : 'warn',
      subscription: d.name,
      duration_ms: this.report.blackoutMs ?? undefined,
      message: `writes moved from ${d.from} to ${d.node}; blackout ${this.report.blackoutMs} ms${this.report.error === null ? '' : `; not done: ${this.report.error}`}`,
    });
  }

  /** Undo what ran (the reverse objects, then the fence) and record the failure in the report. */
  private async rollBack(err: unknown): Promise<void> {
    const { report, d } = this;
    report.outcome = this.opts.signal?.aborted ? 'interrupted' : 'failed';
    report.error = err instanceof Error ? err.message : String(err);
    const failures: string[] = [];
    for (const u of this.undo) {
      const t = Date.now();
      const nodes = [...new Set(u.sql.map((x) => x.node))];
      try {
        await this.log.started(`${u.step}-undo`, nodes, u.sql);
        await runStatements(this.clients, u.sql);
        await this.log.finished(`${u.step}-undo`, nodes, null);
        report.steps.push({
          id: u.step,
          title: `undo ${u.step}`,
          status: 'undone',
          durationMs: Date.now() - t,
          detail: u.sql.map((x) => x.sql).join('; '),
        });
        if (u.step === 'fence') {
          report.fenceUndone = true;
          this.opts.onEvent({
            event: 'switchover.fence_undone',
            level: 'warn',
            node: d.from,
            subscription: d.name,
            message: `${report.roles.join(', ')} writable again on ${d.from}`,
          });
        }
      } catch (e) {
        await this.log.finished(`${u.step}-undo`, nodes, e instanceof Error ? e.message : String(e));
        failures.push(
          `undoing ${u.step} failed (${e instanceof Error ? e.message : String(e)}): run ${u.sql.map((x) => `${x.sql} on ${x.node}`).join('; ')}`,
        );
      }
    }
    if (failures.length > 0) report.error = `${report.error}; ${failures.join('; ')}`;
  }
}
