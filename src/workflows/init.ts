import type pg from 'pg';
import { readSubscriptionInfo } from '../catalog/compareScope.js';
import { streamInit } from '../copy/streamInit.js';
import { type EventSink, stepFields } from '../executors/events.js';
import { followInit, followTargetOf, recordTransition } from '../executors/initFollow.js';
import { startInit } from '../executors/initStart.js';
import type { StepContext } from '../executors/runStep.js';
import { printAddress, subscriptionNameOf } from '../model/address.js';
import { gapsBySubscription } from '../model/continuity.js';
import { SteepError } from '../model/errors.js';
import { unrecordedState } from '../model/initLifecycle.js';
import { INIT_METHOD, restoredByUser } from '../model/initMethods.js';
import type { InitProgress } from '../model/initState.js';
import type { Step } from '../model/plan.js';
import { stepClass } from '../model/stepClass.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { ApplyLog, hasApplyLog, recordInterrupted } from '../state/applyLog.js';
import { DivergedTablesStore } from '../state/divergedTables.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';
import { VerificationStore } from '../state/verifications.js';
import { VerifiedSegmentsStore } from '../state/verifiedSegments.js';
import type { ApplyOutcome } from './apply.js';
import { checkRestored, requireEvidence, settleJoined } from './initEvidence.js';
import { mergeUnitOf } from './mergeInit.js';

/**
 * Inits inside an apply. An `init` step runs its own part while the apply holds its node's
 * session (a manual init's origin advance and ENABLE; the state bookkeeping), then is
 * *followed* to `synchronized` on sessions of its own once every other step has run, so a long
 * copy never keeps another step of the same node waiting. With `wait: false` (`apply
 * --no-wait`) nothing is followed: apply returns once the subscriptions exist.
 */

export interface InitRunOptions {
  wait: boolean;
  onEvent: EventSink;
  onProgress?: (step: Step, p: InitProgress) => void;
  pollMs?: number;
  failAfterMs?: number;
  /** SIGINT/SIGTERM/SIGHUP: stop following; the inits go on in PostgreSQL */
  signal?: AbortSignal;
}

/** An init step whose follow a signal stopped: its init goes on server-side. */
export interface InterruptedStep {
  step: Step;
  /** what still runs and the command that follows it */
  message: string;
}

export function subscriptionOf(topology: Topology, step: Step): SubscriptionSpec {
  const spec = topology.subscriptions[subscriptionNameOf(step.address) ?? ''];
  if (!spec) {
    throw new SteepError(
      'init.unknown_subscription',
      `${printAddress(step.address)}: steep.yaml declares no such subscription`,
      { address: step.address },
    );
  }
  return spec;
}

export class InitRunner {
  private readonly queued: Step[] = [];
  /** creates of `none` subscriptions and adoptions, reported done already, compared after the follows */
  private readonly vouched: Step[] = [];
  private readonly startedAt = new Map<string, number>();

  constructor(
    private readonly topology: Topology,
    private opts: InitRunOptions,
  ) {
    // a tuning knob for slow networks (and tests): how long a publisher may stay unreachable
    const env = Number.parseInt(process.env.STEEP_INIT_FAIL_AFTER_MS ?? '', 10);
    if (opts.failAfterMs === undefined && Number.isFinite(env) && env > 0)
      this.opts = { ...opts, failAfterMs: env };
  }

  /** An init step whose completion is reported after its follow (steep's own copy: after the copy, at least). */
  defers(step: Step): boolean {
    const c = stepClass(step);
    return c.run === 'init' && (this.opts.wait || c.ownCopy);
  }

  /** The init step's own part, on the apply's session of its node; its follow is queued. */
  async start(client: pg.Client, step: Step, ctx: StepContext): Promise<void> {
    const d = subscriptionOf(this.topology, step);
    this.startedAt.set(step.id, Date.now());
    // the rows the DBA restored, checked before the step enables the subscription on them
    if (restoredByUser(d.init.method) && d.enabled) await checkRestored(this.topology, d, client);
    await startInit(client, step, ctx, d, this.topology.settings.stateSchema, this.opts.onEvent);
    if (this.defers(step)) this.queued.push(step);
  }

  /**
   * Bookkeeping after any step: a subscription created (or created again) starts a fresh
   * record, `none` is synchronized at once (the DBA vouches the data is equal); a dropped one is
   * forgotten, and so are the verifies and diverged tables of one dropped or created again; an
   * adopted one that streams is synchronized from its adoption. A `none` one and an adopted one
   * are compared once the follows end (`follow`), when apply waits.
   */
  async afterStep(client: pg.Client, step: Step): Promise<void> {
    const adopted = step.kind === 'subscription-alter' && step.action === 'adopt';
    if (step.kind !== 'subscription-create' && step.kind !== 'subscription-drop' && !adopted) return;
    const schema = this.topology.settings.stateSchema;
    if (!(await hasInitTables(client, schema))) return;
    const store = new SubscriptionStateStore(schema, step.node);
    const name = subscriptionNameOf(step.address);
    if (name === undefined) return;
    if (adopted) {
      // adopted streaming: its rows are compared too before apply says synchronized
      if ((await this.recordAdoption(client, store, name)) && this.opts.wait) this.vouched.push(step);
      return;
    }
    // a verify's verdicts were about the subscription dropped, or the one a create replaces
    await new VerificationStore(schema, step.node).clear(client, name);
    const segments = new VerifiedSegmentsStore(schema, step.node);
    if (await segments.exists(client)) await segments.clear(client, name);
    const diverged = new DivergedTablesStore(schema, step.node);
    if (await diverged.exists(client)) await diverged.clear(client, name);
    if (step.kind === 'subscription-drop') return store.remove(client, name);
    const d = this.topology.subscriptions[name];
    if (!d) return;
    const recorded = (await store.get(client, name))?.state ?? 'uninitialized';
    // a replace starts over; a manual init keeps the `preparing` its prepare recorded
    if (recorded !== 'uninitialized' && !(restoredByUser(d.init.method) && recorded === 'preparing'))
      await recordTransition(store, client, d, 'uninitialized', this.opts.onEvent);
    if (INIT_METHOD[d.init.method].rows === 'vouched' && d.enabled) {
      await recordTransition(store, client, d, 'synchronized', this.opts.onEvent);
      // the DBA vouches the rows are equal: compared once every other init is followed (a
      // link's other edge may still be copying the rows this one is compared with)
      if (this.opts.wait) this.vouched.push(step);
    }
  }

  /**
   * Subscriptions an apply changed in place (a refresh, tables joining), and those whose tables a
   * schema sync (planner/schema/oldRowValues.ts) or a publication's step (planner/heldTables.ts)
   * opened a gap in: when apply waits, the
   * tables PostgreSQL copies into them followed until ready, then every table of them never
   * compared compared, and those the step opened a gap in (workflows/initEvidence.ts `settleJoined`); a step whose tables differ is
   * failed, with the way out.
   */
  async settleJoined(
    outcome: Pick<ApplyOutcome, 'completed' | 'failed' | 'interrupted'>,
    run: { clients: Map<string, pg.Client>; runId: string },
  ): Promise<void> {
    if (!this.opts.wait) return;
    for (const step of outcome.completed) {
      const gaps = gapsBySubscription(step);
      // a subscription altered in place; the subscriptions of a table whose schema sync opened a gap
      const names =
        step.kind === 'subscription-alter' && step.action !== 'adopt'
          ? [subscriptionNameOf(step.address) ?? '']
          : step.kind === 'table-sync' || step.kind === 'publication-alter'
            ? [...gaps.keys()]
            : [];
      for (const name of names) {
        const d = this.topology.subscriptions[name];
        // the subscriber's session (a publication's step is its publisher's)
        const client = d && run.clients.get(d.node);
        if (!d || !client) continue;
        await settleJoined(this.topology, d, client, {
          parallel: d.init.parallel,
          onEvent: this.opts.onEvent,
          fields: stepFields(step),
          signal: this.opts.signal,
          // a hole open still (origin: none) is not closed by a comparison now
          gapped: (gaps.get(name) ?? []).flatMap((g) => (g.lasting ? [] : [g.table])),
        }).catch((error: unknown) => this.report(outcome, run, step, error));
      }
    }
  }

  /**
   * A merge init's evidence, when apply waits: each subscription of its unit compared once the
   * merge made them streaming (its own analysis under locks is not recorded as a comparison).
   */
  async afterMerge(step: Step): Promise<void> {
    if (!this.opts.wait) return;
    for (const s of mergeUnitOf(this.topology, step).subscriptions)
      await this.compare(this.topology.subscriptions[s.name]!, step);
  }

  /** The init's evidence (workflows/initEvidence.ts), its events the step's. */
  private compare(d: SubscriptionSpec, step: Step): Promise<void> {
    return requireEvidence(this.topology, d, {
      parallel: d.init.parallel,
      onEvent: this.opts.onEvent,
      fields: stepFields(step),
      what: `the init of ${d.name}`,
    });
  }

  /**
   * An adopted subscription steep has no record of: enabled with every table ready, it streams
   * what it received, so it is recorded `synchronized` (status, init status and verify agree,
   * verify can mark it diverged and reinit repair it). One still copying is left to the
   * lifecycle's samples, as before. True when it recorded it `synchronized`.
   */
  private async recordAdoption(
    client: pg.Client,
    store: SubscriptionStateStore,
    name: string,
  ): Promise<boolean> {
    const d = this.topology.subscriptions[name];
    if (!d || (await store.get(client, name)) !== null) return false;
    const info = await readSubscriptionInfo(client, name);
    if (!info || unrecordedState({ enabled: info.enabled, tables: info.tables.values() }) !== 'synchronized')
      return false;
    await recordTransition(store, client, d, 'synchronized', this.opts.onEvent);
    return true;
  }

  /**
   * Follow the queued inits, then report each init step as completed or failed: its
   * apply_log row, its `apply.step_*` event, and its place in the outcome.
   */
  async finishSteps(
    outcome: Pick<ApplyOutcome, 'completed' | 'failed' | 'interrupted'>,
    run: { clients: Map<string, pg.Client>; runId: string },
  ): Promise<void> {
    for (const { step, error } of await this.follow()) await this.report(outcome, run, step, error);
  }

  /**
   * One step's end as followed: its apply_log row, its `apply.step_*` event (none for a success
   * reported when it ran: a `none` create or an adoption), and its place in the outcome.
   */
  private async report(
    outcome: Pick<ApplyOutcome, 'completed' | 'failed' | 'interrupted'>,
    run: { clients: Map<string, pg.Client>; runId: string },
    step: Step,
    error: unknown,
  ): Promise<void> {
    const schema = this.topology.settings.stateSchema;
    const message = error === undefined ? null : error instanceof Error ? error.message : String(error);
    const stopped = error instanceof SteepError && error.code === 'init.interrupted';
    const client = run.clients.get(step.node);
    if (client && (await hasApplyLog(client, schema).catch(() => false))) {
      const log = new ApplyLog(schema, step.node, run.runId);
      await (stopped && message !== null
        ? recordInterrupted(log, client, step.id, message)
        : log.finished(client, step.id, message)
      ).catch(() => {});
    }
    const base = {
      ...stepFields(step),
      duration_ms: Date.now() - (this.startedAt.get(step.id) ?? Date.now()),
    };
    if (message === null) {
      if (!this.vouched.includes(step))
        this.opts.onEvent({ event: 'apply.step_completed', level: 'info', ...base });
      return;
    }
    const i = outcome.completed.indexOf(step);
    if (i >= 0) outcome.completed.splice(i, 1);
    if (stopped) {
      this.opts.onEvent({ event: 'apply.step_interrupted', level: 'warn', message, ...base });
      outcome.interrupted.push({ step, message });
    } else {
      this.opts.onEvent({ event: 'apply.step_failed', level: 'error', message, ...base });
      outcome.failed.push({ step, error });
    }
  }

  /**
   * Follow every queued init concurrently, until each is synchronized (and compared) or failed;
   * then compare the `none` ones.
   */
  private async follow(): Promise<Array<{ step: Step; error?: unknown }>> {
    const followed = await this.followQueued();
    const compared: Array<{ step: Step; error?: unknown }> = [];
    for (const step of this.opts.signal?.aborted ? [] : this.vouched)
      compared.push(
        await this.compare(subscriptionOf(this.topology, step), step).then(
          () => ({ step }),
          (error: unknown) => ({ step, error }),
        ),
      );
    return [...followed, ...compared];
  }

  private async followQueued(): Promise<Array<{ step: Step; error?: unknown }>> {
    const steps = this.queued.splice(0);
    return Promise.all(
      steps.map(async (step) => {
        try {
          const d = subscriptionOf(this.topology, step);
          // steep's own copy runs here, in the CLI, after every other step
          if (stepClass(step).ownCopy)
            await streamInit(this.topology, d, {
              planned: step.statements,
              onEvent: this.opts.onEvent,
              onProgress: (p) => this.opts.onProgress?.(step, p),
              signal: this.opts.signal,
            });
          if (this.opts.wait) {
            await followInit(followTargetOf(this.topology, d), {
              onEvent: this.opts.onEvent,
              onProgress: (p) => this.opts.onProgress?.(step, p),
              pollMs: this.opts.pollMs,
              failAfterMs: this.opts.failAfterMs,
              connectTimeoutMs: this.topology.settings.connectTimeout,
              signal: this.opts.signal,
            });
            if (!this.opts.signal?.aborted) await this.compare(d, step);
          }
          return { step };
        } catch (error) {
          return { step, error };
        }
      }),
    );
  }
}
