import { Args, Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { confirm } from '../cli/confirm.js';
import {
  commaList,
  compareFlags,
  formatFlag,
  globalFlags,
  jsonFlag,
  ROLLING_PARALLEL,
  VERIFY_PARALLEL,
} from '../cli/flags.js';
import { setExitCode } from '../cli/invocation.js';
import { VerifyProgress } from '../cli/verifyProgress.js';
import { SteepError } from '../model/errors.js';
import { renderRollingText } from '../render/rollingVerify.js';
import { renderVerifyMarkdown, renderVerifyText } from '../render/verify.js';
import { repairSubscription } from '../workflows/verifyRepair.js';
import { verifyRolling } from '../workflows/verifyRolling.js';

export default class Verify extends SteepCommand {
  static override summary =
    "Compare a subscription's data on both nodes, table by table, while writes go on.";
  static override description =
    `Compares what the subscription carries — the publisher's rows after its publications' row filters, on their column lists — with the subscriber's same columns, by primary key (else replica identity index; else as a multiset of whole rows). Key-range chunks are hashed inside each database; chunks that differ are hashed again once the subscriber has replayed past the publisher, and only those still different are diffed row by row. Rows changing during the run are never reported.
Read-only (ACCESS SHARE locks, short lock_timeout). Diverged tables mark the subscription diverged; --repair runs steep reinit of them and verifies again. A repair that would delete or overwrite subscriber rows (extra or different ones) runs only with --allow-destroy or after a yes at the terminal's prompt, which names the counts; without either it exits 1 and changes nothing.
A table without a key is compared as a multiset of whole rows (count and hash sum).
--rolling --budget DURATION [SUBSCRIPTION] compares the least recently compared segments (key ranges) of every table of the subscription (of every subscription when none is named) until the budget is spent, records each, and resumes there next run: run it on a schedule.
Exit codes: 0 every table equal, 2 diverged or some table not verifiable (still copying, not yet subscribed), 1 error.`;
  static override examples = [
    '<%= config.bin %> verify west_orders',
    '<%= config.bin %> verify west_orders --tables public.orders,public.items --format markdown',
    '<%= config.bin %> verify west_orders --repair',
    '<%= config.bin %> verify --rolling --budget 5min',
  ];
  static override args = {
    subscription: Args.string({
      ignoreStdin: true,
      description: 'The subscription whose data to compare (with --rolling: every subscription when absent).',
    }),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    ...formatFlag,
    ...compareFlags,
    parallel: Flags.integer({
      summary: `Tables (with --rolling: segments) compared at a time, one session per node each (default ${VERIFY_PARALLEL}; ${ROLLING_PARALLEL} with --rolling, which leaves the cores to the writers).`,
      min: 1,
    }),
    examples: Flags.integer({ summary: 'Example keys shown per kind of difference.', default: 10, min: 0 }),
    repair: Flags.boolean({ summary: 'Reinit the diverged tables, then verify again.' }),
    rolling: Flags.boolean({
      summary:
        'Compare the least recently compared segments until --budget is spent; the next run resumes there.',
      exclusive: ['repair', 'tables'],
      dependsOn: ['budget'],
    }),
    budget: Flags.string({
      summary: 'With --rolling: how long to compare (30s, 5min, 1h); none starts after it.',
      dependsOn: ['rolling'],
    }),
    'allow-destroy': Flags.boolean({
      summary:
        'With --repair: allow it to delete or overwrite rows on the subscriber (extra or different rows); without it a terminal asks.',
      env: 'STEEP_ALLOW_DESTROY',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Verify);
    const json = flags.json || flags.format === 'json';
    if (flags.rolling) {
      const onEvent = this.events((e) => {
        if (e.event === 'verify.segment_complete')
          this.err(`${e.subscription} ${e.table}: ${e.message}`, 'info');
      });
      const { report, configWarnings } = await verifyRolling(flags.config, args.subscription, {
        budget: flags.budget!,
        parallel: flags.parallel ?? ROLLING_PARALLEL,
        examples: flags.examples,
        onEvent,
      });
      this.warned({ configWarnings });
      if (json) this.outJson(report);
      else this.out(renderRollingText(report));
      return setExitCode(report.diverged ? 2 : 0);
    }
    if (args.subscription === undefined)
      throw new SteepError(
        'verify.no_subscription',
        'verify needs the subscription to compare (or --rolling)',
      );
    const logJson = flags['log-format'] === 'json';
    // listr2 draws on stdout: only above text output
    const tty = process.stdout.isTTY === true && !logJson && !json && flags.format === 'text';
    const progress = tty ? new VerifyProgress(`verify ${args.subscription}`) : null;
    const onEvent = this.events(
      tty
        ? (e) => {
            if (e.event === 'verify.waiting' && e.message) progress?.waiting(e.message);
          }
        : (e) => {
            if (e.event === 'verify.table_complete') this.err(`${e.table}: ${e.message}`, 'info');
            else if (e.message && e.event !== 'apply.step_waiting')
              this.err(`${e.event}: ${e.message}`, 'info');
          },
    );
    const outcome = await repairSubscription(flags.config, args.subscription, {
      tables: commaList(flags.tables),
      parallel: flags.parallel ?? VERIFY_PARALLEL,
      examples: flags.examples,
      repair: flags.repair,
      allowDestroy: flags['allow-destroy'],
      confirm: (question, refusal) =>
        confirm({
          question,
          noTerminal: { code: 'verify.destroy_refused', message: refusal },
          cancelled: {
            code: 'verify.repair_declined',
            message: 'verify --repair declined; nothing was changed',
          },
        }),
      onEvent,
      onTableStart: progress?.start,
      onTableRows: progress?.rows,
      onTableDone: progress?.table,
    }).finally(() => progress?.end());
    this.warned(outcome);
    const reports = outcome.after ? [outcome.before, outcome.after] : [outcome.before];
    const last = reports[reports.length - 1]!;
    if (json)
      this.outJson(
        outcome.after
          ? { before: outcome.before, reinit: outcome.reinit, after: outcome.after }
          : outcome.before,
      );
    else {
      const render = flags.format === 'markdown' ? renderVerifyMarkdown : renderVerifyText;
      this.out(reports.map(render).join('\n\n'));
    }
    // a table not compared is not known equal
    setExitCode(last.diverged || last.notVerifiable > 0 ? 2 : 0);
  }
}
