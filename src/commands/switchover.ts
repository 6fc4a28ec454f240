import { SteepCommand } from '../cli/baseCommand.js';
import { formatFlag, globalFlags, jsonFlag, requiredArg } from '../cli/flags.js';
import { Interruption } from '../cli/interruption.js';
import { setExitCode } from '../cli/invocation.js';
import { switchoverFlags, switchoverOptions } from '../cli/switchoverOptions.js';
import { renderSwitchoverMarkdown, renderSwitchoverText } from '../render/switchover.js';
import { switchover } from '../workflows/switchover.js';

export default class Switchover extends SteepCommand {
  static override summary = "Move writes to a subscription's subscriber, provably, with the way back ready.";
  static override description =
    `Preflight (synchronized, lag under --max-lag, keys, sequences, the constraints of the published tables present on the subscriber unless --accept-missing-constraints, --reverse possible), then: fence the publisher's application roles read-only (ALTER ROLE … IN DATABASE … SET default_transaction_read_only = on) and end their sessions after --grace, and fence its published tables against every other writer (a trigger); refuse while a prepared transaction is open (--wait-prepared waits) or another subscription writes into those tables; wait until the subscriber has replayed past the fence LSN; set the subscriber's sequences to the publisher's values plus --sequence-headroom; compare the data (--verify); with --reverse, subscribe the old primary to the new one (copy_data = false, origin = none); release: disable the subscription (its slot dropped unless --keep-slot). The old primary stays read-only. A failure or Ctrl-C before the release undoes the fence.
Exit codes: 0 released (or dry run), 1 refused, failed (the fence undone) or released with changes left in the slot (not done), 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (the fence undone).`;
  static override examples = [
    '<%= config.bin %> switchover west_orders --dry-run',
    '<%= config.bin %> switchover west_orders --reverse --format markdown',
    '<%= config.bin %> switchover west_orders --roles app,batch --grace 10s --verify public.orders',
  ];
  static override args = {
    subscription: requiredArg('The subscription whose subscriber becomes the primary.'),
  };
  static override flags = { ...globalFlags, ...jsonFlag, ...formatFlag, ...switchoverFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Switchover);
    const options = switchoverOptions(flags);
    const json = flags.json || flags.format === 'json';
    let undo: string[] = [];
    const interruption = new Interruption((text) => this.err(text, 'warn'), {
      first: () => 'stopping before the release: the fence is undone first (a second Ctrl-C exits at once)',
      // read when the second signal comes: the undo statements of the plan being run
      get again() {
        return `exiting now; whatever of the fence is in place stays: ${undo.join('; ')}`;
      },
    }).install();
    try {
      const result = await switchover(flags.config, args.subscription, {
        ...options,
        signal: interruption.signal,
        onChanging: (plan) => {
          undo = plan.steps.flatMap((st) => st.undo.map((u) => `run ${u.sql} on ${u.node}`));
          interruption.arm();
        },
        onEvent: this.events((e) => {
          // the events before the steps' lines: preflight waiting for the lag, for prepared transactions;
          // a wait (the lag, prepared transactions, the drain) every few seconds while it lasts
          if (
            e.event === 'switchover.lag_wait' ||
            e.event === 'switchover.prepared_wait' ||
            e.event === 'switchover.waiting'
          )
            this.err(e.message ?? '', 'info');
          if (e.event === 'switchover.missing_objects') this.err(e.message ?? '', 'warn');
        }),
        onStep: (t) =>
          flags['log-format'] === 'json'
            ? undefined
            : this.err(
                `${t.id}  ${t.status}  ${(t.durationMs / 1000).toFixed(2)} s${t.detail ? `  ${t.detail}` : ''}`,
                'info',
              ),
      });
      const { report } = this.warned(result);
      if (json) this.outJson(report);
      else
        this.out(
          flags.format === 'markdown' ? renderSwitchoverMarkdown(report) : renderSwitchoverText(report),
        );
      // released with an error: the writes moved, but something after the DISABLE did not finish
      if (report.outcome === 'failed' || report.outcome === 'interrupted' || report.error !== null) {
        this.err(`error: ${report.error}${report.fenceUndone ? ' (the fence was undone)' : ''}`);
        setExitCode(interruption.exitCode ?? 1);
      }
    } finally {
      interruption.dispose();
    }
  }
}
