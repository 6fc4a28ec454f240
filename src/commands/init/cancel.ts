import { Args } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { ignoreEvents, jsonEventSink } from '../../cli/eventLog.js';
import { globalFlags, jsonFlag } from '../../cli/flags.js';
import { formatProblem } from '../../model/errors.js';
import { cancelInit } from '../../workflows/initCancel.js';

export default class InitCancel extends SteepCommand {
  static override summary = "Stop a subscription's init, clean up what it made, back to uninitialized.";
  static override description =
    `Drops the subscription (with its slot and PostgreSQL's table-sync slots on the publisher), truncates the tables its snapshot copy filled, drops a slot prepared by steep init prepare, and records the init as uninitialized — within 30 s.
Takes apply's advisory lock on both nodes, so it fails at once while an apply runs there. Refuses a subscription that is synchronized: that is not an init any more.`;
  static override examples = [
    '<%= config.bin %> init cancel west_orders',
    {
      description: 'A copy that runs too long or fails: cancel it, then start it again:',
      command: '<%= config.bin %> init cancel west_orders && <%= config.bin %> apply',
    },
    '<%= config.bin %> init cancel west_orders --json',
  ];
  static override args = {
    subscription: Args.string({ description: 'The subscription whose init to cancel.', required: true }),
  };
  static override flags = { ...globalFlags, ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(InitCancel);
    this.colorEnabled(flags);
    const onEvent = flags['log-format'] === 'json' ? jsonEventSink() : ignoreEvents;
    const r = await cancelInit(flags.config, args.subscription, onEvent);
    for (const w of r.configWarnings) this.err(formatProblem(w));
    if (r.slotLeft)
      this.err(
        `warning: ${r.from} is unreachable, so slot ${r.slotLeft} is left there, where it retains WAL; once ${r.from} is back, run SELECT pg_drop_replication_slot('${r.slotLeft}') there`,
      );
    const { configWarnings: _w, ...doc } = r;
    if (flags.json) {
      this.out(JSON.stringify(doc));
      return;
    }
    const done = [
      r.droppedSubscription
        ? `subscription ${r.subscription} dropped on ${r.node}`
        : `no subscription ${r.subscription} on ${r.node}`,
      r.droppedSlot ? `slot ${r.droppedSlot} dropped on ${r.from}` : null,
      r.truncated.length > 0 ? `truncated ${r.truncated.join(', ')}` : null,
    ].filter((x): x is string => x !== null);
    this.out(
      `Init of ${r.subscription} cancelled (was ${r.previousState}): ${done.join('; ')}; now uninitialized (${r.durationMs} ms).`,
    );
  }
}
