import { Args } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag } from '../../cli/flags.js';
import { formatBytes } from '../../model/bytes.js';
import { snapshotList } from '../../workflows/snapshot.js';

export default class SnapshotList extends SteepCommand {
  static override summary = 'The two-phase snapshots in a directory, with their slots.';
  static override description =
    'Looks for manifest.json in DIR and its subdirectories: per snapshot its subscription, slot, LSN, size, age, whether it is complete, and whether its slot still exists on the publisher and how much WAL it retains.';
  static override examples = ['<%= config.bin %> snapshot list /backup'];
  static override args = { dir: Args.string({ description: 'Directory to look in.', default: '.' }) };
  static override flags = { ...globalFlags, ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SnapshotList);
    this.colorEnabled(flags);
    const list = await snapshotList(flags.config, args.dir);
    if (flags.json) return this.out(JSON.stringify(list));
    if (list.length === 0) return this.out(`No snapshots in ${args.dir}.`);
    for (const s of list) {
      const slot =
        s.slotExists === null
          ? `slot ${s.slot} on ${s.publisher}: unknown (unreachable)`
          : s.slotExists
            ? `slot ${s.slot} on ${s.publisher} retains ${formatBytes(s.retainedWalBytes)} of WAL`
            : `slot ${s.slot} on ${s.publisher}: gone`;
      this.out(
        `${s.dir}  ${s.subscription}  LSN ${s.lsn}  ${formatBytes(s.bytes)}  ${Math.round(s.ageSeconds / 60)} min old  ${s.complete ? 'complete' : 'incomplete'}  ${slot}`,
      );
    }
  }
}
