import { Args } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag, watchFlags } from '../../cli/flags.js';
import { setExitCode } from '../../cli/invocation.js';
import { watch } from '../../cli/watch.js';
import { renderInitStatus } from '../../render/initProgress.js';
import { openInitStatus, sampleOnce } from '../../workflows/initStatus.js';

export default class InitStatus extends SteepCommand {
  static override summary = "Show the state and live progress of subscriptions' initialisation.";
  static override description =
    `Per subscription: its init state (uninitialized, preparing, copying, catching_up, synchronized, diverged, failed, reinitializing), the copy's % done (weighted by the publisher's table sizes), tables done/total, the tables being copied, rows/s, ETA, the lag still to catch up, and the indexes steep's own copy deferred for a big table (which, and the phase of their build while it runs) — sampled live from the subscriber (pg_subscription_rel, pg_stat_progress_copy, pg_stat_progress_create_index) and the publisher (table sizes, slot lag).
With --watch it refreshes every second until every init shown is synchronized or stopped by PostgreSQL at an error (disable_on_error: exit 1), or until interrupted; with --json it prints a JSON array (one per refresh with --watch).`;
  static override examples = [
    '<%= config.bin %> init status',
    '<%= config.bin %> init status west_orders --watch',
    '<%= config.bin %> init status --json',
  ];
  static override args = {
    subscription: Args.string({
      ignoreStdin: true,
      description: 'Only this subscription (default: every subscription in steep.yaml).',
    }),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    ...watchFlags({
      summary: 'Refresh every second until every init shown is synchronized, or until interrupted.',
      defaultMs: 1000,
      minMs: 200,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(InitStatus);
    const { observer } = this.warned(await openInitStatus(flags.config, args.subscription));
    const render = (list: Awaited<ReturnType<typeof observer.sample>>) =>
      flags.json ? { json: list } : renderInitStatus(list);
    try {
      if (flags.watch) {
        let settled = false;
        let stopped = false;
        await watch(
          async () => {
            const list = await observer.sample();
            // a copy PostgreSQL disabled at an error moves no more until it is enabled: nothing to wait for
            stopped = list.some((p) => p.disabledAtError);
            settled = list.length > 0 && list.every((p) => p.state === 'synchronized' || p.disabledAtError);
            return render(list);
          },
          {
            intervalMs: flags.interval,
            redraw: !flags.json && process.stdout.isTTY === true,
            done: () => settled,
          },
        );
        if (stopped) setExitCode(1);
        return;
      }
      const list = await sampleOnce(observer);
      if (flags.json) this.outJson(list, 2);
      else this.out(renderInitStatus(list));
      if (list.some((p) => p.subscriberError !== null)) setExitCode(1);
    } finally {
      await observer.close();
    }
  }
}
