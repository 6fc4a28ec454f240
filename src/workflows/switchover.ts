import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { readPublishedScope, readSubscriptionInfo } from '../catalog/compareScope.js';
import { serverVersionOf } from '../catalog/initProgress.js';
import { readSequenceStates } from '../catalog/sequences.js';
import {
  probeSubscription,
  readFencePrivileges,
  readPublicationAndSlot,
  readRoleFacts,
  readSlotPosition,
  subscriptionExists,
} from '../catalog/switchover.js';
import { loadTopology } from '../config/load.js';
import { lockedSessions } from '../db/lockedSession.js';
import type { EventSink } from '../executors/events.js';
import { secretFiller } from '../executors/secrets.js';
import { publishedSequences } from '../executors/sequenceSync.js';
import {
  endFencedSessions,
  type NodeClients,
  runStatements,
  SwitchoverLog,
  waitDrained,
  waitSlotReleased,
} from '../executors/switchover.js';
import { buildConninfo } from '../model/conninfo.js';
import type { Problem } from '../model/errors.js';
import { SteepError } from '../model/errors.js';
import { lsnValue } from '../model/lsn.js';
import { displayTable, quoteTable } from '../model/sql.js';
import type {
  NodeSql,
  StepTiming,
  SwitchoverFacts,
  SwitchoverOptions,
  SwitchoverPlan,
  SwitchoverReport,
  SwitchoverStep,
  SwitchoverStepId,
} from '../model/switchover.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { declaredSubscription, qualifiedName } from '../model/topology.js';
import { decideSequence } from '../planner/sequences.js';
import { planSwitchover, reverseName, switchoverProblems } from '../planner/switchover.js';
import { isComparison } from '../planner/verify.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';
import { syncSubscriptionSequences } from './sequences.js';
import { parseTableName, planVerify, verifyLoaded } from './verify.js';

/**
 * `steep switchover SUBSCRIPTION` (SPEC §4): move writes from the subscription's publisher (the
 * old primary) to its subscriber (the new primary), provably. Preflight reads both nodes and
 * changes nothing; then fence → drain → sequences → verify → reverse → release, each a timed
 * step with an event and an `apply_log` row. A failure or a signal before the release undoes
 * what was done (the reverse objects dropped, the roles writable again) and says so. Holds
 * steep's advisory lock on both nodes throughout.
 */

export interface SwitchoverRunOptions extends SwitchoverOptions {
  onEvent: EventSink;
  /** a step starts / ends (the progress lines) */
  onStepStart?: (id: SwitchoverStepId, title: string) => void;
  onStep?: (t: StepTiming) => void;
  /** called just before the first change, with the plan: from here on a signal must stop the run gracefully */
  onChanging?: (plan: SwitchoverPlan) => void;
  signal?: AbortSignal;
}

export interface SwitchoverResult {
  report: SwitchoverReport;
  configWarnings: Problem[];
}

const APPLICATION_NAME = 'steep switchover';
/** How long the dropped slot's walsender may take to let go of it after the release. */
const SLOT_RELEASE_MS = 10_000;

export async function switchover(
  configPath: string,
  subscription: string,
  opts: SwitchoverRunOptions,
): Promise<SwitchoverResult> {
  const t0 = Date.now();
  const { topology, warnings } = await loadTopology(configPath);
  const d = declaredSubscription(topology, subscription, 'verify.unknown_subscription');
  const sessions = await lockedSessions(topology, [{ node: d.from }, { node: d.node }], {
    applicationName: APPLICATION_NAME,
    statementTimeoutMs: topology.settings.statementTimeout,
    lockTimeoutMs: topology.settings.lockTimeout,
  }).catch((err: unknown) => {
    if (err instanceof SteepError && err.code === 'connect')
      throw new SteepError(
        'switchover.unreachable',
        `switchover of ${d.name} needs both nodes: ${err.message}`,
        {
          node: err.node,
          address: `subscription.${d.name}`,
          cause: err,
        },
      );
    throw err;
  });
  const clients: NodeClients = new Map([...sessions].map(([n, c]) => [n, c!]));
  try {
    const pre = Date.now();
    const { facts, verifyTables } = await readFacts(topology, d, clients, opts);
    const problems = switchoverProblems(facts, opts);
    if (problems.length > 0)
      throw new SteepError('switchover.preflight', problems[0]!, {
        node: d.from,
        address: `subscription.${d.name}`,
        problems: problems.map((message) => ({ severity: 'error', code: 'switchover.preflight', message })),
      });
    const plan = planSwitchover(facts, opts, {
      reverseConninfo: reverseConninfo(topology, d.node),
      sequenceSql: await sequencePreview(clients, d, facts, opts),
      verifyTables,
    });
    const preflight: StepTiming = {
      id: 'preflight',
      title: `preflight: ${d.name} synchronized, lag ${facts.slot?.lagBytes ?? 0} bytes, ${facts.tables.length} table(s), ${plan.roles.length} role(s) to fence`,
      status: 'completed',
      durationMs: Date.now() - pre,
      detail: null,
    };
    opts.onStep?.(preflight);
    const report = emptyReport(d, plan, opts);
    report.steps.push(preflight);
    if (opts.dryRun) {
      report.outcome = 'dry-run';
      report.durationMs = Date.now() - t0;
      return { report, configWarnings: warnings };
    }
    await new Run(topology, d, clients, plan, opts, report).execute();
    report.durationMs = Date.now() - t0;
    return { report, configWarnings: warnings };
  } finally {
    await Promise.all([...clients.values()].map((c) => c.end().catch(() => {})));
  }
}

/** The connection string the old primary's reverse subscription uses to reach the new one (masked). */
function reverseConninfo(topology: Topology, node: string): string {
  const spec = topology.nodes[node]!;
  return buildConninfo(spec.replicationConnection ?? spec.connection, {
    passfile: spec.replicationPassfile,
    maskPassword: true,
  });
}

async function readFacts(
  topology: Topology,
  d: SubscriptionSpec,
  clients: NodeClients,
  opts: SwitchoverOptions,
): Promise<{ facts: SwitchoverFacts; verifyTables: string[] }> {
  const old = clients.get(d.from)!;
  const neu = clients.get(d.node)!;
  const info = await readSubscriptionInfo(neu, d.name);
  const [oldVersion, newVersion, priv] = await Promise.all([
    serverVersionOf(old),
    serverVersionOf(neu),
    readFencePrivileges(old),
  ]);
  const schema = topology.settings.stateSchema;
  const state = (await hasInitTables(neu, schema))
    ? ((await new SubscriptionStateStore(schema, d.node).get(neu, d.name))?.state ?? 'uninitialized')
    : null;
  const slotName = info?.slot ?? d.slot;
  const slot = await readSlotPosition(old, slotName);
  const applyRate = slot && (slot.lagBytes ?? 0) > 0 ? await measureApplyRate(old, slotName) : null;
  const scope = await readPublishedScope(old, oldVersion, info?.publications ?? [...d.publications]);
  const tables = scope.map((s) => s.table);
  const names = tables.map(qualifiedName);
  const plans = info ? await planVerify(old, neu, d, info, undefined) : [];
  const unkeyed = plans
    .filter((p) => !isComparison(p) && info?.tables.get(qualifiedName(p.table)) === 'r')
    .map((p) => ({ table: displayTable(p.table), reason: (p as { reason: string }).reason }));
  const verifyTables =
    opts.verify === 'all' ? names : opts.verify === 'none' ? [] : verifyList(d, opts.verify, names);
  const verifyRows = plans
    .filter((p) => isComparison(p) && verifyTables.includes(qualifiedName(p.table)))
    .reduce((n, p) => n + (isComparison(p) ? p.estimatedRows : 0), 0);
  const roles = await readRoleFacts(old, tables.map(quoteTable), opts.roles ?? []);
  const seqs = await publishedSequences(old, tables, { only: opts.sequences });
  const [sources, targets] = await Promise.all([
    readSequenceStates(old, seqs),
    readSequenceStates(neu, seqs),
  ]);
  const rev = reverseName(d.name);
  const reverse =
    opts.reverse && oldVersion >= 160000 && newVersion >= 160000
      ? await (async () => {
          const onNew = await readPublicationAndSlot(neu, rev);
          const exists = await subscriptionExists(old, rev);
          return {
            publicationExists: onNew.publication,
            slotExists: onNew.slot,
            subscriptionExists: exists,
            oldCanSubscribe: priv.canSubscribe,
            unreachable:
              priv.canSubscribe && !exists
                ? await probeSubscription(old, rev, reverseConninfo(topology, d.node), secretFiller(topology))
                : null,
          };
        })()
      : null;
  const facts: SwitchoverFacts = {
    subscription: d.name,
    oldNode: d.from,
    newNode: d.node,
    oldVersion,
    newVersion,
    database: priv.database,
    steepRole: priv.role,
    steepCanFence: priv.canFence,
    steepCanTerminate: priv.canTerminate,
    live: info ? { enabled: info.enabled, slot: info.slot, tables: Object.fromEntries(info.tables) } : null,
    state,
    slot: slot ? { name: slotName, active: slot.active, lagBytes: slot.lagBytes } : null,
    applyRate,
    tables: tables.map(displayTable),
    unkeyed,
    verifyRows,
    roles,
    sequences: seqs.map((s) => {
      const key = `${s.schema}.${s.name}`;
      return {
        sequence: displayTable(s),
        schema: s.schema,
        name: s.name,
        source: sources.get(key)?.last ?? null,
        present: targets.has(key),
      };
    }),
    reverse,
  };
  return { facts, verifyTables };
}

function verifyList(d: SubscriptionSpec, wanted: string[], carried: string[]): string[] {
  const names = wanted.map((w) => qualifiedName(parseTableName(w)));
  const unknown = names.filter((n) => !carried.includes(n));
  if (unknown.length > 0)
    throw new SteepError(
      'switchover.unknown_table',
      `--verify names ${unknown.join(', ')}, which subscription ${d.name} does not carry (it carries ${carried.join(', ') || 'no table'})`,
      { address: `subscription.${d.name}` },
    );
  return names;
}

/** Bytes per second the slot confirmed over half a second (null when it confirmed nothing). */
async function measureApplyRate(old: pg.Client, slot: string): Promise<number | null> {
  const a = await readSlotPosition(old, slot);
  const t = Date.now();
  await new Promise((r) => setTimeout(r, 500));
  const b = await readSlotPosition(old, slot);
  if (!a?.confirmed || !b?.confirmed) return null;
  const bytes = Number(lsnValue(b.confirmed) - lsnValue(a.confirmed));
  return bytes > 0 ? (bytes * 1000) / (Date.now() - t) : null;
}

/** The setval statements the sequences step would run with today's values (the dry run shows them). */
async function sequencePreview(
  clients: NodeClients,
  d: SubscriptionSpec,
  facts: SwitchoverFacts,
  opts: SwitchoverOptions,
): Promise<string[]> {
  const seqs = facts.sequences.filter((s) => s.present);
  const targets = await readSequenceStates(clients.get(d.node)!, seqs);
  return seqs
    .map((s) => {
      return decideSequence(
        s.source === null ? { ...s, last: null } : { ...s, last: s.source },
        targets.get(`${s.schema}.${s.name}`),
        {
          headroom: opts.sequenceHeadroom,
          allowBackwards: false,
          publisher: d.from,
          subscriber: d.node,
        },
      ).sql;
    })
    .filter((sql): sql is string => sql !== null);
}

function emptyReport(d: SubscriptionSpec, plan: SwitchoverPlan, opts: SwitchoverOptions): SwitchoverReport {
  return {
    subscription: d.name,
    oldNode: d.from,
    newNode: d.node,
    outcome: 'failed',
    error: null,
    fenceUndone: false,
    roles: plan.roles,
    fenceLsn: null,
    drainedLsn: null,
    confirmedLsn: null,
    blackoutMs: null,
    expectedBlackoutMs: plan.expectedBlackoutMs,
    sequences: null,
    verify: null,
    reverse: null,
    slotKept: opts.keepSlot,
    steps: [],
    plan,
    rollback: plan.rollback,
    durationMs: 0,
  };
}

/** One switchover after preflight: the steps in order, the undo on failure. */
class Run {
  private readonly log: SwitchoverLog;
  private readonly fillSecrets: (sql: string) => string;
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
      `subscription.${d.name}`,
    );
    this.fillSecrets = secretFiller(topology);
  }

  private step(id: SwitchoverStepId): SwitchoverStep | undefined {
    return this.plan.steps.find((s) => s.id === id);
  }

  private stopIfAsked(): void {
    if (this.opts.signal?.aborted)
      throw new SteepError('switchover.interrupted', 'interrupted before the release');
  }

  /** Run one step: event, apply_log, progress line, timing; `work` returns its detail line. */
  private async run(
    id: SwitchoverStepId,
    work: (s: SwitchoverStep) => Promise<string | null>,
  ): Promise<void> {
    const s = this.step(id);
    if (!s) return;
    this.stopIfAsked();
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
    try {
      const detail = await work(s);
      const timing: StepTiming = {
        id,
        title: s.title,
        status: 'completed',
        durationMs: Date.now() - t,
        detail,
      };
      this.report.steps.push(timing);
      await this.log.finished(id, logNodes, null);
      this.opts.onStep?.(timing);
      this.opts.onEvent({
        event: 'switchover.step_completed',
        level: 'info',
        subscription: this.d.name,
        step: id,
        duration_ms: timing.durationMs,
        message: detail ?? s.title,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const interrupted = this.opts.signal?.aborted === true;
      const timing: StepTiming = {
        id,
        title: s.title,
        status: interrupted ? 'interrupted' : 'failed',
        durationMs: Date.now() - t,
        detail: message,
      };
      this.report.steps.push(timing);
      await this.log.finished(id, logNodes, message);
      this.opts.onStep?.(timing);
      this.opts.onEvent({
        event: 'switchover.step_failed',
        level: 'error',
        subscription: this.d.name,
        step: id,
        duration_ms: timing.durationMs,
        message,
      });
      throw err;
    }
  }

  async execute(): Promise<void> {
    const { plan, opts, clients, d } = this;
    const old = clients.get(d.from)!;
    const neu = clients.get(d.node)!;
    let fencedAt = 0;
    try {
      opts.onChanging?.(plan);
      await this.run('fence', async (s) => {
        // each role's undo is due once its ALTER ROLE ran: a role that could not be fenced
        // (its setting locked by another session) is not touched again
        const undo: NodeSql[] = [];
        this.undo.unshift({ step: 'fence', sql: undo });
        fencedAt = Date.now();
        for (let i = 0; i < plan.roles.length; i++) {
          await runStatements(clients, [s.statements[i]!]);
          undo.push(s.undo[i]!);
        }
        const { fenceLsn, terminated } = await endFencedSessions(old, plan, opts.graceMs, opts.signal);
        this.report.fenceLsn = fenceLsn;
        return `${plan.roles.join(', ')} read-only on ${d.from}, ${terminated} session(s) ended, fence LSN ${fenceLsn}`;
      });
      await this.run('drain', async () => {
        const r = await waitDrained(old, neu, plan, this.report.fenceLsn!, opts.fenceTimeoutMs, opts.signal);
        this.report.drainedLsn = r.originLsn;
        this.report.confirmedLsn = r.confirmedLsn;
        return `origin at ${r.originLsn ?? 'none'}, slot confirmed ${r.confirmedLsn} ≥ fence ${this.report.fenceLsn} (${r.by === 'origin' ? 'origin past the fence' : 'acknowledged by the subscriber'})`;
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
            `${diverged.join(', ')} differ between ${d.from} and ${d.node}; repair with steep verify ${d.name} --repair, then switch over again`,
            { address: `subscription.${d.name}` },
          );
        const rows = v.tables.reduce((n, t) => n + t.rows, 0);
        return `${v.tables.length} table(s) equal, ${rows} rows compared`;
      });
      await this.run('reverse', async (s) => {
        this.undo.unshift({ step: 'reverse', sql: s.undo });
        await runStatements(clients, s.statements, this.fillSecrets);
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
        const [disable, ...rest] = s.statements;
        await runStatements(clients, [disable!]);
        this.report.blackoutMs = Date.now() - fencedAt;
        this.report.outcome = 'released';
        if (rest.length > 0) {
          await runStatements(
            clients,
            rest.filter((x) => x.node === d.node),
          );
          await waitSlotReleased(clients.get(d.from)!, plan.slot, SLOT_RELEASE_MS);
          await runStatements(
            clients,
            rest.filter((x) => x.node === d.from),
          );
        }
        return `${d.name} disabled on ${d.node}${this.opts.keepSlot ? `, slot ${plan.slot} kept` : `, slot ${plan.slot} dropped`}; write blackout ${this.report.blackoutMs} ms`;
      });
    } catch (err) {
      // after the DISABLE the writes have moved: nothing is undone, the report says what is left
      if (this.report.outcome !== 'released') {
        await this.rollBack(err);
        return;
      }
      this.report.error = `released, but ${err instanceof Error ? err.message : String(err)}`;
    }
    this.opts.onEvent({
      event: 'switchover.completed',
      level: 'info',
      subscription: d.name,
      duration_ms: this.report.blackoutMs ?? undefined,
      message: `writes moved from ${d.from} to ${d.node}; blackout ${this.report.blackoutMs} ms`,
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
