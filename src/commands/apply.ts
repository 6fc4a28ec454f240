import { Args, Flags } from '@oclif/core';
import { outcomeLines } from '../cli/applyOutcome.js';
import { progressOnceLocked, runningSteps } from '../cli/applyProgress.js';
import { SteepCommand } from '../cli/baseCommand.js';
import { confirm } from '../cli/confirm.js';
import { eachSink } from '../cli/eventLog.js';
import { allowHazardFlag, approvalFlags, globalFlags, jsonFlag, lsnFlag } from '../cli/flags.js';
import { Interruption } from '../cli/interruption.js';
import { setExitCode } from '../cli/invocation.js';
import { printAddress } from '../model/address.js';
import { adviceText } from '../model/advice.js';
import { parseBytes } from '../model/bytes.js';
import { SteepError } from '../model/errors.js';
import { allowHazardFlags, type HeldStep, heldSteps, missingHazards } from '../model/hazardGate.js';
import type { Hazard, Plan, Step } from '../model/plan.js';
import { planCommand } from '../model/planDifference.js';
import type { PlanFile } from '../model/planFile.js';
import { stepClass } from '../model/stepClass.js';
import { count } from '../render/count.js';
import { progressLine } from '../render/initProgress.js';
import { renderPlanText, summaryLine } from '../render/planText.js';
import {
  type ApplyOutcome,
  applyPlan,
  checkApplicable,
  hazardRefusal,
  refuseLocked,
} from '../workflows/apply.js';
import { makePlan } from '../workflows/plan.js';
import { readSavedPlan, refuseStalePlan, savedPlanInputs } from '../workflows/savedPlan.js';
import { manualSchemaDrift } from '../workflows/schema.js';

export default class Apply extends SteepCommand {
  static override summary = 'Make the nodes match steep.yaml: plan, confirm, then run the steps in order.';
  static override description =
    `Takes steep's advisory lock on every node it changes, runs each step with lock and statement timeouts, records it in the state schema's apply_log, and shows live progress.
With a saved PLAN (from \`steep plan --out\`) it plans again with the --target and --lsn the plan recorded and runs exactly the saved steps: when steep.yaml changed, or the nodes now need any other step (one the plan lacks, a changed one, or one no longer needed), it refuses, naming the difference, and changes nothing. --target, --lsn and --allow-hazard are refused with a PLAN: the plan file decides them.
A step with a gated hazard (truncates-data, data-gap, rewrites-table, blocks-writes, drops-slot) runs only when each is allowed by name: --allow-hazard NAME, recorded by \`steep plan --allow-hazard NAME --out\` for a saved plan, or the names typed at the prompt; --auto-approve alone refuses. Each step runs with its own lock_timeout and statement_timeout, as the plan shows.
Ctrl-C (SIGINT), SIGTERM or SIGHUP: no new step starts, a running statement finishes, an init being followed goes on in PostgreSQL; steep says what completed, what still runs and how to follow it, and exits 130 (143, 129); a second signal exits at once.`;
  static override examples = [
    '<%= config.bin %> apply',
    '<%= config.bin %> apply --auto-approve --allow-destroy',
    '<%= config.bin %> plan --out plan.json && <%= config.bin %> apply plan.json',
    {
      description: 'Only one subscription (and what it depends on), in CI:',
      command: 'STEEP_AUTO_APPROVE=1 <%= config.bin %> apply --target subscription.west_orders',
    },
    {
      description: 'Return once the subscriptions exist; their copies go on in PostgreSQL:',
      command: '<%= config.bin %> apply --no-wait && <%= config.bin %> init status --watch',
    },
    {
      description: 'Manual init from a physical backup consistent at a later LSN than the prepared one:',
      command: '<%= config.bin %> apply --lsn west_orders=0/3000148',
    },
  ];
  static override args = {
    plan: Args.string({ ignoreStdin: true, description: 'A plan saved by `steep plan --out`.' }),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    'auto-approve': Flags.boolean({ summary: 'Apply without asking.', env: 'STEEP_AUTO_APPROVE' }),
    'allow-destroy': approvalFlags['allow-destroy'],
    target: Flags.string({
      summary:
        'Apply only this address and what it depends on (repeatable; not with a saved PLAN, which holds its own).',
      multiple: true,
    }),
    wait: Flags.boolean({
      summary:
        'Follow each subscription init until it is synchronized; --no-wait returns once the subscriptions exist.',
      default: true,
      allowNo: true,
    }),
    ...allowHazardFlag,
    ...lsnFlag,
    'accept-schema-drift': Flags.boolean({
      summary:
        'Apply although subscriptions with schemaSync: manual have schema differences (needed without a terminal).',
      env: 'STEEP_ACCEPT_SCHEMA_DRIFT',
    }),
    'max-copy': Flags.string({
      summary: 'Refuse the plan when its copies move more than SIZE (e.g. 50GB), or an unknown amount.',
      helpValue: 'SIZE',
    }),
    parallel: Flags.integer({
      summary: 'Steps on different nodes that may run at once.',
      default: 4,
      min: 1,
      max: 16,
    }),
  };

  /** step id → "action address on node" of the steps running now, for what a signal waits for */
  private readonly running = new Map<string, string>();

  async run(): Promise<void> {
    const interruption = new Interruption((text) => this.err(text, 'warn'), {
      first: () =>
        `no new step starts${this.running.size > 0 ? `; waiting for ${[...this.running.values()].join(', ')} to finish` : ''} (a second Ctrl-C exits at once)`,
      again:
        'exiting now; a statement still running goes on in PostgreSQL, and `steep plan` shows what it left',
    }).install();
    try {
      await this.apply(interruption);
    } finally {
      interruption.dispose();
    }
  }

  private async apply(interruption: Interruption): Promise<void> {
    const { args, flags } = await this.parse(Apply);
    const json = flags.json;
    const saved = args.plan ? await readSavedPlan(args.plan) : undefined;
    // a saved plan is planned again with the --target and --lsn it recorded, never with others
    const given = { targets: flags.target, lsn: flags.lsn, allowHazards: flags['allow-hazard'] as Hazard[] };
    const inputs = saved ? savedPlanInputs(args.plan!, saved, given) : given;
    const { topology, plan, observed } = this.warned(await makePlan(flags.config, inputs));
    if (saved) await refuseStalePlan(args.plan!, saved, topology, plan);
    const maxCopyBytes = maxCopy(flags['max-copy']);
    // the loser of two applies says who holds the lock, and nothing of a plan it cannot run
    refuseLocked(plan);
    if (!json) this.out(renderPlanText(plan));
    // steps whose hazards were not allowed by name are asked for below (or refused)
    const held = heldSteps(plan.steps, plan.inputs.allowHazards);
    const allowHazards = [...plan.inputs.allowHazards, ...missingHazards(held)];
    const allowDestroy = flags['allow-destroy'];
    checkApplicable(plan, { allowDestroy, allowHazards, maxCopyBytes });
    if (plan.steps.length === 0) {
      if (json) this.outJson({ runId: null, completed: [], failed: [], notRun: [] });
      return;
    }
    await this.acceptSchemaDrift(manualSchemaDrift(plan).length, flags['accept-schema-drift']);
    if (held.length > 0)
      await this.allowByName(plan.steps.length, held, {
        saved: saved && { file: saved, path: args.plan! },
        autoApprove: flags['auto-approve'],
      });
    else if (!flags['auto-approve'] && !saved) await this.confirm(plan.steps.length);

    // the step lines start once every node is locked: a lost lock shows none
    const progress = json || flags['log-format'] === 'json' ? undefined : progressOnceLocked(plan.steps);
    const onEvent = eachSink(this.events(), runningSteps(plan.steps, this.running), progress?.sink);
    let outcome: Awaited<ReturnType<typeof applyPlan>>;
    try {
      interruption.arm();
      outcome = await applyPlan(topology, plan, {
        allowDestroy,
        allowHazards,
        maxCopyBytes,
        parallel: flags.parallel,
        onEvent,
        wait: flags.wait,
        replan: async () => (await makePlan(flags.config, inputs)).plan,
        staleAdvice: saved ? `make a new plan with \`${planCommand(saved, args.plan!)}\`` : undefined,
        onInitProgress: progress
          ? (step, p) => progress.detail(step.id, progressLine(p), p.waiting !== undefined)
          : undefined,
        signal: interruption.signal,
        observed,
      });
    } catch (err) {
      await progress?.end(plan.steps);
      throw err;
    }
    await progress?.end([...outcome.notRun, ...outcome.interrupted.map((i) => i.step)]);
    this.report(plan, outcome, interruption, { json, wait: flags.wait });
  }

  /** The outcome: the JSON document, or the failures, the summary and what goes on in PostgreSQL. */
  private report(
    plan: Plan,
    outcome: ApplyOutcome,
    interruption: Interruption,
    { json, wait }: { json: boolean; wait: boolean },
  ): void {
    if (json) {
      this.outJson({
        runId: outcome.runId,
        completed: outcome.completed.map((s) => printAddress(s.address)),
        failed: outcome.failed.map((f) => ({
          address: printAddress(f.step.address),
          error: (f.error as Error).message,
        })),
        notRun: outcome.notRun.map((s) => printAddress(s.address)),
        ...(outcome.stillCopying?.length ? { stillCopying: outcome.stillCopying } : {}),
        ...(interruption.received
          ? {
              signal: interruption.received,
              stillRunning: outcome.interrupted.map((i) => ({
                address: printAddress(i.step.address),
                message: i.message,
              })),
            }
          : {}),
      });
    }
    const lines = outcomeLines(outcome, interruption.received);
    for (const l of lines) this.err(l.text, l.level);
    if (lines.length > 0) {
      setExitCode(interruption.exitCode ?? 1);
      return;
    }
    if (!json)
      this.out(
        `Apply complete: ${count(outcome.completed.length, 'step')}. ${summaryLine(plan).replace(/^Plan: /, 'Was: ')}`,
      );
    for (const c of json ? [] : (outcome.stillCopying ?? []))
      this.out(
        `PostgreSQL still copies ${count(c.tables.length, 'table')} that joined subscription ${c.subscription} on ${c.node} (${c.tables.join(', ')}): ` +
          `follow ${c.tables.length === 1 ? 'it' : 'them'} with \`steep init status ${c.subscription} --watch\`; once ${c.tables.length === 1 ? 'it is' : 'they are'} ready, \`${adviceText('verify', c.subscription, c.tables)}\` compares ${c.tables.length === 1 ? 'it' : 'them'} (until then the subscription is unverified)`,
      );
    if (!json && !wait && plan.steps.some((s) => stepClass(s).run === 'init'))
      this.out('The inits go on in PostgreSQL: follow them with `steep init status --watch`.');
  }

  /** schemaSync: manual — differences are the DBA's to accept, each time, even with --auto-approve. */
  private async acceptSchemaDrift(count: number, accepted: boolean): Promise<void> {
    if (count === 0 || accepted) return;
    const differ = `${count} subscribed table(s) differ between publisher and subscriber (schemaSync: manual`;
    const noTerminal = {
      code: 'apply.schema_drift',
      message: `${differ}, see the warnings above); nothing was changed — rerun with --accept-schema-drift to apply anyway`,
    };
    // without a terminal it refuses, even with an answer piped
    if (!process.stdin.isTTY) throw new SteepError(noTerminal.code, noTerminal.message);
    await confirm({
      question: `${differ}). Apply anyway?`,
      noTerminal,
      cancelled: APPLY_CANCELLED,
    });
  }

  /**
   * Steps whose hazards were not allowed by name: a saved plan runs only what it allowed; without
   * it, typing the hazards' names at the prompt allows them. `--auto-approve` asks nothing: it
   * refuses at once, without reading stdin, which a CI job or `ssh host steep apply` may hold
   * open and silent for ever.
   */
  private async allowByName(
    steps: number,
    held: HeldStep<Step>[],
    { saved, autoApprove }: { saved: { file: PlanFile; path: string } | undefined; autoApprove: boolean },
  ): Promise<void> {
    const missing = missingHazards(held);
    if (saved)
      throw hazardRefusal(
        held,
        `${saved.path} did not allow them: make the plan again allowing them, \`${planCommand(saved.file, saved.path, missing)}\`, review it and apply that`,
      );
    if (autoApprove)
      throw hazardRefusal(
        held,
        `rerun with ${allowHazardFlags(missing)}, or type the names at the prompt of an apply without --auto-approve on a terminal`,
      );
    await confirm({
      question: `Apply ${steps === 1 ? 'this step' : `these ${steps} steps`}, with ${missing.join(', ')} (${held.map((h) => printAddress(h.step.address)).join(', ')})?`,
      answer: missing,
      noTerminal: {
        code: 'apply.hazard_refused',
        message: hazardRefusal(
          held,
          `rerun with ${allowHazardFlags(missing)}, or type the names at the prompt on a terminal`,
        ).message,
      },
      cancelled: APPLY_CANCELLED,
    });
  }

  private async confirm(steps: number): Promise<void> {
    await confirm({
      question: `Apply ${steps === 1 ? 'this step' : `these ${steps} steps`}?`,
      noTerminal: {
        code: 'apply.no_tty',
        message:
          'no terminal to confirm the plan on; rerun with --auto-approve (or STEEP_AUTO_APPROVE=1) to apply without asking',
      },
      cancelled: APPLY_CANCELLED,
    });
  }
}

const APPLY_CANCELLED = { code: 'apply.cancelled', message: 'apply cancelled; nothing was changed' };

function maxCopy(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const bytes = parseBytes(text, true);
  if (bytes === undefined)
    throw new SteepError(
      'apply.bad_max_copy',
      `--max-copy ${text}: not a size; give one like 500MB, 50GB or 2TB`,
    );
  return bytes;
}
