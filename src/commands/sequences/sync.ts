import { Flags } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { commaList, globalFlags, jsonFlag, requiredArg } from '../../cli/flags.js';
import { setExitCode } from '../../cli/invocation.js';
import { renderSequenceSyncText } from '../../render/sequences.js';
import { sequencesSync } from '../../workflows/sequences.js';

export default class SequencesSync extends SteepCommand {
  static override summary = "Copy sequence values from a subscription's publisher to its subscriber.";
  static override description =
    `Logical replication does not carry sequence values: before writes move to the subscriber, its sequences must reach the publisher's. This sets each subscriber sequence of the subscribed tables (owned by one of their columns, called by one of their defaults, or standalone in their schemas) to the publisher's last value plus --headroom, with setval. A sequence already past that value is left alone unless --allow-backwards. After a switchover, --reverse (or the reverse subscription's name, steep_reverse_SUBSCRIPTION) goes the other way: the old primary's sequences from the new one's, before the application writes on the old primary again.
Exit codes: 0 done, 1 error or a sequence that could not be set (absent on the subscriber, or out of its range).`;
  static override examples = [
    '<%= config.bin %> sequences sync west_orders',
    '<%= config.bin %> sequences sync west_orders --headroom 1000 --json',
    '<%= config.bin %> sequences sync steep_reverse_west_orders --headroom 1000',
  ];
  static override args = {
    subscription: requiredArg(
      'The subscription whose sequences to copy (or steep_reverse_SUBSCRIPTION: the way back).',
    ),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    'allow-backwards': Flags.boolean({
      summary: 'Also move a subscriber sequence that is already past the value back to it.',
    }),
    headroom: Flags.integer({
      summary: "Add this much to each publisher value, in the sequence's direction.",
      default: 0,
      min: 0,
    }),
    sequences: Flags.string({
      summary: 'Only these sequences (comma-separated, schema.name; public when no schema).',
    }),
    reverse: Flags.boolean({
      summary:
        "The way back after a switchover: set the publisher's sequences from the subscriber's (the same as naming the reverse subscription steep_reverse_SUBSCRIPTION).",
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SequencesSync);
    const result = await sequencesSync(flags.config, args.subscription, {
      headroom: BigInt(flags.headroom),
      allowBackwards: flags['allow-backwards'],
      reverse: flags.reverse,
      only: commaList(flags.sequences),
    });
    const { report } = this.warned(result);
    if (flags.json) this.outJson(report);
    else this.out(renderSequenceSyncText(report));
    if (report.problems > 0) {
      this.err(
        `${report.problems} sequence${report.problems === 1 ? '' : 's'} of ${report.subscription} could not be set on ${report.subscriber}`,
      );
      setExitCode(1);
    }
  }
}
