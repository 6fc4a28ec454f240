import { SteepCommand } from '../../cli/baseCommand.js';
import { confirm } from '../../cli/confirm.js';
import { approvalFlags, globalFlags, jsonFlag, requiredArg } from '../../cli/flags.js';
import { Interruption } from '../../cli/interruption.js';
import { setExitCode } from '../../cli/invocation.js';
import { adviceText } from '../../model/advice.js';
import { dropSlotSql } from '../../planner/sqlBuild.js';
import { cancelInit } from '../../workflows/initCancel.js';

export default class InitCancel extends SteepCommand {
  static override summary = "Stop a subscription's init, clean up what it made, back to uninitialized.";
  static override description =
    `Drops the subscription (with its slot and PostgreSQL's table-sync slots on the publisher), truncates the tables its snapshot copy filled, drops a slot prepared by steep init prepare, and records the init as uninitialized — within 30 s.
Takes apply's advisory lock on both nodes, so it fails at once while an apply runs there.
A subscription that streams (synchronized, diverged, being reinitialised, or adopted and streaming) has no init to cancel: steep verify --repair or steep reinit repairs it. Dropping it is a destroy: refused without --allow-destroy, and asked for confirmation (--auto-approve or STEEP_AUTO_APPROVE=1 without a terminal); its slot goes, its rows stay, and the next apply re-creates it only with an init that copies.
Ctrl-C (SIGINT), SIGTERM or SIGHUP: the drop and the truncate finish together, nothing starts after them; steep says what is left, and running the cancel again finishes it; exit 130 (143, 129). A second signal exits at once.`;
  static override examples = [
    '<%= config.bin %> init cancel west_orders',
    {
      description: 'A copy that runs too long or fails: cancel it, then start it again:',
      command: '<%= config.bin %> init cancel west_orders && <%= config.bin %> apply',
    },
    '<%= config.bin %> init cancel west_orders --json',
  ];
  static override args = {
    subscription: requiredArg('The subscription whose init to cancel.'),
  };
  static override flags = { ...globalFlags, ...jsonFlag, ...approvalFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(InitCancel);
    let truncated: string[] = [];
    const interruption = new Interruption((text) => this.err(text, 'warn'), {
      first: () => 'the running statement finishes, nothing starts after it (a second Ctrl-C exits at once)',
      again: () =>
        `exiting now; a statement still running goes on in PostgreSQL: run \`${adviceText('initCancel', args.subscription)}\` again to finish` +
        (truncated.length > 0
          ? `; if it finds no subscription while ${truncated.join(', ')} still hold the copy's rows, truncate them by hand`
          : ''),
    }).install();
    const r = await this.stoppable(interruption, 'init.cancel_interrupted', flags.json ? args : null, () =>
      cancelInit(flags.config, args.subscription, {
        onEvent: this.events(),
        stop: interruption,
        allowDestroy: flags['allow-destroy'],
        confirm: (question) =>
          confirm({
            question,
            autoApprove: flags['auto-approve'],
            noTerminal: {
              code: 'init.no_tty',
              message: `no terminal to confirm the drop of streaming subscription ${args.subscription} on; nothing was changed — rerun with --auto-approve (or STEEP_AUTO_APPROVE=1) to drop it without asking`,
            },
            cancelled: { code: 'init.cancel_declined', message: 'init cancel declined; nothing was changed' },
          }),
        onPlanned: (tables) => {
          truncated = tables;
        },
      }),
    );
    if (r === undefined) return;
    const doc = this.warned(r);
    if (r.slotLeft)
      this.err(
        `warning: ${r.from} is unreachable, so slot ${r.slotLeft} is left there, where it retains WAL; once ${r.from} is back, run ${dropSlotSql(r.slotLeft)} there`,
      );
    // a signal that came while the last part ran: the cancel is whole, the exit code still says so
    if (interruption.received) setExitCode(interruption.exitCode ?? 1);
    if (flags.json) {
      this.outJson(doc);
      return;
    }
    const done = [
      r.droppedSubscription
        ? `subscription ${r.subscription} dropped on ${r.node}`
        : `no subscription ${r.subscription} on ${r.node}`,
      r.droppedSlot ? `slot ${r.droppedSlot} dropped on ${r.from}` : null,
      r.slotMissing ? `slot ${r.slotMissing} is not on ${r.from}: nothing to drop there` : null,
      r.destroyed ? `its rows kept on ${r.node}` : null,
      r.truncated.length > 0 ? `truncated ${r.truncated.join(', ')}` : null,
      r.cancelledSnapshots.length > 0
        ? `snapshot ${r.cancelledSnapshots.join(', ')} recorded cancelled: it can no longer be applied`
        : null,
    ].filter((x): x is string => x !== null);
    this.out(
      `Init of ${r.subscription} cancelled (was ${r.previousState}): ${done.join('; ')}; now uninitialized (${r.durationMs} ms).`,
    );
    if (r.destroyed)
      this.out(
        `steep apply re-creates ${r.subscription} only with an init that copies (init.method: snapshot with existingData: truncate, or merge): ` +
          `what ${r.from} committed while it had no slot is not on ${r.node}.`,
      );
  }
}
